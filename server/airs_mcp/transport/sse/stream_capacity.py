"""``StreamCapacity``: the per-process cap on open SSE streams, and their refusal while shutting
down.

Sits between the session router (or the stream origin check) and the SSE transport, so it sees
the stream GETs of the sessions held by this replica: past ``max_sessions`` open streams, or once
the process is shutting down, a new stream gets 503 with a clear body and one log line. Each
session's binding to its opener's credential is the transport's (``transport.sse.transport``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from airs_mcp.observability.metrics import Metrics

__all__ = ["StreamCapacity"]

RETRY_AFTER_S = "5"
FULL = (
    "Too many open SSE sessions on this server (AIRS_MCP_MAX_SSE_SESSIONS); retry later, "
    "or use the Streamable HTTP endpoint /mcp"
)
DRAINING = (
    "This server is shutting down and takes no new sessions; connect again (another replica "
    "will answer)"
)

log = logging.getLogger("airs_mcp.sessions")


def _route(scope: Scope) -> str:
    path: str = scope["path"]
    return path[len(scope.get("root_path", "").rstrip("/")) :]


class StreamCapacity:
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
        self.metrics = metrics or Metrics()
        self.metrics.bind_sse_sessions(lambda: self.open)
        self.shutting_down = shutting_down
        self.on_closed = on_closed  # the heap trimmer counts closed sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = _route(scope)
            if scope["method"] == "GET" and route == "/":
                await self._stream(scope, receive, send)
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
        self.open += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open -= 1
            self.on_closed()
