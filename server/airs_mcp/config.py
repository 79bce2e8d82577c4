"""Settings read once from the environment into a frozen object.

Every variable is documented in the README's "Configuration reference". Errors name the
variable and never echo a secret's value.
"""

from __future__ import annotations

import ipaddress
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from airs_mcp.auth.settings import AuthSettings, auth_from_env
from airs_mcp.errors import ConfigError
from airs_mcp.scan.batching import MAX_IDS_PER_QUERY, MAX_OBJECTS_PER_ASYNC

__all__ = ["LOCAL_HOSTS", "ClientLimits", "ConfigError", "Settings"]

LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
MAX_API_KEY_LENGTH = 2048
MAX_PROFILE_NAME_LENGTH = 100
MIN_ROUTING_KEY_LENGTH = 32
MAX_ROUTING_KEY_LENGTH = 4096
# Pod networks are private: RFC 1918 and IPv6 unique-local. Loopback, link-local (cloud metadata
# at 169.254.169.254) and public addresses are never peers unless listed explicitly.
DEFAULT_PEER_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
# Limits (README "Configuration reference"). 0 turns the session cap or the concurrency limit off.
DEFAULT_MAX_SSE_SESSIONS = 1000
DEFAULT_LIMIT_CONCURRENCY = 2000
# AIRS's default per-tenant Scan API limit, requests per second.
AIRS_TENANT_REQUESTS_PER_SECOND = 150
# Batch fan-out (README "Configuration reference"): a 100-item batch's 20 requests go out at once;
# burst + rate = 120 starts in any second, a fifth under AIRS_TENANT_REQUESTS_PER_SECOND:
# bench.batch_fanout saw 125 + 25 (exactly 150 starts) arrive as 166 in one second.
DEFAULT_BATCH_CONCURRENCY = 20
DEFAULT_BATCH_REQUESTS_PER_SECOND = 100.0
DEFAULT_BATCH_BURST = 20
# The fleet's one AIRS budget (airs_mcp.scan.fleet_share): each pod paces at its share of the
# tenant's rate, the replicas counted from DNS every so often.
DEFAULT_FLEET_REFRESH_S = 10.0
MAX_BODY_BYTES = 4 * 1024 * 1024  # also the SDK's own ceiling and the routing forwarder's
MIN_BODY_BYTES = 64 * 1024
# Memory (README "Configuration reference"): refuse new sessions past this share of the limit;
# collect and trim the heap after this many SSE sessions closed, this long after the last one.
DEFAULT_MEMORY_REFUSE_FRACTION = 0.85
DEFAULT_HEAP_TRIM_AFTER_CLOSES = 100
DEFAULT_HEAP_TRIM_DELAY_S = 10.0
# SSE streams (README "Configuration reference"): pings under every proxy's idle timeout
# (Traefik: 90 s); a write that cannot finish in time ends its stream; POSTed messages one
# session may have in hand at once (each holds at most one write to the stream).
DEFAULT_SSE_PING_S = 15.0
DEFAULT_SSE_WRITE_TIMEOUT_S = 30.0
DEFAULT_SSE_MAX_IN_FLIGHT = 64
# Per-credential limits (README "Configuration reference"; 0 turns one off). Generous for one
# client, so that no single credential takes the server or the AIRS tenant for itself: MCP
# messages per second (token bucket), tool calls reaching AIRS at once, and AIRS requests per
# minute, a fifth of the tenant's AIRS_TENANT_REQUESTS_PER_SECOND.
DEFAULT_CLIENT_REQUESTS_PER_SECOND = 100.0
DEFAULT_CLIENT_REQUEST_BURST = 200
DEFAULT_CLIENT_AIRS_CALLS_IN_FLIGHT = 32
DEFAULT_CLIENT_AIRS_REQUESTS_PER_MINUTE = 1800


