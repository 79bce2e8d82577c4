"""Limits and log hygiene with real servers: the SSE session cap, the request-body limit, the
length caps of tool arguments, and logs free of content, tokens and session ids."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest

from harness.airs_double import AirsDouble
from harness.mcp_client import TRANSPORTS, open_session
from harness.mcp_server import TEST_TOKEN, McpServerHandle

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", **AUTH}
SMALL_BODY = 65536  # the smallest AIRS_MCP_MAX_BODY_BYTES


def tools_call(arguments: dict[str, object], *, jsonrpc: str = "2.0") -> dict[str, object]:
    return {
        "jsonrpc": jsonrpc,
        "id": 7,
        "method": "tools/call",
        "params": {"name": "pan_inline_scan", "arguments": arguments},
    }


@contextmanager
def sse_stream(server: McpServerHandle) -> Iterator[str]:
    """An open SSE stream; yields its message path."""
    with (
        httpx.Client(timeout=10) as client,
        client.stream("GET", server.sse_url, headers=AUTH) as stream,
    ):
        assert stream.status_code == 200, stream.read()
        lines = stream.iter_lines()
        assert next(lines) == "event: endpoint"
        yield next(lines).removeprefix("data: ")


# --- the SSE session cap --------------------------------------------------------------------------
def test_session_cap_refuses_new_streams_and_frees_a_slot(
    start_mcp_server: Callable[..., McpServerHandle],
) -> None:
    server = start_mcp_server({"AIRS_MCP_MAX_SSE_SESSIONS": "2"})
    with ExitStack() as streams:
        first = streams.enter_context(ExitStack())
        first.enter_context(sse_stream(server))
        streams.enter_context(sse_stream(server))
        refused = httpx.get(server.sse_url, headers=AUTH, timeout=10)
        assert refused.status_code == 503, refused.text
        assert "AIRS_MCP_MAX_SSE_SESSIONS" in refused.text
        assert refused.headers.get("retry-after")
        # Streamable HTTP is not capped by it
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        assert httpx.post(server.mcp_url, json=ping, headers=MCP_HEADERS).status_code == 200
        first.close()  # one stream ends: its slot frees once the server sees it gone
        deadline = time.monotonic() + 10
        while True:
            with (
                httpx.Client(timeout=10) as client,
                client.stream("GET", server.sse_url, headers=AUTH) as again,
            ):
                if again.status_code == 200:
                    break
            assert time.monotonic() < deadline, "the closed stream's slot never freed"
            time.sleep(0.2)
    refusals = [line for line in server.log_lines() if line.get("msg") == "sse_session_refused"]
    assert refusals, "the refusal was not logged"
    assert refusals[0]["open_sessions"] == 2
    assert refusals[0]["max_sse_sessions"] == 2


# --- the request-body limit -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_body_server(start_mcp_server_module: Callable[..., McpServerHandle]) -> McpServerHandle:
    return start_mcp_server_module({"AIRS_MCP_MAX_BODY_BYTES": str(SMALL_BODY)})


def big_call() -> bytes:
    return json.dumps(tools_call({"prompt": "x" * (SMALL_BODY + 1)})).encode()


def test_oversized_body_is_413_on_both_transports(small_body_server: McpServerHandle) -> None:
    body = big_call()
    json_type = {"Content-Type": "application/json"}
    response = httpx.post(
        small_body_server.mcp_url, content=body, headers={**MCP_HEADERS, **json_type}
    )
    assert response.status_code == 413, response.text
    assert str(SMALL_BODY) in response.text
    with sse_stream(small_body_server) as path:
        url = f"{small_body_server.url}{path}"
        response = httpx.post(url, content=body, headers={**AUTH, **json_type})
        assert response.status_code == 413, response.text


def chunks(body: bytes) -> Iterator[bytes]:
    """The body in 8 KiB pieces: httpx sends it chunked, with no Content-Length."""
    for start in range(0, len(body), 8192):
        yield body[start : start + 8192]


def test_oversized_chunked_body_is_413_on_both_transports(
    small_body_server: McpServerHandle,
) -> None:
    """No Content-Length to refuse early: the server counts the body while it reads it."""
    body = big_call()
    json_type = {"Content-Type": "application/json"}
    response = httpx.post(
        small_body_server.mcp_url, content=chunks(body), headers={**MCP_HEADERS, **json_type}
    )
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert str(SMALL_BODY) in response.text
    with sse_stream(small_body_server) as path:
        url = f"{small_body_server.url}{path}"
        response = httpx.post(url, content=chunks(body), headers={**AUTH, **json_type})
        assert response.request.headers.get("transfer-encoding") == "chunked"
        assert response.status_code == 413, response.text


async def test_body_under_the_limit_passes(small_body_server: McpServerHandle) -> None:
    async with open_session("sse", small_body_server.url) as session:
        result = await session.call_tool("pan_inline_scan", {"prompt": "y" * (SMALL_BODY // 2)})
    assert not result.is_error, result.content


# --- length caps of tool arguments ----------------------------------------------------------------
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_too_long_argument_is_a_tool_error_naming_it(
    mcp_server: McpServerHandle, transport: str
) -> None:
    async with open_session(transport, mcp_server.url) as session:
        result = await session.call_tool(
            "pan_inline_scan", {"prompt": "hello", "app_name": "a" * 257}
        )
        assert result.is_error
        text = " ".join(getattr(block, "text", "") for block in result.content)
        assert "app_name" in text, text
        event = {"server_name": "s" * 257, "input": "{}"}
        result = await session.call_tool("pan_inline_scan", {"tool_event": event})
        assert result.is_error
        assert "server_name" in " ".join(getattr(b, "text", "") for b in result.content)
        result = await session.call_tool("pan_get_scan_results", {"scan_ids": ["1" * 101]})
        assert result.is_error


async def test_schemas_publish_every_string_cap(mcp_server: McpServerHandle) -> None:
    async with open_session("streamable_http", mcp_server.url) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}

    def uncapped(schema: object, path: str = "", capped: bool = False) -> list[str]:
        """Paths of string schemas without a maxLength (on them or on their ``anyOf``)."""
        found: list[str] = []
        if isinstance(schema, dict):
            capped = capped or "maxLength" in schema
            if schema.get("type") == "string" and not capped:
                found.append(path)
            for key, value in schema.items():
                found += uncapped(value, f"{path}/{key}", capped and key == "anyOf")
        elif isinstance(schema, list):
            for index, value in enumerate(schema):
                found += uncapped(value, f"{path}/{index}", capped)
        return found

    for name, tool in tools.items():
        assert uncapped(tool.input_schema) == [], name
    inline = tools["pan_inline_scan"].input_schema["properties"]

    def cap(prop: dict[str, object]) -> object:
        variants = [prop, *prop.get("anyOf", [])]  # type: ignore[misc]
        return next(v["maxLength"] for v in variants if "maxLength" in v)

    assert cap(inline["app_name"]) == 256
    assert cap(inline["tr_id"]) == 100
    assert cap(inline["context"]) == 2 * 1024 * 1024


# --- log hygiene ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def debug_server(start_mcp_server_module: Callable[..., McpServerHandle]) -> McpServerHandle:
    return start_mcp_server_module(args=("--log-level", "debug"))


def post_malformed(server: McpServerHandle, marker: str, wrong: str) -> str:
    """Malformed messages carrying ``marker`` to both transports; returns the SSE message path."""
    # pydantic quotes about 50 characters of a rejected input: short bodies show the marker
    malformed = [
        json.dumps({"prompt": marker}).encode(),  # JSON, not JSON-RPC
        b'{"prompt": "' + marker.encode(),  # not JSON
        json.dumps(tools_call({"prompt": marker}, jsonrpc="1.0")).encode(),  # invalid JSON-RPC
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": 5, "params": {"p": marker}}).encode(),
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"prompt": "'
        + marker.encode(),  # not JSON at all
    ]
    json_type = {"Content-Type": "application/json"}
    with sse_stream(server) as path:
        url = f"{server.url}{path}"
        for body in malformed:
            response = httpx.post(url, content=body, headers={**AUTH, **json_type})
            assert response.status_code == 400, response.text
            assert marker not in response.text
            response = httpx.post(
                server.mcp_url, content=body, headers={**MCP_HEADERS, **json_type}
            )
            assert response.status_code == 400, response.text
            assert marker not in response.text
        refused = httpx.post(
            url, content=malformed[0], headers={"Authorization": f"Bearer {wrong}"}
        )
        assert refused.status_code == 401
    return path


async def test_logs_carry_no_content_key_token_or_session_id(
    debug_server: McpServerHandle, airs_double: AirsDouble
) -> None:
    marker = f"MARKER{uuid.uuid4().hex[:12]}"
    wrong = f"wrong-token-{uuid.uuid4().hex}"
    path = post_malformed(debug_server, marker, wrong)
    # valid calls carrying the marker: a scan, an argument over its cap, and a scan AIRS refuses
    # with 401 (the SDK's own error text carries the request's headers, the key among them)
    async with open_session("sse", debug_server.url) as session:
        assert not (await session.call_tool("pan_inline_scan", {"prompt": marker})).is_error
        too_long = {"prompt": marker, "app_user": marker * 20}
        assert (await session.call_tool("pan_inline_scan", too_long)).is_error
        airs_double.set_fault(401, count=1)
        refused = await session.call_tool("pan_inline_scan", {"prompt": marker})
        assert refused.is_error
        assert "HTTP 401" in " ".join(getattr(block, "text", "") for block in refused.content)
    log = debug_server.log_text()
    assert '"level": "debug"' in log, "the server did not log at debug level"
    assert airs_double.api_key not in log
    assert marker not in log
    assert TEST_TOKEN not in log
    assert wrong not in log
    session = path.split("session_id=")[1]
    assert session not in log
    assert str(uuid.UUID(hex=session)) not in log
