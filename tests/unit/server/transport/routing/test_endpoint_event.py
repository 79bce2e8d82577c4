"""Rewriting the SDK's first SSE event (``endpoint``) on its way out."""

from __future__ import annotations

import asyncio

import pytest
from airs_mcp.transport.routing.endpoint_event import (
    MAX_EVENT_BYTES,
    FirstEventRewriter,
    add_query_parameter,
    rewrite_first_event,
)
from starlette.types import Message

SESSION = "0123456789abcdef0123456789abcdef"
EVENT = f"event: endpoint\r\ndata: /sse/messages/?session_id={SESSION}".encode()


def owner_of(session: str) -> str:
    return f"owner=T-{session[:4]}"


def test_appends_the_parameter_and_keeps_line_endings() -> None:
    rewritten = add_query_parameter(EVENT, owner_of)
    assert rewritten == (
        f"event: endpoint\r\ndata: /sse/messages/?session_id={SESSION}&owner=T-0123".encode()
    )


@pytest.mark.parametrize("sep", ["\n", "\r"])
def test_other_line_separators(sep: str) -> None:
    event = EVENT.replace(b"\r\n", sep.encode())
    assert add_query_parameter(event, owner_of).endswith(b"&owner=T-0123")
    assert sep.encode() in add_query_parameter(event, owner_of)


@pytest.mark.parametrize(
    "event",
    [
        b"event: message\r\ndata: /sse/messages/?session_id=" + SESSION.encode(),
        b"event: endpoint\r\ndata: /sse/messages/",
        b"event: endpoint\r\ndata: /sse/messages/?session_id=a&session_id=b",
        b"event: endpoint\r\ndata: a\r\ndata: b",
        b": ping",
    ],
)
def test_other_events_pass_unchanged(event: bytes) -> None:
    seen: list[str] = []
    assert add_query_parameter(event, lambda s: seen.append(s) or "owner=x") == event
    assert seen == []


def test_no_parameter_leaves_the_event() -> None:
    assert add_query_parameter(EVENT, lambda session: None) == EVENT


def test_rewriter_buffers_only_the_first_event() -> None:
    calls: list[bytes] = []

    def rewrite(event: bytes) -> bytes:
        calls.append(event)
        return event.upper()

    rewriter = FirstEventRewriter(rewrite)
    assert rewriter.feed(b"event: endpoint\r\nda") == b""  # incomplete: held back
    out = rewriter.feed(b"ta: /x\r\n\r\n: ping\r\n\r\n")
    assert out == b"EVENT: ENDPOINT\r\nDATA: /X\r\n\r\n: ping\r\n\r\n"
    assert rewriter.feed(b"event: endpoint\r\ndata: /y\r\n\r\n") == (
        b"event: endpoint\r\ndata: /y\r\n\r\n"
    )
    assert calls == [b"event: endpoint\r\ndata: /x"]


def test_rewriter_flushes_an_unfinished_first_event() -> None:
    rewriter = FirstEventRewriter(lambda event: b"never")
    assert rewriter.feed(b"event: endp") == b""
    assert rewriter.feed(b"oint", final=True) == b"event: endpoint"
    big = FirstEventRewriter(lambda event: b"never")
    chunk = b"x" * (MAX_EVENT_BYTES + 1)
    assert big.feed(chunk) == chunk
    assert big.done


def sent_through_rewriter(status: int, bodies: list[bytes]) -> list[Message]:
    """What ``rewrite_first_event`` passes on for a response with ``status`` and ``bodies``."""
    out: list[Message] = []

    async def send(message: Message) -> None:
        out.append(message)

    async def respond() -> None:
        wrapped = rewrite_first_event(send, lambda event: event.upper())
        await wrapped({"type": "http.response.start", "status": status, "headers": []})
        for index, body in enumerate(bodies):
            more = index < len(bodies) - 1
            await wrapped({"type": "http.response.body", "body": body, "more_body": more})

    asyncio.run(respond())
    return out


def test_send_wrapper_rewrites_the_first_event_of_a_stream() -> None:
    sent = sent_through_rewriter(200, [b"event: a\n", b"\n: ping\n\n", b"event: b\n\n"])
    assert [m.get("body") for m in sent[1:]] == [b"", b"EVENT: A\n\n: ping\n\n", b"event: b\n\n"]
    assert sent[0]["status"] == 200


def test_send_wrapper_leaves_other_responses_alone() -> None:
    sent = sent_through_rewriter(503, [b"full\n\n"])
    assert [m.get("body") for m in sent[1:]] == [b"full\n\n"]