@dataclass(frozen=True)
class ClientLimits:
    """What one credential (bearer token digest or OAuth subject) may use; 0 turns a limit off.
    Applied only to authenticated callers (``limits`` package)."""

    requests_per_second: float = DEFAULT_CLIENT_REQUESTS_PER_SECOND
    request_burst: int = DEFAULT_CLIENT_REQUEST_BURST
    airs_calls_in_flight: int = DEFAULT_CLIENT_AIRS_CALLS_IN_FLIGHT
    airs_requests_per_minute: int = DEFAULT_CLIENT_AIRS_REQUESTS_PER_MINUTE

    @property
    def enabled(self) -> bool:
        return bool(
            self.requests_per_second or self.airs_calls_in_flight or self.airs_requests_per_minute
        )


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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
    batch_concurrency: int = DEFAULT_BATCH_CONCURRENCY
    batch_requests_per_second: float = DEFAULT_BATCH_REQUESTS_PER_SECOND  # 0: not paced
    batch_burst: int = DEFAULT_BATCH_BURST
    airs_tenant_rate: float = float(AIRS_TENANT_REQUESTS_PER_SECOND)
    fleet_peers: tuple[str, ...] = ()  # empty: no fleet share, each pod paces alone
    fleet_refresh_s: float = DEFAULT_FLEET_REFRESH_S
    max_batch_items: int = 1000
    graceful_shutdown_s: float = 10.0
    # Cross-replica SSE session routing: on only when both the key and the address are set.
    session_routing_key: bytes | None = field(default=None, repr=False)
    advertise_ip: IPAddress | None = None
    advertise_port: int | None = None  # None: the port the stream's connection arrived on
    peer_networks: tuple[IPNetwork, ...] = tuple(
        ipaddress.ip_network(net) for net in DEFAULT_PEER_NETWORKS
    )
    auth: AuthSettings = field(default_factory=AuthSettings)  # the default lets no request in
    max_sse_sessions: int = DEFAULT_MAX_SSE_SESSIONS
    limit_concurrency: int = DEFAULT_LIMIT_CONCURRENCY
    max_body_bytes: int = MAX_BODY_BYTES
    memory_limit_bytes: int | None = None  # None: the cgroup's limit, read at start
    memory_refuse_fraction: float = DEFAULT_MEMORY_REFUSE_FRACTION  # 0: never refuse
    heap_trim_after_closes: int = DEFAULT_HEAP_TRIM_AFTER_CLOSES  # 0: never trim
    heap_trim_delay_s: float = DEFAULT_HEAP_TRIM_DELAY_S
    sse_ping_s: float = DEFAULT_SSE_PING_S
    sse_write_timeout_s: float = DEFAULT_SSE_WRITE_TIMEOUT_S
    sse_max_in_flight: int = DEFAULT_SSE_MAX_IN_FLIGHT
    client_limits: ClientLimits = field(default_factory=ClientLimits)

    @property
    def fleet_share(self) -> bool:
        return bool(self.fleet_peers)

    @property
    def session_routing(self) -> bool:
        return self.session_routing_key is not None and self.advertise_ip is not None

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
        routing_key, advertise_ip, advertise_port, peers = _routing(env)
        sessions, concurrency = _connection_limits(env)
        memory_limit, refuse_fraction, trim_after, trim_delay = _memory(env)
        ping_s, write_timeout_s, max_in_flight = _sse_streams(env)
        max_batch_items = int(
            _number(env, "AIRS_MCP_MAX_BATCH_ITEMS", 1000, minimum=1, maximum=10000)
        )
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
                _number(
                    env,
                    "AIRS_MCP_BATCH_CONCURRENCY",
                    DEFAULT_BATCH_CONCURRENCY,
                    minimum=1,
                    maximum=64,
                )
            ),
            batch_requests_per_second=_number(
                env,
                "AIRS_MCP_BATCH_REQUESTS_PER_SECOND",
                DEFAULT_BATCH_REQUESTS_PER_SECOND,
                minimum=0,
                maximum=10000,
            ),
            batch_burst=int(
                _number(env, "AIRS_MCP_BATCH_BURST", DEFAULT_BATCH_BURST, minimum=1, maximum=1000)
            ),
            airs_tenant_rate=_number(
                env,
                "AIRS_MCP_AIRS_TENANT_RATE",
                AIRS_TENANT_REQUESTS_PER_SECOND,
                minimum=1,
                maximum=100000,
            ),
            fleet_peers=_fleet_peers(env),
            fleet_refresh_s=_number(
                env,
                "AIRS_MCP_FLEET_REFRESH_SECONDS",
                DEFAULT_FLEET_REFRESH_S,
                minimum=1,
                maximum=3600,
            ),
            max_batch_items=max_batch_items,
            graceful_shutdown_s=_number(
                env, "AIRS_MCP_GRACEFUL_SHUTDOWN_SECONDS", 10.0, minimum=0, maximum=3600
            ),
            session_routing_key=routing_key,
            advertise_ip=advertise_ip,
            advertise_port=advertise_port,
            peer_networks=peers,
            auth=auth_from_env(env),
            max_sse_sessions=sessions,
            limit_concurrency=concurrency,
            max_body_bytes=int(
                _number(
                    env,
                    "AIRS_MCP_MAX_BODY_BYTES",
                    MAX_BODY_BYTES,
                    minimum=MIN_BODY_BYTES,
                    maximum=MAX_BODY_BYTES,
                )
            ),
            memory_limit_bytes=memory_limit,
            memory_refuse_fraction=refuse_fraction,
            heap_trim_after_closes=trim_after,
            heap_trim_delay_s=trim_delay,
            sse_ping_s=ping_s,
            sse_write_timeout_s=write_timeout_s,
            sse_max_in_flight=max_in_flight,
            client_limits=_client_limits(env, max_batch_items),
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


