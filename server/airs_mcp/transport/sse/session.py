"""One SSE session's MCP side: its protocol era, its connection state, and the dispatch of each
message POSTed to it through the SDK's ``ServerRunner``.

The SDK's SSE transport gives every session a reader loop: memory streams, a task group and a
JSON-RPC dispatcher, held for as long as the stream is open (~100 kB per idle session). Here a
message is handled in the task of the POST that carried it, and the answer is handed to
``write`` (the stream, see ``transport.sse.transport``), so an idle session is this object and
nothing else. What the SDK's loop decides is decided the same way:

- the era, once, from the first request: the 2026-07-28 per-request envelope (no handshake), or
  the ``initialize`` handshake; a request of the other era is then refused as the SDK refuses it;
- ``notifications/cancelled`` cancels the request it names, which is then never answered;
- progress and other notifications of a request are written to the stream.

This server sends no requests to its clients (its tools use neither sampling nor elicitation),
so the back-channel refuses them (``NoBackChannelError``) and a client's JSON-RPC response is
dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server.connection import Connection, NotifyOnlyOutbound
from mcp.server.lowlevel.server import Server
from mcp.server.runner import ServerRunner, aclose_shielded, modern_error_data, serve_one
from mcp.shared.dispatcher import CallOptions, coerce_request_id
from mcp.shared.exceptions import MCPError, NoBackChannelError
from mcp.shared.inbound import InboundLadderRejection, classify_inbound_request
from mcp.shared.jsonrpc_dispatcher import (
    handler_exception_to_error_data,
    progress_token_from_params,
)
from mcp.shared.message import ServerMessageMetadata
from mcp.shared.transport_context import TransportContext
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PROTOCOL_VERSION_META_KEY,
    UNSUPPORTED_PROTOCOL_VERSION,
    ErrorData,
    JSONRPCMessage,
    JSONRPCNotification,
    JSONRPCRequest,
    ProgressToken,
    RequestId,
)
from mcp_types.version import LATEST_MODERN_VERSION, MODERN_PROTOCOL_VERSIONS

__all__ = ["SseSession", "Write", "handled_before_accepting"]

Write = Callable[[dict[str, Any]], Awaitable[None]]
"""Puts one JSON-RPC message on the session's stream."""

# Server-initiated requests are refused (see the module docstring).
TRANSPORT = TransportContext(kind="sse", can_send_request=False)
LEGACY, MODERN = "legacy", "modern"

log = logging.getLogger("airs_mcp.sse")


def handled_before_accepting(message: JSONRPCMessage) -> bool:
    """Whether a POSTed message is handled before its ``202 Accepted``: notifications and
    ``initialize`` are quick and order-sensitive (a client may send the next message as soon as
    this POST returns); any other request runs after the 202, while the client waits on the
    stream."""
    return not isinstance(message, JSONRPCRequest) or message.method == "initialize"


def _has_modern_envelope(params: Mapping[str, Any] | None) -> bool:
    """The 2026-07-28 envelope's reserved protocol-version key in ``params._meta``."""
    meta = (params or {}).get("_meta")
    return isinstance(meta, Mapping) and PROTOCOL_VERSION_META_KEY in meta


