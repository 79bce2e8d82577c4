"""SSE calls across a server's SIGTERM, before and after a change to the shutdown drain: how
many calls of N ``mcp`` SDK sessions end in each class of ``harness.sse_rollout`` (ok, lost:
accepted with 202 and never answered, refused, unsent, hung).

Per round, scenario and variant: a server (this checkout's code, or the ``server/`` tree of
``--before``) on the lean double; N sessions calling ``pan_inline_scan`` in a loop; once every
session has had an answer, SIGTERM; every loop then runs to its first failed call (each call
bounded by ``HANG_S``), the process exits, and the calls are counted. Scenarios:

- ``busy``: back to back, each scan held ``--latency-ms`` at the double (a call is almost always
  in flight on every session);
- ``paced``: ``--pause-s`` between calls, no added latency (the cluster's load test: most
  sessions are idle at any moment).

Rounds alternate the variants. Nothing here is timed against a target::

    python -m bench.rollout_drain --before f55f89a --sessions 20 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from bench.output import RESULTS, write_results
from bench.server_code import ROOT, server_code_at
from bench.servers import LeanDouble, start_server
from harness.mcp_server import McpServerHandle
from harness.sse_rollout import HANG_S, WatchedSession, summary

SCENARIOS = ("busy", "paced")
EXIT_WAIT_S = 60.0


async def _wait_exit(server: McpServerHandle, within: float) -> int | None:
    try:
        return await asyncio.to_thread(server.process.proc.wait, within)
    except Exception:  # subprocess.TimeoutExpired: still running
        return None


async def one_round(
    server: McpServerHandle, sessions: int, pause_s: float, grace_s: float
) -> dict[str, Any]:
    """N sessions calling across one SIGTERM; the classes of their calls."""
    watched = [WatchedSession(server.url, f"session {n}") for n in range(sessions)]
    async with AsyncExitStack() as stack:
        for session in watched:
            await stack.enter_async_context(session)
        answered = [asyncio.Event() for _ in watched]
        loops = [
            asyncio.create_task(session.call_in_a_loop(first, pause_s))
            for session, first in zip(watched, answered, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in answered)), HANG_S)
        sigterm = time.monotonic()
        server.process.proc.send_signal(signal.SIGTERM)
        _, pending = await asyncio.wait(loops, timeout=HANG_S + grace_s + 30)
        for loop in pending:  # counted as hung by the calls they hold
            loop.cancel()
        code = await _wait_exit(server, EXIT_WAIT_S)
        exit_s = time.monotonic() - sigterm
    result = summary(watched)
    result.update(exit_code=code, exit_s=round(exit_s, 2), loops_left=len(pending))
    return result


def _add(total: dict[str, Any], one: dict[str, Any]) -> None:
    for key in ("calls", "streams"):
        total.setdefault(key, Counter()).update(one[key])
    total["longest_failed_call_s"] = max(
        total.get("longest_failed_call_s", 0.0), one["longest_failed_call_s"]
    )
    total["longest_exit_s"] = max(total.get("longest_exit_s", 0.0), one["exit_s"])
    total.setdefault("exit_codes", Counter())[str(one["exit_code"])] += 1


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    load_start = os.getloadavg()[0]
    double = LeanDouble(workdir / "double")
    code = {"now": str(ROOT / "server")}
    if args.before:
        code["before"] = str(server_code_at(args.before, workdir / "code-before"))
    rounds: list[dict[str, Any]] = []
    totals: dict[str, dict[str, dict[str, Any]]] = {s: {v: {} for v in code} for s in args.scenario}
    try:
        for number in range(args.rounds):
            order = list(code) if number % 2 == 0 else list(reversed(code))
            for scenario in args.scenario:
                pause_s = args.pause_s if scenario == "paced" else 0.0
                double.set_latency(args.latency_ms if scenario == "busy" else 0)
                for variant in order:
                    server = start_server(
                        double,
                        workdir / f"{variant}-{scenario}-{number}",
                        PYTHONPATH=code[variant],
                        AIRS_MCP_GRACEFUL_SHUTDOWN_SECONDS=str(args.grace_s),
                    )
                    try:
                        result = await one_round(server, args.sessions, pause_s, args.grace_s)
                    finally:
                        server.stop()
                    result.update(round=number, scenario=scenario, variant=variant)
                    print(json.dumps(result), flush=True)
                    rounds.append(result)
                    _add(totals[scenario][variant], result)
    finally:
        double.stop()
    return {
        "before": args.before,
        "sessions": args.sessions,
        "rounds": args.rounds,
        "latency_ms": args.latency_ms,
        "pause_s": args.pause_s,
        "grace_s": args.grace_s,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg()[0],
        "totals": totals,
        "per_round": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="commit whose server/ is the 'before' variant")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenario", action="append", choices=SCENARIOS)
    parser.add_argument("--latency-ms", type=float, default=200.0, help="busy: per scan")
    parser.add_argument("--pause-s", type=float, default=0.5, help="paced: between calls")
    parser.add_argument("--grace-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="rollout_drain")
    args = parser.parse_args()
    args.scenario = args.scenario or list(SCENARIOS)
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    path, _ = write_results(args.out, args.name, result)
    print(json.dumps(result["totals"], default=dict, indent=1))
    print(f"written: {path}")


if __name__ == "__main__":
    main()
