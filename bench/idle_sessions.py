"""Idle SSE sessions: server RSS per held session and after they close, before/after the fix.

    .venv/bin/python -m bench.idle_sessions --sessions 1000,2000 [--variants before,after]
    .venv/bin/python -m bench.idle_sessions --variants sdk_sse,after --before REV

For each count and variant, in one run: a fresh server (caps off), 20 warm-up calls, baseline
RSS; ``bench.idle_client`` (its own process) opens N initialised SSE sessions and keeps
reading them; RSS held; the client closes them; RSS after the trim delay plus a settle.

Variants (the fix toggled by its settings, same code):
- ``before``: pymalloc, ``AIRS_MCP_HEAP_TRIM_AFTER_CLOSES=0`` (what ran before);
- ``trim_only``: pymalloc with the trim;
- ``after``: ``PYTHONMALLOC=malloc`` with the trim (what the image runs);
- ``sdk_sse``: as ``after``, but the server code of commit ``--before REV`` (``server/`` from
  ``git archive``): before ``airs_mcp.transport.sse``, the SDK's SSE transport and sse-starlette.

Writes ``bench/results/idle_sessions.json`` and ``.png`` and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from bench.clients import inline_call, mcp_session
from bench.output import RESULTS, write_results
from bench.server_code import server_code_at
from bench.servers import LeanDouble, rss_kb, start_server
from harness.client_process import ClientProcess as LineDriver
from harness.mcp_server import TEST_TOKEN, McpServerHandle

TRIM_DELAY_S = 3.0  # the bench shortens the 10 s default to keep the run short
VARIANTS: dict[str, dict[str, str | None]] = {
    "before": {"PYTHONMALLOC": None, "AIRS_MCP_HEAP_TRIM_AFTER_CLOSES": "0"},
    "trim_only": {"PYTHONMALLOC": None},
    "after": {"PYTHONMALLOC": "malloc"},
    "sdk_sse": {"PYTHONMALLOC": "malloc"},  # + PYTHONPATH of the --before commit's server/
}


# Opening 10,000 sessions takes minutes on 2 cores; a client stuck past this fails the run.
ANSWER_TIMEOUT_S = 900.0


class ClientProcess:
    """``bench.idle_client`` in its own process, one JSON command and its answer at a time,
    through ``harness.client_process``'s line driver: stderr to a file, every answer with a
    deadline."""

    def __init__(self, url: str) -> None:
        argv = [sys.executable, "-m", "bench.idle_client", "--url", url, "--token", TEST_TOKEN]
        fd, log = tempfile.mkstemp(prefix="idle-client-", suffix=".log")
        os.close(fd)
        self.child = LineDriver(argv, Path(log))

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        self.child.send(json.dumps(command))
        return self.child.read_json(ANSWER_TIMEOUT_S, f"answer to {command}")

    def open_until_refused(
        self,
        step: int,
        most: int,
        server_running: Callable[[], bool],
        after_step: Callable[[int, int, dict[str, Any]], None] | None = None,
    ) -> tuple[int, int]:
        """Open sessions ``step`` at a time until one is refused or fails, ``most`` are open or
        the server is gone; return (opened, refused). ``after_step(opened, refused, answer)``
        runs after every step."""
        opened = refused = 0
        while opened < most and server_running():
            answer = self.ask({"open": step})
            opened += answer["opened"]
            refused += answer["refused"]
            if after_step is not None:
                after_step(opened, refused, answer)
            if refused or answer["failed"]:
                break
        return opened, refused

    def stop(self) -> None:
        self.child.kill()
        self.child.log_path.unlink(missing_ok=True)  # a failed answer already quoted its tail


def trims(server: McpServerHandle) -> list[dict[str, Any]]:
    return [line for line in server.log_lines() if line.get("msg") == "heap_trimmed"]


async def one_run(
    double: LeanDouble,
    directory: Path,
    variant: str,
    count: int,
    settle: float,
    before_code: Path | None = None,
) -> dict[str, Any]:
    code = {"PYTHONPATH": str(before_code)} if variant == "sdk_sse" and before_code else {}
    env = {
        **VARIANTS[variant],
        **code,
        "AIRS_MCP_HEAP_TRIM_DELAY_SECONDS": str(TRIM_DELAY_S),
        "AIRS_MCP_LOG_LEVEL": "info",
    }
    server = start_server(double, directory, **env)
    pid = server.process.proc.pid
    try:
        async with AsyncExitStack() as stack:
            warm = inline_call(await mcp_session(stack, "streamable_http", server.url))
            for _ in range(20):
                await warm()
        await asyncio.sleep(settle)
        baseline = rss_kb(pid)
        client = ClientProcess(server.url)
        try:
            opened = client.ask({"open": count})
            await asyncio.sleep(settle)
            alive = client.ask({"alive": True})["alive"]
            held = rss_kb(pid)
            client.ask({"close": True})
        finally:
            client.stop()
        await asyncio.sleep(TRIM_DELAY_S + settle)
        deadline = time.monotonic() + 60
        # Polls the server log file (another process): no event to wait on.
        while variant != "before" and not trims(server) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.5)  # a large heap's collection takes a while
        await asyncio.sleep(1)
        after = rss_kb(pid)
        done = trims(server)
    finally:
        server.stop()
    return {
        "variant": variant,
        "sessions": count,
        "opened": opened,
        "alive_when_held": alive,
        "rss_baseline_kb": baseline,
        "rss_held_kb": held,
        "rss_after_close_kb": after,
        "kb_per_session": round((held - baseline) / max(1, opened["opened"]), 1),
        "after_close_over_baseline": round(after / baseline, 3),
        "trims": [
            {k: t[k] for k in ("sessions_closed", "unreachable", "gc_ms", "trim_ms")} for t in done
        ],
    }


async def run(
    counts: list[int], variants: list[str], settle: float, before: str | None = None
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    if "sdk_sse" in variants and before is None:
        raise SystemExit("the sdk_sse variant needs --before REV")
    before_code = server_code_at(before, workdir / "before") if before else None
    double = LeanDouble(workdir / "double")
    runs = []
    try:
        for count in counts:
            for variant in variants:
                print(f"[idle] {variant} {count} ...", flush=True)
                directory = workdir / f"{variant}-{count}"
                runs.append(await one_run(double, directory, variant, count, settle, before_code))
    finally:
        double.stop()
    return {
        "benchmark": "idle_sessions",
        "trim_delay_s": TRIM_DELAY_S,
        "before": before,
        "runs": runs,
    }


def table(result: dict[str, Any]) -> list[str]:
    rows = [
        f"{'variant':<10}{'N':>7}{'opened':>8}{'base MB':>9}{'held MB':>9}{'kB/sess':>9}"
        f"{'after MB':>10}{'x base':>8}{'gc ms':>9}"
    ]
    for r in result["runs"]:
        gc_ms = max((t["gc_ms"] for t in r["trims"]), default=0.0)
        rows.append(
            f"{r['variant']:<10}{r['sessions']:>7}{r['opened']['opened']:>8}"
            f"{r['rss_baseline_kb'] / 1024:>9.1f}{r['rss_held_kb'] / 1024:>9.1f}"
            f"{r['kb_per_session']:>9.1f}{r['rss_after_close_kb'] / 1024:>10.1f}"
            f"{r['after_close_over_baseline']:>8.2f}{gc_ms:>9.0f}"
        )
    return rows


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (held, after) = plt.subplots(1, 2, figsize=(11, 4))
    for variant in dict.fromkeys(r["variant"] for r in result["runs"]):
        runs = [r for r in result["runs"] if r["variant"] == variant]
        xs = [r["sessions"] for r in runs]
        held.plot(xs, [r["kb_per_session"] for r in runs], marker="o", label=variant)
        after.plot(xs, [r["after_close_over_baseline"] for r in runs], marker="o", label=variant)
    held.set_title("kB per held idle SSE session")
    after.set_title("RSS after close / baseline")
    after.axhline(1.1, color="grey", linestyle="--", linewidth=0.8)
    for axis in (held, after):
        axis.set_xlabel("idle SSE sessions")
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1000,2000")
    parser.add_argument("--variants", default="before,after")
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--name", default="idle_sessions")
    parser.add_argument("--before", help="commit whose server/ the sdk_sse variant runs")
    args = parser.parse_args()
    counts = [int(n) for n in args.sessions.split(",")]
    result = asyncio.run(run(counts, args.variants.split(","), args.settle, args.before))
    _, png_path = write_results(RESULTS, args.name, result)
    plot(result, png_path)
    print("\n".join(table(result)))


if __name__ == "__main__":
    main()
