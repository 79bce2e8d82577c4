"""OAuth 2.1 resource-server mode: JWT access tokens checked against the issuer's JWKS.

A token is accepted when it is signed (asymmetric algorithms only) by a key of
``AIRS_MCP_OAUTH_JWKS_URL``, its ``iss`` is ``AIRS_MCP_OAUTH_ISSUER``, its ``aud`` names
``AIRS_MCP_OAUTH_RESOURCE`` (RFC 8707: tokens for other resources are refused), it has not
expired (``exp`` is required), it carries every scope of ``AIRS_MCP_OAUTH_SCOPES`` and its header
says ``typ: at+jwt`` (RFC 9068, also ``application/at+jwt``, any case): an ID token or another
JWT of the same issuer for the same audience is not an access token. Issuers that do not set
``typ`` (e.g. kube-apiserver) need ``AIRS_MCP_OAUTH_REQUIRE_AT_JWT=false``, which gives up that
distinction.

The JWKS is fetched when first needed, kept for ``JWKS_TTL_S`` and fetched again early when a
token names an unknown ``kid`` (at most once per ``JWKS_MIN_REFETCH_S``), so key rotation at the
issuer needs no restart. Each fetch uses a short-lived HTTP client: nothing outlives a request.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import anyio
import httpx
import jwt
from mcp.server.auth.provider import AccessToken

from airs_mcp.auth.settings import OAuthConfig

__all__ = ["ACCESS_TOKEN_TYPES", "ALGORITHMS", "JwksCache", "JwtVerifier", "TokenRefused"]

ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")  # RFC 9068 section 2.1, compared lowercased
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
JWKS_TTL_S = 300.0
JWKS_MIN_REFETCH_S = 30.0
JWKS_TIMEOUT_S = 5.0
MAX_JWKS_BYTES = 512 * 1024
LEEWAY_S = 30
# RFC 7517's JWK Set type first: kube-apiserver's /openid/v1/jwks answers 406 to plain JSON.
JWKS_ACCEPT = "application/jwk-set+json, application/json"

log = logging.getLogger("airs_mcp.auth")


class TokenRefused(Exception):
    """A token refused for a reason the client should be told (the 401's error description)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class JwksCache:
    """The issuer's signing keys by ``kid``."""

    def __init__(self, url: str) -> None:
        self.url = url
        # kid -> (key, the "alg" the JWK declares, if any)
        self.keys: dict[str | None, tuple[jwt.PyJWK, str | None]] = {}
        self.fetched_at = float("-inf")
        self.lock = anyio.Lock()

    def _needs_fetch(self, kid: str | None) -> bool:
        age = time.monotonic() - self.fetched_at
        return age > JWKS_TTL_S or (kid not in self.keys and age > JWKS_MIN_REFETCH_S)

    async def key(self, kid: str | None) -> tuple[jwt.PyJWK, str | None] | None:
        if self._needs_fetch(kid):
            async with self.lock:
                if self._needs_fetch(kid):  # not fetched meanwhile by another request
                    await self._fetch()
        if kid is None and len(self.keys) == 1:
            return next(iter(self.keys.values()))
        return self.keys.get(kid)

    async def _fetch(self) -> None:
        self.fetched_at = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=JWKS_TIMEOUT_S, follow_redirects=False) as client:
                response = await client.get(self.url, headers={"accept": JWKS_ACCEPT})
            response.raise_for_status()
            if len(response.content) > MAX_JWKS_BYTES:
                raise ValueError("JWKS too large")
            entries = response.json()["keys"]
            if not isinstance(entries, list):
                raise ValueError("JWKS keys is not a list")
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            # Keep the keys from the last good fetch.
            log.warning("jwks_fetch_failed", extra={"error_kind": type(exc).__name__})
            return
        keys: dict[str | None, tuple[jwt.PyJWK, str | None]] = {}
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                keys[entry.get("kid")] = (jwt.PyJWK.from_dict(entry), entry.get("alg"))
            except (jwt.PyJWTError, ValueError, TypeError):
                continue  # a key type or curve this server cannot use
        self.keys = keys


class JwtVerifier:
    """``TokenVerifier`` for JWTs from one issuer, for one resource."""

    def __init__(self, config: OAuthConfig) -> None:
        self.config = config
        self.jwks = JwksCache(config.jwks_url)
        self.audiences = [config.resource, config.resource + "/"]

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            return None
        if self.config.require_at_jwt and not _is_access_token_type(header.get("typ")):
            log.info("jwt_rejected", extra={"reason": "token type"})
            raise TokenRefused("JWT typ must be at+jwt (RFC 9068): not an access token")
        found = await self.jwks.key(header.get("kid"))
        if found is None:
            return None
        key, declared = found
        if declared is not None and declared != algorithm:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audiences,
                issuer=self.config.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud"]},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:  # also a key of another type
            log.info("jwt_rejected", extra={"reason": type(exc).__name__})
            return None
        scopes = _scopes(claims)
        if not set(self.config.required_scopes) <= set(scopes):
            log.info("jwt_rejected", extra={"reason": "missing scope"})
            return None
        subject = claims.get("sub")
        client = claims.get("client_id") or claims.get("azp") or subject or "unknown"
        return AccessToken(
            token="sha256:" + hashlib.sha256(token.encode()).hexdigest(),  # never the JWT itself
            client_id=str(client),
            scopes=scopes,
            expires_at=int(claims["exp"]),
            resource=self.config.resource,
            subject=str(subject) if subject is not None else None,
            claims={"iss": claims["iss"]},
        )


def _is_access_token_type(typ: object) -> bool:
    return isinstance(typ, str) and typ.lower() in ACCESS_TOKEN_TYPES


def _scopes(claims: dict[str, Any]) -> list[str]:
    raw = claims.get("scope", claims.get("scp", []))
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, list):
        return [str(scope) for scope in raw]
    return []
