"""Property-based fuzzing (hypothesis) of one real ``airs-mcp-server`` over Streamable HTTP.

The four tools' arguments: wrong types, empty values, strings past their caps (2 MiB texts, 100
character ids), 10,000-item batches, invalid and duplicate UUIDs, unicode edge cases (lone
surrogates, NUL, RTL marks, combining characters, astral planes), unknown arguments. Each case
must get a clear answer: a valid result (structured content matching the tool's output schema)
or a tool error / JSON-RPC error whose text carries no traceback or exception internals. Then
the protocol around the tools: random JSON bodies, non-JSON bodies, wrong content types,
truncated bodies, unknown SSE session ids: each a 4xx, never a 5xx.

The server's log must show no traceback and no ``internal_error`` outcome, and the server must
still answer afterwards. A fixed profile (derandomized, no example database) keeps the run
deterministic and under a couple of minutes; the number of cases tried is printed at the end
(``-s``) and quoted in docs/reliability.md.
"""

from __future__ import annotations

import json
import socket
import string
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.mcp_server import TEST_TOKEN, McpServerHandle

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    **AUTH,
}
MIB = 1024 * 1024
TOOLS = ("pan_inline_scan", "pan_batch_scan", "pan_get_scan_results", "pan_get_scan_reports")
# What no answer may contain: traces and exception internals of the server or the SDKs.
LEAKS = (
    "Traceback",
    'File "',
    "Exception",
    "KeyError",
    "TypeError",
    "AttributeError",
    "ValueError",
    "RuntimeError",
    "AssertionError",
    "IndexError",
    "UnicodeEncodeError",
    "aisecurity",
    "aiohttp",
)
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)
TRIED: Counter[str] = Counter()


# --- strategies ---------------------------------------------------------------------------------
EDGE_CHARS = ["\x00", "\ud800", "\udfff", "\u202e", "\u200f", "\u2066", "\ufeff", "\u0301"]
EDGE_CHARS += ["\U0001f600", "\U000e0001", "\uffff", "\n", "\r", '"', "\\", "<script>", "%s"]
edge_text = st.lists(st.one_of(st.sampled_from(EDGE_CHARS), st.text(max_size=8)), max_size=12).map(
    "".join
)
# huge strings are built by repetition (hypothesis would take ages to draw them)
HUGE = [100, 101, 257, 2 * MIB - 1, 2 * MIB + 1]
huge_text = st.builds(
    lambda size, char: (char * size)[:size], st.sampled_from(HUGE), st.sampled_from(["x", "é"])
)
text = st.one_of(st.text(max_size=40), edge_text, huge_text, st.just(""))
wrong = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
value = st.one_of(text, text, text, wrong)  # mostly the right type, to get past the schema
INLINE_FIELDS = [
    "prompt",
    "response",
    "code_prompt",
    "code_response",
    "context",
    "tr_id",
    "session_id",
    "app_name",
    "app_user",
    "ai_model",
]
EVENT_FIELDS = ["server_name", "tool_invoked", "input", "output", "ecosystem", "method"]
tool_event = st.one_of(
    st.dictionaries(st.sampled_from(EVENT_FIELDS), value, max_size=6),
    wrong,
    edge_text,
)
known_item = st.fixed_dictionaries(
    {}, optional={**{name: value for name in INLINE_FIELDS}, "tool_event": tool_event}
)
scan_item = st.one_of(
    known_item,
    known_item,
    st.fixed_dictionaries({"prompt": st.text(max_size=30)}),  # plainly valid
    st.dictionaries(st.text(max_size=6), value, max_size=3),  # unknown keys
    wrong,
)
# batches: sizes around the 1,000 limit and far past it, built by repetition
big_batch = st.builds(
    lambda count, item: [item] * count,
    st.sampled_from([1001, 10_000]),
    st.sampled_from([{"prompt": "p"}, {}, {"prompt": 5}]),
)
items = st.one_of(st.lists(scan_item, max_size=7), big_batch, wrong, edge_text)
a_uuid = st.uuids().map(str)
a_tag = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=22, max_size=22
)
shaped_id = st.builds(lambda u, tag: f"{u}.{tag}", a_uuid, a_tag)  # well-formed, never issued
scan_id = st.one_of(
    shaped_id,
    shaped_id.map(lambda i: i[:-1]),
    shaped_id.map(lambda i: i + "A"),
    a_uuid,
    a_uuid.map(str.upper),
    a_uuid.map(lambda u: u.replace("-", "")),
    a_uuid.map(lambda u: "R" + u),
    a_uuid.map(lambda u: u[:-1] + "g"),
    a_uuid.map(lambda u: u + "\x00"),
    st.just("00000000-0000-0000-0000-000000000000"),
    text,
)
id_list = st.one_of(
    st.lists(scan_id, max_size=8),
    st.lists(shaped_id, min_size=1, max_size=12),  # valid: not found (never issued)
    st.lists(scan_id, min_size=1, max_size=3).map(lambda ids: ids * 3),  # duplicates
    st.builds(lambda count: [str(uuid.UUID(int=i)) for i in range(count)], st.just(10_000)),
    wrong,
    text,
)
report_list = st.one_of(id_list, st.lists(shaped_id.map(lambda i: "R" + i), max_size=6))


