"""Where the server spends a ``pan_inline_scan``: py-spy on a loaded ``airs-mcp-server``.

    .venv/bin/python -m bench.profile [--sessions 10] [--seconds 20] [--transport sse]

Starts the lean double and a server (this checkout's code), keeps ``--sessions`` clients calling
``pan_inline_scan`` in a loop, and samples the server with ``py-spy record`` (py-spy must be
installed: ``pip install py-spy``). Prints the functions with the most samples, inclusive (on
the stack) and self (at the top), as a share of all samples, and writes the collapsed stacks to
``bench/results/profile_<transport>.txt`` (input for any flame-graph tool).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

from bench.clients import inline_call, mcp_session
from bench.output import RESULTS
from bench.servers import LeanDouble, start_server
from bench.timing import calls_in_window


def top(collapsed: Path, limit: int) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].split("/")[-1] + ")"
            if " (" in f
            else f
            for f in stack.split(";")
        ]
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    share = lambda c: [(k, round(100 * v / total, 1)) for k, v in c.most_common(limit)]  # noqa: E731
    return share(inclusive), share(own)


async def load(args: argparse.Namespace, workdir: Path) -> Path:
    double = LeanDouble(workdir / "double")
    server = start_server(double, workdir / "server")
    out = RESULTS / f"profile_{args.transport}.txt"
    try:
        async with AsyncExitStack() as stack:
            calls = [
                inline_call(await mcp_session(stack, args.transport, server.url))
                for _ in range(args.sessions)
            ]
            await calls_in_window(calls, 2.0)  # warm up
            spy = subprocess.Popen(  # noqa: ASYNC220 - started once, waited in a thread
                [
                    shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--duration",
                    str(args.seconds),
                    "--pid",
                    str(server.process.proc.pid),
                    "--output",
                    str(out),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            calls_done = await calls_in_window(calls, args.seconds + 1)
            await asyncio.to_thread(spy.wait, 30)
            print(f"{calls_done / (args.seconds + 1):.0f} calls/s while sampled")
    finally:
        server.stop()
        double.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--transport", default="sse", choices=("sse", "streamable_http"))
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    collapsed = asyncio.run(load(args, Path(tempfile.mkdtemp(prefix="bench-profile-"))))
    inclusive, own = top(collapsed, args.top)
    print("inclusive % of samples:")
    for name, pct in inclusive:
        print(f"  {pct:5.1f}  {name}")
    print("self % of samples:")
    for name, pct in own:
        print(f"  {pct:5.1f}  {name}")
    print(f"collapsed stacks: {collapsed}")


if __name__ == "__main__":
    main()
