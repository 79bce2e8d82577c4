"""Real ``mcp`` SDK SSE sessions watched at the HTTP layer, to see what a server's shutdown does
to its clients' calls.

``WatchedSession`` opens a session with the SDK's own client (``sse_client`` and
``ClientSession``) over an ``httpx2`` transport that records what the SDK does not tell: the
status the server gave each ``tools/call`` POST, and how the session's stream ended (``CLEAN``:
the end of its chunked body; otherwise the error that cut it, e.g. a reset). ``call_in_a_loop``
calls ``pan_inline_scan`` again and again, each call with its own prompt, until one fails, as a
busy agent would. Each call then falls in one class (``verdict``):

- ``ok``: answered with a result;
- ``lost``: its POST was accepted (202) and no answer came: the server's fault;
- ``refused``: its POST got an error status, or no HTTP answer at all;
- ``unsent``: it failed before any POST (the client had already seen its stream end);
- ``hung``: no outcome within ``HANG_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client

from harness.mcp_server import TEST_TOKEN

__all__ = ["CLEAN", "HANG_S", "NO_ANSWER", "Call", "WatchedSession", "summary", "verdicts"]

CLEAN = "clean"
NO_ANSWER = -1  # the POST got no HTTP answer (connection refused or cut)
# Far above any call of these checks (the AIRS double slowed by a few seconds at most): a call
# without an outcome after this long is hung, not slow.
HANG_S = 60.0
TOOL = "pan_inline_scan"


@dataclass
class Call:
    prompt: str
    statuses: dict[str, int] = field(repr=False)  # its session's, by prompt
    outcome: str = ""  # "ok", "hung" or the error
    seconds: float = 0.0  # from the call to its outcome

    @property
    def posted(self) -> int | None:
        """Its POST's status; None: never posted. Read late: a call can fail (its client saw
        the stream end) before the answer to its POST has arrived."""
        return self.statuses.get(self.prompt)

    @property
    def verdict(self) -> str:
        if self.outcome in {"ok", "hung"}:
            return self.outcome
        if self.posted is None:
            return "unsent"
        return "lost" if self.posted == 202 else "refused"


def _prompt(content: bytes) -> str | None:
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        message = json.loads(content)
        if message.get("method") == "tools/call":
            prompt = message["params"]["arguments"]["prompt"]
            return prompt if isinstance(prompt, str) else None
    return None


class _WatchedBody(httpx2.AsyncByteStream):
    """The stream's body, passed through; records how it ended."""

    def __init__(self, inner: httpx2.AsyncByteStream, session: WatchedSession) -> None:
        self._inner = inner
        self._session = session

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except Exception as exc:
            self._session.stream_end = f"{type(exc).__name__}: {exc}"
            raise
        self._session.stream_end = CLEAN

    async def aclose(self) -> None:
        await self._inner.aclose()


class _WatchingTransport(httpx2.AsyncBaseTransport):
    def __init__(self, session: WatchedSession) -> None:
        self._inner = httpx2.AsyncHTTPTransport()
        self._session = session

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        prompt = _prompt(request.content) if request.method == "POST" else None
        try:
            response = await self._inner.handle_async_request(request)
        except httpx2.TransportError:
            if prompt is not None:
                self._session.posted[prompt] = NO_ANSWER
            raise
        if request.method == "GET":
            assert isinstance(response.stream, httpx2.AsyncByteStream)
            response.stream = _WatchedBody(response.stream, self._session)
        elif prompt is not None:
            self._session.posted[prompt] = response.status_code
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(eq=False)
class WatchedSession:
    """One SDK SSE session; ``async with`` opens and initialises it."""

    base_url: str
    name: str
    token: str = TEST_TOKEN
    posted: dict[str, int] = field(default_factory=dict)  # prompt -> the POST's status
    stream_end: str | None = None  # None while the stream is open
    session_id: str | None = None
    calls: list[Call] = field(default_factory=list)
    _session: ClientSession | None = None
    _stack: AsyncExitStack | None = None

    @property
    def message_url(self) -> str:
        return f"{self.base_url}/sse/messages/?session_id={self.session_id}"

    def _http_client(
        self,
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            headers=headers, timeout=timeout, auth=auth, transport=_WatchingTransport(self)
        )

    def _created(self, session_id: str) -> None:
        self.session_id = session_id

    async def __aenter__(self) -> WatchedSession:
        stack = AsyncExitStack()
        try:
            read, write = await stack.enter_async_context(
                sse_client(
                    f"{self.base_url}/sse/",
                    headers={"Authorization": f"Bearer {self.token}"},
                    httpx_client_factory=self._http_client,
                    on_session_created=self._created,
                )
            )
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._session = stack, session
        return self

    async def __aexit__(self, *exc: object) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:  # a stream that is gone may fail to close: it is gone either way
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await stack.aclose()

    async def call(self, prompt: str) -> Call:
        """One call of the tool; its outcome, also kept in ``calls``."""
        assert self._session is not None, "the session is not open"
        call = Call(prompt, self.posted)
        self.calls.append(call)
        started = time.monotonic()
        try:
            async with asyncio.timeout(HANG_S):
                result = await self._session.call_tool(TOOL, {"prompt": prompt})
            call.outcome = "ok" if not result.is_error else f"tool error: {result.content}"
        except TimeoutError:
            call.outcome = "hung"
        except Exception as exc:  # the error is the observation
            call.outcome = f"{type(exc).__name__}: {exc}"
        call.seconds = time.monotonic() - started
        return call

    async def call_in_a_loop(
        self, started: asyncio.Event | None = None, pause_s: float = 0.0
    ) -> None:
        """Call again ``pause_s`` after each answer (at once by default), until a call fails;
        ``started`` is set once the first call is answered."""
        count = 0
        while True:
            count += 1
            call = await self.call(f"{self.name} call {count}")
            if call.outcome != "ok":
                return
            if started is not None:
                started.set()
            if pause_s:
                await asyncio.sleep(pause_s)


def verdicts(sessions: list[WatchedSession]) -> Counter[str]:
    """How many calls of these sessions fell in each class (``Call.verdict``)."""
    return Counter(call.verdict for session in sessions for call in session.calls)


def summary(sessions: list[WatchedSession]) -> dict[str, Any]:
    """The classes of the calls, how the streams ended and the longest a failed call took to
    fail, for a report."""
    ends = Counter(
        CLEAN if s.stream_end == CLEAN else ("open" if s.stream_end is None else "cut")
        for s in sessions
    )
    failed = [c.seconds for s in sessions for c in s.calls if c.outcome != "ok"]
    return {
        "calls": dict(verdicts(sessions)),
        "streams": dict(ends),
        "longest_failed_call_s": round(max(failed, default=0.0), 3),
    }
