"""A refused request: which per-credential limit, its value, when to retry, and its answers
(a JSON-RPC error, an HTTP 429 with ``Retry-After``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from mcp.shared.exceptions import MCPError
from starlette.types import Send

__all__ = ["LIMITED", "LimitExceeded", "Refusal", "send_too_many"]

LIMITED = -32000  # JSON-RPC's implementation-defined server error, as the SSE transport's BUSY


@dataclass(frozen=True)
class Refusal:
    """``message`` names the limit for a person; ``variable`` is the setting that sets it."""

    variable: str
    value: float
    retry_after_s: float
    message: str

    @property
    def retry_after_header(self) -> bytes:
        """Whole seconds, at least 1 (``Retry-After`` takes no fractions)."""
        return str(max(1, math.ceil(self.retry_after_s))).encode()

    def error(self) -> dict[str, Any]:
        """The JSON-RPC error object."""
        return {
            "code": LIMITED,
            "message": self.message,
            "data": {
                "limit": self.variable,
                "value": self.value,
                "retry_after_s": round(self.retry_after_s, 3),
            },
        }

    def mcp_error(self) -> MCPError:
        """What a tool raises: the SDK answers it as this JSON-RPC error, not a tool result."""
        error = self.error()
        return MCPError(error["code"], error["message"], error["data"])


class LimitExceeded(Exception):
    """A call went past one of its credential's limits."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


async def send_too_many(send: Send, refusal: Refusal, request_id: Any = None) -> None:
    """429 with ``Retry-After`` and the JSON-RPC error as its body."""
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "error": refusal.error()}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", refusal.retry_after_header),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
