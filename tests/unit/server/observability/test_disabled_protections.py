"""The start-up warnings name each per-credential limit turned off, only with authentication on
(without it there is no credential to limit, and AIRS_MCP_AUTH=none is warned about)."""

from __future__ import annotations

from airs_mcp.config import Settings
from airs_mcp.observability.disabled_protections import disabled_protections

BASE = {
    "PANW_AI_SEC_API_KEY": "placeholder-secret-value-123",
    "PANW_AI_PROFILE_NAME": "p1",
    "AIRS_MCP_AUTH_TOKENS": "placeholder-bearer-token-0123456789abcdef",
}
LIMITS_OFF = {
    "AIRS_MCP_CLIENT_REQUESTS_PER_SECOND": "0",
    "AIRS_MCP_CLIENT_AIRS_CALLS_IN_FLIGHT": "0",
    "AIRS_MCP_CLIENT_AIRS_REQUESTS_PER_MINUTE": "0",
}


def settings_of(env: dict[str, str]) -> list[str]:
    return [setting for setting, _ in disabled_protections(Settings.from_env(env))]


def test_defaults_warn_about_nothing() -> None:
    assert settings_of(BASE) == []


def test_each_client_limit_turned_off_is_named() -> None:
    assert settings_of({**BASE, **LIMITS_OFF}) == [f"{name}=0" for name in LIMITS_OFF]


def test_without_authentication_only_that_is_named() -> None:
    env = {**BASE, **LIMITS_OFF, "AIRS_MCP_AUTH": "none"}
    del env["AIRS_MCP_AUTH_TOKENS"]
    assert settings_of(env) == ["AIRS_MCP_AUTH=none"]
