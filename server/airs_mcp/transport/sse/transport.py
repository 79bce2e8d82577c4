"""The SSE transport under ``/sse/``: one stream GET per session and the POSTs of its messages,
in place of the SDK's ``SseServerTransport`` and sse-starlette.

The wire is the SDK's: the stream opens with an ``endpoint`` event naming
``<root>/messages/?session_id=<hex>``, answers come as ``message`` events, a POST is answered
``202 Accepted`` (400 for a missing or malformed id or body, 404 for an unknown session, 413
past the body limit, as ``transport.body_limit`` answers), and comments (``: ping``) keep the stream
alive. A session is bound to the credential that opened
it: a POST with another valid credential gets 403.

What an open session costs is the point: the stream's ASGI task, parked in
``receive()`` until the client goes away, and a small ``SseSession``; no task group, no memory
streams, no buffered events. A message is handled in its POST's task and its answer written
straight to the stream. One task pings every stream every ``ping_s``; a stream whose client
stops reading for ``write_timeout_s`` is ended. ``end_streams`` ends every stream cleanly at
shutdown (clients reconnect to another replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import principal_components
from mcp.server.lowlevel.server import Server
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.message import ServerMessageMetadata
from mcp_types import jsonrpc_message_adapter
from pydantic import ValidationError
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from airs_mcp.transport.body_limit import body_within, invalid_jsonrpc
from airs_mcp.transport.routing.session_router import session_tag
from airs_mcp.transport.sse.session import SseSession, handled_before_accepting

__all__ = ["PING_S", "SseTransport"]

PING_S = 15.0  # under every proxy's idle timeout (Traefik: 90 s); clients skip comments
WRITE_TIMEOUT_S = 30.0
PINGS_AT_ONCE = 500
PING = b": ping\r\n\r\n"
STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),  # nginx-style proxies: do not buffer the stream
]
FOREIGN = "This session was opened with another credential"
END = {"type": "http.response.body", "body": b"", "more_body": False}

log = logging.getLogger("airs_mcp.sse")


def _event(name: str, data: str) -> bytes:
    return f"event: {name}\r\ndata: {data}\r\n\r\n".encode("utf-8", "backslashreplace")


Principal = tuple[str, str | None, str | None] | None  # client id, issuer, subject


def _owner(scope: Scope) -> Principal:
    user = scope.get("user")
    return principal_components(user.access_token) if isinstance(user, AuthenticatedUser) else None


async def _plain(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Stream:
    """One open stream: the ASGI ``send`` of its GET, written under a lock so that answers,
    pings and the final end never interleave, and never follow the end."""

    __slots__ = ("ended", "lock", "owner", "send", "session")

    def __init__(self, send: Send, owner: Principal) -> None:
        self.send = send
        self.owner = owner
        self.lock = asyncio.Lock()
        self.ended = False
        self.session: SseSession  # set right after, with the write callback below

    async def write(self, chunk: bytes, timeout_s: float = WRITE_TIMEOUT_S) -> None:
        async with self.lock:
            if self.ended:
                return
            try:
                message = {"type": "http.response.body", "body": chunk, "more_body": True}
                async with asyncio.timeout(timeout_s):
                    await self.send(message)
            except TimeoutError:
                log.warning("sse_stream_stalled", extra={"timeout_s": timeout_s})
                await self._end()

    async def end(self) -> None:
        async with self.lock:
            await self._end()

    async def _end(self) -> None:
        if not self.ended:
            self.ended = True
            # uvicorn wakes the stream's receive() once the response is complete.
            with contextlib.suppress(Exception):
                await self.send(END)


class SseTransport:
    """ASGI app for ``/sse/``: ``GET /`` opens a stream, ``POST /messages/`` carries messages."""

    def __init__(
        self,
        server: Server[Any],
        security: TransportSecuritySettings,
        max_body_bytes: int,
        message_path: str = "/messages/",
        ping_s: float = PING_S,
    ) -> None:
        self.server = server
        self.security = TransportSecurityMiddleware(security)
        self.max_body_bytes = max_body_bytes
        self.message_path = message_path
        self.ping_s = ping_s
        self.streams: dict[str, _Stream] = {}
        self.lifespan_state: Any = None

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """The MCP server's lifespan (once, for every session) and the pings."""
        async with self.server.lifespan(self.server) as state:
            self.lifespan_state = state
            pinger = asyncio.create_task(self._ping_forever())
            try:
                yield
            finally:
                pinger.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pinger
                await self.end_streams()

    async def end_streams(self) -> None:
        """End every open stream with a clean end of its body (server shutdown). A stream whose
        write is stalled on a client that stopped reading is skipped rather than waited for:
        uvicorn's shutdown timeout closes it."""
        for stream in list(self.streams.values()):
            if not stream.lock.locked():
                await stream.end()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a WebSocket upgrade under /sse/: refused
            await send({"type": "websocket.close", "code": 1008})
            return
        route = scope["path"][len(scope.get("root_path", "").rstrip("/")) :]
        method = scope["method"]
        if route == "/":
            if method == "GET":
                await self._stream(scope, receive, send)
            else:
                await _plain(send, 405, "Method Not Allowed", [(b"allow", b"GET")])
        elif route == "":
            url = URL(scope=scope)
            location = str(url.replace(path=url.path + "/"))
            await _plain(send, 307, "", [(b"location", location.encode())])
        elif route.startswith(self.message_path):
            if method == "POST":
                await self._message(scope, receive, send)
            else:
                await _plain(send, 405, "Method Not Allowed", [(b"allow", b"POST")])
        else:
            await _plain(send, 404, "Not Found", [])

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = await self.security.validate_request(Request(scope, receive), is_post=False)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        session_id = uuid.uuid4().hex
        stream = _Stream(send, _owner(scope))

        async def write(message: dict[str, Any]) -> None:
            data = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
            await stream.write(_event("message", data))

        stream.session = SseSession(self.server, self.lifespan_state, write, session_id)
        messages = scope.get("root_path", "").rstrip("/") + self.message_path
        endpoint = f"{quote(messages)}?session_id={session_id}"
        try:
            await send({"type": "http.response.start", "status": 200, "headers": STREAM_HEADERS})
            await stream.write(_event("endpoint", endpoint))
            # Registered only now: a ping must not come first (the session router rewrites the
            # stream's first event), and no POST can name the session before this event.
            self.streams[session_id] = stream
            while (await receive())["type"] != "http.disconnect":
                pass  # a GET has no body; this returns when the client goes or the stream ends
        finally:
            self.streams.pop(session_id, None)
            stream.ended = True
            await stream.session.aclose()

    async def _message(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        refusal = await self.security.validate_request(request, is_post=True)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        session_id = request.query_params.get("session_id")
        if session_id is None:
            await _plain(send, 400, "session_id is required", [])
            return
        try:
            canonical = uuid.UUID(hex=session_id).hex
        except ValueError:
            await _plain(send, 400, "Invalid session ID", [])
            return
        stream = self.streams.get(canonical)
        if stream is None:
            await _plain(send, 404, "Could not find session", [])
            return
        if stream.owner != _owner(scope):
            log.warning("session_credential_mismatch", extra={"session": session_tag(canonical)})
            await _plain(send, 403, FOREIGN, [])
            return
        body = await body_within(scope, receive, send, self.max_body_bytes)
        if body is None:
            return
        try:
            message = jsonrpc_message_adapter.validate_json(body, by_name=False)
        except ValidationError:
            await invalid_jsonrpc(len(body), jsonrpc_errors=False)(scope, receive, send)
            return
        metadata = ServerMessageMetadata(request_context=request, can_send_request=False)
        if handled_before_accepting(message):
            await stream.session.handle(message, metadata)
            await _plain(send, 202, "Accepted", [])
        else:
            await _plain(send, 202, "Accepted", [])
            await stream.session.handle(message, metadata)

    async def _ping_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ping_s)
            for count, stream in enumerate(list(self.streams.values()), start=1):
                if not stream.lock.locked():  # a stream being written to needs no ping
                    await stream.write(PING, timeout_s=1.0)
                if count % PINGS_AT_ONCE == 0:
                    await asyncio.sleep(0)  # thousands of streams: let calls run in between
