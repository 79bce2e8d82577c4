"""uvicorn's ``limit_concurrency`` (``AIRS_MCP_LIMIT_CONCURRENCY``) on a real server: with its
connections held busy, by open SSE streams or by tool calls the AIRS double answers slowly, the
next request gets uvicorn's own 503, and once they end the server answers again.

uvicorn refuses a request when its open connections or running tasks reach the limit, and the
refused request's connection is one of them: with a limit of ``LIMIT``, ``LIMIT - 1`` busy
connections leave no room, ``LIMIT - 2`` leave room for one. The test checks both sides.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import pytest

from harness.airs_double import AirsDouble
from harness.mcp_client import scan_call_request
from harness.mcp_server import McpServerHandle

pytestmark = pytest.mark.integration

LIMIT = 4
SLOW_AIRS_MS = 8000  # long enough to check the refusal while the calls wait on it
WAIT_S = 30.0  # bound of every wait on the server or the double
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
# uvicorn's answer past the limit (uvicorn.protocols.http.flow_control.service_unavailable).
REFUSAL_BODY = "Service Unavailable"


@pytest.fixture
def server(start_mcp_server: Callable[..., McpServerHandle]) -> McpServerHandle:
    # The per-process SSE session cap must stay under the limit; off here, so only uvicorn
    # refuses.
    return start_mcp_server(
        {"AIRS_MCP_LIMIT_CONCURRENCY": str(LIMIT), "AIRS_MCP_MAX_SSE_SESSIONS": "0"}
    )


def _headers(server: McpServerHandle) -> dict[str, str]:
    return {"Accept": "application/json, text/event-stream", **server.auth_headers}


async def _ping(server: McpServerHandle) -> httpx.Response:
    """One MCP ping over Streamable HTTP on a connection of its own, closed after it."""
    async with httpx.AsyncClient(timeout=WAIT_S) as client:
        return await client.post(server.mcp_url, json=PING, headers=_headers(server))


def _assert_refused_by_uvicorn(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.text == REFUSAL_BODY, response.text  # not the server's own 503s
    assert response.headers.get("connection") == "close"


async def _recovers(server: McpServerHandle) -> None:
    """Wait until a ping is answered again (uvicorn drops a closed connection when it sees it
    gone)."""
    deadline = time.monotonic() + WAIT_S
    while (response := await _ping(server)).status_code != 200:
        _assert_refused_by_uvicorn(response)
        assert time.monotonic() < deadline, "the server never answered again"
        await asyncio.sleep(0.1)
    assert response.json()["id"] == PING["id"], response.text


@asynccontextmanager
async def _sse_streams(server: McpServerHandle, count: int) -> AsyncIterator[None]:
    """``count`` open SSE streams, each on its own connection, their endpoint event read."""
    # Kept referenced: a line iterator collected as garbage closes its stream's connection.
    readers: list[AsyncIterator[str]] = []
    async with AsyncExitStack() as stack:
        for _ in range(count):
            client = await stack.enter_async_context(httpx.AsyncClient(timeout=WAIT_S))
            response = await stack.enter_async_context(
                client.stream("GET", server.sse_url, headers=server.auth_headers)
            )
            assert response.status_code == 200, await response.aread()
            readers.append(response.aiter_lines())
            assert await anext(readers[-1]) == "event: endpoint"
        yield


async def test_held_sse_streams_fill_the_limit(server: McpServerHandle) -> None:
    async with _sse_streams(server, LIMIT - 2):
        assert (await _ping(server)).status_code == 200  # room for one more connection
    async with _sse_streams(server, LIMIT - 1):
        _assert_refused_by_uvicorn(await _ping(server))
        async with httpx.AsyncClient(timeout=WAIT_S) as client:
            stream = await client.get(server.sse_url, headers=server.auth_headers)
        _assert_refused_by_uvicorn(stream)
    await _recovers(server)


async def _slow_call(server: McpServerHandle, request_id: int) -> httpx.Response:
    async with httpx.AsyncClient(timeout=SLOW_AIRS_MS / 1000 + WAIT_S) as client:
        call = scan_call_request(request_id, "hello")
        return await client.post(server.mcp_url, json=call, headers=_headers(server))


async def _in_flight_at_double(double: AirsDouble, count: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while (in_flight := double.stats()["in_flight"]) < count:
        assert time.monotonic() < deadline, f"{in_flight} of {count} calls reached the double"
        await asyncio.sleep(0.05)


async def test_slow_tool_calls_fill_the_limit(
    server: McpServerHandle, airs_double: AirsDouble
) -> None:
    busy = LIMIT - 1
    airs_double.set_fault(None, latency_ms=SLOW_AIRS_MS, count=busy)
    calls = [asyncio.create_task(_slow_call(server, 10 + i)) for i in range(busy)]
    try:
        await _in_flight_at_double(airs_double, busy)
        _assert_refused_by_uvicorn(await _ping(server))
    finally:
        answers = await asyncio.gather(*calls)
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert not answer.json()["result"].get("isError"), answer.text
    await _recovers(server)
