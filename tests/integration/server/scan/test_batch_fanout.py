"""pan_batch_scan's fan-out through a real server and the AIRS double: how many requests are in
flight at once, how they are paced, how a 429 holds the rest, and that every item comes back in
order with nothing lost when some requests fail. The double counts and timestamps what reaches
it; nothing here times the server."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from harness.airs_double import AirsDouble
from harness.mcp_client import open_session
from harness.mcp_server import McpServerHandle

pytestmark = pytest.mark.integration

ASYNC_PATH = "/v1/scan/async/request"
ITEMS = [{"prompt": f"benign question {i}", "tr_id": f"t{i}"} for i in range(100)]


def slow_async_answers(double: AirsDouble, ms: int = 300) -> None:
    """Hold every async scan answer, so all requests sent at once are in flight together."""
    double.set_fault(latency_ms=ms, count=-1, path=ASYNC_PATH)


async def batch(server: McpServerHandle, items: list[dict[str, Any]]) -> dict[str, Any]:
    async with open_session("streamable_http", server.url) as session:
        result = await session.call_tool("pan_batch_scan", {"items": items})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def test_a_100_item_batch_sends_its_20_requests_at_once_by_default(
    start_mcp_server: Callable[..., McpServerHandle], airs_double: AirsDouble
) -> None:
    server = start_mcp_server()
    slow_async_answers(airs_double)
    out = await batch(server, ITEMS)
    stats = airs_double.stats()
    assert (out["submitted"], out["failed"], out["requests"]) == (100, 0, 20)
    assert stats["requests"]["async"] == 20
    assert stats["peak_in_flight"] == 20


async def test_the_concurrency_setting_bounds_requests_in_flight(
    start_mcp_server: Callable[..., McpServerHandle], airs_double: AirsDouble
) -> None:
    server = start_mcp_server({"AIRS_MCP_BATCH_CONCURRENCY": "3"})
    slow_async_answers(airs_double, ms=100)
    out = await batch(server, ITEMS[:40])
    assert out["requests"] == 8
    assert airs_double.stats()["peak_in_flight"] == 3


async def test_requests_past_the_burst_are_paced(
    start_mcp_server: Callable[..., McpServerHandle], airs_double: AirsDouble
) -> None:
    rate, burst = 20, 5
    pace = {"AIRS_MCP_BATCH_REQUESTS_PER_SECOND": str(rate), "AIRS_MCP_BATCH_BURST": str(burst)}
    server = start_mcp_server(pace)
    sent = time.monotonic()  # the double stamps arrivals with the same system-wide clock
    out = await batch(server, ITEMS)
    arrivals = sorted(airs_double.stats()["arrivals"]["async"])
    assert out["requests"] == len(arrivals) == 20
    # 5 at once, then one per 50 ms: the 20th starts 0.75 s after the call at the earliest (a
    # busy machine only delays it further). Measured from the first arrival instead, a first
    # request held up by its connection's setup would shorten the span.
    assert arrivals[-1] - sent >= (20 - burst) / rate * 0.95
    # and they are spread out, not sent together once the call had waited
    assert arrivals[-1] - arrivals[0] >= (20 - burst) / rate / 2


async def test_a_429_holds_every_later_request_for_its_retry_after(
    start_mcp_server: Callable[..., McpServerHandle], airs_double: AirsDouble
) -> None:
    # one request per 0.5 s: the 429 is back long before the second request's turn
    pace = {"AIRS_MCP_BATCH_REQUESTS_PER_SECOND": "2", "AIRS_MCP_BATCH_BURST": "1"}
    server = start_mcp_server(pace)
    airs_double.set_fault(429, count=1, retry_after=1, path=ASYNC_PATH)
    out = await batch(server, ITEMS[:20])
    stats = airs_double.stats()
    arrivals = sorted(stats["arrivals"]["async"])
    assert (out["submitted"], out["failed"], out["requests"]) == (20, 0, 4)
    assert stats["statuses"]["429"] == 1
    assert len(arrivals) == 5  # 4 requests and one retry
    # the first request got the 429: nothing else reached AIRS during the second it asked for
    assert arrivals[1] - arrivals[0] >= 0.95


async def test_failed_requests_lose_nothing_and_keep_the_order(
    start_mcp_server: Callable[..., McpServerHandle], airs_double: AirsDouble
) -> None:
    server = start_mcp_server({"AIRS_MCP_MAX_RETRIES": "0"})
    airs_double.set_fault(503, count=3, path=ASYNC_PATH)
    out = await batch(server, ITEMS)
    entries = out["items"]
    assert [e["index"] for e in entries] == list(range(100))
    assert (out["submitted"], out["failed"], out["requests"]) == (85, 15, 20)
    failed = [e["index"] for e in entries if e["error"]]
    chunks = sorted({index // 5 for index in failed})
    assert failed == [i for c in chunks for i in range(c * 5, c * 5 + 5)]  # 3 whole chunks
    assert all(e["scan_id"] is None for e in entries if e["error"])
    sent = [e for e in entries if not e["error"]]
    assert all(e["req_id"] == e["index"] for e in sent)
    by_scan: dict[str, list[int]] = {}
    for e in sent:
        by_scan.setdefault(e["scan_id"], []).append(e["index"])
    assert len(by_scan) == 17
    # what AIRS stored under each scan id is exactly that chunk's items
    async with open_session("streamable_http", server.url) as session:
        for _ in range(2):  # the double answers "pending" first
            answer = await session.call_tool("pan_get_scan_results", {"scan_ids": list(by_scan)})
    assert answer.structured_content is not None
    stored: dict[str, list[int]] = {}
    for r in answer.structured_content["results"]:
        assert r["status"] == "complete"
        stored.setdefault(r["scan_id"], []).append(r["req_id"])
    assert stored == {scan_id: sorted(indexes) for scan_id, indexes in by_scan.items()}
