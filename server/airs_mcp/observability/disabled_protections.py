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
    return off


def warn_disabled(settings: Settings) -> None:
    for setting, lost in disabled_protections(settings):
        log.warning("protection_disabled", extra={"setting": setting, "effect": lost})