def _connection_limits(env: Mapping[str, str]) -> tuple[int, int]:
    """``AIRS_MCP_MAX_SSE_SESSIONS`` and ``AIRS_MCP_LIMIT_CONCURRENCY`` (0 = off)."""
    sessions = int(
        _number(env, "AIRS_MCP_MAX_SSE_SESSIONS", DEFAULT_MAX_SSE_SESSIONS, minimum=0, maximum=1e6)
    )
    concurrency = int(
        _number(
            env, "AIRS_MCP_LIMIT_CONCURRENCY", DEFAULT_LIMIT_CONCURRENCY, minimum=0, maximum=1e7
        )
    )
    if concurrency and sessions >= concurrency:
        # Each SSE stream holds a connection: without headroom, message POSTs would get 503.
        raise ConfigError(
            "AIRS_MCP_LIMIT_CONCURRENCY", "must be larger than AIRS_MCP_MAX_SSE_SESSIONS"
        )
    return sessions, concurrency


def _memory(env: Mapping[str, str]) -> tuple[int | None, float, int, float]:
    """The memory refusal threshold and the heap trim after closed SSE sessions."""
    limit = None
    if _text(env, "AIRS_MCP_MEMORY_LIMIT_BYTES"):
        limit = int(
            _number(env, "AIRS_MCP_MEMORY_LIMIT_BYTES", 0, minimum=1 << 20, maximum=1 << 50)
        )
    return (
        limit,
        _number(
            env,
            "AIRS_MCP_MEMORY_REFUSE_FRACTION",
            DEFAULT_MEMORY_REFUSE_FRACTION,
            minimum=0,
            maximum=1,
        ),
        int(
            _number(
                env,
                "AIRS_MCP_HEAP_TRIM_AFTER_CLOSES",
                DEFAULT_HEAP_TRIM_AFTER_CLOSES,
                minimum=0,
                maximum=1e6,
            )
        ),
        _number(
            env,
            "AIRS_MCP_HEAP_TRIM_DELAY_SECONDS",
            DEFAULT_HEAP_TRIM_DELAY_S,
            minimum=0,
            maximum=3600,
        ),
    )


def _sse_streams(env: Mapping[str, str]) -> tuple[float, float, int]:
    """The SSE streams' ping interval, write deadline and per-session cap on messages in hand."""
    return (
        _number(env, "AIRS_MCP_SSE_PING_SECONDS", DEFAULT_SSE_PING_S, minimum=0.1, maximum=300),
        _number(
            env,
            "AIRS_MCP_SSE_WRITE_TIMEOUT_SECONDS",
            DEFAULT_SSE_WRITE_TIMEOUT_S,
            minimum=0.1,
            maximum=600,
        ),
        int(
            _number(
                env, "AIRS_MCP_SSE_MAX_IN_FLIGHT", DEFAULT_SSE_MAX_IN_FLIGHT, minimum=1, maximum=1e5
            )
        ),
    )


