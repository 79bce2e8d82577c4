"""AIRS traffic goes through the egress proxy named by HTTPS_PROXY, unless NO_PROXY says not.

The server resolves the route once at start (``airs_mcp.scan.egress``) instead of letting aiohttp
read the environment per request; these tests pin that the proxy (tinyproxy, read from its log)
still carries the calls.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from harness.airs_double import AirsDouble
from harness.mcp_client import open_session
from harness.mcp_server import McpServerHandle
from tests.fixtures.connect_proxy import ConnectProxy, connect_proxy  # noqa: F401 - fixture

pytestmark = pytest.mark.integration


def _double_target(double: AirsDouble) -> str:
    parts = urlsplit(double.url)
    return f"{parts.hostname}:{parts.port}"


def _proxy_env(proxy: ConnectProxy, no_proxy: str, *, lower: bool = False) -> dict[str, str]:
    name = "https_proxy" if lower else "HTTPS_PROXY"
    return {name: proxy.url, "NO_PROXY": no_proxy, "no_proxy": no_proxy}


@pytest.mark.parametrize("transport", ["sse", "streamable_http"])
@pytest.mark.parametrize("lower", [False, True], ids=["HTTPS_PROXY", "https_proxy"])
async def test_calls_go_through_the_connect_proxy(
    transport: str,
    lower: bool,
    connect_proxy: ConnectProxy,  # noqa: F811
    airs_double: AirsDouble,
    start_mcp_server: Callable[..., McpServerHandle],
) -> None:
    server = start_mcp_server(_proxy_env(connect_proxy, "other.invalid", lower=lower))
    async with open_session(transport, server.url) as session:
        for _ in range(3):
            result = await session.call_tool("pan_inline_scan", {"prompt": "hello"})
            assert not result.is_error, result.content
    assert airs_double.stats()["requests"] == {"sync": 3}
    # One pooled connection, so at least one tunnel, and every tunnel to the double.
    assert connect_proxy.targets
    assert set(connect_proxy.targets) == {_double_target(airs_double)}


async def test_no_proxy_sends_calls_straight(
    connect_proxy: ConnectProxy,  # noqa: F811
    airs_double: AirsDouble,
    start_mcp_server: Callable[..., McpServerHandle],
) -> None:
    server = start_mcp_server(_proxy_env(connect_proxy, "example.test,127.0.0.1"))
    async with open_session("streamable_http", server.url) as session:
        result = await session.call_tool("pan_inline_scan", {"prompt": "hello"})
    assert not result.is_error, result.content
    assert airs_double.stats()["requests"] == {"sync": 1}
    assert connect_proxy.targets == []
