"""One SSE session whose pod is stopped in the middle of a tool call; driven over stdin/stdout.

``python tests/e2e/clients/killed_session.py URL`` (token in ``$AIRS_MCP_TOKEN``): opens a
session, scans once and prints ``{"scan_id": ...}`` (the test finds the session's pod by it);
waits for a line on stdin, starts a second (slow) scan and prints ``{"started": true}``; prints
``{"in_flight": "ok" | error}`` when that call ends; then calls again on the same session until
it fails (its stream has ended) and opens a new session, whose call must succeed:
``{"stream_ended": error, "reconnected": "ok" | error, "reconnect_s": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from contextlib import AsyncExitStack

from mcp.client.session import ClientSession
from mcp.client.sse import sse_client

CALL_TIMEOUT_S = 45  # above the server's own bound for one call


def _say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def _error(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:200]


async def _scan(session: ClientSession, text: str) -> str:
    async with asyncio.timeout(CALL_TIMEOUT_S):
        answer = await session.call_tool("pan_inline_scan", {"prompt": text})
    if answer.is_error:
        raise RuntimeError(" ".join(getattr(b, "text", "") for b in answer.content))
    return str((answer.structured_content or {})["scan_id"])


async def _open(stack: AsyncExitStack, url: str, headers: dict[str, str]) -> ClientSession:
    async with asyncio.timeout(CALL_TIMEOUT_S):  # a GET to a vanished pod gets no answer at all
        read, write = await stack.enter_async_context(sse_client(url, headers=headers))
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
    return session


async def main(url: str) -> None:
    token = os.environ.get("AIRS_MCP_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    stack = AsyncExitStack()
    session = await _open(stack, url, headers)
    _say(scan_id=await _scan(session, "killed session, first call"))
    await asyncio.to_thread(sys.stdin.readline)
    call = asyncio.create_task(_scan(session, "killed session, in flight"))
    _say(started=True)
    try:
        await call
        _say(in_flight="ok")
    except Exception as exc:  # the observation
        _say(in_flight=_error(exc))
    ended = ""
    lost_at = time.monotonic()
    for _ in range(60):  # until the old session fails: its pod is stopping, then gone
        try:
            await _scan(session, "killed session, old stream")
        except Exception as exc:  # the stream's end is what is waited for
            ended = _error(exc)
            break
        await asyncio.sleep(1)
    async with AsyncExitStack() as fresh:
        try:
            await _scan(await _open(fresh, url, headers), "killed session, reconnected")
            again = "ok"
        except Exception as exc:  # reported, the test asserts on it
            again = _error(exc)
    _say(stream_ended=ended, reconnected=again, reconnect_s=round(time.monotonic() - lost_at, 2))
    os._exit(0)  # the old session's stream is gone: do not wait on its clean-up


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