def _client_limits(env: Mapping[str, str], max_batch_items: int) -> ClientLimits:
    """The per-credential limits (0 = off). The AIRS quota must let the largest call through:
    a batch or query of ``max_batch_items`` takes one AIRS request per 5 items."""
    quota_name = "AIRS_MCP_CLIENT_AIRS_REQUESTS_PER_MINUTE"
    limits = ClientLimits(
        requests_per_second=_number(
            env,
            "AIRS_MCP_CLIENT_REQUESTS_PER_SECOND",
            DEFAULT_CLIENT_REQUESTS_PER_SECOND,
            minimum=0,
            maximum=1e6,
        ),
        request_burst=int(
            _number(
                env,
                "AIRS_MCP_CLIENT_REQUEST_BURST",
                DEFAULT_CLIENT_REQUEST_BURST,
                minimum=1,
                maximum=1e6,
            )
        ),
        airs_calls_in_flight=int(
            _number(
                env,
                "AIRS_MCP_CLIENT_AIRS_CALLS_IN_FLIGHT",
                DEFAULT_CLIENT_AIRS_CALLS_IN_FLIGHT,
                minimum=0,
                maximum=1e5,
            )
        ),
        airs_requests_per_minute=int(
            _number(
                env, quota_name, DEFAULT_CLIENT_AIRS_REQUESTS_PER_MINUTE, minimum=0, maximum=1e7
            )
        ),
    )
    per_request = min(MAX_OBJECTS_PER_ASYNC, MAX_IDS_PER_QUERY)
    largest_call = -(-max_batch_items // per_request)
    if limits.airs_requests_per_minute and limits.airs_requests_per_minute < largest_call:
        raise ConfigError(
            quota_name,
            f"must be at least {largest_call} (0 = off): a call of AIRS_MCP_MAX_BATCH_ITEMS="
            f"{max_batch_items} items takes that many AIRS requests",
        )
    return limits


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _fleet_peers(env: Mapping[str, str]) -> tuple[str, ...]:
    """``AIRS_MCP_FLEET_PEERS``: DNS names (or literal addresses) whose distinct addresses are
    the ready replicas; in Kubernetes the headless Service's name."""
    name = "AIRS_MCP_FLEET_PEERS"
    peers = _split(_text(env, name))
    for peer in peers:
        if " " in peer or "/" in peer or len(peer) > 253:
            raise ConfigError(name, f"bad entry {peer!r}: a DNS name or an IP address")
    return tuple(dict.fromkeys(peers))


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


def _routing(
    env: Mapping[str, str],
) -> tuple[bytes | None, IPAddress | None, int | None, tuple[IPNetwork, ...]]:
    """Key, advertised address and peer networks of cross-replica session routing."""
    key = _text(env, "AIRS_MCP_SESSION_ROUTING_KEY")
    if key and not MIN_ROUTING_KEY_LENGTH <= len(key) <= MAX_ROUTING_KEY_LENGTH:
        raise ConfigError(
            "AIRS_MCP_SESSION_ROUTING_KEY",
            f"must be {MIN_ROUTING_KEY_LENGTH} to {MAX_ROUTING_KEY_LENGTH} characters "
            "(e.g. 64 hex digits of random data)",
        )
    peers = _peer_networks(env)
    raw_address = _text(env, "AIRS_MCP_ADVERTISE_ADDRESS")
    if bool(key) != bool(raw_address):
        missing = "AIRS_MCP_ADVERTISE_ADDRESS" if key else "AIRS_MCP_SESSION_ROUTING_KEY"
        raise ConfigError(
            missing,
            "session routing needs both AIRS_MCP_SESSION_ROUTING_KEY and "
            "AIRS_MCP_ADVERTISE_ADDRESS (set both, or neither to turn it off)",
        )
    if not key:
        return None, None, None, peers
    ip, port = _address(raw_address)
    if not any(ip in net for net in peers):
        raise ConfigError(
            "AIRS_MCP_ADVERTISE_ADDRESS",
            f"{ip} is outside AIRS_MCP_PEER_NETWORKS: peers would refuse its sessions",
        )
    return key.encode("utf-8"), ip, port, peers


def _address(raw: str) -> tuple[IPAddress, int | None]:
    """``IP``, ``IPv4:port`` or ``[IPv6]:port`` (a pod IP, not a name: peers dial it as is)."""
    name = "AIRS_MCP_ADVERTISE_ADDRESS"
    host, port_text = raw, ""
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ConfigError(name, f"bad address {raw!r}")
            port_text = rest[1:]
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            name, f"must be an IP address (optionally with :port), got {raw!r}"
        ) from None
    if ip.is_unspecified or ip.is_multicast:
        raise ConfigError(name, f"{ip} cannot be dialled by peers")
    if not port_text:
        return ip, None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(name, f"bad port in {raw!r}")
    return ip, int(port_text)


def _peer_networks(env: Mapping[str, str]) -> tuple[IPNetwork, ...]:
    name = "AIRS_MCP_PEER_NETWORKS"
    entries = _split(_text(env, name)) or list(DEFAULT_PEER_NETWORKS)
    networks: list[IPNetwork] = []
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(name, f"bad CIDR {entry!r}") from None
        if network.prefixlen == 0:
            raise ConfigError(name, f"{entry!r} would let a token point anywhere")
        networks.append(network)
    return tuple(networks)
