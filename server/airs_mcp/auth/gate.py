"""``AuthGate``: bearer-token authentication in front of every MCP endpoint.

Why an own ASGI middleware rather than ``MCPServer(auth=..., token_verifier=...)``: the SDK wires
``AuthenticationMiddleware``/``RequireAuthMiddleware`` *inside* the apps that ``sse_app()`` and
``streamable_http_app()`` return. Here those apps are mounted under one Starlette app and the SSE
app is wrapped by the session router, which forwards message POSTs to other replicas: with the
SDK's wiring, an unauthenticated POST would be forwarded before any check. So the gate sits
outermost, and reuses the SDK's pieces: the ``TokenVerifier`` protocol (``StaticTokenVerifier``,
``JwtVerifier``), ``AccessToken``, and ``AuthenticatedUser`` in ``scope["user"]`` (which the SDK's
SSE transport and ``AuthContextMiddleware`` read, so tools can call ``get_access_token()``).

Everything except the probes and the protected-resource metadata needs a valid
``Authorization: Bearer <token>``; otherwise 401 with ``WWW-Authenticate: Bearer ...`` (RFC 6750;
with ``resource_metadata`` in OAuth mode, as the MCP authorization specification asks). Tokens
are never logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken, TokenVerifier
from starlette.authentication import AuthCredentials
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from airs_mcp.auth.oauth_jwt import JwtVerifier, TokenRefused
from airs_mcp.auth.resource_metadata import METADATA_PATH
from airs_mcp.auth.settings import AuthSettings
from airs_mcp.auth.static_tokens import StaticTokenVerifier

__all__ = ["OPEN_PATHS", "AuthGate", "verifiers_for"]

OPEN_PATHS = ("/healthz", "/readyz")
REALM = "airs-mcp"
MAX_TOKEN_CHARS = 16384
REFUSED_DESCRIPTION = "Invalid or expired bearer token"

log = logging.getLogger("airs_mcp.auth")


def verifiers_for(config: AuthSettings) -> list[TokenVerifier]:
    verifiers: list[TokenVerifier] = []
    if config.token_digests:
        verifiers.append(StaticTokenVerifier(config.token_digests))
    if config.oauth is not None:
        verifiers.append(JwtVerifier(config.oauth))
    return verifiers


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path == METADATA_PATH or path.startswith(METADATA_PATH + "/")


class AuthGate:
    def __init__(
        self,
        app: ASGIApp,
        verifiers: Sequence[TokenVerifier],
        resource_metadata_url: str | None = None,
    ) -> None:
        self.app = app
        self.verifiers = list(verifiers)
        self.resource_metadata_url = resource_metadata_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # no route speaks it: refuse without a look
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http" or _is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if not header:
            await self._challenge(scope, send, None, "Authentication required")
            return
        access, description = None, REFUSED_DESCRIPTION
        if scheme.lower() == "bearer" and token and len(token) <= MAX_TOKEN_CHARS:
            access, description = await self._verify(token)
        if access is None:
            log.info("auth_rejected", extra={"path": scope["path"], "reason": "invalid_token"})
            await self._challenge(scope, send, "invalid_token", description)
            return
        scope["user"] = AuthenticatedUser(access)
        scope["auth"] = AuthCredentials(access.scopes)
        await self.app(scope, receive, send)

    async def _verify(self, token: str) -> tuple[AccessToken | None, str]:
        """The first verifier's grant, else why the token was refused."""
        description = REFUSED_DESCRIPTION
        for verifier in self.verifiers:
            try:
                access = await verifier.verify_token(token)
            except TokenRefused as refused:
                description = refused.description
                continue
            if access is not None:
                return access, description
        return None, description

    async def _challenge(self, scope: Scope, send: Send, error: str | None, text: str) -> None:
        params = [f'realm="{REALM}"']
        if error is not None:
            params += [f'error="{error}"', f'error_description="{text}"']
        if self.resource_metadata_url:
            params.append(f'resource_metadata="{self.resource_metadata_url}"')
        body = json.dumps({"error": error or "unauthorized", "error_description": text}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", ("Bearer " + ", ".join(params)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