def _notification(method: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = dict(params)
    return message


class _StreamOutbound:
    """The connection's standalone channel: notifications go to the stream."""

    __slots__ = ("_write",)

    def __init__(self, write: Write) -> None:
        self._write = write

    async def send_raw_request(
        self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None
    ) -> dict[str, Any]:
        raise NoBackChannelError(method)

    async def notify(
        self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None
    ) -> None:
        await self._write(_notification(method, params))


@dataclass(eq=False)
class _MessageContext:
    """The SDK's ``DispatchContext`` for one POSTed message."""

    request_id: RequestId | None
    message_metadata: ServerMessageMetadata
    _write: Write
    _progress_token: ProgressToken | None = None
    cancel_requested: anyio.Event = field(default_factory=anyio.Event)
    transport: TransportContext = TRANSPORT

    @property
    def can_send_request(self) -> bool:
        return False

    async def notify(
        self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None
    ) -> None:
        await self._write(_notification(method, params))

    async def send_raw_request(
        self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None
    ) -> dict[str, Any]:
        raise NoBackChannelError(method)

    async def progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        if self._progress_token is None:
            return
        params: dict[str, Any] = {"progressToken": self._progress_token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await self.notify("notifications/progress", params)


def _legacy_error(exc: Exception) -> ErrorData:
    """The SDK's mapping, except that an unexpected exception's text stays in the log."""
    error = handler_exception_to_error_data(exc)
    if error is None:
        log.exception("mcp_request_failed")
        error = ErrorData(code=INTERNAL_ERROR, message="Internal server error")
    return error


def _modern_initialize_refusal(params: Mapping[str, Any] | None) -> MCPError:
    requested = (params or {}).get("protocolVersion")
    data: dict[str, Any] = {"supported": list(MODERN_PROTOCOL_VERSIONS)}
    if isinstance(requested, str):
        data["requested"] = requested
    return MCPError(
        code=UNSUPPORTED_PROTOCOL_VERSION,
        message="this session serves the 2026-07-28 protocol; initialize is not accepted",
        data=data,
    )


class SseSession:
    """What one SSE session keeps between its messages, and their dispatch."""

    __slots__ = (
        "_era",
        "_in_flight",
        "_outbound",
        "_runner",
        "_state",
        "_write",
        "server",
        "session_id",
    )

    def __init__(self, server: Server[Any], lifespan_state: Any, write: Write, session_id: str):
        self.server = server
        self.session_id = session_id
        self._state = lifespan_state
        self._write = write
        self._outbound = _StreamOutbound(write)
        self._era: str | None = None
        self._runner: ServerRunner[Any] | None = None  # the handshake era's, made on first use
        self._in_flight: dict[RequestId, tuple[anyio.CancelScope, _MessageContext]] = {}

    async def handle(self, message: JSONRPCMessage, metadata: ServerMessageMetadata) -> None:
        """Dispatch one message; a request's answer (or error) is written to the stream."""
        if isinstance(message, JSONRPCRequest):
            await self._request(message, metadata)
        elif isinstance(message, JSONRPCNotification):
            await self._notify(message, metadata)
        else:
            log.debug("dropped a client response: this server sends no requests")

    def cancel_all(self) -> None:
        """The stream is gone: nothing can be answered any more."""
        for scope, _ in self._in_flight.values():
            scope.cancel()

    async def aclose(self) -> None:
        self.cancel_all()
        if self._runner is not None:
            await aclose_shielded(self._runner.connection)

    def _legacy_runner(self) -> ServerRunner[Any]:
        if self._runner is None:
            connection = Connection.for_loop(self._outbound, session_id=self.session_id)
            self._runner = ServerRunner(self.server, connection, self._state)
        return self._runner

    async def _request(self, request: JSONRPCRequest, metadata: ServerMessageMetadata) -> None:
        if self._era is None:
            modern = request.method != "initialize" and _has_modern_envelope(request.params)
            self._era = MODERN if modern else LEGACY
        context = _MessageContext(
            request.id, metadata, self._write, progress_token_from_params(request.params)
        )
        key = coerce_request_id(request.id)
        scope = anyio.CancelScope()
        self._in_flight[key] = (scope, context)
        answer: dict[str, Any] | None = None
        try:
            with scope:
                try:
                    if self._era is MODERN:
                        result = await self._modern(context, request.method, request.params)
                    else:
                        result = await self._legacy(context, request.method, request.params)
                    answer = {"jsonrpc": "2.0", "id": request.id, "result": result}
                except Exception as exc:
                    error = modern_error_data(exc) if self._era is MODERN else _legacy_error(exc)
                    answer = {
                        "jsonrpc": "2.0",
                        "id": request.id,
                        "error": error.model_dump(by_alias=True, mode="json", exclude_none=True),
                    }
        finally:
            if self._in_flight.get(key, (None, None))[1] is context:
                del self._in_flight[key]
        if answer is not None and not context.cancel_requested.is_set():
            await self._write(answer)

    async def _legacy(
        self, context: _MessageContext, method: str, params: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        if method != "initialize" and _has_modern_envelope(params):
            raise MCPError(
                code=INVALID_REQUEST,
                message="this session serves the initialize handshake; requests carrying the "
                "2026-07-28 envelope are not accepted on it",
            )
        return await self._legacy_runner().on_request(context, method, params)

    async def _modern(
        self, context: _MessageContext, method: str, params: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        if method == "initialize":
            raise _modern_initialize_refusal(params)
        route = classify_inbound_request({"method": method, "params": params})
        if isinstance(route, InboundLadderRejection):
            raise MCPError(code=route.code, message=route.message, data=route.data)
        connection = Connection.from_envelope(
            route.protocol_version,
            route.client_info,
            route.client_capabilities,
            outbound=NotifyOnlyOutbound(self._outbound),
        )
        return await serve_one(
            self.server, context, method, params, connection=connection, lifespan_state=self._state
        )

    async def _notify(self, note: JSONRPCNotification, metadata: ServerMessageMetadata) -> None:
        if note.method == "notifications/cancelled":
            named = (note.params or {}).get("requestId")
            if isinstance(named, str | int) and not isinstance(named, bool):
                in_flight = self._in_flight.get(coerce_request_id(named))
                if in_flight is not None:
                    scope, context = in_flight
                    context.cancel_requested.set()
                    scope.cancel()
        context = _MessageContext(None, metadata, self._write)
        if self._era is not MODERN:
            await self._legacy_runner().on_notify(context, note.method, note.params)
            return
        # The envelope is request-only: a notification runs at the newest modern version.
        connection = Connection.from_envelope(
            LATEST_MODERN_VERSION, None, None, outbound=NotifyOnlyOutbound(self._outbound)
        )
        try:
            await ServerRunner(self.server, connection, self._state).on_notify(
                context, note.method, note.params
            )
        finally:
            await aclose_shielded(connection)
