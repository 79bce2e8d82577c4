"""The shape of the assembled ASGI app and its readiness (no AIRS calls)."""

from __future__ import annotations

from airs_mcp.app import Runtime, create_app
from airs_mcp.config import Settings
from airs_mcp.transport.routing.session_router import SessionRouter
from starlette.testclient import TestClient

BASE = {
    "PANW_AI_SEC_API_KEY": "placeholder",
    "PANW_AI_PROFILE_NAME": "p",
    "AIRS_MCP_AUTH_TOKENS": "placeholder-bearer-token-0123456789abcdef",
}


def test_routes() -> None:
    app = create_app(Settings.from_env(BASE))
    paths = {getattr(route, "path", None) for route in app.routes}
    assert {"/healthz", "/readyz", "/mcp", "/sse"} <= paths


def test_readiness_follows_the_lifespan() -> None:
    runtime = Runtime(Settings.from_env(BASE))
    app = create_app(runtime.settings, runtime)
    with TestClient(app) as client:  # runs the lifespan; no AIRS call is made
        assert client.get("/readyz").json() == {"status": "ready"}
        runtime.shutting_down = True  # what the first SIGTERM does
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"status": "shutting_down"}
        assert client.get("/healthz").status_code == 200
    fresh = Runtime(runtime.settings)
    assert not fresh.ready


def sse_mount_app(settings: Settings) -> object:
    app = create_app(settings)
    mount = next(route for route in app.routes if getattr(route, "path", None) == "/sse")
    return mount.app.app  # inside the StreamOriginCheck


def test_session_routing_wraps_the_sse_app_only_when_configured() -> None:
    assert not isinstance(sse_mount_app(Settings.from_env(BASE)), SessionRouter)
    routing = {
        **BASE,
        "AIRS_MCP_SESSION_ROUTING_KEY": "placeholder-routing-key-0123456789",
        "AIRS_MCP_ADVERTISE_ADDRESS": "10.0.0.5",
    }
    assert isinstance(sse_mount_app(Settings.from_env(routing)), SessionRouter)


def test_the_limiter_lives_in_the_lifespan_and_counts_its_refusals() -> None:
    limits = {"AIRS_MCP_CLIENT_REQUESTS_PER_SECOND": "1", "AIRS_MCP_CLIENT_REQUEST_BURST": "1"}
    runtime = Runtime(Settings.from_env({**BASE, **limits}))
    app = create_app(runtime.settings, runtime)
    assert runtime.limiter is None
    with TestClient(app):
        limiter = runtime.limiter
        assert limiter is not None
        assert limiter.admit_request(b"someone") is None
        assert limiter.admit_request(b"someone") is not None
    assert runtime.limiter is None  # gone with the lifespan
    refused = runtime.metrics.registry.get_sample_value(
        "airs_mcp_client_limit_refusals_total", {"limit": "AIRS_MCP_CLIENT_REQUESTS_PER_SECOND"}
    )
    assert refused == 1


def test_no_limiter_without_authentication() -> None:
    env = {**BASE, "AIRS_MCP_AUTH": "none"}
    del env["AIRS_MCP_AUTH_TOKENS"]
    runtime = Runtime(Settings.from_env(env))
    with TestClient(create_app(runtime.settings, runtime)):
        assert runtime.limiter is None
