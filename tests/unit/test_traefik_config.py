"""The Traefik file-provider configuration the stickiness tests run with."""

from __future__ import annotations

from harness.traefik import STICKY_COOKIE, STRATEGIES, dynamic_config

BACKENDS = ["http://127.0.0.1:1001", "http://127.0.0.1:1002", "http://127.0.0.1:1003"]


def test_sticky_service_uses_a_plain_http_cookie() -> None:
    config = dynamic_config(BACKENDS, sticky=True)
    balancer = config["http"]["services"]["mcp"]["loadBalancer"]
    cookie = balancer["sticky"]["cookie"]
    assert cookie["name"] == STICKY_COOKIE
    assert cookie["secure"] is False
    assert cookie["httpOnly"] is True
    assert [server["url"] for server in balancer["servers"]] == BACKENDS


def test_plain_service_has_no_affinity() -> None:
    balancer = dynamic_config(BACKENDS, sticky=False)["http"]["services"]["mcp"]["loadBalancer"]
    assert "sticky" not in balancer


def test_only_the_sse_prefix_is_routed() -> None:
    routers = dynamic_config(BACKENDS, sticky=True)["http"]["routers"]
    assert list(routers) == ["sse"]
    assert routers["sse"]["rule"] == "PathPrefix(`/sse/`)"
    assert routers["sse"]["entryPoints"] == ["web"]
    assert "middlewares" not in routers["sse"], "no compress or other middleware on SSE"


def test_hrw_strategy_hashes_the_client_ip() -> None:
    balancer = dynamic_config(BACKENDS, sticky=False, hrw=True)["http"]["services"]["mcp"]
    assert balancer["loadBalancer"]["strategy"] == "hrw"
    assert "sticky" not in balancer["loadBalancer"]
    both = dynamic_config(BACKENDS, sticky=True, hrw=True)["http"]["services"]["mcp"]
    assert both["loadBalancer"]["strategy"] == "hrw"
    assert both["loadBalancer"]["sticky"]["cookie"]["name"] == STICKY_COOKIE


def test_default_strategy_is_round_robin() -> None:
    balancer = dynamic_config(BACKENDS, sticky=True)["http"]["services"]["mcp"]["loadBalancer"]
    assert "strategy" not in balancer  # Traefik's default: weighted round-robin


def test_strategies_cover_every_combination() -> None:
    assert sorted(STRATEGIES.values()) == [
        (False, False),
        (False, True),
        (True, False),
        (True, True),
    ]