def arguments(known: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Dictionaries of known and unknown argument names, sometimes not a dictionary at all."""
    keys = st.one_of(st.sampled_from(sorted(known)), st.text(max_size=6))
    named = st.fixed_dictionaries({}, optional=known)
    extra = st.dictionaries(keys, value, max_size=2)
    return st.one_of(
        named,
        named,
        named,
        st.builds(lambda a, b: {**b, **a}, named, extra),
        wrong,
    )


TOOL_ARGUMENTS = {
    "pan_inline_scan": arguments(
        {**{name: value for name in INLINE_FIELDS}, "tool_event": tool_event}
    ),
    "pan_batch_scan": arguments({"items": items}),
    "pan_get_scan_results": arguments({"scan_ids": id_list}),
    "pan_get_scan_reports": arguments({"report_ids": report_list}),
}


# --- the server and the checks ------------------------------------------------------------------
WARM_UP = {
    "pan_inline_scan": {"prompt": "warm up"},
    "pan_batch_scan": {"items": [{"prompt": "warm up"}]},
    "pan_get_scan_results": {"scan_ids": [f"{uuid.uuid4()}.{'A' * 22}"]},
    "pan_get_scan_reports": {"report_ids": [f"R{uuid.uuid4()}.{'A' * 22}"]},
}
MEMORY_GROWTH_LIMIT_KB = 32 * 1024  # measured: +12.8 MB after the 1,206 cases


def rss_kb(server: McpServerHandle) -> int:
    status = Path(f"/proc/{server.process.proc.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


@pytest.fixture(scope="module")
def fuzz_server(
    start_mcp_server_module: Callable[..., McpServerHandle],
) -> Iterator[McpServerHandle]:
    server = start_mcp_server_module({"AIRS_MCP_TIMEOUT_SECONDS": "10"})
    for name, args in WARM_UP.items():  # every code path loaded before the baseline
        assert post(server, call(name, args)).status_code == 200
    baseline_kb = rss_kb(server)
    yield server
    total = sum(TRIED.values())
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(TRIED.items()))
    grown_kb = rss_kb(server) - baseline_kb
    print(f"\nfuzz cases tried: {total} ({kinds}); server RSS {baseline_kb} kB + {grown_kb} kB")
    # Memory back near its baseline: what the largest cases (10,000-item batches, 2 MiB texts)
    # allocated was freed; CPython keeps some arenas, so a bound, not equality.
    assert grown_kb <= MEMORY_GROWTH_LIMIT_KB, (baseline_kb, grown_kb)
    lines = server.log_lines()
    assert not [line for line in lines if line.get("outcome") == "internal_error"]
    assert not [line for line in lines if "traceback" in line or "exc_type" in line]
    assert not [line for line in lines if line.get("level") in ("error", "critical")]
    assert "Traceback" not in server.log_text()


@pytest.fixture(scope="module")
def schemas(fuzz_server: McpServerHandle) -> dict[str, dict[str, Any]]:
    """Each tool's output schema, from tools/list."""
    listed = post(fuzz_server, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    tools = listed.json()["result"]["tools"]
    return {tool["name"]: tool["outputSchema"] for tool in tools}


def post(server: McpServerHandle, message: Any, *, ascii_only: bool = True) -> httpx.Response:
    """POST ``message`` as JSON: \\u escapes for everything non-ASCII (lone surrogates become
    valid JSON escapes), or raw UTF-8 (a lone surrogate is then an invalid byte sequence)."""
    text = json.dumps(message, ensure_ascii=ascii_only)
    body = text.encode("utf-8", errors="surrogatepass")
    return httpx.post(server.mcp_url, content=body, headers=MCP_HEADERS, timeout=60)


def assert_clean(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, (leak, text[:2000])


def check_tool_answer(response: httpx.Response, schema: dict[str, Any]) -> str:
    """A valid result or a clear error; returns which."""
    assert response.status_code in (200, 400, 413), response.text[:2000]
    if response.status_code == 413:  # escaped, a 2 MiB text can pass the 4 MiB body limit
        assert response.text.startswith("Request body too large: the limit is ")
        return "body_too_large"
    answer = response.json()
    if response.status_code == 400:  # e.g. a lone surrogate: not valid JSON-RPC text
        assert answer["error"]["code"] == -32700, answer
        return "parse_error"
    if "error" in answer:
        assert_clean(answer["error"]["message"])
        return "jsonrpc_error"
    result = answer["result"]
    texts = " ".join(block.get("text", "") for block in result["content"])
    if result["isError"]:
        assert texts.startswith("Error executing tool "), texts[:2000]
        assert_clean(texts)
        return "tool_error"
    jsonschema.validate(result["structuredContent"], schema)
    assert_clean(texts)
    return "result"


def call(name: str, args: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": args},
    }


# --- the tools ----------------------------------------------------------------------------------
@pytest.mark.parametrize("tool", TOOLS)
def test_tool_arguments(
    tool: str, fuzz_server: McpServerHandle, schemas: dict[str, dict[str, Any]]
) -> None:
    @FUZZ
    @given(args=TOOL_ARGUMENTS[tool], ascii_only=st.booleans())
    def one(args: Any, ascii_only: bool) -> None:
        response = post(fuzz_server, call(tool, args), ascii_only=ascii_only)
        kind = check_tool_answer(response, schemas[tool])
        TRIED[f"{tool}:{kind}"] += 1

    one()
    # and it still serves a plain call
    answer = post(fuzz_server, call("pan_inline_scan", {"prompt": "still there?"}))
    assert answer.json()["result"]["isError"] is False


# --- the protocol around them -------------------------------------------------------------------
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), edge_text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
jsonrpc_like = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.one_of(st.just("2.0"), json_value),
        "id": st.one_of(st.integers(), st.text(max_size=5), json_value),
        "method": st.one_of(
            st.sampled_from(["tools/call", "tools/list", "initialize", "ping", "nope"]), json_value
        ),
        "params": json_value,
        "result": json_value,
        "error": json_value,
    },
)
body = st.one_of(
    jsonrpc_like.map(lambda m: json.dumps(m).encode()),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    jsonrpc_like.map(lambda m: json.dumps(m).encode()).flatmap(
        lambda raw: st.integers(0, max(len(raw) - 1, 0)).map(lambda cut: raw[:cut])
    ),  # truncated JSON
)
content_type = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
        "application/json; charset=latin-1",
    ]
)


