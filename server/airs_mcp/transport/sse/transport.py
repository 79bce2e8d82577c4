"""The SSE transport under ``/sse/``: one stream GET per session and the POSTs of its messages,
in place of the SDK's ``SseServerTransport`` and sse-starlette.

The wire is the SDK's: the stream opens with an ``endpoint`` event naming
``<root>/messages/?session_id=<hex>``, answers come as ``message`` events, a POST is answered
``202 Accepted`` (400 for a missing or malformed id or body, 404 for an unknown session, 413
past the body limit, as ``transport.body_limit`` answers, 429 past the cap below), and
comments (``: ping``) keep the stream alive. A session is bound to the credential that opened
it: a POST with another valid credential gets 403.

What an open session costs is the point: the stream's ASGI task, parked in
``receive()`` until the client goes away, and a small ``SseSession``; no task group, no memory
streams, no buffered events. A message is handled in its POST's task and its answer written
straight to the stream. One task pings every stream every ``ping_s``
(``AIRS_MCP_SSE_PING_SECONDS``).

At shutdown (``drain``, from SIGTERM) no accepted call is left without its answer:

- a stream with nothing in hand ends at once, with a clean end of its body (its client sees the
  end, not a reset, and reconnects to another replica);
- a stream with calls in hand stays open until they are answered, then ends right after the
  last answer; meanwhile a new request POSTed to it gets 503 with a JSON-RPC error (retry on a
  new session) instead of a 202 that could not be answered;
- a POST naming a session whose stream the shutdown ended gets 410 with a JSON-RPC error.

What is left when the drain's time is up (``AIRS_MCP_GRACEFUL_SHUTDOWN_SECONDS``) is ended by
``end_streams`` as uvicorn's shutdown starts.

A client that stops reading its stream holds no more than this:

- every write to a stream, pings and the end included, has a deadline, its wait for its turn
  included (``AIRS_MCP_SSE_WRITE_TIMEOUT_SECONDS``); past it the stream is dropped: forgotten,
  so that its session's POSTs get 404, and its connection reset (``sse_stream_stalled`` log
  line);
- each ping is its own task, so a stalled stream delays no other stream's ping;
- a session has at most ``max_in_flight`` POSTed messages in hand (``AIRS_MCP_SSE_MAX_IN_FLIGHT``;
  each holds at most one write to the stream, so this bounds its queued writes too); past it a
  POST gets 429 with ``Retry-After`` and a JSON-RPC error naming the cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import principal_components
from mcp.server.lowlevel.server import Server
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.shared.message import ServerMessageMetadata
from mcp_types import JSONRPCMessage, JSONRPCRequest, jsonrpc_message_adapter
from pydantic import ValidationError
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from airs_mcp.config import (
    DEFAULT_SSE_MAX_IN_FLIGHT,
    DEFAULT_SSE_PING_S,
    DEFAULT_SSE_WRITE_TIMEOUT_S,
)
from airs_mcp.limits.refusal import Refusal, send_too_many
from airs_mcp.transport.body_limit import body_within, invalid_jsonrpc
from airs_mcp.transport.connection_abort import connection_abort
from airs_mcp.transport.routing.session_router import session_tag
from airs_mcp.transport.sse.refusals import STREAM_ENDED, STREAM_ENDING, refuse
from airs_mcp.transport.sse.session import SseSession, handled_before_accepting

__all__ = ["SseTransport"]

PINGS_AT_ONCE = 500
END_AT_SHUTDOWN_S = 1.0  # within uvicorn's shutdown timeout (process.shutdown.CLOSE_S)
PING = b": ping\r\n\r\n"
STREAM_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),  # nginx-style proxies: do not buffer the stream
]
FOREIGN = "This session was opened with another credential"
END: Message = {"type": "http.response.body", "body": b"", "more_body": False}
BUSY_MESSAGE = "Too many messages in hand on this SSE session"
RETRY_AFTER_S = b"1"

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
    pings and the final end never interleave, and never follow the end.

    Every send has a deadline, its wait for the lock included: a client that stops reading
    makes uvicorn's ``send`` wait for the socket to drain, forever. A send past its deadline
    drops the stream: it is ended at once (its other writes return, no POST finds it any more)
    and its connection is reset (``transport.connection_abort``), which also makes the GET's
    ``receive()`` return."""

    __slots__ = (
        "abort",
        "closing",
        "dropped",
        "ended",
        "in_hand",
        "lock",
        "on_drop",
        "owner",
        "send",
        "session",
        "timeout_s",
    )

    def __init__(
        self,
        send: Send,
        owner: Principal,
        abort: Callable[[], None] | None,
        timeout_s: float,
        on_drop: Callable[[], None],
    ) -> None:
        self.send = send
        self.owner = owner
        self.abort = abort
        self.timeout_s = timeout_s
        self.on_drop = on_drop
        self.lock = asyncio.Lock()
        self.ended = False
        self.dropped = False
        self.closing = False  # shutting down: takes no new request, ends once nothing is in hand
        self.in_hand = 0  # POSTed messages being handled (see SseTransport.max_in_flight)
        self.session: SseSession  # set right after, with the write callback below

    async def write(self, chunk: bytes) -> None:
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def end(self, timeout_s: float | None = None) -> None:
        await self._send(END, timeout_s=timeout_s)

    async def _send(self, message: Message, timeout_s: float | None = None) -> None:
        if self.dropped:  # no wait for the lock of a stream already given up
            return
        deadline = self.timeout_s if timeout_s is None else timeout_s
        try:
            async with asyncio.timeout(deadline), self.lock:
                if self.ended:
                    return
                if not message.get("more_body", False):
                    self.ended = True
                await self.send(message)
        except TimeoutError:
            self.drop(deadline)

    def drop(self, timeout_s: float) -> None:
        """End the stream without a word and reset its connection: its client stopped reading."""
        self.ended = True
        if self.dropped:
            return
        self.dropped = True
        self.on_drop()
        log.warning(
            "sse_stream_stalled",
            extra={
                "session": session_tag(self.session.session_id),
                "timeout_s": timeout_s,
                "connection_reset": self.abort is not None,
            },
        )
        if self.abort is not None:
            self.abort()


