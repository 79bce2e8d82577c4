"""``airs_mcp.transport.sse.transport`` and ``airs_mcp.transport.sse.session`` on the wire: raw
SSE streams and POSTs against a real server (uvicorn), and the task an idle session costs in an
in-process one."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from airs_mcp.app import Runtime, create_app
from airs_mcp.cli import Server
from airs_mcp.config import Settings
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    INVALID_REQUEST,
    PROTOCOL_VERSION_META_KEY,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from mcp_types.version import LATEST_MODERN_VERSION

from harness.airs_double import AirsDouble
from harness.mcp_client import initialize_request, scan_call_request
from harness.mcp_server import TEST_TOKEN, McpServerHandle, server_env

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {TEST_TOKEN}"}
SYNC_SCAN_PATH = "/v1/scan/sync/request"
MODERN_META = {PROTOCOL_VERSION_META_KEY: LATEST_MODERN_VERSION, CLIENT_CAPABILITIES_META_KEY: {}}


async def until(condition: Callable[[], bool], what: str | Callable[[], str]) -> None:
    """Poll ``condition`` until it holds; after 10 s fail with ``what`` (or what it returns)."""
    deadline = asyncio.get_running_loop().time() + 10
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(what if isinstance(what, str) else what())
        await asyncio.sleep(0.02)


class RawSession:
    """One SSE stream read event by event, and POSTs to its endpoint."""

    def __init__(self, client: httpx.AsyncClient, lines: AsyncIterator[str], endpoint: str):
        self.client = client
        self.lines = lines
        self.endpoint = endpoint

    async def event(self, seconds: float = 10) -> tuple[str, str]:
        """The next event's name and data (comments, such as pings, skipped)."""
        name, data = "message", []
        async with asyncio.timeout(seconds):
            async for line in self.lines:
                if not line:
                    if data:
                        return name, "\n".join(data)
                    continue
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "event":
                    name = value
                elif field == "data":
                    data.append(value)
        raise EOFError("the stream ended")

    async def answer(self, seconds: float = 10) -> dict[str, Any]:
        name, data = await self.event(seconds)
        assert name == "message", (name, data)
        return json.loads(data)

    async def post(self, message: dict[str, Any]) -> httpx.Response:
        return await self.client.post(self.endpoint, json=message, headers=AUTH)

    async def initialize(self) -> None:
        assert (await self.post(initialize_request("raw-sse"))).status_code == 202
        assert "serverInfo" in (await self.answer())["result"]
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await self.post(initialized)).status_code == 202


@asynccontextmanager
async def raw_session(base_url: str) -> AsyncIterator[RawSession]:
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=10) as client,
        client.stream("GET", "/sse/", headers=AUTH) as stream,
    ):
        assert stream.status_code == 200
        session = RawSession(client, stream.aiter_lines(), "")
        name, endpoint = await session.event()
        assert name == "endpoint"
        session.endpoint = endpoint
        yield session


async def test_post_errors_match_the_sdk_transport(mcp_server: McpServerHandle) -> None:
    async with raw_session(mcp_server.url) as session:
        messages = f"{mcp_server.url}/sse/messages/"
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        client = session.client
        missing = await client.post(messages, json=ping, headers=AUTH)
        assert (missing.status_code, missing.text) == (400, "session_id is required")
        malformed = await client.post(f"{messages}?session_id=nope", json=ping, headers=AUTH)
        assert (malformed.status_code, malformed.text) == (400, "Invalid session ID")
        unknown = await client.post(f"{messages}?session_id={'0' * 32}", json=ping, headers=AUTH)
        assert (unknown.status_code, unknown.text) == (404, "Could not find session")
        not_json_rpc = await client.post(
            session.endpoint, content=b'{"jsonrpc": "2.0", "id": 1}', headers=AUTH
        )
        assert not_json_rpc.status_code == 400
        assert (await client.get(session.endpoint, headers=AUTH)).status_code == 405
        # the session still works after all of that
        assert (await session.post(ping)).status_code == 202
        assert await session.answer() == {"jsonrpc": "2.0", "id": 1, "result": {}}


