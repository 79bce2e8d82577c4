"""``SseGuard``: the outermost wrapper of the SDK's SSE app (stream GETs and message POSTs)."""

from __future__ import annotations

from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SseGuard:
    """Wraps the SDK's SSE app.

    - A bad Host/Origin on the stream GET gets its 421/403 here: the SDK sends the same answer
      but then raises, which uvicorn logs as an application error.
    - When the server ends a stream (shutdown), the SDK's endpoint returns a second, empty
      response after the event stream; uvicorn rejects that as a protocol error. Only the first
      response start is passed on; a later body message just closes the stream.
    """

    def __init__(self, app: ASGIApp, security: TransportSecuritySettings) -> None:
        self.app = app
        self.guard = TransportSecurityMiddleware(security)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET":
            refusal = await self.guard.validate_request(Request(scope, receive), is_post=False)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        started = finished = False

        async def send_once(message: Message) -> None:
            nonlocal started, finished
            if finished:
                return
            if message["type"] == "http.response.start":
                if started:
                    return
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
            await send(message)

        await self.app(scope, receive, send_once)
