"""``SseSessions``: the per-process cap on open SSE streams and each session's credential binding.

Sits between the session router (or the SSE guard) and the SDK's SSE app, so it sees the stream
GETs and the message POSTs of the sessions held by this replica, including POSTs that another
replica forwarded here with the client's original ``Authorization`` header.

- Stream GET: past ``max_sessions`` open streams, or once the process is shutting down, 503
  with a clear body and one log line.
  Otherwise the session id is read from the ``endpoint`` event and bound to the principal of
  the request's token until the stream ends.
- Message POST for a session held here: a different principal (another valid token) gets 403.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import principal_components
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from airs_mcp.endpoint_event import add_query_parameter, rewrite_first_event
from airs_mcp.metrics import Metrics
from airs_mcp.session_routing import session_tag

__all__ = ["SseSessions"]

Principal = tuple[str, str | None, str | None] | None
RETRY_AFTER_S = "5"
FULL = (
    "Too many open SSE sessions on this server (AIRS_MCP_MAX_SSE_SESSIONS); retry later, "
    "or use the Streamable HTTP endpoint /mcp"
)
DRAINING = (
    "This server is shutting down and takes no new sessions; connect again (another replica "
    "will answer)"
)
FOREIGN = "This session was opened with another credential"

log = logging.getLogger("airs_mcp.sessions")


def _route(scope: Scope) -> str:
    return scope["path"][len(scope.get("root_path", "").rstrip("/")) :]


def _principal(scope: Scope) -> Principal:
    user = scope.get("user")
    if isinstance(user, AuthenticatedUser):
        return principal_components(user.access_token)
    return None


def _canonical(session_id: str) -> str | None:
    try:
        return uuid.UUID(hex=session_id).hex
    except ValueError:
        return None


class SseSessions:
    def __init__(
        self,
        app: ASGIApp,
        max_sessions: int,
        metrics: Metrics | None = None,
        shutting_down: Callable[[], bool] = lambda: False,
        on_closed: Callable[[], None] = lambda: None,
    ) -> None:
        self.app = app
        self.max_sessions = max_sessions  # 0: no cap
        self.open = 0
        self.owners: dict[str, Principal] = {}
        self.metrics = metrics or Metrics()
        self.metrics.bind_sse_sessions(lambda: self.open)
        self.shutting_down = shutting_down
        self.on_closed = on_closed  # the heap trimmer counts closed sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = _route(scope)
            if scope["method"] == "GET" and route in ("", "/"):
                await self._stream(scope, receive, send)
                return
            if scope["method"] == "POST" and route.startswith("/messages/"):
                await self._message(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.shutting_down():
            log.info("sse_session_refused", extra={"reason": "shutting_down"})
            self.metrics.sessions_refused.labels("sse", "shutting_down").inc()
            refusal = Response(DRAINING, status_code=503, headers={"Retry-After": "1"})
            await refusal(scope, receive, send)
            return
        if self.max_sessions and self.open >= self.max_sessions:
            self.metrics.sessions_refused.labels("sse", "session_cap").inc()
            log.warning(
                "sse_session_refused",
                extra={"open_sessions": self.open, "max_sse_sessions": self.max_sessions},
            )
            refusal = Response(FULL, status_code=503, headers={"Retry-After": RETRY_AFTER_S})
            await refusal(scope, receive, send)
            return
        principal = _principal(scope)
        sessions: list[str] = []

        def bind(session_id: str) -> None:
            session = _canonical(session_id)
            if session is not None:
                self.owners[session] = principal
                sessions.append(session)

        def record(event: bytes) -> bytes:
            return add_query_parameter(event, lambda session_id: bind(session_id))

        self.open += 1
        try:
            await self.app(scope, receive, rewrite_first_event(send, record))
        finally:
            self.open -= 1
            for session in sessions:
                self.owners.pop(session, None)
            self.on_closed()

    async def _message(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        session: str | None = None
        for name, _, value in (part.partition("=") for part in query.split("&")):
            if name == "session_id":
                session = _canonical(value)
                break
        if session in self.owners and self.owners[session] != _principal(scope):
            log.warning("session_credential_mismatch", extra={"session": session_tag(session)})
            await Response(FOREIGN, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)