async def test_a_cancelled_call_is_never_answered(
    mcp_server: McpServerHandle, airs_double: AirsDouble
) -> None:
    async with raw_session(mcp_server.url) as session:
        await session.initialize()
        airs_double.set_fault(latency_ms=1500, count=1, path=SYNC_SCAN_PATH)
        assert (await session.post(scan_call_request(7, "slow"))).status_code == 202
        await until(lambda: airs_double.stats()["in_flight"] == 1, "the call never reached AIRS")
        cancel = {
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": 7, "reason": "the user gave up"},
        }
        assert (await session.post(cancel)).status_code == 202
        assert (await session.post(scan_call_request(8, "fast"))).status_code == 202
        answers = [await session.answer()]
        # once AIRS has answered the slow call too, a ping is the next thing on the stream
        await until(lambda: airs_double.stats()["in_flight"] == 0, "AIRS never answered")
        ping = {"jsonrpc": "2.0", "id": 9, "method": "ping"}
        assert (await session.post(ping)).status_code == 202
        answers.append(await session.answer())
    assert [answer["id"] for answer in answers] == [8, 9]
    assert answers[0]["result"]["isError"] is False


async def test_a_first_request_with_the_2026_envelope_makes_a_modern_session(
    mcp_server: McpServerHandle,
) -> None:
    async with raw_session(mcp_server.url) as session:
        listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        await session.post({**listing, "params": {"_meta": MODERN_META}})
        tools = await session.answer()
        assert "pan_inline_scan" in {tool["name"] for tool in tools["result"]["tools"]}
        await session.post(initialize_request("late-handshake", 2))
        refused = await session.answer()
    assert refused["id"] == 2
    assert refused["error"]["code"] == UNSUPPORTED_PROTOCOL_VERSION


async def test_a_handshake_session_refuses_the_2026_envelope(mcp_server: McpServerHandle) -> None:
    async with raw_session(mcp_server.url) as session:
        await session.initialize()
        listing = {"jsonrpc": "2.0", "id": 5, "method": "tools/list"}
        await session.post({**listing, "params": {"_meta": MODERN_META}})
        refused = await session.answer()
        await session.post(listing)
        listed = await session.answer()
    assert refused["error"]["code"] == INVALID_REQUEST
    assert "pan_inline_scan" in {tool["name"] for tool in listed["result"]["tools"]}


# --- what an idle session costs, in a server running in this process ------------------------
IDLE_SESSIONS = 20


@asynccontextmanager
async def in_process_server(double: AirsDouble) -> AsyncIterator[str]:
    settings = Settings.from_env(server_env(double))
    runtime = Runtime(settings)
    config = uvicorn.Config(
        create_app(settings, runtime), log_config=None, log_level="warning", lifespan="on"
    )
    server = Server(config, runtime, None)
    listener = socket.create_server(("127.0.0.1", 0))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        async with asyncio.timeout(20):
            while not server.started:  # noqa: ASYNC110 - uvicorn sets a plain flag
                await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def test_an_idle_session_holds_one_task_its_stream(airs_double: AirsDouble) -> None:
    """The SDK's transport ran a reader loop, a writer and sse-starlette's tasks for every open
    session; here an initialised idle session is its stream's task alone, and it goes with
    the stream."""
    async with in_process_server(airs_double) as url:
        before = len(asyncio.all_tasks())
        async with AsyncExitStack() as sessions:
            for _ in range(IDLE_SESSIONS):
                session = await sessions.enter_async_context(raw_session(url))
                await session.initialize()
            # the POSTs' tasks end after their answers: wait for the count to come down to one
            # task a session (it stays above with more a session; below is checked after)
            await until(
                lambda: len(asyncio.all_tasks()) - before <= IDLE_SESSIONS,
                lambda: f"{len(asyncio.all_tasks()) - before} tasks for {IDLE_SESSIONS} sessions",
            )
            held = len(asyncio.all_tasks())
        await until(lambda: len(asyncio.all_tasks()) <= before, "the streams' tasks never ended")
        after = len(asyncio.all_tasks())
    assert held - before == IDLE_SESSIONS, f"{held - before} tasks for {IDLE_SESSIONS} sessions"
    assert after == before