@FUZZ
@given(raw=body, ctype=content_type)
def test_streamable_http_bodies(raw: bytes, ctype: str, fuzz_server: McpServerHandle) -> None:
    headers = {**MCP_HEADERS, "Content-Type": ctype} if ctype else dict(MCP_HEADERS)
    if not ctype:
        del headers["Content-Type"]
    response = httpx.post(fuzz_server.mcp_url, content=raw, headers=headers, timeout=30)
    assert response.status_code < 500, (response.status_code, response.text[:500])
    assert_clean(response.text)
    TRIED[f"http_body:{response.status_code}"] += 1


session_query = st.one_of(
    st.uuids().map(lambda u: f"session_id={u.hex}"),  # well-formed, unknown
    st.uuids().map(lambda u: f"session_id={u}"),
    st.text(max_size=40).map(lambda s: "session_id=" + quote(s, safe="")),
    st.text(alphabet=string.hexdigits, max_size=40).map(lambda s: "session_id=" + s),
    st.just(""),
    st.just("session_id="),
    st.uuids().map(lambda u: f"session_id={u.hex}&session_id={u.hex}"),
)


@FUZZ
@given(query=session_query, raw=body, ctype=content_type)
def test_sse_messages_to_unknown_sessions(
    query: str, raw: bytes, ctype: str, fuzz_server: McpServerHandle
) -> None:
    headers = {**AUTH, "Content-Type": ctype} if ctype else dict(AUTH)
    url = f"{fuzz_server.url}/sse/messages/?{query}"
    response = httpx.post(url, content=raw, headers=headers, timeout=30)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    assert_clean(response.text)
    TRIED[f"sse_message:{response.status_code}"] += 1


@pytest.mark.parametrize("declared_extra", [1, 1000, 4 * MIB])
def test_truncated_bodies(declared_extra: int, fuzz_server: McpServerHandle) -> None:
    """A client that declares more than it sends, then hangs up: the server just moves on."""
    sent = json.dumps(call("pan_inline_scan", {"prompt": "cut"})).encode()
    host, port = "127.0.0.1", fuzz_server.port
    for path in ("/mcp", "/sse/messages/?session_id=" + uuid.uuid4().hex):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {TEST_TOKEN}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json, text/event-stream\r\n"
            f"Content-Length: {len(sent) + declared_extra}\r\n\r\n"
        ).encode()
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(head + sent[: len(sent) // 2])
            sock.shutdown(socket.SHUT_WR)
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        # an answer (413 when the declared size is over the limit) or none at all
        assert not reply or reply.startswith((b"HTTP/1.1 4", b"HTTP/1.1 2")), reply[:200]
        TRIED["truncated"] += 1
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert post(fuzz_server, ping).status_code == 200
