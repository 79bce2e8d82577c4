"""Keeps N SSE sessions calling ``pan_inline_scan`` in a loop, reconnecting after any failure,
until told to stop; driven over stdin/stdout.

``python tests/e2e/clients/load_sessions.py URL N RATE`` (token in ``$AIRS_MCP_TOKEN``): opens N
sessions and prints ``{"ready": N}`` once each has answered one call. Every session then calls
again and again, pausing N / RATE seconds between calls, so all N together stay at or under RATE
calls per second: one client address above the ingress rate limit gets 429s, and the SDK's SSE
client never answers a call whose POST got one (its writer task ends; the call waits for its
timeout). A failed call is recorded with its error, the
session is dropped and a new one opened (the time from the failure to the new session's first
answer is a reconnect). ``stop`` on stdin ends the loops; then each session makes one last call
(reconnecting if needed, within ``FIRST_LAST_DEADLINE_S``) and the summary is printed as one
JSON line::

    {"calls": ..., "ok": ..., "failed": ..., "hung": ..., "errors": {"<error>": count},
     "reconnects": ..., "longest_reconnect_s": ..., "final": ["ok", ...]}

A call that takes longer than ``CALL_TIMEOUT_S`` (above the server's own bound) counts as hung
(and as failed). Every wait is bounded, connecting included (a stream to a pod that vanished
without a reset gets no answer at all), so the summary always comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from mcp.client.session import ClientSession
from mcp.client.sse import sse_client

# Above the server's worst case for one call (AIRS_MCP_TIMEOUT_SECONDS, 30 s, is not retried;
# refused connections are retried twice after 0.5 s and 1 s), so "hung" means the server broke
# its own bound, not that AIRS was slow.
CALL_TIMEOUT_S = 45
# Opening a session: the SSE GET, its endpoint event and initialize.
CONNECT_TIMEOUT_S = 20
# The server pings every 15 s, so a quiet stream this long is dead.
SSE_READ_TIMEOUT_S = 60
# How long the first and the last call of each session may take, reconnects included.
FIRST_LAST_DEADLINE_S = 120
RECONNECT_PAUSE_S = 0.2


@dataclass
class Tally:
    calls: int = 0
    ok: int = 0
    hung: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    reconnects: int = 0
    longest_reconnect_s: float = 0.0


def _error_text(exc: BaseException) -> str:
    """A short, stable description of a failure (group exceptions unwrapped)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:160]


class LoadSession:
    def __init__(
        self, url: str, headers: dict[str, str], index: int, tally: Tally, pause_s: float
    ) -> None:
        self.url, self.headers, self.index, self.tally = url, headers, index, tally
        self.pause_s = pause_s
        self.stack: AsyncExitStack | None = None
        self.session: ClientSession | None = None
        self.lost_at: float | None = None  # when a failure dropped the session

    async def connect(self) -> None:
        stack = AsyncExitStack()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                read, write = await stack.enter_async_context(
                    sse_client(self.url, headers=self.headers, sse_read_timeout=SSE_READ_TIMEOUT_S)
                )
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
        except BaseException:
            await self._close(stack)
            raise
        self.stack, self.session = stack, session

    async def _close(self, stack: AsyncExitStack | None) -> None:
        if stack is None:
            return
        # A dead stream may fail to close: it is gone either way.
        with contextlib.suppress(BaseException):
            async with asyncio.timeout(5):
                await stack.aclose()

    async def drop(self) -> None:
        """Forget a failed session; the next call reconnects."""
        if self.lost_at is None:
            self.lost_at = time.monotonic()
        stack, self.stack, self.session = self.stack, None, None
        await self._close(stack)

    async def call(self) -> str:
        """One call; "ok" or the error. Reconnects first when the session was dropped."""
        while self.session is None:
            try:
                await self.connect()
            except Exception as exc:  # a refused reconnect is retried
                self.tally.errors[f"connect: {_error_text(exc)}"] += 1
                await asyncio.sleep(RECONNECT_PAUSE_S)
        self.tally.calls += 1
        try:
            async with asyncio.timeout(CALL_TIMEOUT_S):
                answer = await self.session.call_tool(
                    "pan_inline_scan", {"prompt": f"load session {self.index}"}
                )
        except TimeoutError:
            self.tally.hung += 1
            self.tally.errors["hung"] += 1
            await self.drop()
            return "hung"
        except Exception as exc:  # the error is the observation
            text = _error_text(exc)
            self.tally.errors[text] += 1
            await self.drop()
            return text
        if answer.is_error:
            text = " ".join(getattr(b, "text", "") for b in answer.content)[:160]
            self.tally.errors[f"tool error: {text}"] += 1
            return text
        self.tally.ok += 1
        if self.lost_at is not None:  # the first answer since a failure: a reconnect
            self.tally.reconnects += 1
            waited = time.monotonic() - self.lost_at
            self.tally.longest_reconnect_s = max(self.tally.longest_reconnect_s, waited)
            self.lost_at = None
        return "ok"


async def _loop(session: LoadSession, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await session.call()
        await asyncio.sleep(session.pause_s)


async def _call_within_deadline(session: LoadSession) -> str:
    """The first and the last call of a session: reconnects included, bounded."""
    try:
        async with asyncio.timeout(FIRST_LAST_DEADLINE_S):
            return await session.call()
    except TimeoutError:
        return f"no answer within {FIRST_LAST_DEADLINE_S} s"


async def _read_stop(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == "stop":
            stop.set()
            return


async def main(url: str, count: int, rate: float) -> None:
    token = os.environ.get("AIRS_MCP_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    tally = Tally()
    sessions = [LoadSession(url, headers, i, tally, count / rate) for i in range(count)]
    first = await asyncio.gather(*(_call_within_deadline(s) for s in sessions))
    print(json.dumps({"ready": first.count("ok"), "first": first}), flush=True)
    stop = asyncio.Event()
    loops = [asyncio.create_task(_loop(s, stop)) for s in sessions]
    await _read_stop(stop)
    # A call in progress ends within CALL_TIMEOUT_S; a loop still reconnecting after that has
    # no call to count and is cancelled.
    _, reconnecting = await asyncio.wait(loops, timeout=CALL_TIMEOUT_S + CONNECT_TIMEOUT_S)
    for task in reconnecting:
        task.cancel()
    await asyncio.gather(*reconnecting, return_exceptions=True)
    final = await asyncio.gather(*(_call_within_deadline(s) for s in sessions))
    summary = {
        "calls": tally.calls,
        "ok": tally.ok,
        "failed": tally.calls - tally.ok,
        "hung": tally.hung,
        "errors": dict(tally.errors.most_common(12)),
        "reconnects": tally.reconnects,
        "longest_reconnect_s": round(tally.longest_reconnect_s, 2),
        "final": final,
    }
    print(json.dumps(summary), flush=True)
    # Closing sessions whose pods are gone may wait on dead streams: leave without it.
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
