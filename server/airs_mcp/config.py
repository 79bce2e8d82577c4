"""Settings read once from the environment into a frozen object.

Every variable is documented in the README's "Configuration reference". Errors name the
variable and never echo a secret's value.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
MAX_API_KEY_LENGTH = 2048
MAX_PROFILE_NAME_LENGTH = 100


class ConfigError(Exception):
    """A missing or invalid setting; ``variable`` names the environment variable."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"{variable}: {reason}")
        self.variable = variable
        self.reason = reason


@dataclass(frozen=True)
class Settings:
    """The server's whole configuration. ``api_key`` is kept out of ``repr``."""

    api_key: str = field(repr=False)
    profile_name: str | None = None
    profile_id: str | None = None
    api_endpoint: str | None = None
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS
    allowed_origins: tuple[str, ...] = ()
    host_check: bool = True
    timeout_s: float = 30.0
    max_retries: int = 2
    retry_backoff_s: float = 0.5
    max_retry_after_s: float = 10.0
    batch_concurrency: int = 4
    max_batch_items: int = 1000
    graceful_shutdown_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        key = _text(env, "PANW_AI_SEC_API_KEY")
        if not key:
            raise ConfigError("PANW_AI_SEC_API_KEY", "must be set to the AIRS API key")
        if len(key) > MAX_API_KEY_LENGTH:
            raise ConfigError("PANW_AI_SEC_API_KEY", f"longer than {MAX_API_KEY_LENGTH} characters")
        name = _text(env, "PANW_AI_PROFILE_NAME")
        pid = _text(env, "PANW_AI_PROFILE_ID")
        if not name and not pid:
            raise ConfigError(
                "PANW_AI_PROFILE_NAME", "set PANW_AI_PROFILE_NAME or PANW_AI_PROFILE_ID"
            )
        if name and len(name) > MAX_PROFILE_NAME_LENGTH:
            raise ConfigError(
                "PANW_AI_PROFILE_NAME", f"longer than {MAX_PROFILE_NAME_LENGTH} characters"
            )
        if pid and not _is_uuid(pid):
            raise ConfigError("PANW_AI_PROFILE_ID", "must be a UUID")
        endpoint = _text(env, "PANW_AI_SEC_API_ENDPOINT")
        if endpoint and not endpoint.lower().startswith("https://"):
            raise ConfigError("PANW_AI_SEC_API_ENDPOINT", "must be an https:// URL")
        hosts, host_check = _hosts(env)
        return cls(
            api_key=key,
            profile_name=name or None,
            profile_id=pid or None,
            api_endpoint=endpoint.rstrip("/") if endpoint else None,
            allowed_hosts=hosts,
            allowed_origins=_origins(env, hosts),
            host_check=host_check,
            timeout_s=_number(env, "AIRS_MCP_TIMEOUT_SECONDS", 30.0, minimum=0.1, maximum=300),
            max_retries=int(_number(env, "AIRS_MCP_MAX_RETRIES", 2, minimum=0, maximum=10)),
            retry_backoff_s=_number(
                env, "AIRS_MCP_RETRY_BACKOFF_SECONDS", 0.5, minimum=0, maximum=30
            ),
            max_retry_after_s=_number(
                env, "AIRS_MCP_MAX_RETRY_AFTER_SECONDS", 10.0, minimum=0, maximum=300
            ),
            batch_concurrency=int(
                _number(env, "AIRS_MCP_BATCH_CONCURRENCY", 4, minimum=1, maximum=64)
            ),
            max_batch_items=int(
                _number(env, "AIRS_MCP_MAX_BATCH_ITEMS", 1000, minimum=1, maximum=10000)
            ),
            graceful_shutdown_s=_number(
                env, "AIRS_MCP_GRACEFUL_SHUTDOWN_SECONDS", 10.0, minimum=0, maximum=3600
            ),
        )


def _text(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower() and len(value) == 36
    except ValueError:
        return False


def _number(
    env: Mapping[str, str], name: str, default: float, *, minimum: float, maximum: float
) -> float:
    raw = _text(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, "must be a number") from None
    if not minimum <= value <= maximum:
        raise ConfigError(name, f"must be between {minimum:g} and {maximum:g}")
    return value


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _hosts(env: Mapping[str, str]) -> tuple[tuple[str, ...], bool]:
    raw = _text(env, "AIRS_MCP_ALLOWED_HOSTS")
    if not raw:
        return LOCAL_HOSTS, True
    hosts = _split(raw)
    if hosts == ["*"]:
        return (), False
    for host in hosts:
        if "*" in host.replace(":*", "") or "/" in host or " " in host:
            raise ConfigError("AIRS_MCP_ALLOWED_HOSTS", f"bad entry {host!r}")
    return tuple(dict.fromkeys([*LOCAL_HOSTS, *hosts])), True


def _origins(env: Mapping[str, str], hosts: tuple[str, ...]) -> tuple[str, ...]:
    raw = _text(env, "AIRS_MCP_ALLOWED_ORIGINS")
    if raw:
        origins = _split(raw)
        for origin in origins:
            if not origin.startswith(("http://", "https://")):
                raise ConfigError("AIRS_MCP_ALLOWED_ORIGINS", f"bad entry {origin!r}")
        return tuple(origins)
    return tuple(f"{scheme}://{host}" for host in hosts for scheme in ("http", "https"))
