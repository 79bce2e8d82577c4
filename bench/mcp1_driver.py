"""A real ``mcp`` 1.x client for the output-schema figure; run by the 1.x venv's Python.

mcp 1.x and 2.x cannot share one environment, so ``bench.mcp1_client`` makes a venv with 1.x
and starts this script in it (``python -I``: nothing of this checkout is imported). It opens two
SSE sessions to ``--url``: the stock ``ClientSession``, which checks every result with
``jsonschema.validate`` against the listed output schema, and one with that check skipped. Then
it answers one JSON line on stdout for each JSON line on stdin:

- ``{"op": "call", "session": "validating" | "no_validation", "tool": NAME, "arguments": {...}}``
  -> ``{"ms": <call_tool time>, "is_error": bool, "structured": {...}}``
- ``{"op": "tools"}`` -> ``{"tools": {NAME: outputSchema}}``
- ``{"op": "quit"}`` -> ``{"bye": true}``, then it exits at once (an SSE close can hang)

Its first line is ``{"ready": true, "mcp": VERSION}``; a failed operation answers
``{"error": "..."}``. The bearer token comes in ``MCP1_TOKEN``. Loopback only: the bench gives a
``127.0.0.1`` URL, and every call is bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
import time
from contextlib import AsyncExitStack
from typing import Any

import anyio
import anyio.to_thread
from mcp import ClientSession
from mcp.client.sse import sse_client


class NoValidationSession(ClientSession):
    """The 1.x client with its per-call output-schema check skipped."""

    async def _validate_tool_result(self, name: str, result: Any) -> None:
        return None


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def answer(message: dict[str, Any], sessions: dict[str, ClientSession]) -> dict[str, Any]:
    if message["op"] == "call":
        session = sessions[message["session"]]
        begin = time.perf_counter()
        result = await session.call_tool(message["tool"], message.get("arguments") or {})
        elapsed = (time.perf_counter() - begin) * 1000
        return {"ms": elapsed, "is_error": result.isError, "structured": result.structuredContent}
    if message["op"] == "tools":
        listed = await sessions["validating"].list_tools()
        return {"tools": {tool.name: tool.outputSchema for tool in listed.tools}}
    raise ValueError(f"unknown op {message['op']!r}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the server's base URL (http://127.0.0.1:…)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per operation")
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {os.environ['MCP1_TOKEN']}"}
    async with AsyncExitStack() as stack:
        sessions: dict[str, ClientSession] = {}
        for name, cls in (("validating", ClientSession), ("no_validation", NoValidationSession)):
            read, write = await stack.enter_async_context(
                sse_client(f"{args.url.rstrip('/')}/sse/", headers=headers, timeout=10)
            )
            session = await stack.enter_async_context(cls(read, write))
            with anyio.fail_after(args.timeout):
                await session.initialize()
                await session.list_tools()  # fills the output-schema cache, as a first call would
            sessions[name] = session
        say({"ready": True, "mcp": importlib.metadata.version("mcp")})
        while line := await anyio.to_thread.run_sync(sys.stdin.readline):
            message = json.loads(line)
            if message["op"] == "quit":
                say({"bye": True})
                os._exit(0)
            try:
                with anyio.fail_after(args.timeout):
                    reply = await answer(message, sessions)
                say(reply)
            except Exception as exc:  # reported to the bench, which fails the figure
                say({"error": f"{type(exc).__name__}: {exc}"})
    os._exit(0)


if __name__ == "__main__":
    anyio.run(main)
