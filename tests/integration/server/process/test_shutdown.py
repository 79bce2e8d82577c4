"""Graceful shutdown of a real ``airs-mcp-server`` process (``airs_mcp.process.shutdown``).

Slow tool calls (the AIRS double's injected latency) are in flight on both transports when
SIGTERM arrives: ``/readyz`` must turn 503 while both calls still run, new sessions get 503 on
both transports, both calls finish with their verdicts, the SSE stream then ends cleanly, and the
process exits 0 within the grace. A call longer than the grace does not hold the process: it
exits while the call still waits at AIRS. The measured timings are printed (``-s``) and quoted
in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable

import httpx
import pytest

from harness.airs_double import AirsDouble
from harness.mcp_client import initialize_request, scan_call_request
from harness.mcp_server import TEST_TOKEN, McpServerHandle

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", **AUTH}
GRACE_S = 8.0
LATENCY_MS = 3000
CLOSE_S = 3  # airs_mcp.process.shutdown.CLOSE_S
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


async def wait_for(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def not_ready(client: httpx.AsyncClient, server: McpServerHandle) -> httpx.Response:
    """The first ``/readyz`` answer that is not 200 (the signal reaches the server
    asynchronously: an answer or two before it may still say ready)."""
    deadline = time.monotonic() + 10
    while (ready := await client.get(f"{server.url}/readyz")).status_code == 200:
        assert server.process.proc.poll() is None, "the server exited without turning unready"
        assert time.monotonic() < deadline, "still ready 10 s after SIGTERM"
    assert ready.status_code == 503, ready.text
    return ready


async def exit_code(server: McpServerHandle, within: float) -> tuple[int, float]:
    """The process's exit code and when it exited (monotonic)."""
    proc = server.process.proc
    await wait_for(lambda: proc.poll() is not None, within, "the server did not exit in time")
    return proc.returncode, time.monotonic()


class SseClient:
    """A raw SSE session: the stream, its message URL, and the JSON-RPC answers read from it."""

    def __init__(self, client: httpx.AsyncClient, server: McpServerHandle) -> None:
        self.client = client
        self.server = server
        self.answers: dict[int, dict[str, object]] = {}
        self.closed_at: float | None = None
        self.endpoint = asyncio.get_running_loop().create_future()

    async def run(self) -> None:
        """Read the stream to its end (raises if it does not end cleanly)."""
        async with self.client.stream("GET", self.server.sse_url, headers=AUTH) as stream:
            assert stream.status_code == 200
            event = ""
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event == "endpoint":
                    self.endpoint.set_result(self.server.url + line.removeprefix("data: "))
                elif line.startswith("data: ") and event == "message":
                    message = json.loads(line.removeprefix("data: "))
                    if "id" in message:
                        self.answers[message["id"]] = message
        self.closed_at = time.monotonic()

    async def post(self, message: dict[str, object]) -> None:
        url = await self.endpoint
        response = await self.client.post(url, json=message, headers=AUTH)
        assert response.status_code == 202, response.text


