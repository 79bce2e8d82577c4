"""``BodyGuard``: the request-body limit and a JSON-RPC check before the SDK sees a POST.

- A body over ``max_bytes`` (``AIRS_MCP_MAX_BODY_BYTES``) gets 413, by its Content-Length or
  while it is read, before anything parses it.
- A JSON body that is not a valid JSON-RPC message gets 400 here, without any detail. The SDK
  would log the parse failure with a traceback whose pydantic excerpt (``input_value=...``)
  carries the message's content, e.g. prompt text, and would echo it to the client.

Bodies that are not declared JSON pass through: the SDK refuses them on their content type
without parsing them. A checked body is replayed unchanged to the wrapped app.
"""

from __future__ import annotations

import json
import logging

from mcp_types import jsonrpc_message_adapter
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyGuard"]

log = logging.getLogger("airs_mcp.requests")
PARSE_ERROR = -32700


class BodyGuard:
    def __init__(self, app: ASGIApp, max_bytes: int, *, jsonrpc_errors: bool) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.jsonrpc_errors = jsonrpc_errors  # Streamable HTTP answers errors as JSON-RPC

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json" and not _is_jsonrpc(body):
            log.info("request_rejected", extra={"reason": "invalid_jsonrpc", "bytes": size})
            await self._invalid(scope, receive, send)
            return
        await self.app(scope, replaying(body, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        log.info("request_rejected", extra={"reason": "body_too_large", "limit": self.max_bytes})
        text = f"Request body too large: the limit is {self.max_bytes} bytes"
        await Response(text, status_code=413)(scope, receive, send)

    async def _invalid(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.jsonrpc_errors:
            error = {"code": PARSE_ERROR, "message": "Parse error: not a valid JSON-RPC message"}
            body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error})
            response = Response(body, status_code=400, media_type="application/json")
        else:
            response = Response("Could not parse message", status_code=400)
        await response(scope, receive, send)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read ``body`` to the app once, then defers to the
    original (for the disconnect message)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _is_jsonrpc(body: bytes) -> bool:
    try:
        jsonrpc_message_adapter.validate_json(body, by_name=False)
    except (ValidationError, ValueError):
        return False
    return True
