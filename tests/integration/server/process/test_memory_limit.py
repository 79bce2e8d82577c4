"""The memory refusal with a real server: past AIRS_MCP_MEMORY_REFUSE_FRACTION of the limit,
new SSE streams and Streamable HTTP requests get a clear 503, counted by reason."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from bench.idle_sessions import ClientProcess
from harness.cgroup import MemoryCgroup, memory_cgroup
from harness.mcp_server import TEST_TOKEN, McpServerHandle
from tests.integration.server.observability.test_metrics import Scrape, with_metrics

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


# --- under a real memory cgroup, as in a pod ------------------------------------------------
# A limit a fresh server (~95 MB resident) fills with about a thousand idle sessions (~25 kB
# each, airs_mcp.transport.sse).
CGROUP_LIMIT = 128 << 20
STEP = 100
MAX_SESSIONS = 5000
# Every other cap off, the per-credential message rate included (one token opens every stream):
# only memory may stop the streams.
UNCAPPED = {
    "AIRS_MCP_MAX_SSE_SESSIONS": "0",
    "AIRS_MCP_LIMIT_CONCURRENCY": "0",
    "AIRS_MCP_CLIENT_REQUESTS_PER_SECOND": "0",
}


@pytest.fixture
def cgroup() -> Iterator[MemoryCgroup]:
    made = memory_cgroup(f"airs-mcp-test-{uuid.uuid4().hex[:8]}", CGROUP_LIMIT)
    if made is None:
        pytest.skip("no writable memory cgroup here (needs root and a cgroup v1/v2 mount)")
    try:
        yield made
    finally:
        made.remove()


def _open_until_refused_or_killed(server: McpServerHandle) -> tuple[int, int]:
    """Open idle sessions in steps; return (opened, refused) once one is refused or the server
    is gone, at most MAX_SESSIONS."""
    client = ClientProcess(server.url)
    try:
        return client.open_until_refused(STEP, MAX_SESSIONS, server.process.running)
    finally:
        client.stop()


def test_under_a_real_cgroup_limit_the_server_refuses_before_the_kernel_kills_it(
    start_mcp_server: Callable[..., McpServerHandle], cgroup: MemoryCgroup
) -> None:
    server = start_mcp_server(UNCAPPED, wrapper=cgroup.wrapper())
    opened, refused = _open_until_refused_or_killed(server)
    assert refused, f"nothing refused after {opened} sessions"
    assert server.process.running()
    assert cgroup.oom_kills() == 0
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    stream = httpx.get(server.sse_url, headers=AUTH, timeout=10)
    assert stream.status_code == 503, stream.text
    lines = [line for line in server.log_lines() if line.get("msg") == "session_refused"]
    assert lines[0]["reason"] == "memory"
    assert lines[0]["limit_bytes"] == CGROUP_LIMIT  # read from the cgroup, not configured
    assert opened > 100  # the threshold is 0.85 of the limit, not the baseline


def test_without_the_refusal_the_same_limit_gets_the_server_oom_killed(
    start_mcp_server: Callable[..., McpServerHandle], cgroup: MemoryCgroup
) -> None:
    server = start_mcp_server(
        {**UNCAPPED, "AIRS_MCP_MEMORY_REFUSE_FRACTION": "0"}, wrapper=cgroup.wrapper()
    )
    opened, refused = _open_until_refused_or_killed(server)
    assert refused == 0
    deadline = time.monotonic() + 10
    while server.process.running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not server.process.running(), f"still alive after {opened} sessions"
    assert cgroup.oom_kills() >= 1
