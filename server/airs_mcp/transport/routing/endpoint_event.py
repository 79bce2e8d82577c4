"""Rewrites the ``endpoint`` event, the first event of the SDK's SSE stream.

The SDK writes ``event: endpoint`` / ``data: /sse/messages/?session_id=<hex>`` itself and offers
no hook to change the URL, so the stream's first event is rewritten on its way out: the session
id is read from it and a query parameter is appended. Only that first event is buffered and
touched; every later byte passes through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from starlette.types import Message, Send

__all__ = ["FirstEventRewriter", "add_query_parameter", "rewrite_first_event"]

# An SSE event ends with an empty line; the line separator is \r\n, \n or \r.
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_LINE = re.compile(rb"\r\n|\n|\r")
# A first event larger than this is not the SDK's endpoint event: stop buffering.
MAX_EVENT_BYTES = 8192


def add_query_parameter(event: bytes, extra: Callable[[str], str | None]) -> bytes:
    """``event`` with ``&`` + ``extra(session_id)`` appended to its URL, if it is an endpoint
    event naming exactly one ``session_id`` and ``extra`` returns a parameter; else unchanged."""
    lines = _LINE.split(event)
    separator = _LINE.search(event)
    fields = [line.partition(b":") for line in lines]
    if not any(name == b"event" and value.strip() == b"endpoint" for name, _, value in fields):
        return event
    data_lines = [index for index, (name, _, _) in enumerate(fields) if name == b"data"]
    if len(data_lines) != 1 or separator is None:
        return event
    index = data_lines[0]
    value = fields[index][2]
    url = (value[1:] if value.startswith(b" ") else value).decode("utf-8", "replace")
    sessions = parse_qs(urlsplit(url).query).get("session_id", [])
    if len(sessions) != 1:
        return event
    parameter = extra(sessions[0])
    if parameter is None:
        return event
    joiner = "&" if "?" in url else "?"
    lines[index] = b"data: " + (url + joiner + parameter).encode("utf-8")
    return separator.group().join(lines)


class FirstEventRewriter:
    """Feeds a stream's body chunks through; rewrites the first complete event once."""

    def __init__(self, rewrite: Callable[[bytes], bytes]) -> None:
        self.rewrite = rewrite
        self.buffer = b""
        self.done = False

    def feed(self, chunk: bytes, *, final: bool = False) -> bytes:
        """The bytes to send now for ``chunk`` (``final``: the stream ends with it)."""
        if self.done:
            return chunk
        self.buffer += chunk
        end = _EVENT_END.search(self.buffer)
        if end is None:
            if not final and len(self.buffer) <= MAX_EVENT_BYTES:
                return b""  # the first event is not complete yet
            self.done = True
            return self.buffer
        self.done = True
        event, rest = self.buffer[: end.start()], self.buffer[end.start() :]
        self.buffer = b""
        return self.rewrite(event) + rest


def rewrite_first_event(send: Send, rewrite: Callable[[bytes], bytes]) -> Send:
    """``send`` with the first event of a 200 response's body passed through ``rewrite``.

    Any other response (a refusal, an error) goes out untouched, as does every later byte.
    """
    rewriter = FirstEventRewriter(rewrite)
    streaming = False

    async def send_rewritten(message: Message) -> None:
        nonlocal streaming
        if message["type"] == "http.response.start":
            streaming = message["status"] == 200
        elif message["type"] == "http.response.body" and streaming and not rewriter.done:
            more = message.get("more_body", False)
            message = {**message, "body": rewriter.feed(message.get("body", b""), final=not more)}
        await send(message)

    return send_rewritten
