"""Settings.from_env: every variable validated, errors name the variable, never the key."""

from __future__ import annotations

import subprocess
import sys

import pytest
from airs_mcp.config import AIRS_TENANT_REQUESTS_PER_SECOND, LOCAL_HOSTS, ConfigError, Settings

SECRET = "placeholder-secret-value-123"
TOKEN = "placeholder-bearer-token-0123456789abcdef"
BASE = {"PANW_AI_SEC_API_KEY": SECRET, "PANW_AI_PROFILE_NAME": "p1", "AIRS_MCP_AUTH_TOKENS": TOKEN}


def test_minimal_settings_have_safe_defaults() -> None:
    settings = Settings.from_env(BASE)
    assert settings.profile_name == "p1"
    assert settings.profile_id is None
    assert settings.api_endpoint is None
    assert settings.allowed_hosts == LOCAL_HOSTS
    assert settings.host_check is True
    assert settings.timeout_s == 30.0
    assert settings.max_retries == 2
    assert settings.max_batch_items == 1000
    assert SECRET not in repr(settings)


def test_batch_fan_out_defaults_send_100_items_at_once_within_the_tenant_limit() -> None:
    settings = Settings.from_env(BASE)
    chunks_of_100_items = 100 // 5
    assert settings.batch_concurrency >= chunks_of_100_items
    assert settings.batch_burst >= chunks_of_100_items
    # no second may hold more starts than AIRS's default per-tenant limit
    starts_in_one_second = settings.batch_burst + settings.batch_requests_per_second
    assert starts_in_one_second <= AIRS_TENANT_REQUESTS_PER_SECOND
    paced = {"AIRS_MCP_BATCH_REQUESTS_PER_SECOND": "0", "AIRS_MCP_BATCH_BURST": "3"}
    custom = Settings.from_env({**BASE, **paced})
    assert (custom.batch_requests_per_second, custom.batch_burst) == (0, 3)


