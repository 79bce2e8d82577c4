"""The route to AIRS, resolved once at start: through an egress proxy or straight.

The SDK opens its aiohttp sessions with ``trust_env=True``, so aiohttp looks the proxy
variables up (``asyncio.to_thread``) and reads ``~/.netrc`` (``run_in_executor``) on *every*
request: two thread-pool hops per AIRS call, ~19 % of the server's CPU under load (bench
README, "Profile"). The environment does not change while the process runs, so this module
reads it once, with the semantics aiohttp uses (``urllib``'s ``*_proxy`` / ``no_proxy``
rules), and gives the SDK's sessions ``trust_env=False`` plus the proxy explicitly.

What ``trust_env`` did beyond the proxy is dropped on purpose: ``~/.netrc`` credentials for
the AIRS host (the API key is a header) and ``.netrc`` credentials for the proxy (put them in
the proxy URL, ``http://user:pass@proxy:3128``, which aiohttp sends as ``Proxy-Authorization``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # not in typeshed

from aisecurity.generated_openapi_client.asyncio import rest

log = logging.getLogger("airs_mcp.egress")
# aiohttp uses only these; it ignores an https:// proxy URL (TLS to the proxy is unsupported).
PROXY_SCHEMES = ("http", "https", "ws", "wss")


@dataclass(frozen=True)
class EgressRoute:
    """``proxy`` is the proxy URL for AIRS requests, or None to connect straight."""

    proxy: str | None
    reason: str  # why, for the start-up log line (never includes proxy credentials)


def env_proxies(env: Mapping[str, str]) -> dict[str, str]:
    """``urllib.request.getproxies_environment`` over ``env``: lower-case names win, and
    ``HTTP_PROXY`` is ignored in a CGI request (``REQUEST_METHOD`` set, httpoxy)."""
    proxies: dict[str, str] = {}
    for name, value in env.items():  # upper- and mixed-case first ...
        if value and name[-6:].lower() == "_proxy" and name != name.lower():
            proxies[name[:-6].lower()] = value
    for name, value in env.items():  # ... then lower case overrides them
        if name[-6:] == "_proxy" and name == name.lower():
            if value:
                proxies[name[:-6]] = value
            else:
                proxies.pop(name[:-6], None)
    if "REQUEST_METHOD" in env:
        proxies.pop("http", None)
    return proxies


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}:{parts.port}" if parts.port else f"{parts.scheme}://{host}"


def resolve(endpoint: str, env: Mapping[str, str]) -> EgressRoute:
    """The route aiohttp with ``trust_env=True`` would take to ``endpoint`` under ``env``."""
    url = urlsplit(endpoint)
    host = url.hostname or ""
    proxies = {k: v for k, v in env_proxies(env).items() if k in (*PROXY_SCHEMES, "no")}
    if host and proxy_bypass_environment(host, proxies):
        return EgressRoute(None, f"{host} matches no_proxy")
    proxy = proxies.get(url.scheme)
    if proxy is None:
        return EgressRoute(None, f"no {url.scheme}_proxy set")
    if urlsplit(proxy).scheme in ("https", "wss"):  # what aiohttp does: warn and go straight
        return EgressRoute(None, f"{urlsplit(proxy).scheme} proxy URLs are not supported")
    return EgressRoute(proxy, f"through {_redacted(proxy)}")


_original_init = rest.RESTClientObject.__init__


def apply(route: EgressRoute) -> None:
    """Make every SDK REST client built from now on use ``route`` without consulting the
    environment per request. Idempotent; the last route applied wins."""

    def init(self: rest.RESTClientObject, configuration: Any) -> None:
        _original_init(self, configuration)
        # The SDK hard-codes trust_env=True; the flag is only read per request, so switching
        # it on the session it just built is the whole change. The session exposes it read-only.
        self.pool_manager._trust_env = False
        self.proxy = route.proxy

    init.route = route  # type: ignore[attr-defined]  # for tests and the log line
    rest.RESTClientObject.__init__ = init  # type: ignore[method-assign]  # the SDK's, patched
    log.info("airs egress", extra={"route": route.reason})
