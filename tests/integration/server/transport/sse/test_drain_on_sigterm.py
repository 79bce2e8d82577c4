"""What a SIGTERM does to the SSE sessions of a real ``airs-mcp-server`` process
(``SseTransport.drain``, started by ``process.shutdown.drain``), seen by the real ``mcp`` SDK
client (``harness.sse_rollout``).

Busy sessions call ``pan_inline_scan`` back to back, each call held at the AIRS double, and idle
sessions call nothing. SIGTERM arrives while every busy session has a call at AIRS. Then: the
idle streams end at once; a new call POSTed to a busy session gets 503 with a JSON-RPC error
while its call still runs; every call the server accepted (202) is answered on its stream;
each stream then ends with a clean end of its body, never a reset; every client's last call
fails at once (refused, or never sent because the client saw its stream end), none waits; a
POST naming a session whose stream has ended gets 410 with a JSON-RPC error; the process exits 0.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from contextlib import AsyncExitStack

import httpx
import pytest

from harness.airs_double import AirsDouble
from harness.mcp_client import scan_call_request
from harness.mcp_server import TEST_TOKEN, McpServerHandle
from harness.sse_rollout import CLEAN, HANG_S, WatchedSession, verdicts

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
BUSY, IDLE = 4, 2
# Each call waits this long at the double, so the calls are still there when the drain starts.
LATENCY_MS = 4000
GRACE_S = 20.0  # the drain's bound, well above one call
SERVER_ERROR = -32000


async def until(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def post_call(raw: httpx.AsyncClient, url: str, request_id: int) -> httpx.Response | str:
    """A call POSTed without the SDK: the answer, or why there was none."""
    try:
        return await raw.post(url, json=scan_call_request(request_id, "raw call"), headers=AUTH)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"


def jsonrpc_error(response: httpx.Response | str, status: int, request_id: int) -> str:
    """The JSON-RPC error's message of a POST refused with ``status`` (asserting its shape)."""
    assert isinstance(response, httpx.Response), response
    assert response.status_code == status, response.text
    body = response.json()
    assert body["jsonrpc"] == "2.0", body
    assert body["id"] == request_id, body
    assert body["error"]["code"] == SERVER_ERROR, body
    message: str = body["error"]["message"]
    return message


async def test_sigterm_answers_every_accepted_call_and_ends_every_stream_cleanly(
    start_mcp_server: Callable[..., McpServerHandle], airs_double: AirsDouble
) -> None:
    server = start_mcp_server({"AIRS_MCP_GRACEFUL_SHUTDOWN_SECONDS": str(GRACE_S)})
    airs_double.set_fault(None, latency_ms=LATENCY_MS, count=-1)
    busy = [WatchedSession(server.url, f"busy {n}") for n in range(BUSY)]
    idle = [WatchedSession(server.url, f"idle {n}") for n in range(IDLE)]
    async with AsyncExitStack() as stack, httpx.AsyncClient(timeout=HANG_S) as raw:
        for session in busy + idle:
            await stack.enter_async_context(session)
        answered = [asyncio.Event() for _ in busy]
        loops = [
            asyncio.create_task(session.call_in_a_loop(first))
            for session, first in zip(busy, answered, strict=True)
        ]
        # every busy session has had an answer and its next call is waiting at AIRS
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in answered)), HANG_S)
        await until(lambda: airs_double.stats()["in_flight"] == BUSY, 30, "calls not at AIRS")

        server.process.proc.send_signal(signal.SIGTERM)
        await until(
            lambda: all(s.stream_end is not None for s in idle), 30, "idle streams still open"
        )
        # the busy sessions' calls still wait at AIRS: a new call to one of them is refused
        at_airs = airs_double.stats()["in_flight"]
        busy_streams = [s.stream_end for s in busy]
        mid_drain = await post_call(raw, busy[0].message_url, 901)
        after_end = [await post_call(raw, s.message_url, 902) for s in idle]

        _, pending = await asyncio.wait(loops, timeout=HANG_S + 30)
        assert not pending, "a client's call loop never ended"

    calls = [call for session in busy for call in session.calls]
    accepted = [call for call in calls if call.posted == 202]
    assert [c for c in accepted if c.outcome != "ok"] == [], "accepted calls left unanswered"
    assert verdicts(busy)["lost"] == verdicts(busy)["hung"] == 0, verdicts(busy)
    for session in busy:  # its call in flight at SIGTERM was answered; only its last one failed
        *answered_calls, last = session.calls
        assert len(answered_calls) >= 2, session.calls
        assert all(c.outcome == "ok" for c in answered_calls), session.calls
        assert last.verdict in {"refused", "unsent"}, last
    ends = {session.name: session.stream_end for session in busy + idle}
    assert all(end == CLEAN for end in ends.values()), ends

    # the idle streams ended first, while the busy sessions' calls were still at AIRS
    assert at_airs == BUSY
    assert busy_streams == [None] * BUSY

    assert "shutting down" in jsonrpc_error(mid_drain, 503, 901)
    assert isinstance(mid_drain, httpx.Response)
    assert mid_drain.headers["retry-after"] == "1"
    for response in after_end:
        assert "stream has ended" in jsonrpc_error(response, 410, 902)

    proc = server.process.proc
    await until(lambda: proc.poll() is not None, GRACE_S + 10, "the server did not exit")
    assert proc.returncode == 0
    lines = server.log_lines()
    assert not [line for line in lines if line.get("level") == "error"]
    drained = [line for line in lines if line.get("msg") == "shutdown_drained"]
    assert drained, "no shutdown_drained log line"
    assert drained[0]["in_flight_left"] == 0, drained
