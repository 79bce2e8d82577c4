"""One AIRS budget for the whole fleet: five real servers, each told the five replica addresses
(``AIRS_MCP_FLEET_PEERS``), scan batches at once through one AIRS double that answers 429 past
the tenant's 150 requests per second. Counted at the double: arrivals in any one second and
429s. The control case, per-pod pacing alone, shows the double's limit bites."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.airs_double import AirsDouble
from harness.mcp_client import open_session
from harness.mcp_server import McpServerHandle

pytestmark = pytest.mark.integration

TENANT_RATE = 150
REPLICAS = 5
PEERS = ",".join(f"127.0.0.{n}" for n in range(1, REPLICAS + 1))  # one address per replica
ITEMS = [{"prompt": f"benign question {i}"} for i in range(300)]  # 60 requests per server


@pytest.fixture
def limited_double(airs_double: AirsDouble) -> Iterator[AirsDouble]:
    airs_double.set_tenant_rate(TENANT_RATE)
    try:
        yield airs_double
    finally:
        airs_double.set_tenant_rate(0)


def most_in_one_second(times: list[float]) -> int:
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered)), default=0)


async def batch(server: McpServerHandle) -> dict[str, Any]:
    async with open_session("streamable_http", server.url) as session:
        result = await session.call_tool("pan_batch_scan", {"items": ITEMS})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def fleet_scan(
    start: Callable[..., McpServerHandle], double: AirsDouble, env: dict[str, str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    servers = [start(env) for _ in range(REPLICAS)]
    double.reset()  # count only the batches
    outs = await asyncio.gather(*(batch(server) for server in servers))
    return outs, double.stats()


async def test_the_fleet_share_keeps_five_replicas_within_the_tenant_rate(
    start_mcp_server: Callable[..., McpServerHandle], limited_double: AirsDouble
) -> None:
    env = {"AIRS_MCP_FLEET_PEERS": PEERS, "AIRS_MCP_AIRS_TENANT_RATE": str(TENANT_RATE)}
    outs, stats = await fleet_scan(start_mcp_server, limited_double, env)
    arrivals = [t for times in stats["arrivals"].values() for t in times]
    assert [(o["submitted"], o["failed"]) for o in outs] == [(300, 0)] * REPLICAS
    assert len(arrivals) == REPLICAS * 60
    # the pods pace at 4/5 of their share together; the rest is margin for arrival jitter
    assert most_in_one_second(arrivals) <= TENANT_RATE
    assert stats["statuses"].get("429", 0) == 0


async def test_per_pod_pacing_alone_sends_five_times_the_budget(
    start_mcp_server: Callable[..., McpServerHandle], limited_double: AirsDouble
) -> None:
    _, stats = await fleet_scan(start_mcp_server, limited_double, {})
    arrivals = [t for times in stats["arrivals"].values() for t in times]
    assert most_in_one_second(arrivals) > TENANT_RATE
    assert stats["statuses"]["429"] > 0
    assert stats["rate_limited"] == stats["statuses"]["429"]
