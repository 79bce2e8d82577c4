"""Authentication settings read from the environment (part of ``Settings``).

``AIRS_MCP_AUTH`` picks the mode:

- ``token`` (default): static bearer tokens from ``AIRS_MCP_AUTH_TOKENS`` (comma-separated, at
  least 32 characters each; several at once for rotation). Only their SHA-256 digests are kept.
- ``oauth``: OAuth 2.1 resource server. JWTs issued by ``AIRS_MCP_OAUTH_ISSUER`` for the audience
  ``AIRS_MCP_OAUTH_RESOURCE``, signed by a key of ``AIRS_MCP_OAUTH_JWKS_URL``. Static tokens may
  be configured as well (e.g. for service accounts). The JWT header must say ``typ: at+jwt``
  (RFC 9068) unless ``AIRS_MCP_OAUTH_REQUIRE_AT_JWT=false``.
- ``none``: no authentication at all; must be chosen explicitly and is logged as a warning.

Errors name the variable, never a token.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from airs_mcp.errors import ConfigError

__all__ = ["AuthMode", "AuthSettings", "OAuthConfig", "auth_from_env", "token_digest"]

AuthMode = Literal["token", "oauth", "none"]
MODES: tuple[AuthMode, ...] = ("token", "oauth", "none")
MIN_TOKEN_LENGTH = 32
MAX_TOKEN_LENGTH = 4096
MAX_SCOPE_LENGTH = 256
LOOPBACK_NAMES = ("localhost",)


def token_digest(token: str) -> bytes:
    """SHA-256 of a bearer token: what is kept in memory and compared."""
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class OAuthConfig:
    """Where JWTs come from and whom they must be for."""

    issuer: str
    jwks_url: str
    resource: str
    required_scopes: tuple[str, ...] = ()
    # RFC 9068's ``typ: at+jwt``. Off for issuers that do not set it, at a cost: their ID tokens
    # (or any other JWT they sign for this audience) are then accepted as access tokens.
    require_at_jwt: bool = True


@dataclass(frozen=True)
class AuthSettings:
    """The default (``token`` with no digests) lets no request in."""

    mode: AuthMode = "token"
    token_digests: tuple[bytes, ...] = field(default=(), repr=False)
    oauth: OAuthConfig | None = None

    @property
    def enabled(self) -> bool:
        return self.mode != "none"


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _tokens(env: Mapping[str, str]) -> tuple[bytes, ...]:
    name = "AIRS_MCP_AUTH_TOKENS"
    digests: list[bytes] = []
    for position, token in enumerate(_split(env.get(name, "")), start=1):
        if not MIN_TOKEN_LENGTH <= len(token) <= MAX_TOKEN_LENGTH:
            raise ConfigError(
                name,
                f"token #{position} must be {MIN_TOKEN_LENGTH} to {MAX_TOKEN_LENGTH} characters "
                "(e.g. 64 hex digits of random data)",
            )
        if any(char.isspace() or not char.isprintable() for char in token):
            raise ConfigError(name, f"token #{position} contains whitespace or control characters")
        digests.append(token_digest(token))
    return tuple(dict.fromkeys(digests))


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(env: Mapping[str, str], name: str, *, required: bool = True) -> str:
    """An ``https://`` URL (``http://`` only on a loopback host, for local set-ups and tests)."""
    raw = env.get(name, "").strip()
    if not raw:
        if required:
            raise ConfigError(name, "must be set when AIRS_MCP_AUTH=oauth")
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(name, f"must be an https:// URL, got {raw!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(name, "must use https:// (http:// is accepted on loopback only)")
    if parts.fragment or parts.username or parts.password:
        raise ConfigError(name, "must not carry a fragment or credentials")
    return raw


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise ConfigError(name, f"must be true or false, got {raw!r}")


def _oauth(env: Mapping[str, str]) -> OAuthConfig:
    scopes = tuple(env.get("AIRS_MCP_OAUTH_SCOPES", "").replace(",", " ").split())
    for scope in scopes:
        if len(scope) > MAX_SCOPE_LENGTH:
            raise ConfigError("AIRS_MCP_OAUTH_SCOPES", f"scope longer than {MAX_SCOPE_LENGTH}")
    return OAuthConfig(
        issuer=_url(env, "AIRS_MCP_OAUTH_ISSUER"),
        jwks_url=_url(env, "AIRS_MCP_OAUTH_JWKS_URL"),
        resource=_url(env, "AIRS_MCP_OAUTH_RESOURCE").rstrip("/"),
        required_scopes=scopes,
        require_at_jwt=_flag(env, "AIRS_MCP_OAUTH_REQUIRE_AT_JWT", default=True),
    )


def auth_from_env(env: Mapping[str, str]) -> AuthSettings:
    mode = env.get("AIRS_MCP_AUTH", "").strip().lower() or "token"
    if mode not in MODES:
        raise ConfigError("AIRS_MCP_AUTH", f"must be one of {', '.join(MODES)}")
    digests = _tokens(env)
    if mode == "none":
        if digests:
            raise ConfigError(
                "AIRS_MCP_AUTH", "is 'none' but AIRS_MCP_AUTH_TOKENS is set: unset one of them"
            )
        return AuthSettings(mode="none")
    if mode == "oauth":
        return AuthSettings(mode="oauth", token_digests=digests, oauth=_oauth(env))
    if not digests:
        raise ConfigError(
            "AIRS_MCP_AUTH_TOKENS",
            f"must list at least one bearer token ({MIN_TOKEN_LENGTH}+ characters) that clients "
            "send as 'Authorization: Bearer <token>'; or set AIRS_MCP_AUTH=oauth, or "
            "AIRS_MCP_AUTH=none to turn authentication off",
        )
    return AuthSettings(mode="token", token_digests=digests)
