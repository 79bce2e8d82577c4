"""Assembles the ASGI application: SSE under ``/sse/``, Streamable HTTP at ``/mcp``, probes.

Protections (each on by default; see ``observability.disabled_protections``): ``AuthGate``
outermost (bearer tokens or JWTs), ``BodyLimit`` on every Streamable HTTP POST (size limit,
JSON-RPC check; the SSE transport checks its POSTs with the same pieces and binds each session to
its opener's credential), ``StreamCapacity`` on the SSE app (session cap), ``MemoryGate`` on both
transports (503 for new sessions near the memory limit), the per-credential limits after
``AuthGate`` (``limits``: ``RequestRate`` on Streamable HTTP, the SSE transport's ``admit``, the
tools' AIRS budget). ``HeapTrimmer`` returns closed sessions'
memory. ``ConnectionAbort``, around everything uvicorn serves, lets the SSE transport reset the
connection of a stream whose client stopped reading.

The outer Starlette lifespan owns the process-wide resources: the AIRS client, the
per-credential limiter, the Streamable HTTP session manager and the SSE transport
(``transport.sse``: the MCP server's own lifespan, entered once for every SSE session, and the
stream pings).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.caching import CacheHint
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from airs_mcp import __version__
from airs_mcp.auth.gate import AuthGate, verifiers_for
from airs_mcp.auth.resource_metadata import metadata_routes, metadata_url
from airs_mcp.config import Settings
from airs_mcp.limits.limiter import ClientLimiter
from airs_mcp.limits.refusal import Refusal
from airs_mcp.limits.request_rate import RequestRate, admit_request
from airs_mcp.observability.disabled_protections import warn_disabled
from airs_mcp.observability.metrics import Metrics, PortDispatch, metrics_app
from airs_mcp.process.heap_trim import HeapTrimmer
from airs_mcp.process.memory_limit import MemoryGate, MemoryMonitor, cgroup_memory_limit
from airs_mcp.process.shutdown import DrainGate
from airs_mcp.scan.airs_client import AirsClient
from airs_mcp.scan.service import ScanService
from airs_mcp.scan.tools import register_tools
from airs_mcp.transport.allowed_hosts import transport_security
from airs_mcp.transport.body_limit import BodyLimit
from airs_mcp.transport.connection_abort import ConnectionAbort
from airs_mcp.transport.routing.session_forwarder import SessionForwarder
from airs_mcp.transport.routing.session_router import SessionRouter
from airs_mcp.transport.sse.stream_capacity import StreamCapacity
from airs_mcp.transport.sse.stream_origin_check import StreamOriginCheck
from airs_mcp.transport.sse.transport import SseTransport

__all__ = ["Runtime", "create_app", "serve_app"]

SERVER_NAME = "airs-mcp"
INSTRUCTIONS = (
    "Palo Alto Networks AI Runtime Security scanning. Use pan_inline_scan before acting on a "
    "prompt or returning a response; block content whose action is 'block'."
)

# Caching hints of the 2026-07-28 revision (ttlMs, cacheScope). The tool list and the discover
# result are the same for every caller and change only with a release: clients and shared caches
# may keep them for 5 minutes (the SDK's default, 0 ms and private, makes every client re-fetch).
STABLE_RESULT_HINT = CacheHint(ttl_ms=300_000, scope="public")


class Runtime:
    """Process state shared by the routes: the live service, readiness flags and the metrics
    (one registry per runtime, so per application)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.client: AirsClient | None = None
        self.scan_service: ScanService | None = None
        self.forwarder: SessionForwarder | None = None  # only with session routing
        self.limiter: ClientLimiter | None = None  # while started, with auth and a limit on
        self.sse: SseTransport | None = None  # set by create_app
        self.shutting_down = False
        self.memory = MemoryMonitor(
            settings.memory_limit_bytes or cgroup_memory_limit(), settings.memory_refuse_fraction
        )
        self.heap_trimmer = HeapTrimmer(settings.heap_trim_after_closes, settings.heap_trim_delay_s)

    @property
    def ready(self) -> bool:
        return self.scan_service is not None and not self.shutting_down

    def start_limiter(self) -> None:
        """The per-credential budgets, for the lifespan: none without authentication (no
        credential to key on) or with every limit off."""
        limits = self.settings.client_limits
        if self.settings.auth.enabled and limits.enabled:
            self.limiter = ClientLimiter(limits, on_refusal=self._count_refusal)

    def _count_refusal(self, refusal: Refusal) -> None:
        self.metrics.client_limit_refusals.labels(refusal.variable).inc()

    def service(self) -> ScanService:
        if self.scan_service is None:
            raise RuntimeError("the server is not started")
        return self.scan_service


