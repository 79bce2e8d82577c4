"""OAuth 2.0 Protected Resource Metadata (RFC 9728) for the OAuth resource-server mode.

Served by the SDK's handler at ``/.well-known/oauth-protected-resource`` and, when the resource
URL has a path (e.g. ``https://mcp.example/mcp``), also at the RFC 9728 location
``/.well-known/oauth-protected-resource/mcp``. The 401 challenges point at the latter.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from pydantic import AnyHttpUrl
from starlette.routing import BaseRoute, Route

from airs_mcp.auth.settings import OAuthConfig

__all__ = ["METADATA_PATH", "metadata_routes", "metadata_url"]

METADATA_PATH = "/.well-known/oauth-protected-resource"
RESOURCE_NAME = "AIRS MCP server"


def metadata_url(config: OAuthConfig) -> str:
    return str(build_resource_metadata_url(AnyHttpUrl(config.resource)))


def metadata_routes(config: OAuthConfig) -> list[BaseRoute]:
    routes: list[BaseRoute] = list(
        create_protected_resource_routes(
            resource_url=AnyHttpUrl(config.resource),
            authorization_servers=[AnyHttpUrl(config.issuer)],
            scopes_supported=list(config.required_scopes) or None,
            resource_name=RESOURCE_NAME,
        )
    )
    rfc_path = urlsplit(metadata_url(config)).path
    if rfc_path != METADATA_PATH:
        first = routes[0]
        assert isinstance(first, Route)
        routes.append(Route(METADATA_PATH, endpoint=first.endpoint, methods=["GET", "OPTIONS"]))
    return routes
