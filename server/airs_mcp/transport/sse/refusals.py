"""The SSE transport's refusals of a message POST that carry a JSON-RPC error: what a client
reads when its message cannot be taken, with the cause and what to do.

- 429 past the per-session cap of messages in hand (``AIRS_MCP_SSE_MAX_IN_FLIGHT``);
- 503 for a request to a session whose stream is ending because the server is shutting down
  (its calls in flight are answered, then the stream ends): retry on a new session;
- 410 for any message to a session whose stream the shutdown has ended: nothing can be answered
  on it any more; open a new session.
"""

from __future__ import annotations

import json

from mcp_types import JSONRPCMessage, JSONRPCRequest
from starlette.types import Send

__all__ = ["SERVER_ERROR", "STREAM_ENDED", "STREAM_ENDING", "refuse"]

SERVER_ERROR = -32000  # JSON-RPC's implementation-defined server error

STREAM_ENDING = (
    "This server is shutting down: this SSE session's stream ends once its calls in flight are "
    "answered and takes no new calls; open a new session (GET /sse/) and send the call again"
)
STREAM_ENDED = (
    "This SSE session's stream has ended because the server is shutting down; nothing can be "
    "answered on it: open a new session (GET /sse/) and send the message again"
)


async def refuse(
    send: Send, status: int, text: str, message: JSONRPCMessage | None, retry_after: bytes | None
) -> None:
    """Answer a POST with ``status`` and a JSON-RPC error naming the cause (the id is the
    request's, when the POSTed message was a request)."""
    request_id = message.id if isinstance(message, JSONRPCRequest) else None
    error = {"code": SERVER_ERROR, "message": text}
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", retry_after))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
