"""One WARNING line at start for each protection the configuration turned off."""

from __future__ import annotations

import logging

from airs_mcp.config import Settings

__all__ = ["disabled_protections", "warn_disabled"]

log = logging.getLogger("airs_mcp.config")


def disabled_protections(settings: Settings) -> list[tuple[str, str]]:
    """``(variable, what is lost)`` for every protection turned off."""
    off: list[tuple[str, str]] = []
    if not settings.auth.enabled:
        off.append(
            (
                "AIRS_MCP_AUTH=none",
                "authentication is off: anyone who reaches the server can scan with its AIRS key",
            )
        )
    if not settings.host_check:
        off.append(("AIRS_MCP_ALLOWED_HOSTS=*", "the Host/Origin (DNS rebinding) check is off"))
    if not settings.max_sse_sessions:
        off.append(("AIRS_MCP_MAX_SSE_SESSIONS=0", "open SSE sessions are not capped"))
    if not settings.limit_concurrency:
        off.append(("AIRS_MCP_LIMIT_CONCURRENCY=0", "concurrent connections are not limited"))
    if settings.auth.enabled:  # without authentication there is no credential to limit
        off += _client_limits_off(settings)
    return off


def _client_limits_off(settings: Settings) -> list[tuple[str, str]]:
    limits = settings.client_limits
    off: list[tuple[str, str]] = []
    if not limits.requests_per_second:
        off.append(
            (
                "AIRS_MCP_CLIENT_REQUESTS_PER_SECOND=0",
                "one credential may send messages as fast as the server takes them",
            )
        )
    if not limits.airs_calls_in_flight:
        off.append(
            (
                "AIRS_MCP_CLIENT_AIRS_CALLS_IN_FLIGHT=0",
                "one credential may hold any number of AIRS calls open at once",
            )
        )
    if not limits.airs_requests_per_minute:
        off.append(
            (
                "AIRS_MCP_CLIENT_AIRS_REQUESTS_PER_MINUTE=0",
                "one credential may spend the whole AIRS tenant rate limit",
            )
        )
    return off


def warn_disabled(settings: Settings) -> None:
    for setting, lost in disabled_protections(settings):
        log.warning("protection_disabled", extra={"setting": setting, "effect": lost})