def test_the_fleet_share_is_off_until_peers_are_named() -> None:
    plain = Settings.from_env(BASE)
    assert (plain.fleet_share, plain.airs_tenant_rate, plain.fleet_refresh_s) == (False, 150, 10)
    fleet = Settings.from_env(
        {
            **BASE,
            "AIRS_MCP_FLEET_PEERS": "airs-mcp-peers.airs-mcp.svc, 127.0.0.2,127.0.0.2",
            "AIRS_MCP_AIRS_TENANT_RATE": "300",
            "AIRS_MCP_FLEET_REFRESH_SECONDS": "5",
        }
    )
    assert fleet.fleet_share
    assert fleet.fleet_peers == ("airs-mcp-peers.airs-mcp.svc", "127.0.0.2")
    assert (fleet.airs_tenant_rate, fleet.fleet_refresh_s) == (300, 5)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PANW_AI_PROFILE_NAME": "p"}, "PANW_AI_SEC_API_KEY"),
        ({"PANW_AI_SEC_API_KEY": SECRET}, "PANW_AI_PROFILE_NAME"),
        ({**BASE, "PANW_AI_PROFILE_NAME": "x" * 101}, "PANW_AI_PROFILE_NAME"),
        ({**BASE, "PANW_AI_PROFILE_ID": "not-a-uuid"}, "PANW_AI_PROFILE_ID"),
        (
            {**BASE, "PANW_AI_SEC_API_ENDPOINT": "http://insecure.example"},
            "PANW_AI_SEC_API_ENDPOINT",
        ),
        ({**BASE, "AIRS_MCP_TIMEOUT_SECONDS": "soon"}, "AIRS_MCP_TIMEOUT_SECONDS"),
        ({**BASE, "AIRS_MCP_TIMEOUT_SECONDS": "0"}, "AIRS_MCP_TIMEOUT_SECONDS"),
        ({**BASE, "AIRS_MCP_MAX_RETRIES": "11"}, "AIRS_MCP_MAX_RETRIES"),
        ({**BASE, "AIRS_MCP_BATCH_CONCURRENCY": "0"}, "AIRS_MCP_BATCH_CONCURRENCY"),
        ({**BASE, "AIRS_MCP_MAX_BATCH_ITEMS": "-1"}, "AIRS_MCP_MAX_BATCH_ITEMS"),
        (
            {**BASE, "AIRS_MCP_BATCH_REQUESTS_PER_SECOND": "-1"},
            "AIRS_MCP_BATCH_REQUESTS_PER_SECOND",
        ),
        ({**BASE, "AIRS_MCP_BATCH_BURST": "0"}, "AIRS_MCP_BATCH_BURST"),
        ({**BASE, "AIRS_MCP_AIRS_TENANT_RATE": "0"}, "AIRS_MCP_AIRS_TENANT_RATE"),
        ({**BASE, "AIRS_MCP_FLEET_PEERS": "peers svc"}, "AIRS_MCP_FLEET_PEERS"),
        ({**BASE, "AIRS_MCP_FLEET_REFRESH_SECONDS": "0"}, "AIRS_MCP_FLEET_REFRESH_SECONDS"),
        (
            {**BASE, "AIRS_MCP_ALLOWED_HOSTS": "a.example,http://b.example"},
            "AIRS_MCP_ALLOWED_HOSTS",
        ),
        ({**BASE, "AIRS_MCP_ALLOWED_ORIGINS": "b.example"}, "AIRS_MCP_ALLOWED_ORIGINS"),
        ({**BASE, "AIRS_MCP_SSE_PING_SECONDS": "0"}, "AIRS_MCP_SSE_PING_SECONDS"),
        (
            {**BASE, "AIRS_MCP_SSE_WRITE_TIMEOUT_SECONDS": "never"},
            "AIRS_MCP_SSE_WRITE_TIMEOUT_SECONDS",
        ),
        ({**BASE, "AIRS_MCP_SSE_MAX_IN_FLIGHT": "0"}, "AIRS_MCP_SSE_MAX_IN_FLIGHT"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert caught.value.variable == variable
    assert variable in str(caught.value)
    assert SECRET not in str(caught.value)


def test_sse_stream_bounds_have_defaults_and_can_be_set() -> None:
    default = Settings.from_env(BASE)
    assert (default.sse_ping_s, default.sse_write_timeout_s, default.sse_max_in_flight) == (
        15.0,
        30.0,
        64,
    )
    custom = Settings.from_env(
        {
            **BASE,
            "AIRS_MCP_SSE_PING_SECONDS": "0.5",
            "AIRS_MCP_SSE_WRITE_TIMEOUT_SECONDS": "2",
            "AIRS_MCP_SSE_MAX_IN_FLIGHT": "3",
        }
    )
    assert (custom.sse_ping_s, custom.sse_write_timeout_s, custom.sse_max_in_flight) == (
        0.5,
        2.0,
        3,
    )


def test_profile_id_alone_is_enough() -> None:
    pid = "1b6a1c3e-2d4f-4a5b-9c8d-7e6f5a4b3c2d"
    env = {"PANW_AI_SEC_API_KEY": SECRET, "PANW_AI_PROFILE_ID": pid, "AIRS_MCP_AUTH_TOKENS": TOKEN}
    settings = Settings.from_env(env)
    assert settings.profile_id == pid
    assert settings.profile_name is None


def test_allowed_hosts_keep_localhost_and_derive_origins() -> None:
    settings = Settings.from_env({**BASE, "AIRS_MCP_ALLOWED_HOSTS": "mcp.example, 10.0.0.5:80"})
    assert settings.allowed_hosts == (*LOCAL_HOSTS, "mcp.example", "10.0.0.5:80")
    assert "http://mcp.example" in settings.allowed_origins
    assert "https://10.0.0.5:80" in settings.allowed_origins


def test_star_disables_the_host_check() -> None:
    settings = Settings.from_env({**BASE, "AIRS_MCP_ALLOWED_HOSTS": "*"})
    assert settings.host_check is False


@pytest.mark.parametrize(
    ("extra", "variable"),
    [
        ({}, "PANW_AI_PROFILE_NAME"),
        ({"PANW_AI_PROFILE_NAME": "p", "AIRS_MCP_PORT": "http"}, "AIRS_MCP_PORT"),
        ({"PANW_AI_PROFILE_NAME": "p", "AIRS_MCP_PORT": "70000"}, "AIRS_MCP_PORT"),
        ({"PANW_AI_PROFILE_NAME": "p", "AIRS_MCP_LOG_LEVEL": "loud"}, "AIRS_MCP_LOG_LEVEL"),
    ],
)
def test_cli_config_error_is_one_line_exit_2_without_the_key(
    extra: dict[str, str], variable: str
) -> None:
    env = {"PANW_AI_SEC_API_KEY": SECRET, "PATH": "/usr/bin:/bin", **extra}
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from airs_mcp.cli import main; sys.exit(main([]))"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"airs-mcp-server: configuration error: {variable}:")
    assert "Traceback" not in done.stderr
    assert SECRET not in done.stderr + done.stdout


# --- cross-replica session routing --------------------------------------------------------------
ROUTING_KEY = "routing-key-placeholder-0123456789abcdef"
ROUTING = {
    **BASE,
    "AIRS_MCP_SESSION_ROUTING_KEY": ROUTING_KEY,
    "AIRS_MCP_ADVERTISE_ADDRESS": "10.42.0.7",
}


def test_session_routing_is_off_by_default() -> None:
    settings = Settings.from_env(BASE)
    assert not settings.session_routing
    assert settings.session_routing_key is None
    assert settings.advertise_ip is None
    nets = {str(net) for net in settings.peer_networks}
    assert nets == {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}


def test_session_routing_settings() -> None:
    settings = Settings.from_env(ROUTING)
    assert settings.session_routing
    assert settings.session_routing_key == ROUTING_KEY.encode()
    assert str(settings.advertise_ip) == "10.42.0.7"
    assert settings.advertise_port is None  # the listen port is advertised
    assert ROUTING_KEY not in repr(settings)


@pytest.mark.parametrize(
    ("address", "ip", "port"),
    [
        ("10.1.2.3:8000", "10.1.2.3", 8000),
        ("[fd00::5]:9000", "fd00::5", 9000),
        ("fd00::5", "fd00::5", None),
    ],
)
def test_advertise_address_forms(address: str, ip: str, port: int | None) -> None:
    settings = Settings.from_env({**ROUTING, "AIRS_MCP_ADVERTISE_ADDRESS": address})
    assert (str(settings.advertise_ip), settings.advertise_port) == (ip, port)


def test_peer_networks_are_configurable() -> None:
    env = {
        **ROUTING,
        "AIRS_MCP_ADVERTISE_ADDRESS": "127.0.0.1",
        "AIRS_MCP_PEER_NETWORKS": "127.0.0.0/8, 10.9.0.0/16",
    }
    settings = Settings.from_env(env)
    assert [str(net) for net in settings.peer_networks] == ["127.0.0.0/8", "10.9.0.0/16"]


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"AIRS_MCP_SESSION_ROUTING_KEY": "too-short"}, "AIRS_MCP_SESSION_ROUTING_KEY"),
        ({"AIRS_MCP_ADVERTISE_ADDRESS": ""}, "AIRS_MCP_ADVERTISE_ADDRESS"),
        ({"AIRS_MCP_SESSION_ROUTING_KEY": ""}, "AIRS_MCP_SESSION_ROUTING_KEY"),
        ({"AIRS_MCP_ADVERTISE_ADDRESS": "mcp.example"}, "AIRS_MCP_ADVERTISE_ADDRESS"),
        ({"AIRS_MCP_ADVERTISE_ADDRESS": "10.1.2.3:0"}, "AIRS_MCP_ADVERTISE_ADDRESS"),
        ({"AIRS_MCP_ADVERTISE_ADDRESS": "10.1.2.3:http"}, "AIRS_MCP_ADVERTISE_ADDRESS"),
        ({"AIRS_MCP_ADVERTISE_ADDRESS": "0.0.0.0"}, "AIRS_MCP_ADVERTISE_ADDRESS"),  # noqa: S104
        ({"AIRS_MCP_ADVERTISE_ADDRESS": "8.8.8.8"}, "AIRS_MCP_ADVERTISE_ADDRESS"),
        ({"AIRS_MCP_ADVERTISE_ADDRESS": "127.0.0.1"}, "AIRS_MCP_ADVERTISE_ADDRESS"),
        ({"AIRS_MCP_PEER_NETWORKS": "10.0.0.0/33"}, "AIRS_MCP_PEER_NETWORKS"),
        ({"AIRS_MCP_PEER_NETWORKS": "pods"}, "AIRS_MCP_PEER_NETWORKS"),
        ({"AIRS_MCP_PEER_NETWORKS": "0.0.0.0/0"}, "AIRS_MCP_PEER_NETWORKS"),
    ],
)
def test_bad_routing_settings_name_the_variable(changes: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**ROUTING, **changes})
    assert caught.value.variable == variable
    assert ROUTING_KEY not in str(caught.value)
    assert "too-short" not in str(caught.value)


