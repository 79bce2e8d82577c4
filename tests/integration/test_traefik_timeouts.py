"""Traefik's entrypoint ``readTimeout`` against slow clients, with a real Traefik in front of a
real ``airs-mcp-server``.

Go's ``http.Server.ReadTimeout`` bounds reading a request, headers and body; Traefik 3.7 has no
separate header timeout. With a short ``readTimeout`` (``READ_TIMEOUT_S``):

- a client that sends its request headers one byte at a time, never finishing, is disconnected;
- a client that sends a POST body one byte at a time, never finishing, is disconnected;
- a live SSE session keeps receiving the server's pings and answers a tool call long after the
  timeout: reading the GET request finished at once, the stream is the response.

So the traefik role can keep ``readTimeout`` bounded (``traefik_read_timeout_seconds``) without
cutting SSE sessions. Each slow client waits on its socket between bytes: the peer's close ends
the wait, and ``CUT_BOUND_S`` only bounds a client that is never cut.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.mcp_client import initialize_request, scan_call_request
from harness.mcp_server import McpServerHandle
from harness.traefik import TraefikProxy, run_traefik

pytestmark = pytest.mark.integration

READ_TIMEOUT_S = 3.0
CUT_BOUND_S = 10 * READ_TIMEOUT_S  # a slow client still connected then was never cut
BYTE_EVERY_S = 0.25  # how long a slow client waits on its socket before its next byte
PING_S = "0.5"
SESSION_S = 4 * READ_TIMEOUT_S  # the SSE session outlives several read timeouts
WAIT_S = 30.0  # bound of every wait on the live session


@pytest.fixture(scope="module")
def server(start_mcp_server_module: Callable[..., McpServerHandle]) -> McpServerHandle:
    return start_mcp_server_module({"AIRS_MCP_SSE_PING_SECONDS": PING_S})


@pytest.fixture(scope="module")
def proxy(
    server: McpServerHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TraefikProxy]:
    directory: Path = tmp_path_factory.mktemp("traefik-timeouts")
    with run_traefik(
        [server.url],
        sticky=False,
        directory=directory,
        mcp_route=True,
        read_timeout_s=READ_TIMEOUT_S,
    ) as running:
        yield running


@dataclass(frozen=True)
class Cut:
    """How a slow client's connection ended: ``how`` (``eof``, ``reset`` or ``never``), after
    ``seconds``, with whatever the proxy answered before closing."""

    how: str
    seconds: float
    answer: bytes


def _connect(proxy: TraefikProxy) -> socket.socket:
    host, port = proxy.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.settimeout(BYTE_EVERY_S)
    return sock


def _trickle(sock: socket.socket, data: bytes) -> Cut:
    """Send ``data`` one byte at a time, waiting ``BYTE_EVERY_S`` on the socket before each,
    until the peer closes the connection or ``CUT_BOUND_S`` passes (``data`` never ends the
    request: it is a header or body left unfinished)."""
    started = time.monotonic()
    answer = b""
    sent = 0
    while (elapsed := time.monotonic() - started) < CUT_BOUND_S:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if sent < len(data):
                try:
                    sock.send(data[sent : sent + 1])
                except (BrokenPipeError, ConnectionResetError):
                    return Cut("reset", time.monotonic() - started, answer)
                sent += 1
            continue
        except ConnectionResetError:
            return Cut("reset", time.monotonic() - started, answer)
        if not chunk:
            return Cut("eof", time.monotonic() - started, answer)
        answer += chunk
    return Cut("never", elapsed, answer)


def _assert_cut_by_read_timeout(cut: Cut) -> None:
    assert cut.how != "never", f"still connected after {cut.seconds:.1f} s: {cut.answer!r}"
    # Closed with an error answer (Traefik 3.7: 400 for headers, 504 for a body) or none.
    assert not cut.answer.startswith(b"HTTP/1.1 2"), cut
    # Not an early refusal of a malformed request: the proxy waited for the timeout.
    assert cut.seconds >= READ_TIMEOUT_S * 0.9, cut


def test_slow_request_headers_are_cut(proxy: TraefikProxy) -> None:
    host = proxy.url.removeprefix("http://")
    # Never ends with the blank line that would finish the headers.
    unfinished = f"GET /sse/ HTTP/1.1\r\nHost: {host}\r\nX-Slow: {'a' * 200}".encode()
    with _connect(proxy) as sock:
        cut = _trickle(sock, unfinished)
    _assert_cut_by_read_timeout(cut)


def test_slow_post_body_is_cut(proxy: TraefikProxy, server: McpServerHandle) -> None:
    host = proxy.url.removeprefix("http://")
    body = json.dumps(scan_call_request(1, "x" * 400)).encode()
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {server.token}\r\n"
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        f"Content-Length: {len(body) + 1000}\r\n\r\n"  # more than will ever be sent
    ).encode()
    with _connect(proxy) as sock:
        sock.sendall(head)
        cut = _trickle(sock, body)
    _assert_cut_by_read_timeout(cut)


class Stream:
    """An SSE stream read line by line, the server's ``: ping`` comments counted."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self.lines = lines
        self.pings = 0

    async def event(self) -> tuple[str, str]:
        name, data = "message", ""
        async with asyncio.timeout(WAIT_S):
            async for line in self.lines:
                if line.startswith(": ping"):
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


@asynccontextmanager
async def sse_session(
    client: httpx.AsyncClient, server: McpServerHandle
) -> AsyncIterator[tuple[Stream, str]]:
    """An initialized SSE session through the proxy: its stream and message endpoint."""
    async with client.stream("GET", "/sse/", headers=server.auth_headers) as response:
        assert response.status_code == 200, await response.aread()
        stream = Stream(response.aiter_lines())
        name, endpoint = await stream.event()
        assert name == "endpoint"
        posted = await client.post(
            endpoint, json=initialize_request("slow-edge"), headers=server.auth_headers
        )
        assert posted.status_code == 202, posted.text
        assert (await stream.answer())["id"] == 1
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        await client.post(endpoint, json=initialized, headers=server.auth_headers)
        yield stream, endpoint


async def test_live_sse_session_outlives_the_read_timeout(
    proxy: TraefikProxy, server: McpServerHandle
) -> None:
    timeout = httpx.Timeout(WAIT_S)
    async with (
        httpx.AsyncClient(base_url=proxy.url, timeout=timeout) as client,
        sse_session(client, server) as (stream, endpoint),
    ):
        opened = time.monotonic()
        pings_at_open = stream.pings
        async with asyncio.timeout(SESSION_S + WAIT_S):
            async for line in stream.lines:
                stream.pings += line.startswith(": ping")
                if time.monotonic() - opened >= SESSION_S:
                    break
        assert time.monotonic() - opened >= SESSION_S, "the stream ended early"
        # Pings kept arriving all along, not just at the start.
        assert stream.pings - pings_at_open >= SESSION_S / float(PING_S) / 2, stream.pings
        posted = await client.post(
            endpoint, json=scan_call_request(2, "hello"), headers=server.auth_headers
        )
        assert posted.status_code == 202, posted.text
        answer = await stream.answer()
    assert answer["id"] == 2, answer
    assert not answer["result"].get("isError"), answer
