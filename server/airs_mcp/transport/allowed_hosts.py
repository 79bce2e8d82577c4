"""Host/Origin allow-lists for the SDK's DNS-rebinding protection, built from the settings."""

from __future__ import annotations

from mcp.server.transport_security import TransportSecuritySettings

from airs_mcp.config import Settings


def _with_any_port(values: tuple[str, ...]) -> list[str]:
    """The SDK matches hosts/origins exactly or as ``name:*``: accept each with any port."""
    out: list[str] = []
    for value in values:
        out.append(value)
        tail = (
            value.rsplit("]", 1)[-1] if value.startswith(("[", "http://[", "https://[")) else value
        )
        if ":" not in tail.split("://", 1)[-1]:
            out.append(value + ":*")
    return out


def transport_security(settings: Settings) -> TransportSecuritySettings:
    if not settings.host_check:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=_with_any_port(settings.allowed_hosts),
        allowed_origins=_with_any_port(settings.allowed_origins),
    )
