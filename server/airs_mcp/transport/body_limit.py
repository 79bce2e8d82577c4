"""``BodyLimit``: the request-body limit and a JSON-RPC check before the SDK sees a POST (the
Streamable HTTP endpoint; the SSE transport uses the same pieces itself).

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

__all__ = ["BodyLimit", "body_within", "invalid_jsonrpc", "replaying"]

log = logging.getLogger("airs_mcp.requests")
PARSE_ERROR = -32700


async def body_within(scope: Scope, receive: Receive, send: Send, max_bytes: int) -> bytes | None:
    """The request's body; ``None`` when the client went away, or when the body is over
    ``max_bytes`` (by its Content-Length, or while it is read, before anything parses it) and
    the 413 has been sent."""
    declared = Headers(scope=scope).get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        await too_large(max_bytes)(scope, receive, send)
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            await too_large(max_bytes)(scope, receive, send)
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def too_large(max_bytes: int) -> Response:
    log.info("request_rejected", extra={"reason": "body_too_large", "limit": max_bytes})
    return Response(f"Request body too large: the limit is {max_bytes} bytes", status_code=413)


def invalid_jsonrpc(size: int, *, jsonrpc_errors: bool) -> Response:
    """400 without any detail (see the module docstring)."""
    log.info("request_rejected", extra={"reason": "invalid_jsonrpc", "bytes": size})
    if jsonrpc_errors:
        error = {"code": PARSE_ERROR, "message": "Parse error: not a valid JSON-RPC message"}
        body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error})
        return Response(body, status_code=400, media_type="application/json")
    return Response("Could not parse message", status_code=400)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, *, jsonrpc_errors: bool) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.jsonrpc_errors = jsonrpc_errors  # Streamable HTTP answers errors as JSON-RPC

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await body_within(scope, receive, send, self.max_bytes)
        if body is None:
            return
        content_type = Headers(scope=scope).get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json" and not _is_jsonrpc(body):
            await invalid_jsonrpc(len(body), jsonrpc_errors=self.jsonrpc_errors)(
                scope, receive, send
            )
            return
        await self.app(scope, replaying(body, receive), send)


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