class SseTransport:
    """ASGI app for ``/sse/``: ``GET /`` opens a stream, ``POST /messages/`` carries messages."""

    def __init__(
        self,
        server: Server[Any],
        security: TransportSecuritySettings,
        max_body_bytes: int,
        message_path: str = "/messages/",
        ping_s: float = DEFAULT_SSE_PING_S,
        write_timeout_s: float = DEFAULT_SSE_WRITE_TIMEOUT_S,
        max_in_flight: int = DEFAULT_SSE_MAX_IN_FLIGHT,
        admit: Callable[[Scope], Refusal | None] | None = None,
    ) -> None:
        self.server = server
        self.security = TransportSecurityMiddleware(security)
        self.max_body_bytes = max_body_bytes
        self.message_path = message_path
        self.ping_s = ping_s
        self.write_timeout_s = write_timeout_s
        self.max_in_flight = max_in_flight
        self.admit = admit  # the per-credential message rate: a refusal, or None to go on
        self.streams: dict[str, _Stream] = {}
        self.lifespan_state: Any = None
        self.ended_by_drain: set[str] = set()  # their POSTs get 410, not 404
        self.stream_gone = asyncio.Event()  # set whenever a stream leaves ``streams``

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

    async def drain(self) -> None:
        """Shutdown: end every stream once nothing is in hand on it, idle streams at once;
        returns when no stream is left (the caller bounds the wait)."""
        streams = list(self.streams.values())
        for stream in streams:
            stream.closing = True  # from here its new requests are refused (503)
        await asyncio.gather(*(self._end_drained(s) for s in streams if s.in_hand == 0))
        while self.streams:
            self.stream_gone.clear()
            await self.stream_gone.wait()

    async def _end_drained(self, stream: _Stream) -> None:
        """End a closing stream: no POST finds it from now (410), then its clean end."""
        session_id = stream.session.session_id
        self.ended_by_drain.add(session_id)
        self._forget(session_id)
        await stream.end(END_AT_SHUTDOWN_S)

    def _forget(self, session_id: str) -> None:
        if self.streams.pop(session_id, None) is not None:
            self.stream_gone.set()

    async def end_streams(self) -> None:
        """End every open stream with a clean end of its body (server shutdown), all at once; a
        stream that cannot take its end within ``END_AT_SHUTDOWN_S`` (its client stopped
        reading) is dropped instead."""
        streams = list(self.streams.values())
        await asyncio.gather(*(self._end_drained(stream) for stream in streams))

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
        if self.admit is not None and (limited := self.admit(scope)) is not None:
            await send_too_many(send, limited)
            return
        session_id = uuid.uuid4().hex

        def forget() -> None:  # a dropped stream takes no more POSTs and no pings
            self._forget(session_id)

        stream = _Stream(send, _owner(scope), connection_abort(scope), self.write_timeout_s, forget)

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
            if not stream.ended:
                self.streams[session_id] = stream
            while (await receive())["type"] != "http.disconnect":
                pass  # a GET has no body; this returns when the client goes or the stream ends
        finally:
            self._forget(session_id)
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
            if canonical in self.ended_by_drain:
                await self._refuse_ended(scope, receive, send)
            else:
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
        # No await from these checks to the 202: the drain sees ``in_hand`` as it is.
        if stream.ended:  # ended while the body was read
            await refuse(send, 410, STREAM_ENDED, message, None)
            return
        if stream.closing and isinstance(message, JSONRPCRequest):
            await refuse(send, 503, STREAM_ENDING, message, RETRY_AFTER_S)
            return
        if self.admit is not None and (limited := self.admit(scope)) is not None:
            await self._refuse_limited(send, stream, message, limited)
            return
        if stream.in_hand >= self.max_in_flight:
            await self._refuse_busy(send, canonical, message)
            return
        metadata = ServerMessageMetadata(request_context=request, can_send_request=False)
        stream.in_hand += 1
        try:
            if handled_before_accepting(message):
                await stream.session.handle(message, metadata)
                await _plain(send, 202, "Accepted", [])
            else:
                await _plain(send, 202, "Accepted", [])
                await stream.session.handle(message, metadata)
        finally:
            stream.in_hand -= 1
            if stream.closing and not stream.in_hand and not stream.ended:  # answered: end it
                await self._end_drained(stream)

    async def _refuse_ended(self, scope: Scope, receive: Receive, send: Send) -> None:
        """410 for a POST to a session whose stream the shutdown ended, with the id of the
        request it carried when it is one."""
        body = await body_within(scope, receive, send, self.max_body_bytes)
        if body is None:
            return
        message: JSONRPCMessage | None = None
        with contextlib.suppress(ValidationError):
            message = jsonrpc_message_adapter.validate_json(body, by_name=False)
        await refuse(send, 410, STREAM_ENDED, message, None)

    async def _refuse_busy(self, send: Send, session_id: str, message: JSONRPCMessage) -> None:
        """429 with a JSON-RPC error naming the cap: the session has too many messages in hand,
        likely because its client stopped reading its stream."""
        log.warning(
            "sse_message_refused",
            extra={"session": session_tag(session_id), "max_in_flight": self.max_in_flight},
        )
        text = (
            f"{BUSY_MESSAGE} ({self.max_in_flight}, AIRS_MCP_SSE_MAX_IN_FLIGHT); "
            "retry once answers have arrived on the stream"
        )
        await refuse(send, 429, text, message, RETRY_AFTER_S)

    async def _refuse_limited(
        self, send: Send, stream: _Stream, message: JSONRPCMessage, refusal: Refusal
    ) -> None:
        """A request's answer is the JSON-RPC error on the stream; a notification's is a 429."""
        if not isinstance(message, JSONRPCRequest):
            await send_too_many(send, refusal)
            return
        await _plain(send, 202, "Accepted", [])
        answer = {"jsonrpc": "2.0", "id": message.id, "error": refusal.error()}
        await stream.write(_event("message", json.dumps(answer, separators=(",", ":"))))

    async def _ping_forever(self) -> None:
        """Every ``ping_s``, a ping to each stream not being written to. Each ping is a task of
        its own with the write deadline, so a stream whose client stopped reading delays no
        other stream's ping (it is dropped at its deadline); at most ``PINGS_AT_ONCE`` are
        pending at once."""
        pending: set[asyncio.Task[None]] = set()
        try:
            while True:
                await asyncio.sleep(self.ping_s)
                for count, stream in enumerate(list(self.streams.values()), start=1):
                    if stream.lock.locked():  # being written to, or its last ping still pending
                        continue
                    pending.add(asyncio.create_task(stream.write(PING)))
                    if len(pending) >= PINGS_AT_ONCE:
                        _, pending = await asyncio.wait(
                            pending, return_when=asyncio.FIRST_COMPLETED
                        )
                    elif count % PINGS_AT_ONCE == 0:
                        await asyncio.sleep(0)  # thousands of streams: let calls run in between
                pending = {ping for ping in pending if not ping.done()}
        finally:
            for ping in pending:
                ping.cancel()
