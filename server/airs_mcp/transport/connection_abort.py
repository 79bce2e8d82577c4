"""``ConnectionAbort``: hands each request the means to reset its connection, for the SSE
transport's stalled streams.

A client that stops reading leaves uvicorn's writer paused until the socket drains; neither
ending the response nor returning from the app helps, because uvicorn then calls the transport's
``close()``, which waits for the buffered bytes to leave. Only ``abort()`` drops them and closes
the socket at once (an RST), after which uvicorn sees the connection lost: a paused ``send``
returns and ``receive()`` gives ``http.disconnect``.

uvicorn (h11 and httptools alike) passes the app the bound ``send`` of the request's cycle, which
holds the connection's transport, so this must be the outermost app: any middleware that wraps
``send`` hides it. Under another server, or inside a wrapper, no abort is offered and the
transport falls back to ending the stream without closing the socket.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ABORT_EXTENSION", "ConnectionAbort", "connection_abort"]

ABORT_EXTENSION = "airs_mcp.connection_abort"


def connection_abort(scope: Scope) -> Callable[[], None] | None:
    """The request's connection reset, when the server offers one."""
    abort: Callable[[], None] | None = scope.get("extensions", {}).get(ABORT_EXTENSION)
    return abort


class ConnectionAbort:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        abort = getattr(transport, "abort", None)  # asyncio's and uvloop's transports alike
        if scope["type"] == "http" and callable(abort):
            extensions = {**scope.get("extensions", {}), ABORT_EXTENSION: abort}
            scope = {**scope, "extensions": extensions}
        await self.app(scope, receive, send)
