"""Prometheus metrics: one ``CollectorRegistry`` per application, served on its own port.

``Metrics`` is created by ``create_app`` with the application and holds every collector; nothing
is registered in ``prometheus_client``'s global default registry, so two apps in one process
(the unit tests) never share a counter. The metrics listener (``AIRS_MCP_METRICS_PORT`` /
``--metrics-port``, 0 = off) is a second socket of the same uvicorn server; ``PortDispatch``
sends its requests to ``metrics_app`` and everything else to the MCP application, so
``/metrics`` never answers on the MCP port and the MCP routes never answer on the metrics port.

Labels are bounded: tool names, outcomes, AIRS endpoints (sync, async, results, reports) and
HTTP statuses or failure kinds; never ids, content or client data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["DEGRADING_KINDS", "Metrics", "PortDispatch", "metrics_app"]

PREFIX = "airs_mcp"
# Tool calls wait on AIRS: most take 50 ms-2 s; a timed-out call with retries can take a minute.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# Failures that say AIRS itself is not serving us (as opposed to a request it refused).
DEGRADING_KINDS = frozenset({"timeout", "unreachable", "invalid_response"})
# 401/403 too: with the key refused, no scan can succeed on any replica.
DEGRADING_STATUSES = frozenset({401, 403, 429, 500, 502, 503, 504})


class Metrics:
    """Every collector of one application, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.tool_calls = Counter(
            f"{PREFIX}_tool_calls",
            "Tool calls by tool and outcome (ok, invalid_input, airs_error, limited, "
            "internal_error).",
            ["tool", "outcome"],
            registry=r,
        )
        self.tool_duration = Histogram(
            f"{PREFIX}_tool_call_duration_seconds",
            "Tool call latency, from the tool body's start to its result or error.",
            ["tool"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.calls_in_flight = 0  # also what a graceful shutdown waits for
        self.calls_idle = asyncio.Event()  # set while no call runs
        self.calls_idle.set()
        self.in_flight = Gauge(
            f"{PREFIX}_tool_calls_in_flight",
            "Tool calls running now (both transports).",
            registry=r,
        )
        self.in_flight.set_function(lambda: float(self.calls_in_flight))
        self.airs_requests = Counter(
            f"{PREFIX}_airs_requests",
            "AIRS API request attempts by endpoint (sync, async, results, reports) and status "
            "(the HTTP status, or timeout, unreachable, invalid_response, invalid_request).",
            ["endpoint", "status"],
            registry=r,
        )
        self.airs_retries = Counter(
            f"{PREFIX}_airs_retries",
            "AIRS API requests sent again after a retryable failure (429, 5xx, unreachable).",
            ["endpoint"],
            registry=r,
        )
        self.airs_degraded = Gauge(
            f"{PREFIX}_airs_degraded",
            "1 while the last AIRS attempt failed with a timeout, connection failure, "
            "unreadable answer, 401/403, 429 or 5xx (AIRS not serving us); 0 after a success or "
            "a refusal of the request itself (400, 413). Readiness ignores it.",
            registry=r,
        )
        self.airs_last_success = Gauge(
            f"{PREFIX}_airs_last_success_timestamp_seconds",
            "Unix time of the last successful AIRS request (0 = none yet).",
            registry=r,
        )
        self.sse_sessions = Gauge(
            f"{PREFIX}_sse_sessions_open",
            "SSE streams open on this process.",
            registry=r,
        )
        self.sessions_refused = Counter(
            f"{PREFIX}_sessions_refused",
            "New sessions refused with 503, by transport (sse, http) and reason (session_cap, "
            "shutting_down, memory).",
            ["transport", "reason"],
            registry=r,
        )
        self.client_limit_refusals = Counter(
            f"{PREFIX}_client_limit_refusals",
            "Messages and tool calls refused by a per-credential limit, by the limit's setting.",
            ["limit"],
            registry=r,
        )
        self.forwards = Counter(
            f"{PREFIX}_session_forwards",
            "SSE message POSTs forwarded to the replica holding the session, by outcome "
            "(forwarded, owner_gone, owner_failed).",
            ["outcome"],
            registry=r,
        )
        self.ready = Gauge(
            f"{PREFIX}_ready",
            "1 while /readyz answers 200.",
            registry=r,
        )

    def call_started(self) -> float:
        self.calls_in_flight += 1
        self.calls_idle.clear()
        return time.perf_counter()

    def call_finished(self, tool: str, outcome: str, started: float) -> float:
        """Count a finished call; returns its duration in seconds."""
        self.calls_in_flight -= 1
        if self.calls_in_flight == 0:
            self.calls_idle.set()
        elapsed = time.perf_counter() - started
        self.tool_calls.labels(tool, outcome).inc()
        self.tool_duration.labels(tool).observe(elapsed)
        return elapsed

    def bind_sse_sessions(self, count: Callable[[], int]) -> None:
        """Read the open-stream count from its owner at each scrape (no second counter)."""
        self.sse_sessions.set_function(lambda: float(count()))

    def bind_ready(self, ready: Callable[[], bool]) -> None:
        self.ready.set_function(lambda: 1.0 if ready() else 0.0)

    def airs_success(self, endpoint: str) -> None:
        self.airs_requests.labels(endpoint, "200").inc()
        self.airs_degraded.set(0)
        self.airs_last_success.set(time.time())

    def airs_failure(self, endpoint: str, kind: str, status: int | None) -> None:
        """A failed attempt: labelled with the HTTP status AIRS sent, else the failure kind."""
        self.airs_requests.labels(endpoint, str(status) if status is not None else kind).inc()
        degrading = kind in DEGRADING_KINDS or status in DEGRADING_STATUSES
        self.airs_degraded.set(1 if degrading else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def metrics_app(metrics: Metrics) -> ASGIApp:
    """The metrics listener's whole application: ``GET /metrics``, 404 for anything else."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/metrics":
            response: Response = PlainTextResponse("Not Found", status_code=404)
        elif scope["method"] not in ("GET", "HEAD"):
            response = PlainTextResponse("Method Not Allowed", status_code=405)
        else:
            response = Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
        await response(scope, receive, send)

    return app


class PortDispatch:
    """Sends requests that arrived on ``metrics_port`` to ``metrics``, all others to ``main``.

    The lifespan goes to ``main`` only. The port is the listening socket's own (ASGI ``server``),
    not the client's ``Host`` header, so no header can reach the other application.
    """

    def __init__(self, main: ASGIApp, metrics: ASGIApp, metrics_port: int) -> None:
        self.main = main
        self.metrics = metrics
        self.metrics_port = metrics_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] != "lifespan" and server and server[1] == self.metrics_port:
            await self.metrics(scope, receive, send)
            return
        await self.main(scope, receive, send)
