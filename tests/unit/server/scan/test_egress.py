"""The AIRS egress route is resolved once, as aiohttp's trust_env would per request."""

from __future__ import annotations

import pytest
from aiohttp.helpers import get_env_proxy_for_url
from airs_mcp.scan import egress
from aisecurity.generated_openapi_client.asyncio import rest
from aisecurity.generated_openapi_client.asyncio.configuration import Configuration
from yarl import URL

ENDPOINT = "https://airs.example.test"
PROXY = "http://proxy.internal:3128"

CASES = [
    ({}, None),
    ({"HTTPS_PROXY": PROXY}, PROXY),
    ({"https_proxy": PROXY}, PROXY),
    ({"HTTPS_PROXY": "http://upper:1", "https_proxy": PROXY}, PROXY),  # lower case wins
    ({"HTTPS_PROXY": PROXY, "https_proxy": ""}, None),  # an empty lower-case one unsets it
    ({"HTTP_PROXY": PROXY}, None),  # the endpoint is https://
    ({"ALL_PROXY": PROXY}, None),  # aiohttp reads only http/https/ws/wss
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "airs.example.test"}, None),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": ".example.test"}, None),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "example.test"}, None),
    ({"HTTPS_PROXY": PROXY, "no_proxy": "other.test, airs.example.test"}, None),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "*"}, None),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "other.test,ample.test"}, PROXY),
    ({"HTTPS_PROXY": PROXY, "NO_PROXY": "airs.example.test", "no_proxy": "x.test"}, PROXY),
    ({"HTTPS_PROXY": "https://tls.proxy:443"}, None),  # aiohttp ignores https:// proxies
    ({"HTTPS_PROXY": "http://user:pw@proxy.internal:3128"}, "http://user:pw@proxy.internal:3128"),
]


@pytest.mark.parametrize(("env", "expected"), CASES)
def test_resolve(env: dict[str, str], expected: str | None) -> None:
    assert egress.resolve(ENDPOINT, env).proxy == expected


@pytest.mark.parametrize(("env", "_expected"), CASES)
def test_resolve_agrees_with_aiohttp_trust_env(
    env: dict[str, str], _expected: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("NO_PROXY", "no_proxy", "all_proxy", "REQUEST_METHOD", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        proxy, auth = get_env_proxy_for_url(URL(ENDPOINT))
        aiohttp_route = (
            str(proxy.with_user(auth.login).with_password(auth.password)) if auth else str(proxy)
        )
    except LookupError:
        aiohttp_route = None
    ours = egress.resolve(ENDPOINT, env).proxy
    assert (URL(ours) if ours else None) == (URL(aiohttp_route) if aiohttp_route else None)


def test_reason_never_shows_proxy_credentials() -> None:
    route = egress.resolve(ENDPOINT, {"HTTPS_PROXY": "http://user:secret@proxy.internal:3128"})
    assert route.reason == "through http://proxy.internal:3128"
    assert "secret" not in repr(route.reason)


def test_cgi_request_ignores_http_proxy() -> None:
    env = {"HTTP_PROXY": PROXY, "REQUEST_METHOD": "GET"}
    assert egress.resolve("http://airs.example.test", env).proxy is None
    assert egress.resolve("http://airs.example.test", {"HTTP_PROXY": PROXY}).proxy == PROXY


async def test_applied_route_reaches_new_sdk_sessions_without_trust_env() -> None:
    egress.apply(egress.EgressRoute(PROXY, "test"))
    try:
        client = rest.RESTClientObject(Configuration())
        try:
            assert client.pool_manager.trust_env is False  # no per-request env/netrc lookups
            assert client.proxy == PROXY
        finally:
            await client.close()
        egress.apply(egress.EgressRoute(None, "test"))
        client = rest.RESTClientObject(Configuration())
        try:
            assert client.pool_manager.trust_env is False
            assert client.proxy is None
        finally:
            await client.close()
    finally:
        egress.apply(egress.EgressRoute(None, "test"))
