"""``StreamOriginCheck``: the outermost wrapper of the SSE transport (stream GETs and message
POSTs)."""

from __future__ import annotations

from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send


class StreamOriginCheck:
    """A bad Host/Origin on a stream GET gets its 421/403 here, before the session router, the
    memory refusal and the session cap see the request (POSTs are checked by the router, for
    a forwarded POST, and by the transport)."""

    def __init__(self, app: ASGIApp, security: TransportSecuritySettings) -> None:
        self.app = app
        self.security = TransportSecurityMiddleware(security)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            refusal = await self.security.validate_request(Request(scope, receive), is_post=False)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