def test_client_limits_default_on_and_each_turns_off_at_zero() -> None:
    limits = Settings.from_env(BASE).client_limits
    assert limits.enabled
    assert limits.requests_per_second > 0
    assert limits.request_burst >= limits.requests_per_second
    assert limits.airs_calls_in_flight > 0
    # the default quota leaves the tenant's AIRS budget to other credentials
    assert limits.airs_requests_per_minute < AIRS_TENANT_REQUESTS_PER_SECOND * 60
    off = {
        "AIRS_MCP_CLIENT_REQUESTS_PER_SECOND": "0",
        "AIRS_MCP_CLIENT_AIRS_CALLS_IN_FLIGHT": "0",
        "AIRS_MCP_CLIENT_AIRS_REQUESTS_PER_MINUTE": "0",
    }
    assert not Settings.from_env({**BASE, **off}).client_limits.enabled
    custom = Settings.from_env(
        {**BASE, "AIRS_MCP_CLIENT_REQUESTS_PER_SECOND": "2.5", "AIRS_MCP_CLIENT_REQUEST_BURST": "7"}
    ).client_limits
    assert (custom.requests_per_second, custom.request_burst) == (2.5, 7)


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("AIRS_MCP_CLIENT_REQUESTS_PER_SECOND", "fast", "must be a number"),
        ("AIRS_MCP_CLIENT_REQUESTS_PER_SECOND", "-1", "must be between 0 and"),
        ("AIRS_MCP_CLIENT_REQUEST_BURST", "0", "must be between 1 and"),
        ("AIRS_MCP_CLIENT_AIRS_CALLS_IN_FLIGHT", "-2", "must be between 0 and"),
        ("AIRS_MCP_CLIENT_AIRS_REQUESTS_PER_MINUTE", "x", "must be a number"),
    ],
)
def test_client_limit_errors_name_the_variable(variable: str, value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({**BASE, variable: value})
    assert error.value.variable == variable
    assert reason in error.value.reason


def test_airs_quota_must_fit_the_largest_call() -> None:
    small = {"AIRS_MCP_CLIENT_AIRS_REQUESTS_PER_MINUTE": "100"}
    with pytest.raises(ConfigError) as error:
        Settings.from_env({**BASE, **small})  # 1000 items take 200 requests
    assert error.value.variable == "AIRS_MCP_CLIENT_AIRS_REQUESTS_PER_MINUTE"
    assert "at least 200" in error.value.reason
    fits = Settings.from_env({**BASE, **small, "AIRS_MCP_MAX_BATCH_ITEMS": "500"})
    assert fits.client_limits.airs_requests_per_minute == 100
