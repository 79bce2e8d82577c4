"""Throughput at many concurrent sessions, driven from several client processes.

At 100 or 500 sessions one client process (the ``mcp`` client costs about as much CPU per call
as the server) would be the bottleneck, so ``drive()`` splits the sessions over ``procs``
worker processes (``python -m bench.many_sessions --worker ...``). Each worker opens its
sessions (or, for ``direct``, one shared SDK ``Scanner`` with that many concurrent tasks),
prints ``ready``, waits for ``go`` on stdin, calls ``pan_inline_scan`` in a loop on every
session for the window and prints ``{"calls": n, "errors": e}``. The driver starts the windows
of all workers together and sums the calls. Used by ``bench.compare``; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from contextlib import AsyncExitStack
from types import SimpleNamespace
from typing import Any

from bench.clients import PROMPT, Direct, NoValidationSession
from bench.server_code import ROOT
from harness.mcp_client import open_session

OPEN_AT_ONCE = 16  # sessions opened concurrently per worker (the opening is not timed)


def cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` in clock ticks (``/proc/PID/stat`` fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


async def _open(stack: AsyncExitStack, args: argparse.Namespace) -> list[Any]:
    if args.mode == "direct":
        direct = Direct(SimpleNamespace(ca=args.ca, url=args.url), stack)  # type: ignore[arg-type]
        return [direct.call] * args.sessions
    gate = asyncio.Semaphore(OPEN_AT_ONCE)
    calls: list[Any] = []

    async def one() -> None:
        async with gate:
            session = await stack.enter_async_context(
                open_session(
                    args.mode, args.url, token=args.token, session_class=NoValidationSession
                )
            )

        async def call() -> None:
            result = await session.call_tool("pan_inline_scan", {"prompt": PROMPT})
            if result.is_error:
                raise RuntimeError("tool error")

        calls.append(call)

    await asyncio.gather(*(one() for _ in range(args.sessions)))
    return calls


async def worker(args: argparse.Namespace) -> None:
    # Sessions are entered in gather()'s tasks and left here: anyio objects to that at exit,
    # after the result is printed; the process is ending anyway.
    with contextlib.suppress(Exception):
        await _serve(args)


async def _serve(args: argparse.Namespace) -> None:
    async with AsyncExitStack() as stack:
        calls = await _open(stack, args)
        print("ready", flush=True)
        seconds = float((await asyncio.to_thread(sys.stdin.readline)).split()[1])
        deadline = time.perf_counter() + seconds
        done = errors = 0

        async def loop(call: Any) -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                try:
                    await call()
                    done += 1
                except Exception:
                    errors += 1

        await asyncio.gather(*(loop(c) for c in calls))
        print(json.dumps({"calls": done, "errors": errors}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # "close": keep sessions until all are done


async def drive(
    mode: str,
    url: str,
    sessions: int,
    seconds: float,
    *,
    procs: int,
    token: str = "",
    ca: str = "",
    server_pid: int | None = None,
    double_pid: int | None = None,
) -> dict[str, Any]:
    """Run one window of ``sessions`` over ``procs`` workers; calls/s, and the CPU per call of
    the server, of the client workers together and of the double (what shares the cores)."""
    procs = max(1, min(procs, sessions))
    shares = [sessions // procs + (i < sessions % procs) for i in range(procs)]
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.many_sessions",
            "--worker",
            "--mode",
            mode,
            "--url",
            url,
            "--sessions",
            str(n),
            "--token",
            token,
            "--ca",
            ca,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        for n in shares
    ]
    try:
        for child in children:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), 180)
            if line.strip() != b"ready":
                raise RuntimeError(f"worker did not start: {line!r}")
        measured = {"server": server_pid, "double": double_pid}
        pids = {name: pid for name, pid in measured.items() if pid}
        pids |= {f"client{i}": child.pid for i, child in enumerate(children)}
        start = {name: cpu_ticks(pid) for name, pid in pids.items()}
        for child in children:
            assert child.stdin is not None
            child.stdin.write(f"go {seconds}\n".encode())
            await child.stdin.drain()
        results = []
        for child in children:
            assert child.stdout is not None
            results.append(json.loads(await asyncio.wait_for(child.stdout.readline(), 120)))
        used = {name: cpu_ticks(pid) - start[name] for name, pid in pids.items()}
        for child in children:
            assert child.stdin is not None
            child.stdin.write(b"close\n")
            await child.stdin.drain()
        for child in children:
            await asyncio.wait_for(child.wait(), 60)
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    calls = sum(r["calls"] for r in results)
    out: dict[str, Any] = {
        "calls_per_s": round(calls / seconds, 1),
        "errors": sum(r["errors"] for r in results),
    }
    if calls:
        per_call = 1000 / os.sysconf("SC_CLK_TCK") / calls
        clients = sum(ticks for name, ticks in used.items() if name.startswith("client"))
        out["clients_cpu_ms_per_call"] = round(clients * per_call, 3)
        for name in ("server", "double"):
            if name in used:
                out[f"{name}_cpu_ms_per_call"] = round(used[name] * per_call, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", required=True)
    parser.add_argument("--mode", choices=("sse", "streamable_http", "direct"), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--ca", default="")
    asyncio.run(worker(parser.parse_args()))


if __name__ == "__main__":
    main()
