"""``RequestRate``: the per-credential message rate on the Streamable HTTP endpoint, after
authentication (``AuthGate`` answers 401 first: unauthenticated traffic spends no budget).

A POST past its credential's rate gets 429 with ``Retry-After`` and a JSON-RPC error that
names the limit, under the request's id (the body, already read and checked by ``BodyLimit``,
is parsed for it only then). The SSE transport applies the same limit itself, where it can
answer on the stream (``transport.sse.transport``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from airs_mcp.auth.caller import request_principal
from airs_mcp.limits.limiter import ClientLimiter
from airs_mcp.limits.refusal import Refusal, send_too_many

__all__ = ["RequestRate", "admit_request"]


def admit_request(limiter: ClientLimiter | None, scope: Scope) -> Refusal | None:
    """The refusal of this HTTP request by its credential's rate; ``None`` to let it in (also
    with no limiter, or no authenticated caller: the limits key on verified credentials)."""
    if limiter is None:
        return None
    principal = request_principal(scope)
    return None if principal is None else limiter.admit_request(principal)


class RequestRate:
    def __init__(self, app: ASGIApp, limiter: Callable[[], ClientLimiter | None]) -> None:
        self.app = app
        self.limiter = limiter  # the lifespan's, once started

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        refusal = admit_request(self.limiter(), scope)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        await send_too_many(send, refusal, await _request_id(receive))


async def _request_id(receive: Receive) -> Any:
    """The JSON-RPC id of the (replayed, complete) body; ``None`` for a notification."""
    message = await receive()
    try:
        parsed = json.loads(message.get("body", b""))
    except ValueError:
        return None
    return parsed.get("id") if isinstance(parsed, dict) else None
