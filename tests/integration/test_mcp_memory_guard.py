"""The memory refusal with a real server: past AIRS_MCP_MEMORY_REFUSE_FRACTION of the limit,
new SSE streams and Streamable HTTP requests get a clear 503, counted by reason."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.fixtures.processes import TEST_TOKEN, McpServerHandle
from tests.integration.test_mcp_metrics import Scrape, with_metrics

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", **AUTH}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
# Far below any Python server's resident set: the process is past the threshold from the start.
LOW_LIMIT = {"AIRS_MCP_MEMORY_LIMIT_BYTES": str(16 << 20)}
REFUSED = "airs_mcp_sessions_refused_total"


def test_past_the_memory_threshold_new_sessions_get_503(
    start_mcp_server: Callable[..., McpServerHandle],
) -> None:
    server, metrics_url = with_metrics(start_mcp_server, LOW_LIMIT)
    stream = httpx.get(server.sse_url, headers=AUTH, timeout=10)
    assert stream.status_code == 503, stream.text
    assert "memory limit" in stream.text
    assert "AIRS_MCP_MEMORY_REFUSE_FRACTION" in stream.text
    assert stream.headers.get("retry-after")
    call = httpx.post(server.mcp_url, json=PING, headers=MCP_HEADERS, timeout=10)
    assert call.status_code == 503, call.text
    scrape = Scrape(metrics_url)
    assert scrape.value(REFUSED, transport="sse", reason="memory") == 1
    assert scrape.value(REFUSED, transport="http", reason="memory") == 1
    lines = [line for line in server.log_lines() if line.get("msg") == "session_refused"]
    assert lines
    assert lines[0]["reason"] == "memory"
    assert lines[0]["limit_bytes"] == 16 << 20


def test_below_the_threshold_sessions_open(
    start_mcp_server: Callable[..., McpServerHandle],
) -> None:
    server = start_mcp_server({"AIRS_MCP_MEMORY_LIMIT_BYTES": str(64 << 30)})
    call = httpx.post(server.mcp_url, json=PING, headers=MCP_HEADERS, timeout=10)
    assert call.status_code == 200, call.text
    with (
        httpx.Client(timeout=10) as client,
        client.stream("GET", server.sse_url, headers=AUTH) as stream,
    ):
        assert stream.status_code == 200
