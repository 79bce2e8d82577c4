"""A lean idle-SSE-session client, in its own process, so its memory and CPU stay out of the
server's figures.

Each session is one raw socket (an ``asyncio.Protocol``, no task): ``GET /sse/``, wait for the
``endpoint`` event, ``initialize`` and ``notifications/initialized`` as POSTs (a few shared
keep-alive connections), then the stream is read continuously (pings included) and dropped,
so the server never sees a stalled or half-closed stream.

Driven over stdin/stdout, one JSON object a line::

    {"open": 1000}   -> {"opened": 1000, "failed": 0, "refused": 0, "seconds": 4.2}
    {"close": true}  -> {"closed": 1000}
    {"quit": true}   -> (exits)

A stream refused with an HTTP status (503) counts as ``refused``, with its first body bytes in
``refusal``. Run: ``python -m bench.idle_client --url http://127.0.0.1:PORT --token T``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from harness.mcp_client import initialize_request

ENDPOINT = re.compile(rb"event: endpoint\r?\ndata: ([^\r\n]+)")
OPENING_AT_ONCE = 64
POST_CONNECTIONS = 8
TIMEOUT_S = 60.0


def initialize(request_id: int) -> bytes:
    return json.dumps(initialize_request("bench-idle", request_id)).encode()


INITIALIZED = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()


class SseStream(asyncio.Protocol):
    """One open SSE stream; reads and discards everything after the initialize answer."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.buffer = b""
        self.status: int | None = None
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.endpoint: asyncio.Future[str] = loop.create_future()
        self.answered: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.answered.done():
            return  # idle: pings, dropped
        self.buffer += data
        if self.status is None and b"\r\n" in self.buffer:
            self.status = int(self.buffer.split(b" ", 2)[1])
            if self.status != 200:
                self._fail(RefusedError(self.status, self.buffer))
                return
        if not self.endpoint.done():
            found = ENDPOINT.search(self.buffer)
            if found:
                self.endpoint.set_result(found.group(1).decode())
                self.buffer = self.buffer[found.end() :]
        elif b'"result"' in self.buffer:
            self.buffer = b""
            self.answered.set_result(None)

    def _fail(self, error: Exception) -> None:
        for future in (self.endpoint, self.answered):
            if not future.done():
                future.set_exception(error)
                future.exception()  # marks it retrieved
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.status is not None and self.status != 200:
            self._fail(RefusedError(self.status, self.buffer))
        else:
            self._fail(ConnectionError("stream closed"))
        if not self.closed.done():
            self.closed.set_result(None)


class RefusedError(Exception):
    def __init__(self, status: int, raw: bytes) -> None:
        body = raw.partition(b"\r\n\r\n")[2]
        super().__init__(f"HTTP {status}: {body[:300].decode(errors='replace')}")
        self.status = status


class Poster:
    """POSTs over a few keep-alive connections (each request waits for its answer)."""

    def __init__(self, host: str, port: int, auth: bytes, connections: int) -> None:
        self.host, self.port, self.auth = host, port, auth
        self.queue: asyncio.Queue[tuple[str, bytes, asyncio.Future[int]]] = asyncio.Queue()
        self.workers = [asyncio.create_task(self._worker()) for _ in range(connections)]

    async def post(self, path: str, body: bytes) -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        await self.queue.put((path, body, future))
        return await future

    async def _worker(self) -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while True:
            path, body, future = await self.queue.get()
            for attempt in range(2):  # the server may have closed an idle keep-alive connection
                try:
                    if conn is None:
                        conn = await asyncio.open_connection(self.host, self.port)
                    future.set_result(await self._send(conn, path, body))
                    break
                except (ConnectionError, asyncio.IncompleteReadError, ValueError) as error:
                    if conn is not None:
                        conn[1].close()
                    conn = None
                    if attempt:
                        future.set_exception(error)

    async def _send(
        self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], path: str, body: bytes
    ) -> int:
        reader, writer = conn
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        ).encode()
        writer.write(head + self.auth + b"\r\n" + body)
        headers = await reader.readuntil(b"\r\n\r\n")
        status = int(headers.split(b" ", 2)[1])
        length = re.search(rb"(?i)content-length: *(\d+)", headers)
        if length:
            await reader.readexactly(int(length.group(1)))
        return status

    def stop(self) -> None:
        for worker in self.workers:
            worker.cancel()


class IdleClient:
    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.auth = f"Authorization: Bearer {token}\r\n".encode()
        self.get = (
            (
                f"GET /sse/ HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Accept: text/event-stream\r\n"
            ).encode()
            + self.auth
            + b"\r\n"
        )
        self.streams: list[SseStream] = []
        self.poster: Poster | None = None

    async def _open_one(self, gate: asyncio.Semaphore, number: int) -> str:
        async with gate:
            assert self.poster is not None
            loop = asyncio.get_running_loop()
            _, stream = await loop.create_connection(
                lambda: SseStream(self.get), self.host, self.port
            )
            try:
                endpoint = await asyncio.wait_for(stream.endpoint, TIMEOUT_S)
                status = await self.poster.post(endpoint, initialize(number))
                if status != 202:
                    raise RefusedError(status, b"")
                await asyncio.wait_for(stream.answered, TIMEOUT_S)
                await self.poster.post(endpoint, INITIALIZED)
            except BaseException:
                if stream.transport is not None:
                    stream.transport.close()
                raise
            self.streams.append(stream)
            return "opened"

    async def open(self, count: int) -> dict[str, Any]:
        if self.poster is None:
            self.poster = Poster(self.host, self.port, self.auth, POST_CONNECTIONS)
        gate = asyncio.Semaphore(OPENING_AT_ONCE)
        began = time.perf_counter()
        outcomes = await asyncio.gather(
            *(self._open_one(gate, n) for n in range(count)), return_exceptions=True
        )
        refused = [o for o in outcomes if isinstance(o, RefusedError)]
        failed = [o for o in outcomes if isinstance(o, BaseException) and o not in refused]
        out: dict[str, Any] = {
            "opened": len(outcomes) - len(refused) - len(failed),
            "refused": len(refused),
            "failed": len(failed),
            "seconds": round(time.perf_counter() - began, 2),
            "holding": len(self.streams),
        }
        if refused:
            out["refusal"] = str(refused[0])
        if failed:
            out["failure"] = repr(failed[0])
        return out

    async def close(self) -> dict[str, Any]:
        streams, self.streams = self.streams, []
        for stream in streams:
            if stream.transport is not None:
                stream.transport.close()
        await asyncio.gather(*(s.closed for s in streams))
        return {"closed": len(streams)}

    def alive(self) -> int:
        return sum(1 for s in self.streams if not s.closed.done())


async def serve(client: IdleClient) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        if "open" in command:
            answer = await client.open(int(command["open"]))
        elif "close" in command:
            answer = await client.close()
        elif "alive" in command:
            answer = {"alive": client.alive()}
        else:
            break
        print(json.dumps(answer), flush=True)
    await client.close()
    if client.poster is not None:
        client.poster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    asyncio.run(serve(IdleClient(args.url, args.token)))


if __name__ == "__main__":
    main()
