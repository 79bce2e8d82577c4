"""Metrics belong to their application, are served only on the metrics port, and the options."""

from __future__ import annotations

import pytest
from airs_mcp.app import Runtime, create_app, serve_app
from airs_mcp.cli import parse_args
from airs_mcp.config import ConfigError, Settings
from airs_mcp.observability.metrics import Metrics
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

BASE = {
    "PANW_AI_SEC_API_KEY": "placeholder",
    "PANW_AI_PROFILE_NAME": "p",
    "AIRS_MCP_AUTH_TOKENS": "placeholder-bearer-token-0123456789abcdef",
}


def test_each_app_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.tool_calls.labels("pan_inline_scan", "ok").inc()
    assert first.registry is not second.registry
    value = second.registry.get_sample_value(
        "airs_mcp_tool_calls_total", {"tool": "pan_inline_scan", "outcome": "ok"}
    )
    assert value is None
    assert REGISTRY.get_sample_value("airs_mcp_tool_calls_total") is None  # nothing global


def test_degraded_follows_the_last_attempt() -> None:
    metrics = Metrics()
    gauge = "airs_mcp_airs_degraded"
    metrics.airs_failure("sync", "unreachable", None)
    assert metrics.registry.get_sample_value(gauge) == 1
    metrics.airs_failure("sync", "http", 413)  # AIRS answered: the request was the problem
    assert metrics.registry.get_sample_value(gauge) == 0
    metrics.airs_failure("results", "http", 503)
    assert metrics.registry.get_sample_value(gauge) == 1
    metrics.airs_success("results")
    assert metrics.registry.get_sample_value(gauge) == 0
    counts = {
        (s.labels["endpoint"], s.labels["status"]): s.value
        for family in metrics.registry.collect()
        if family.name == "airs_mcp_airs_requests"
        for s in family.samples
        if s.name.endswith("_total")
    }
    assert counts == {
        ("sync", "unreachable"): 1,
        ("sync", "413"): 1,
        ("results", "503"): 1,
        ("results", "200"): 1,
    }


def test_dispatch_by_the_listening_port() -> None:
    runtime = Runtime(Settings.from_env(BASE))
    app = serve_app(create_app(runtime.settings, runtime), 9464)
    metrics_port, mcp_port = "http://127.0.0.1:9464", "http://127.0.0.1:8000"
    with TestClient(app) as client:
        # the test client puts the URL's port into the ASGI "server" like a listening socket
        scraped = client.get(f"{metrics_port}/metrics")
        assert scraped.status_code == 200
        assert "airs_mcp_tool_calls_in_flight 0.0" in scraped.text
        assert "airs_mcp_ready 1.0" in scraped.text
        assert client.get(f"{metrics_port}/readyz").status_code == 404
        token = {"Authorization": f"Bearer {BASE['AIRS_MCP_AUTH_TOKENS']}"}
        assert client.get(f"{mcp_port}/metrics", headers=token).status_code == 404
        assert client.get(f"{mcp_port}/readyz").status_code == 200


def test_metrics_port_option() -> None:
    assert parse_args([], {}).metrics_port == 0
    assert parse_args([], {"AIRS_MCP_METRICS_PORT": "9464"}).metrics_port == 9464
    assert parse_args(["--metrics-port", "9100"], {}).metrics_port == 9100
    with pytest.raises(ConfigError, match="AIRS_MCP_METRICS_PORT"):
        parse_args([], {"AIRS_MCP_METRICS_PORT": "http"})
    with pytest.raises(SystemExit):
        parse_args(["--port", "8000", "--metrics-port", "8000"], {})
