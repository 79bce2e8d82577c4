"""``airs_mcp.transport.sse.session``: one session's dispatch over the SDK's real low-level
``Server``, with the stream replaced by the list of messages written to it."""

from __future__ import annotations

from typing import Any

import pytest
from airs_mcp.transport.sse.session import SseSession, handled_before_accepting
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.shared.message import ServerMessageMetadata
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    JSONRPCNotification,
    JSONRPCRequest,
    RequestParams,
    jsonrpc_message_adapter,
)

from harness.mcp_client import initialize_request

SECRET = "the-key-is-0123456789"


async def explode(ctx: ServerRequestContext[Any, Any], params: RequestParams) -> dict[str, Any]:
    raise RuntimeError(f"lost the connection with {SECRET}")


async def count_up(ctx: ServerRequestContext[Any, Any], params: RequestParams) -> dict[str, Any]:
    for step in (1, 2):
        await ctx.session.report_progress(step, 2, f"step {step}")
    return {"counted": 2}


class Wire:
    """What a session writes to its stream."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def write(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


@pytest.fixture
def server() -> Server[Any]:
    made: Server[Any] = Server("sse-session-test", version="1")
    made.add_request_handler("test/explode", RequestParams, explode)
    made.add_request_handler("test/count", RequestParams, count_up)
    return made


async def send(session: SseSession, raw: dict[str, Any]) -> None:
    message = jsonrpc_message_adapter.validate_python(raw, by_name=False)
    await session.handle(message, ServerMessageMetadata(can_send_request=False))


async def initialised(server: Server[Any], wire: Wire) -> SseSession:
    session = SseSession(server, {}, wire.write, "0" * 32)
    await send(session, initialize_request("unit"))
    await send(session, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert wire.messages.pop()["result"]["serverInfo"]["name"] == "sse-session-test"
    return session


async def test_an_unexpected_error_is_an_internal_error_without_its_text(
    server: Server[Any],
) -> None:
    wire = Wire()
    session = await initialised(server, wire)
    await send(session, {"jsonrpc": "2.0", "id": 3, "method": "test/explode"})
    [answer] = wire.messages
    assert answer["id"] == 3
    assert answer["error"] == {"code": INTERNAL_ERROR, "message": "Internal server error"}
    assert SECRET not in repr(answer)


async def test_progress_goes_to_the_stream_before_the_answer(server: Server[Any]) -> None:
    wire = Wire()
    session = await initialised(server, wire)
    params = {"_meta": {"progressToken": "p-1"}}
    await send(session, {"jsonrpc": "2.0", "id": 4, "method": "test/count", "params": params})
    progress = [m["params"] for m in wire.messages if m.get("method") == "notifications/progress"]
    assert progress == [
        {"progressToken": "p-1", "progress": 1, "total": 2, "message": "step 1"},
        {"progressToken": "p-1", "progress": 2, "total": 2, "message": "step 2"},
    ]
    assert wire.messages[-1] == {"jsonrpc": "2.0", "id": 4, "result": {"counted": 2}}


async def test_requests_before_the_handshake_and_unknown_methods_are_refused(
    server: Server[Any],
) -> None:
    wire = Wire()
    session = SseSession(server, {}, wire.write, "0" * 32)
    await send(session, {"jsonrpc": "2.0", "id": 1, "method": "test/count"})
    await send(session, {"jsonrpc": "2.0", "id": 2, "method": "no/such/method"})
    codes = {m["id"]: m["error"]["code"] for m in wire.messages}
    assert codes == {1: INVALID_PARAMS, 2: METHOD_NOT_FOUND}


def test_only_slow_requests_are_accepted_before_they_are_handled() -> None:
    call = JSONRPCRequest(jsonrpc="2.0", id=1, method="tools/call", params={"name": "x"})
    handshake = JSONRPCRequest(jsonrpc="2.0", id=2, method="initialize", params={})
    note = JSONRPCNotification(jsonrpc="2.0", method="notifications/initialized")
    assert not handled_before_accepting(call)
    assert handled_before_accepting(handshake)
    assert handled_before_accepting(note)
