"""Where an idle SSE session's memory goes: tracemalloc over a server run in this process.

The server (``create_app`` on uvicorn, asyncio loop so every Python allocation is traced) runs
in this process against the lean double; ``bench.idle_client`` holds N initialised SSE sessions
open from its own process. The traced heap is diffed between "after warm-up" and "N held", and
each allocation is charged to:

- ``site``: the package or stdlib module of the line that allocated it;
- ``owner``: the first frame, walking out from that line, in a package rather than in the
  standard library (who asked for it: anyio, sse_starlette, mcp, uvicorn, airs_mcp ...).

RSS per session is printed beside it: what tracemalloc does not see (C buffers, allocator
overhead) is the difference. Tracing slows the server down and inflates its RSS, so the
``idle_sessions`` bench, not this one, gives the RSS figure.

``python -m bench.session_memory --sessions 1000 [--frames 30] [--out DIR --name NAME]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import socket
import sysconfig
import tempfile
import tracemalloc
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import uvicorn

from bench.clients import inline_call, mcp_session
from bench.idle_sessions import ClientProcess
from bench.output import RESULTS, write_results
from bench.servers import SERVER_ENV, LeanDouble, rss_kb
from harness.mcp_server import server_env

STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
TOP = 15


def module_of(filename: str) -> tuple[str, bool]:
    """(package or stdlib module name, is it the standard library?) of a source file."""
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py"), False
    if "airs_mcp" in parts:
        return "airs_mcp", False
    try:
        relative = path.resolve().relative_to(STDLIB)
    except ValueError:
        return filename if filename.startswith("<") else path.stem, False
    return f"stdlib:{relative.parts[0].removesuffix('.py')}", True


def charge(stats: list[tracemalloc.StatisticDiff]) -> dict[str, Counter[str]]:
    site: Counter[str] = Counter()
    owner: Counter[str] = Counter()
    for stat in stats:
        if stat.size_diff <= 0:
            continue
        frames = list(stat.traceback)  # oldest first; the last frame allocated
        site[module_of(frames[-1].filename)[0]] += stat.size_diff
        caller = owner_frame(frames) or frames[-1]
        owner[module_of(caller.filename)[0]] += stat.size_diff
    return {"site": site, "owner": owner}


def owner_frame(frames: list[tracemalloc.Frame]) -> tracemalloc.Frame | None:
    """The first frame, walking out from the allocating one, outside the standard library."""
    return next((f for f in reversed(frames) if not module_of(f.filename)[1]), None)


def top_lines(stats: list[tracemalloc.StatisticDiff], sessions: int) -> list[dict[str, Any]]:
    """The allocating lines with the most bytes, each with the package line that called it."""
    by_line: Counter[str] = Counter()
    for stat in stats:
        if stat.size_diff > 0:
            frames = list(stat.traceback)
            line = f"{frames[-1].filename}:{frames[-1].lineno}"
            caller = owner_frame(frames)
            if caller is not None and caller is not frames[-1]:
                line += f" <- {caller.filename}:{caller.lineno}"
            by_line[line] += stat.size_diff
    return [
        {"line": line, "bytes_per_session": round(size / sessions)}
        for line, size in by_line.most_common(TOP)
    ]


async def serve(stack: AsyncExitStack, env: dict[str, str]) -> str:
    """Start the server's app in this process on a free loopback port; return its URL."""
    from airs_mcp.app import Runtime, create_app, serve_app
    from airs_mcp.cli import KEEP_ALIVE_S, Server
    from airs_mcp.config import Settings

    os.environ.clear()
    os.environ.update(env)
    settings = Settings.from_env()
    runtime = Runtime(settings)
    config = uvicorn.Config(
        serve_app(create_app(settings, runtime), None),
        log_config=None,
        log_level="warning",
        loop="asyncio",
        timeout_keep_alive=KEEP_ALIVE_S,
        lifespan="on",
    )
    server = Server(config, runtime, None)
    listener = socket.create_server(("127.0.0.1", 0), backlog=2048)
    task = asyncio.create_task(server.serve(sockets=[listener]))

    async def stop() -> None:
        server.should_exit = True
        await task

    stack.push_async_callback(stop)
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    else:
        raise RuntimeError("the in-process server did not start in 10 s")
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


async def run(count: int, frames: int, settle: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-session-memory-"))
    double = LeanDouble(workdir / "double")
    saved_env = dict(os.environ)
    try:
        env = server_env(double.handle, {**SERVER_ENV, "AIRS_MCP_HEAP_TRIM_AFTER_CLOSES": "0"})
        async with AsyncExitStack() as stack:
            url = await serve(stack, env)
            async with AsyncExitStack() as warm_stack:
                warm = inline_call(await mcp_session(warm_stack, "streamable_http", url))
                for _ in range(20):
                    await warm()
            gc.collect()
            tracemalloc.start(frames)
            before, rss_before = tracemalloc.take_snapshot(), rss_kb(os.getpid())
            client = ClientProcess(url)
            try:
                opened = await asyncio.to_thread(client.ask, {"open": count})
                await asyncio.sleep(settle)
                gc.collect()
                held, rss_held = tracemalloc.take_snapshot(), rss_kb(os.getpid())
                await asyncio.to_thread(client.ask, {"close": True})
            finally:
                client.stop()
            tracemalloc.stop()
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        double.stop()
    sessions = max(1, opened["opened"])
    stats = held.compare_to(before, "traceback")
    traced = sum(s.size_diff for s in stats)
    charged = charge(stats)
    return {
        "benchmark": "session_memory",
        "sessions": opened,
        "frames": frames,
        "traced_bytes_per_session": round(traced / sessions),
        "rss_kb_per_session_traced_run": round((rss_held - rss_before) / sessions, 1),
        **{
            f"by_{kind}": {name: round(size / sessions) for name, size in counter.most_common(TOP)}
            for kind, counter in charged.items()
        },
        "top_lines": top_lines(stats, sessions),
    }


def table(result: dict[str, Any]) -> list[str]:
    rows = [
        f"{result['sessions']['opened']} idle SSE sessions: "
        f"{result['traced_bytes_per_session'] / 1000:.1f} kB traced per session, "
        f"RSS {result['rss_kb_per_session_traced_run']:.1f} kB per session (traced run)"
    ]
    for kind in ("owner", "site"):
        rows.append(f"\nbytes per session by {kind}:")
        rows += [f"  {size:>8,}  {name}" for name, size in result[f"by_{kind}"].items()]
    rows.append("\ntop allocating lines (bytes per session):")
    rows += [f"  {row['bytes_per_session']:>8,}  {row['line']}" for row in result["top_lines"]]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--name", default="session_memory")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = asyncio.run(run(args.sessions, args.frames, args.settle))
    write_results(args.out, args.name, result)
    print("\n".join(table(result)))


if __name__ == "__main__":
    main()
