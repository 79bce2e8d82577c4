"""A client that stops reading its SSE stream cannot stall the server: a real uvicorn process,
a real socket whose receive buffer is shrunk and never read, and a second session beside it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from harness.airs_double import AirsDouble
from harness.mcp_client import initialize_request, scan_call_request
from harness.mcp_server import McpServerHandle

pytestmark = pytest.mark.integration

WRITE_TIMEOUT_S = "2"
PING_S = "0.5"
BATCH_ITEMS = 5000  # empty items: answered at once, each with its error, without AIRS
SMALL_RCVBUF = 4096
SYNC_SCAN_PATH = "/v1/scan/sync/request"
MAX_BATCHES = 10
WAIT_S = 60  # generous bound of every wait: a hang fails instead of blocking the run


def _stalled_stream(server: McpServerHandle) -> tuple[socket.socket, str]:
    """An SSE stream on a socket whose receive buffer is shrunk before connecting; its
    ``endpoint`` event is read, then nothing more."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
    sock.settimeout(WAIT_S)
    sock.connect(("127.0.0.1", server.port))
    request = (
        f"GET /sse/ HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {server.token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    sock.sendall(request.encode())
    received = b""
    marker = b"event: endpoint\r\ndata: "
    while marker not in received or b"\r\n" not in received.split(marker, 1)[1]:
        chunk = sock.recv(4096)
        assert chunk, received
        received += chunk
    assert received.startswith(b"HTTP/1.1 200"), received
    return sock, received.split(marker, 1)[1].split(b"\r\n", 1)[0].decode()


def _read_until_closed(sock: socket.socket) -> str:
    """Read the stream again until the server closes it: ``eof`` or ``reset``."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return "reset"
    return "eof"


class Stream:
    """A session read line by line, pings counted."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self.lines = lines
        self.pings = 0

    async def event(self) -> tuple[str, str]:
        name, data = "message", ""
        async with asyncio.timeout(WAIT_S):
            async for line in self.lines:
                if line == ": ping":
                    self.pings += 1
                elif line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    data = line.removeprefix("data: ")
                elif not line and data:
                    return name, data
        raise EOFError("the stream ended")

    async def answer(self) -> dict[str, Any]:
        name, data = await self.event()
        assert name == "message", (name, data)
        answer: dict[str, Any] = json.loads(data)
        return answer

    async def pinged(self, count: int) -> None:
        """Wait for ``count`` more pings."""
        wanted = self.pings + count
        async with asyncio.timeout(WAIT_S):
            async for line in self.lines:
                self.pings += line == ": ping"
                if self.pings >= wanted:
                    return
        raise EOFError("the stream ended")


@asynccontextmanager
async def reading_session(
    client: httpx.AsyncClient, server: McpServerHandle
) -> AsyncIterator[tuple[Stream, str]]:
    async with client.stream("GET", "/sse/", headers=server.auth_headers) as response:
        assert response.status_code == 200
        stream = Stream(response.aiter_lines())
        name, endpoint = await stream.event()
        assert name == "endpoint"
        yield stream, endpoint


async def _initialize(
    client: httpx.AsyncClient, server: McpServerHandle, endpoint: str
) -> httpx.Response:
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    answer = await client.post(
        endpoint, json=initialize_request("stall"), headers=server.auth_headers
    )
    if answer.status_code == 202:
        await client.post(endpoint, json=initialized, headers=server.auth_headers)
    return answer


def _batch_of_empty_items(request_id: int) -> dict[str, Any]:
    arguments = {"items": [{}] * BATCH_ITEMS}
    params = {"name": "pan_batch_scan", "arguments": arguments}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


async def _logged(server: McpServerHandle, message: str, within: float) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            found = [line for line in server.log_lines() if line.get("msg") == message]
            if found:
                return found[0]
            await asyncio.sleep(0.1)


async def _stall(
    client: httpx.AsyncClient, server: McpServerHandle, endpoint: str
) -> dict[str, Any]:
    """POST big batches to the session whose client stopped reading until the server logs
    its stream stalled."""
    for request_id in range(1, MAX_BATCHES + 1):
        posted = await client.post(
            endpoint, json=_batch_of_empty_items(request_id), headers=server.auth_headers
        )
        assert posted.status_code in {202, 404}, posted.text
        with contextlib.suppress(TimeoutError):
            return await _logged(server, "sse_stream_stalled", within=3 * float(WRITE_TIMEOUT_S))
    raise AssertionError(f"no stall logged after {MAX_BATCHES} answers nobody reads")


async def test_a_client_that_stops_reading_is_dropped_and_stalls_nothing_else(
    start_mcp_server: Callable[..., McpServerHandle],
) -> None:
    server = start_mcp_server(
        {
            "AIRS_MCP_SSE_WRITE_TIMEOUT_SECONDS": WRITE_TIMEOUT_S,
            "AIRS_MCP_SSE_PING_SECONDS": PING_S,
            "AIRS_MCP_MAX_BATCH_ITEMS": str(BATCH_ITEMS),
        }
    )
    stalled, stalled_endpoint = await asyncio.to_thread(_stalled_stream, server)
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as client:
        assert (await _initialize(client, server, stalled_endpoint)).status_code == 202
        async with reading_session(client, server) as (healthy, endpoint):
            assert (await _initialize(client, server, endpoint)).status_code == 202
            assert "serverInfo" in (await healthy.answer())["result"]
            # Answers of megabytes, until they fill the shrunk socket's and the kernel's buffers
            # and a write to the stream misses its deadline.
            stall = await _stall(client, server, stalled_endpoint)

            # The other session is still pinged and still answers.
            await healthy.pinged(3)
            await client.post(
                endpoint, json=scan_call_request(2, "hello"), headers=server.auth_headers
            )
            answer = await healthy.answer()
            assert (answer["id"], answer["result"]["isError"]) == (2, False)

            # The stalled session's POSTs are answered at once, not held behind its stream.
            late = await _initialize(client, server, stalled_endpoint)
            assert late.status_code == 404, late.text
    # Its socket was closed by the server: reading again ends (a clean end of the body would
    # leave the kept-alive connection open, and this read would time out).
    assert stall["connection_reset"] is True
    assert await asyncio.to_thread(_read_until_closed, stalled) in {"reset", "eof"}
    stalled.close()


async def test_a_session_past_its_cap_on_messages_in_hand_gets_429(
    start_mcp_server: Callable[..., McpServerHandle], airs_double: AirsDouble
) -> None:
    server = start_mcp_server({"AIRS_MCP_SSE_MAX_IN_FLIGHT": "1"})
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as client,
        reading_session(client, server) as (stream, endpoint),
    ):
        assert (await _initialize(client, server, endpoint)).status_code == 202
        await stream.answer()
        airs_double.set_fault(latency_ms=1500, count=1, path=SYNC_SCAN_PATH)
        slow = await client.post(
            endpoint, json=scan_call_request(7, "slow"), headers=server.auth_headers
        )
        assert slow.status_code == 202
        refused = await client.post(
            endpoint, json=scan_call_request(8, "too many"), headers=server.auth_headers
        )
        assert refused.status_code == 429
        assert refused.headers["retry-after"]
        error = refused.json()
        assert error["id"] == 8
        assert "AIRS_MCP_SSE_MAX_IN_FLIGHT" in error["error"]["message"]
        assert (await stream.answer())["id"] == 7
        # with the slow call answered, the session takes messages again
        again = await client.post(
            endpoint, json=scan_call_request(9, "again"), headers=server.auth_headers
        )
        assert again.status_code == 202
        assert (await stream.answer())["id"] == 9
