"""Graceful shutdown: what the process does between SIGTERM and its exit.

1. At once: ``/readyz`` answers 503 (Kubernetes takes the pod out of the Service), new SSE
   streams get 503 (``StreamCapacity``) and so does a Streamable HTTP ``initialize``
   (``DrainGate``); the listeners stay open, and requests of sessions already open (SSE message
   POSTs, Streamable HTTP calls of initialised clients, forwarded POSTs) are still served.
2. ``drain``: wait until no tool call is running and every SSE stream has ended, at most
   ``AIRS_MCP_GRACEFUL_SHUTDOWN_SECONDS``. The SSE transport ends each stream with a clean end
   of its chunked body (clients reconnect, through the Service, to another replica) as soon as
   nothing is in hand on it: idle streams at once, the others right after their last answer;
   meanwhile it refuses new calls on them (``transport.sse.transport``).
3. Then uvicorn's own shutdown: the streams still open end the same way (their calls are cut
   off), listeners close, and whatever still runs after ``CLOSE_S`` more seconds is cancelled;
   the process exits 0.

A second SIGTERM, or SIGINT, skips the drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from airs_mcp.observability.metrics import Metrics
from airs_mcp.transport.body_limit import replaying

__all__ = ["CLOSE_S", "DrainGate", "drain"]

CLOSE_S = 3  # uvicorn's timeout_graceful_shutdown, after the drain: streams closing, stragglers
REFUSAL = (
    "This server is shutting down and takes no new sessions; retry (another replica will answer)"
)

log = logging.getLogger("airs_mcp.shutdown")


async def drain(
    metrics: Metrics, grace_s: float, streams_ended: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Wait until no tool call runs and ``streams_ended`` (the SSE transport's drain) returns,
    at most ``grace_s``; log how long and what was left."""
    started = time.monotonic()
    log.info("shutdown_started", extra={"in_flight": metrics.calls_in_flight, "grace_s": grace_s})
    waits: list[Awaitable[object]] = [metrics.calls_idle.wait()]
    if streams_ended is not None:
        waits.append(streams_ended())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*waits), timeout=grace_s)
    left = metrics.calls_in_flight
    log.log(
        logging.WARNING if left else logging.INFO,
        "shutdown_drained",
        extra={"waited_ms": round((time.monotonic() - started) * 1000), "in_flight_left": left},
    )


def _is_initialize(body: bytes) -> bool:
    try:
        message = json.loads(body)
    except ValueError:
        return False
    messages = message if isinstance(message, list) else [message]
    return any(isinstance(m, dict) and m.get("method") == "initialize" for m in messages)


class DrainGate:
    """In front of the Streamable HTTP endpoint: while shutting down, an ``initialize`` (a new
    session) gets 503 with ``Retry-After``; every other request passes unchanged."""

    def __init__(self, app: ASGIApp, shutting_down: Callable[[], bool], metrics: Metrics) -> None:
        self.app = app
        self.shutting_down = shutting_down
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not self.shutting_down():
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:  # BodyLimit, outside, has already bounded the size
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _is_initialize(body):
            log.info("session_refused", extra={"reason": "shutting_down", "transport": "http"})
            self.metrics.sessions_refused.labels("http", "shutting_down").inc()
            refusal = Response(REFUSAL, status_code=503, headers={"Retry-After": "1"})
            await refusal(scope, receive, send)
            return
        await self.app(scope, replaying(body, receive), send)