async def test_sigterm_drains_in_flight_calls_then_exits_0(
    start_mcp_server: Callable[..., McpServerHandle], airs_double: AirsDouble
) -> None:
    server = start_mcp_server({"AIRS_MCP_GRACEFUL_SHUTDOWN_SECONDS": str(GRACE_S)})
    airs_double.set_fault(None, latency_ms=LATENCY_MS, count=2)
    async with httpx.AsyncClient(timeout=30) as client:
        sse = SseClient(client, server)
        reader = asyncio.create_task(sse.run())
        await sse.post(initialize_request("shutdown-test", 1))
        await sse.post(INITIALIZED)
        await wait_for(lambda: 1 in sse.answers, 10, "no initialize answer on the stream")
        await sse.post(scan_call_request(2, "slow call over SSE"))
        slow = scan_call_request(3, "slow call over HTTP")
        http_call = asyncio.create_task(client.post(server.mcp_url, json=slow, headers=MCP_HEADERS))
        await wait_for(
            lambda: airs_double.stats()["in_flight"] == 2, 10, "the calls never reached AIRS"
        )

        sigterm = time.monotonic()
        server.process.proc.send_signal(signal.SIGTERM)
        ready = await not_ready(client, server)
        not_ready_s = time.monotonic() - sigterm
        assert ready.json() == {"status": "shutting_down"}
        # not ready while the process still runs and both calls still wait at AIRS
        assert server.process.proc.poll() is None
        assert airs_double.stats()["in_flight"] == 2
        assert (await client.get(f"{server.url}/healthz")).status_code == 200
        # new sessions are refused on both transports, with a hint to retry
        refused = await client.get(server.sse_url, headers=AUTH)
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1"
        init = initialize_request("late-client", 9)
        refused = await client.post(server.mcp_url, json=init, headers=MCP_HEADERS)
        assert refused.status_code == 503, refused.text
        assert not sse.answers.get(2), "the slow call answered before AIRS did"

        answer = await http_call
        http_done_s = time.monotonic() - sigterm
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["isError"] is False
        assert answer.json()["result"]["structuredContent"]["action"] == "allow"
        await asyncio.wait_for(reader, GRACE_S)  # the stream ends cleanly after the call
        stream_closed_s = (sse.closed_at or 0) - sigterm
        result = sse.answers[2]["result"]
        assert isinstance(result, dict)
        assert result["isError"] is False, result
        assert result["structuredContent"]["action"] == "allow"

    code, exited = await exit_code(server, GRACE_S + CLOSE_S)
    exit_s = exited - sigterm
    assert code == 0
    assert exit_s < GRACE_S
    print(
        f"\nshutdown timings (grace {GRACE_S:g} s, AIRS latency {LATENCY_MS} ms): "
        f"readyz 503 after {not_ready_s * 1000:.0f} ms, HTTP call done after {http_done_s:.2f} s, "
        f"SSE stream closed after {stream_closed_s:.2f} s, exit 0 after {exit_s:.2f} s"
    )
    lines = server.log_lines()
    drained = [line for line in lines if line.get("msg") == "shutdown_drained"]
    assert drained, "no shutdown_drained log line"
    assert drained[0]["in_flight_left"] == 0, drained
    assert not [line for line in lines if line.get("level") == "error"]
    assert "Traceback" not in server.log_text()


async def test_a_call_longer_than_the_grace_does_not_hold_the_process(
    start_mcp_server: Callable[..., McpServerHandle], airs_double: AirsDouble
) -> None:
    grace = 1.0
    server = start_mcp_server(
        {"AIRS_MCP_GRACEFUL_SHUTDOWN_SECONDS": str(grace), "AIRS_MCP_TIMEOUT_SECONDS": "30"}
    )
    airs_double.set_fault(None, latency_ms=8000)
    async with httpx.AsyncClient(timeout=30) as client:
        call = asyncio.create_task(
            client.post(server.mcp_url, json=scan_call_request(1, "too slow"), headers=MCP_HEADERS)
        )
        await wait_for(
            lambda: airs_double.stats()["in_flight"] == 1, 10, "the call never reached AIRS"
        )
        sigterm = time.monotonic()
        server.process.proc.send_signal(signal.SIGTERM)
        code, exited = await exit_code(server, 20)
        # the process is gone while the double still holds its call (8 s): it did not wait
        assert airs_double.stats()["in_flight"] == 1
        with pytest.raises(httpx.HTTPError):  # cut off, not answered with a result
            (await call).raise_for_status()
    exit_s = exited - sigterm
    assert code == 0
    print(f"\ncall past the grace ({grace:g} s): exit 0 after {exit_s:.2f} s")
    drained = [line for line in server.log_lines() if line.get("msg") == "shutdown_drained"]
    assert drained, "no shutdown_drained log line"
    assert drained[0]["in_flight_left"] == 1, drained