def build_mcp(runtime: Runtime) -> MCPServer:
    server: MCPServer = MCPServer(
        name=SERVER_NAME,
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
        cache_hints={"server/discover": STABLE_RESULT_HINT, "tools/list": STABLE_RESULT_HINT},
    )
    register_tools(server, runtime.service, runtime.metrics, lambda: runtime.limiter)
    return server


def create_app(settings: Settings, runtime: Runtime | None = None) -> Starlette:
    runtime = runtime or Runtime(settings)
    mcp = build_mcp(runtime)
    security = transport_security(settings)
    limit = settings.max_body_bytes
    # The SDK's Server behind MCPServer (its own sse_app() reaches it the same way).
    sse = SseTransport(
        mcp._lowlevel_server,
        security,
        limit,
        ping_s=settings.sse_ping_s,
        write_timeout_s=settings.sse_write_timeout_s,
        max_in_flight=settings.sse_max_in_flight,
        admit=lambda scope: admit_request(runtime.limiter, scope),
    )
    runtime.sse = sse
    streamable = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        json_response=True,
        transport_security=security,
        max_request_body_size=limit,
    )
    warn_disabled(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = AirsClient(settings, metrics=runtime.metrics)
        client.start()
        runtime.client = client
        runtime.start_limiter()
        if settings.session_routing:
            runtime.forwarder = SessionForwarder()
        try:
            async with mcp.session_manager.run(), sse.run():
                runtime.scan_service = ScanService(client, settings)
                yield
        finally:
            runtime.shutting_down = True
            runtime.scan_service = None
            runtime.limiter = None
            forwarder, runtime.forwarder = runtime.forwarder, None
            if forwarder is not None:
                await forwarder.aclose()
            await client.close()

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        if runtime.ready:
            return JSONResponse({"status": "ready"})
        state = "shutting_down" if runtime.shutting_down else "starting"
        return JSONResponse({"status": state}, status_code=503)

    metrics = runtime.metrics
    metrics.bind_ready(lambda: runtime.ready)
    sse_app: ASGIApp = MemoryGate(
        StreamCapacity(
            sse,  # checks its POSTs' bodies itself
            settings.max_sse_sessions,
            metrics,
            lambda: runtime.shutting_down,
            runtime.heap_trimmer.session_closed,
        ),
        runtime.memory,
        metrics,
        "sse",
    )
    if settings.session_routing:
        # Without a routing key and advertised address, the SSE app is served exactly as before.
        sse_app = SessionRouter(sse_app, settings, security, lambda: runtime.forwarder, metrics)
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        *_guarded(streamable.routes, limit, runtime),
        Mount("/sse", app=StreamOriginCheck(sse_app, security)),
    ]
    middleware: list[Middleware] = []
    oauth = settings.auth.oauth
    if oauth is not None:
        routes += metadata_routes(oauth)
    if settings.auth.enabled:
        resource_metadata = metadata_url(oauth) if oauth is not None else None
        middleware = [
            Middleware(
                AuthGate,
                verifiers=verifiers_for(settings.auth),
                resource_metadata_url=resource_metadata,
            ),
            Middleware(AuthContextMiddleware),
        ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.runtime = runtime
    return app


def serve_app(app: Starlette, metrics_port: int) -> ASGIApp:
    """What uvicorn serves: ``app``, plus ``/metrics`` for requests that arrive on
    ``metrics_port`` (a second listening socket; 0 = no metrics listener), behind
    ``ConnectionAbort`` (outermost: it reads uvicorn's own ``send``)."""
    if not metrics_port:
        return ConnectionAbort(app)
    runtime: Runtime = app.state.runtime
    return ConnectionAbort(PortDispatch(app, metrics_app(runtime.metrics), metrics_port))


def _guarded(routes: list[BaseRoute], limit: int, runtime: Runtime) -> list[BaseRoute]:
    """The Streamable HTTP route behind ``MemoryGate``, ``BodyLimit``, the per-credential
    ``RequestRate`` and the shutdown's ``DrainGate``, for POST only: a stateless endpoint has no
    stream to offer a 2025 client's GET (the SDK would hold an empty one open) and no session to
    DELETE, so both get 405."""
    out: list[BaseRoute] = []
    for route in routes:
        if isinstance(route, Route):
            gate = DrainGate(route.endpoint, lambda: runtime.shutting_down, runtime.metrics)
            rate = RequestRate(gate, lambda: runtime.limiter)
            guarded = BodyLimit(rate, limit, jsonrpc_errors=True)
            route = Route(
                route.path,
                endpoint=MemoryGate(guarded, runtime.memory, runtime.metrics, "http"),
                methods=["POST"],
            )
        out.append(route)
    return out
