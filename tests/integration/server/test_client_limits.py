"""Per-credential limits with a real server, the AIRS double and the real ``mcp`` client: a
credential driven past a limit gets a JSON-RPC error naming it (which limit, its value, when to
retry) while another credential, at the same time, is untouched; unauthenticated traffic spends
no credential's budget."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError

from harness.airs_double import AirsDouble
from harness.mcp_client import TRANSPORTS, initialize_request, open_session, scan_call_request
from harness.mcp_server import McpServerHandle

pytestmark = pytest.mark.integration

TOKEN_A = f"client-a-{secrets.token_hex(20)}"
TOKEN_B = f"client-b-{secrets.token_hex(20)}"
TWO_CLIENTS = {"AIRS_MCP_AUTH_TOKENS": f"{TOKEN_A},{TOKEN_B}"}
RATE = "AIRS_MCP_CLIENT_REQUESTS_PER_SECOND"
BURST = "AIRS_MCP_CLIENT_REQUEST_BURST"
IN_FLIGHT = "AIRS_MCP_CLIENT_AIRS_CALLS_IN_FLIGHT"
QUOTA = "AIRS_MCP_CLIENT_AIRS_REQUESTS_PER_MINUTE"
SYNC_PATH = "/v1/scan/sync/request"
MAX_TRIES = 50  # far past any burst these tests set
WAIT_S = 15


def headers(token: str) -> dict[str, str]:
    return {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {token}"}


async def scan(session: ClientSession, prompt: str) -> str:
    result = await session.call_tool("pan_inline_scan", {"prompt": prompt})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return str(result.structured_content["action"])


async def first_refusal(attempt: Callable[[], Awaitable[Any]]) -> MCPError:
    """Repeat ``attempt`` until the server refuses it; the refusal."""
    for _ in range(MAX_TRIES):
        try:
            await attempt()
        except MCPError as refused:
            return refused
    pytest.fail(f"no refusal in {MAX_TRIES} attempts")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_client_past_its_rate_is_refused_by_name_and_another_is_not(
    transport: str, start_mcp_server: Callable[..., McpServerHandle], airs_double: AirsDouble
) -> None:
    server = start_mcp_server({**TWO_CLIENTS, RATE: "1", BURST: "8"})
    async with (
        open_session(transport, server.url, token=TOKEN_A) as client_a,
        open_session(transport, server.url, token=TOKEN_B) as client_b,
    ):
        refusals: list[MCPError] = []
        verdicts: list[str] = []

        async def drive_a() -> None:
            refusals.append(await first_refusal(client_a.send_ping))

        async def use_b() -> None:
            verdicts.append(await scan(client_b, "a harmless question"))
            await client_b.send_ping()

        async with anyio.create_task_group() as group:
            group.start_soon(drive_a)
            group.start_soon(use_b)
        with pytest.raises(MCPError) as still_refused:
            await client_a.send_ping()  # A is still out of tokens, B is not
        verdicts.append(await scan(client_b, "another harmless question"))
    assert verdicts == ["allow", "allow"]
    for refused in (refusals[0], still_refused.value):
        message = refused.error.message
        assert "1 requests per second" in message, message
        assert "bursts of 8" in message
        assert RATE in message
        assert "retry after" in message
        assert refused.error.data["limit"] == RATE
        assert refused.error.data["retry_after_s"] > 0


def test_streamable_http_answers_429_with_retry_after_and_the_request_id(
    start_mcp_server: Callable[..., McpServerHandle], airs_double: AirsDouble
) -> None:
    server = start_mcp_server({**TWO_CLIENTS, RATE: "0.5", BURST: "3"})
    with httpx.Client(timeout=10) as http:
        for request_id in range(1, MAX_TRIES):
            ping = {"jsonrpc": "2.0", "id": request_id, "method": "ping"}
            answer = http.post(server.mcp_url, json=ping, headers=headers(TOKEN_A))
            if answer.status_code != 200:
                break
        assert answer.status_code == 429, answer.text
        assert int(answer.headers["retry-after"]) >= 1
        body = answer.json()
        assert body["id"] == request_id
        assert RATE in body["error"]["message"]
        assert "0.5 requests per second" in body["error"]["message"]
        other = http.post(server.mcp_url, json=initialize_request("b"), headers=headers(TOKEN_B))
        assert other.status_code == 200, other.text
    refusals = [
        line
        for line in server.log_lines()
        if line.get("msg") == "tool_call" and line.get("outcome") == "limited"
    ]
    assert refusals == []  # a refused message never reaches a tool


async def test_unauthenticated_flood_does_not_spend_a_client_budget(
    start_mcp_server: Callable[..., McpServerHandle], airs_double: AirsDouble
) -> None:
    # B's whole budget: 8 messages at once, 1 more per second. The flood is 50 times that.
    server = start_mcp_server({**TWO_CLIENTS, RATE: "1", BURST: "8"})
    flood_statuses: list[int] = []
    verdicts: list[str] = []
    flood_size = 400

    async def flood(worker: int) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            for n in range(worker, flood_size, 8):
                bad = {"Authorization": f"Bearer not-a-valid-token-{n}"} if n % 2 else {}
                answer = await http.post(
                    server.mcp_url, json=scan_call_request(n, "flood"), headers=bad
                )
                flood_statuses.append(answer.status_code)

    async def use_b() -> None:
        async with open_session("streamable_http", server.url, token=TOKEN_B) as client_b:
            for n in range(3):
                verdicts.append(await scan(client_b, f"question {n}"))

    async with anyio.create_task_group() as group:
        for worker in range(8):
            group.start_soon(flood, worker)
        group.start_soon(use_b)
    assert flood_statuses == [401] * flood_size
    assert verdicts == ["allow"] * 3
    assert airs_double.stats()["requests"] == {"sync": 3}


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_airs_quota_per_minute_is_enforced_and_named(
    transport: str, start_mcp_server: Callable[..., McpServerHandle], airs_double: AirsDouble
) -> None:
    limits = {QUOTA: "3", "AIRS_MCP_MAX_BATCH_ITEMS": "10"}  # 10 items: at most 2 requests
    server = start_mcp_server({**TWO_CLIENTS, **limits})
    async with (
        open_session(transport, server.url, token=TOKEN_A) as client_a,
        open_session(transport, server.url, token=TOKEN_B) as client_b,
    ):
        assert [await scan(client_a, f"question {n}") for n in range(3)] == ["allow"] * 3
        with pytest.raises(MCPError) as refused:
            await scan(client_a, "one too many")
        assert await scan(client_b, "B has its own quota") == "allow"
        batch = [{"prompt": f"item {n}"} for n in range(10)]  # 2 requests: A has none left
        with pytest.raises(MCPError) as batch_refused:
            await client_a.call_tool("pan_batch_scan", {"items": batch})
    message = refused.value.error.message
    assert "3 AIRS requests per minute" in message, message
    assert QUOTA in message
    assert "this call needs 1, 0 are left; retry after" in message
    assert refused.value.error.data == {
        "limit": QUOTA,
        "value": 3,
        "retry_after_s": pytest.approx(60, abs=30),
    }
    assert "this call needs 2, 0 are left" in batch_refused.value.error.message
    # Refused calls reached no AIRS endpoint: A's 3 and B's 1.
    assert airs_double.stats()["requests"] == {"sync": 4}
    limited = [call for call in server.tool_calls() if call["outcome"] == "limited"]
    assert [(call["tool"], call["limit"]) for call in limited] == [
        ("pan_inline_scan", QUOTA),
        ("pan_batch_scan", QUOTA),
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_airs_calls_in_flight_are_capped_per_client(
    transport: str, start_mcp_server: Callable[..., McpServerHandle], airs_double: AirsDouble
) -> None:
    server = start_mcp_server({**TWO_CLIENTS, IN_FLIGHT: "1"})
    # Both calls that reach AIRS are held there long enough for the others to be made.
    airs_double.set_fault(latency_ms=8000, count=2, path=SYNC_PATH)
    verdicts: list[str] = []
    async with (
        open_session(transport, server.url, token=TOKEN_A) as client_a,
        open_session(transport, server.url, token=TOKEN_B) as client_b,
        anyio.create_task_group() as group,
    ):

        async def slow(session: ClientSession, prompt: str) -> None:
            verdicts.append(await scan(session, prompt))

        group.start_soon(slow, client_a, "A's slow call")
        await airs_in_flight(airs_double, 1)
        with pytest.raises(MCPError) as refused:
            await scan(client_a, "A's second call")
        group.start_soon(slow, client_b, "B's call, at the same time")
        await airs_in_flight(airs_double, 2)  # B's call reached AIRS: not refused
    assert verdicts == ["allow", "allow"]
    message = refused.value.error.message
    assert "Too many AIRS calls in flight" in message, message
    assert IN_FLIGHT in message
    assert "the limit is 1 at once" in message
    assert "retry when" in message
    assert airs_double.stats()["requests"] == {"sync": 2}
    limited = [call for call in server.tool_calls() if call["outcome"] == "limited"]
    assert [call["limit"] for call in limited] == [IN_FLIGHT]


async def airs_in_flight(double: AirsDouble, count: int) -> None:
    """Wait until ``count`` requests are held at the double."""
    with anyio.fail_after(WAIT_S):
        stats = double.stats  # another process, polled over HTTP: no event to wait on
        while (await anyio.to_thread.run_sync(stats))["in_flight"] < count:  # noqa: ASYNC110
            await anyio.sleep(0.05)
