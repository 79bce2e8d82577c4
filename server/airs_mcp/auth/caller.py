"""Who makes the current tool call, as bytes that name exactly one principal.

With authentication on, the principal is the SDK's ``principal_components`` of the caller's
``AccessToken`` (the one ``AuthGate`` put in the request and ``get_access_token()`` reads back):
for a static token its digest, for a JWT its client id, issuer and subject. The SSE transport
binds sessions to the same triple. With ``AIRS_MCP_AUTH=none`` every caller is one principal.
"""

from __future__ import annotations

import json

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken, principal_components
from starlette.types import Scope

__all__ = ["ANONYMOUS", "NoCaller", "principal", "principal_of", "request_principal"]

ANONYMOUS = b'["none"]'  # every caller of a server without authentication


class NoCaller(RuntimeError):
    """Authentication is on but the call carries no authenticated caller."""


def principal(auth_enabled: bool) -> bytes:
    """The current caller's principal; ``NoCaller`` rather than a shared one when auth is on."""
    token = get_access_token()
    if token is None:
        if auth_enabled:
            raise NoCaller("no authenticated caller for this tool call")
        return ANONYMOUS
    return principal_of(token)


def principal_of(token: AccessToken) -> bytes:
    """The principal of a verified ``token``."""
    client_id, issuer, subject = principal_components(token)
    # JSON of a list: unambiguous whatever the components contain.
    return json.dumps(["token", client_id, issuer, subject]).encode("utf-8")


def request_principal(scope: Scope) -> bytes | None:
    """The principal ``AuthGate`` verified for this HTTP request; ``None`` without one
    (authentication off)."""
    user = scope.get("user")
    return principal_of(user.access_token) if isinstance(user, AuthenticatedUser) else None
