"""Holds N SSE sessions open across a change of the replica set, driven over stdin/stdout.

``python tests/e2e/clients/held_sessions.py URL N`` (token in ``$AIRS_MCP_TOKEN``): opens N
sessions, scans once in each and prints ``{"scan_ids": [...]}`` (the test finds each session's
pod from the scan id in the pods' ``tool_call`` log lines); then waits for a line on stdin, scans
once more in each session and prints ``{"after": [...]}``: ``"ok"``, ``"timeout"`` or the error.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from contextlib import AsyncExitStack

from mcp.client.session import ClientSession
from mcp.client.sse import sse_client

CALL_TIMEOUT_S = 30


async def scan(session: ClientSession, text: str) -> str:
    answer = await session.call_tool("pan_inline_scan", {"prompt": text})
    if answer.is_error:
        raise RuntimeError(" ".join(getattr(b, "text", "") for b in answer.content))
    return str((answer.structured_content or {})["scan_id"])


async def second_scan(session: ClientSession, index: int) -> str:
    try:
        async with asyncio.timeout(CALL_TIMEOUT_S):
            await scan(session, f"held session {index}, after the change")
    except TimeoutError:
        return "timeout"
    except Exception as exc:  # a lost session's error is the observation
        return f"{type(exc).__name__}: {exc}"[:200]
    return "ok"


async def main(url: str, count: int) -> None:
    token = os.environ.get("AIRS_MCP_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with AsyncExitStack() as stack:
        sessions = []
        for _ in range(count):
            read, write = await stack.enter_async_context(sse_client(url, headers=headers))
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            sessions.append(session)
        ids = [await scan(s, f"held session {i}") for i, s in enumerate(sessions)]
        print(json.dumps({"scan_ids": ids}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        after = await asyncio.gather(*(second_scan(s, i) for i, s in enumerate(sessions)))
        print(json.dumps({"after": after}), flush=True)
        # Sessions whose pod is gone may not close cleanly: leave without waiting on them.
        os._exit(0)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
