"""The stateless 2026-07-28 revision on ``/mcp`` of a real server (uvicorn) and the AIRS double.

Clients written by others: the TypeScript SDK v2 client pinned to the revision and in auto mode,
the ``mcp`` Python client likewise, each getting ``block`` for an injection without any
``initialize`` or session id. Then what the revision requires of a server, by raw HTTP:
``server/discover``, ``HeaderMismatch`` for headers that disagree with the body (and no scan
when they do), ``UnsupportedProtocolVersion``, caching hints on list results, the same
``tools/list`` from every call and every replica, 404 for an unknown method, and the answers
older clients get (405 for GET and DELETE, ``Mcp-Session-Id`` ignored and never minted).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest

from harness.airs_double import AirsDouble
from harness.mcp_client import initialize_request
from harness.mcp_server import McpServerHandle
from tests.fixtures.modern_clients import (
    INJECTION,
    MODERN,
    TOOLS_IN_ORDER,
    assert_modern_session,
    run_python_client,
    run_ts_client,
)

pytestmark = pytest.mark.integration

HEADER_MISMATCH = -32020
UNSUPPORTED_PROTOCOL_VERSION = -32022
METHOD_NOT_FOUND = -32601
REQUEST_ID = 7  # errors must name the request they answer
# What this server chose for its stable results (airs_mcp.app): 5 minutes, shareable.
STABLE_HINT = {"ttlMs": 300_000, "cacheScope": "public"}
Headers = Sequence[tuple[str, str]]


def envelope(version: str = MODERN) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "airs-test-raw", "version": "0"},
    }


def modern_post(
    server: McpServerHandle,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    replace: dict[str, str | None] | None = None,
    extra: Headers = (),
    meta_version: str = MODERN,
) -> httpx.Response:
    """One 2026-07-28 request as a conforming client sends it; ``replace`` changes (``None``
    drops) headers, ``extra`` appends raw ones (duplicates included)."""
    body = {
        "jsonrpc": "2.0",
        "id": REQUEST_ID,
        "method": method,
        "params": {**(params or {}), "_meta": envelope(meta_version)},
    }
    headers: dict[str, str] = {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        **server.auth_headers,
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
    }
    if "name" in (params or {}):
        headers["Mcp-Name"] = str((params or {})["name"])
    for name, value in (replace or {}).items():
        headers.pop(name, None)
        if value is not None:
            headers[name] = value
    return httpx.post(
        server.mcp_url, content=json.dumps(body), headers=[*headers.items(), *extra], timeout=30
    )


def result_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert "mcp-session-id" not in response.headers
    return response.json()["result"]


def error_of(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["id"] == REQUEST_ID, answer
    assert answer["error"]["code"] == code, answer
    return answer["error"]


def scan(prompt: str = INJECTION) -> dict[str, Any]:
    return {"name": "pan_inline_scan", "arguments": {"prompt": prompt}}


# --- clients written by others -----------------------------------------------------------------
@pytest.mark.parametrize("mode", ["pin", "auto"])
def test_typescript_sdk_v2_client_gets_block_over_the_revision(
    mode: str, mcp_server: McpServerHandle
) -> None:
    report = run_ts_client(mcp_server.mcp_url, mode, INJECTION, mcp_server.token)
    assert_modern_session(report)
    # both modes probe first: a pinned client still asks whether the server offers its version
    assert report["exchanges"][0]["rpc"] == "server/discover"
    assert MODERN in report["discover"]["supportedVersions"]


@pytest.mark.parametrize("mode", ["pin", "auto"])
def test_python_sdk_client_gets_block_over_the_revision(
    mode: str, mcp_server: McpServerHandle
) -> None:
    report = run_python_client(mcp_server.mcp_url, mode, INJECTION, mcp_server.token)
    assert_modern_session(report)
    if mode == "auto":
        assert report["exchanges"][0]["rpc"] == "server/discover"
        assert report["discover"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == (
            "airs-mcp"
        )


def test_a_2025_client_gets_405_for_its_stream_and_carries_on(mcp_server: McpServerHandle) -> None:
    """The v2 client without negotiation runs the 2025 handshake and then opens the GET stream
    that revision allowed; a stateless endpoint has no stream to offer and says so with 405
    (the client carries on) instead of holding an empty stream open."""
    report = run_ts_client(mcp_server.mcp_url, "legacy", INJECTION, mcp_server.token)
    assert report["era"] == "legacy"
    assert report["protocolVersion"] == "2025-11-25"
    assert report["result"]["structuredContent"]["action"] == "block"
    exchanges = report["exchanges"]
    assert exchanges[0]["rpc"] == "initialize"
    streams = [e for e in exchanges if e["http"] == "GET"]
    assert [e["status"] for e in streams] == [405], exchanges
    assert all(e["sessionId"] is None for e in exchanges), exchanges


# --- what the revision requires of a server ---------------------------------------------------
def test_discover_names_the_revision_the_server_and_its_tools(mcp_server: McpServerHandle) -> None:
    result = result_of(modern_post(mcp_server, "server/discover"))
    assert MODERN in result["supportedVersions"]
    assert "tools" in result["capabilities"]
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "airs-mcp"
    assert "pan_inline_scan" in result["instructions"]
    assert result["resultType"] == "complete"
    assert {key: result[key] for key in STABLE_HINT} == STABLE_HINT


def test_a_conforming_call_scans(mcp_server: McpServerHandle) -> None:
    """The control for the mismatch cases below: the same request, headers intact, answers."""
    result = result_of(modern_post(mcp_server, "tools/call", scan()))
    assert result["structuredContent"]["action"] == "block"
    assert result["resultType"] == "complete"


def _b64(value: str) -> str:
    return f"=?base64?{base64.b64encode(value.encode()).decode()}?="


def test_a_base64_mcp_name_is_decoded_before_the_comparison(mcp_server: McpServerHandle) -> None:
    response = modern_post(
        mcp_server, "tools/call", scan(), replace={"Mcp-Name": _b64("pan_inline_scan")}
    )
    assert result_of(response)["structuredContent"]["action"] == "block"


MISMATCHES: dict[str, dict[str, Any]] = {
    "Mcp-Method missing": {"replace": {"Mcp-Method": None}},
    "Mcp-Method of another method": {"replace": {"Mcp-Method": "tools/list"}},
    "Mcp-Name missing": {"replace": {"Mcp-Name": None}},
    "Mcp-Name of another tool": {"replace": {"Mcp-Name": "pan_batch_scan"}},
    "Mcp-Name base64 of another tool": {"replace": {"Mcp-Name": _b64("pan_batch_scan")}},
    "Mcp-Name twice": {"extra": [("Mcp-Name", "pan_batch_scan")]},
    "_meta names another version": {"meta_version": "2025-11-25"},
}


@pytest.mark.parametrize("case", MISMATCHES)
def test_headers_that_disagree_with_the_body_get_header_mismatch_and_no_scan(
    case: str, mcp_server: McpServerHandle, airs_double: AirsDouble
) -> None:
    """A load balancer may route on the headers while the server acts on the body: the server
    refuses any disagreement with 400 HeaderMismatch before the tool runs."""
    response = modern_post(mcp_server, "tools/call", scan(), **MISMATCHES[case])
    error_of(response, 400, HEADER_MISMATCH)
    assert airs_double.stats()["requests"] == {}


def test_an_unknown_revision_gets_unsupported_protocol_version(mcp_server: McpServerHandle) -> None:
    future = "2099-01-01"
    response = modern_post(
        mcp_server, "tools/list", replace={"MCP-Protocol-Version": future}, meta_version=future
    )
    error = error_of(response, 400, UNSUPPORTED_PROTOCOL_VERSION)
    assert MODERN in error["data"]["supported"]
    assert error["data"]["requested"] == future


def test_an_unknown_method_is_404_method_not_found(mcp_server: McpServerHandle) -> None:
    error_of(modern_post(mcp_server, "tools/frobnicate"), 404, METHOD_NOT_FOUND)


@pytest.mark.parametrize(
    "method", ["tools/list", "prompts/list", "resources/list", "resources/templates/list"]
)
def test_list_results_carry_caching_hints(method: str, mcp_server: McpServerHandle) -> None:
    result = result_of(modern_post(mcp_server, method))
    assert isinstance(result["ttlMs"], int), result
    assert result["ttlMs"] >= 0, result
    assert result["cacheScope"] in ("public", "private"), result
    if method == "tools/list":
        assert {key: result[key] for key in STABLE_HINT} == STABLE_HINT


def test_tools_list_is_identical_across_calls_and_replicas(
    mcp_server: McpServerHandle, start_mcp_server: Callable[..., McpServerHandle]
) -> None:
    """Behind the load balancer consecutive calls land on different replicas: every one must
    list the same tools, in the same order (clients and LLM prompt caches key on it)."""
    other = start_mcp_server()
    listings = [result_of(modern_post(mcp_server, "tools/list"))["tools"] for _ in range(3)]
    listings.append(result_of(modern_post(other, "tools/list"))["tools"])
    assert [tool["name"] for tool in listings[0]] == TOOLS_IN_ORDER
    assert all(listing == listings[0] for listing in listings[1:])


# --- what older clients get -------------------------------------------------------------------
@pytest.mark.parametrize("version", [None, "2025-11-25", MODERN])
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_get_and_delete_on_mcp_are_405(
    method: str, version: str | None, mcp_server: McpServerHandle
) -> None:
    headers = {**mcp_server.auth_headers, "Accept": "text/event-stream"}
    headers["Mcp-Session-Id"] = "0123456789abcdef"
    if version:
        headers["MCP-Protocol-Version"] = version
    # streamed: if the server answered with an event stream, the test must not wait on it
    with (
        httpx.Client(timeout=10) as client,
        client.stream(method, mcp_server.mcp_url, headers=headers) as response,
    ):
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert "mcp-session-id" not in response.headers


def test_a_session_id_is_ignored_and_never_minted(mcp_server: McpServerHandle) -> None:
    made_up = {"Mcp-Session-Id": "0123456789abcdef"}
    legacy = {
        "Accept": "application/json, text/event-stream",
        **mcp_server.auth_headers,
        **made_up,
    }
    initialized = httpx.post(mcp_server.mcp_url, json=initialize_request("old"), headers=legacy)
    assert initialized.json()["result"]["serverInfo"]["name"] == "airs-mcp"
    assert "mcp-session-id" not in initialized.headers
    listed = httpx.post(
        mcp_server.mcp_url,
        json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        headers={**legacy, "MCP-Protocol-Version": "2025-11-25"},
    )
    assert [tool["name"] for tool in result_of(listed)["tools"]] == TOOLS_IN_ORDER
    modern = modern_post(mcp_server, "tools/call", scan(), extra=list(made_up.items()))
    assert result_of(modern)["structuredContent"]["action"] == "block"
