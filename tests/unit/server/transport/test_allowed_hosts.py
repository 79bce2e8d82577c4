"""Host/Origin allow-lists for the SDK's DNS-rebinding protection, built from the settings."""

from __future__ import annotations

from airs_mcp.config import Settings
from airs_mcp.transport.allowed_hosts import transport_security

BASE = {
    "PANW_AI_SEC_API_KEY": "placeholder",
    "PANW_AI_PROFILE_NAME": "p",
    "AIRS_MCP_AUTH_TOKENS": "placeholder-bearer-token-0123456789abcdef",
}


def test_default_allows_only_local_hosts_with_any_port() -> None:
    security = transport_security(Settings.from_env(BASE))
    assert security.enable_dns_rebinding_protection
    assert "localhost" in security.allowed_hosts
    assert "localhost:*" in security.allowed_hosts
    assert "[::1]:*" in security.allowed_hosts
    assert "http://127.0.0.1:*" in security.allowed_origins


def test_configured_hosts_keep_explicit_ports() -> None:
    env = {**BASE, "AIRS_MCP_ALLOWED_HOSTS": "192.0.2.10,mcp.example:8080"}
    security = transport_security(Settings.from_env(env))
    assert {"192.0.2.10", "192.0.2.10:*", "mcp.example:8080"} <= set(security.allowed_hosts)
    assert "mcp.example:8080:*" not in security.allowed_hosts


def test_star_turns_the_check_off() -> None:
    security = transport_security(Settings.from_env({**BASE, "AIRS_MCP_ALLOWED_HOSTS": "*"}))
    assert not security.enable_dns_rebinding_protection
