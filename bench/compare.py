"""Before/after of the per-call overhead fixes: several servers and the direct SDK, one run.

    .venv/bin/python -m bench.compare                  # ~8 minutes; bench/results/compare.*
    .venv/bin/python -m bench.compare --quick          # ~2 minutes, few samples
    .venv/bin/python -m bench.compare --variant before=REV:slow --variant now=.

Each ``--variant NAME=REV[:slow]`` is an ``airs-mcp-server`` running ``server/`` of commit REV
(``git archive``; ``.`` = this checkout). ``:slow`` hides uvloop and httptools from it (a
``PYTHONPATH`` directory whose ``uvloop`` and ``httptools`` raise ImportError), so uvicorn's
``auto`` falls back to asyncio and h11 as before they were dependencies. All servers talk to
one lean AIRS double (``bench.lean_double``) and run with the suite's settings.

Figures, all side by side in one run:

- ``latency``: p50/p95 of ``pan_inline_scan`` over SSE and Streamable HTTP for every variant,
  and of the direct SDK call, in interleaved rounds (one call of each series per round, rotating
  order), double at 0 ms and at 20 ms; ``x_p50`` divides by the direct call.
- ``throughput``: calls/s with the double at 20 ms at each session count, driven from separate
  client processes (``bench.many_sessions``), for the ``--throughput-variants`` and the direct
  SDK (as many concurrent tasks on one ``Scanner``, also in its own processes); windows
  alternate order between repeats; ``x_direct`` divides by the direct SDK, and
  ``server_cpu_ms_per_call`` is the server process's CPU time over the window per call.

Loopback only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.clients import Direct, inline_call, mcp_session
from bench.host import host_facts
from bench.many_sessions import drive
from bench.output import RESULTS, write_results
from bench.server_code import ROOT, server_code_at
from bench.servers import LeanDouble, start_server
from bench.timing import interleaved, with_ratios
from harness.mcp_server import McpServerHandle

TRANSPORTS = ("sse", "streamable_http")
DEFAULT_VARIANTS = ("before=823a76c:slow", "egress=8fd9bfa:slow", "now=.")
PLANS = {
    "quick": {
        "rounds_0": 20,
        "rounds_20": 10,
        "levels": [1, 10, 100],
        "window_s": 2.0,
        "repeats": 1,
    },
    "full": {
        "rounds_0": 300,
        "rounds_20": 120,
        "levels": [1, 10, 100, 500],
        "window_s": 5.0,
        "repeats": 2,
    },
}
PROCS = {1: 1, 10: 1, 100: 2, 500: 4}  # client processes per session count


@dataclass
class Variant:
    name: str
    rev: str
    slow: bool
    server: McpServerHandle | None = None


def parse_variant(spec: str) -> Variant:
    name, _, rest = spec.partition("=")
    rev, _, flag = rest.partition(":")
    if not name or not rev or flag not in ("", "slow"):
        raise argparse.ArgumentTypeError(f"--variant NAME=REV[:slow], not {spec!r}")
    return Variant(name, rev, flag == "slow")


def _hide_fast_io(directory: Path) -> Path:
    for module in ("uvloop", "httptools"):
        (directory / module).mkdir(parents=True, exist_ok=True)
        (directory / module / "__init__.py").write_text(
            f'raise ImportError("{module} hidden by bench.compare (a :slow variant)")\n'
        )
    return directory


def start_variant(variant: Variant, double: LeanDouble, workdir: Path) -> McpServerHandle:
    paths = []
    if variant.slow:
        paths.append(str(_hide_fast_io(workdir / "hide-fast-io")))
    if variant.rev == ".":
        paths.append(str(ROOT / "server"))
    else:
        paths.append(str(server_code_at(variant.rev, workdir / f"code-{variant.name}")))
    return start_server(double, workdir / variant.name, PYTHONPATH=os.pathsep.join(paths))


def io_in_use(server: McpServerHandle) -> dict[str, str]:
    """The loop/http the server logged (this checkout's ``io`` line), or what was importable."""
    for line in server.log_lines():
        if line.get("msg") == "io":
            return {"loop": line["loop"], "http": line["http"]}
    return {}


async def latency(variants: list[Variant], direct: Direct, rounds: int) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        calls = {}
        for variant in variants:
            assert variant.server is not None
            for transport in TRANSPORTS:
                session = await mcp_session(stack, transport, variant.server.url)
                calls[f"{variant.name}/{transport}"] = inline_call(session)
        calls["direct_sdk"] = direct.call
        samples = await interleaved(calls, rounds, max(3, rounds // 10))
    return with_ratios(samples, "direct_sdk")


async def throughput(
    variants: list[Variant], double: LeanDouble, plan: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for level in plan["levels"]:
        modes: dict[str, tuple[str, McpServerHandle | None]] = {}
        for variant in variants:
            for transport in TRANSPORTS:
                modes[f"{variant.name}/{transport}"] = (transport, variant.server)
        modes["direct_sdk"] = ("direct", None)
        runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
        repeats = plan["repeats"] if level <= 100 else 1
        for rep in range(repeats):
            order = list(modes) if rep % 2 == 0 else list(reversed(modes))
            for mode in order:
                kind, server = modes[mode]
                print(f"[compare] throughput {level} sessions: {mode}", flush=True)
                runs[mode].append(
                    await drive(
                        kind,
                        server.url if server else double.url,
                        level,
                        plan["window_s"],
                        # per process: the direct SDK always runs in one client process
                        procs=PROCS.get(level, 4) if server else 1,
                        token=(server.token or "") if server else "",
                        ca=str(double.ca),
                        server_pid=server.process.proc.pid if server else None,
                        double_pid=double.handle.process.proc.pid,
                    )
                )
        row: dict[str, Any] = {}
        for mode, results in runs.items():
            row[mode] = {
                "calls_per_s": round(statistics.fmean(r["calls_per_s"] for r in results), 1),
                "errors": sum(r["errors"] for r in results),
            }
            for part in ("server", "clients", "double"):
                key = f"{part}_cpu_ms_per_call"
                cpu = [r[key] for r in results if key in r]
                if cpu:
                    row[mode][key] = round(statistics.fmean(cpu), 3)
        ref = row["direct_sdk"]["calls_per_s"]
        for stats in row.values():
            stats["x_direct"] = round(stats["calls_per_s"] / ref, 2) if ref else None
        out[str(level)] = row
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    plan = PLANS["quick" if args.quick else "full"]
    variants: list[Variant] = args.variant or [parse_variant(v) for v in DEFAULT_VARIANTS]
    workdir = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    clock = time.monotonic()
    double = LeanDouble(workdir / "double")
    figures: dict[str, Any] = {}
    try:
        for variant in variants:
            variant.server = start_variant(variant, double, workdir)
        async with AsyncExitStack() as stack:
            direct = Direct(double, stack)
            print("[compare] latency at 0 ms", flush=True)
            figures["latency_0ms"] = await latency(variants, direct, plan["rounds_0"])
            double.set_latency(20)
            print("[compare] latency at 20 ms", flush=True)
            figures["latency_20ms"] = await latency(variants, direct, plan["rounds_20"])
        chosen = [v for v in variants if v.name in args.throughput_variants.split(",")]
        figures["throughput_20ms"] = await throughput(chosen, double, plan)
        double.set_latency(0)
    finally:
        for variant in variants:
            if variant.server is not None:
                variant.server.stop()
        double.stop()
    return {
        "benchmark": "compare",
        "mode": "quick" if args.quick else "full",
        "started_at": started,
        "seconds": round(time.monotonic() - clock, 1),
        "plan": plan,
        "variants": [
            {
                "name": v.name,
                "rev": v.rev,
                "slow_io": v.slow,
                "io": io_in_use(v.server) if v.server else {},
            }
            for v in variants
        ],
        "figures": figures,
        "host": host_facts(load_before),
    }


def table(result: dict[str, Any]) -> list[str]:
    lines = []
    for key in ("latency_0ms", "latency_20ms"):
        lines.append(f"{key}: p50 ms (x direct)")
        for name, stats in result["figures"][key]["series"].items():
            lines.append(f"  {name:28} {stats['p50_ms']:8.2f}  x{stats['x_p50']:.2f}")
    lines.append(
        "throughput at 20 ms: calls/s (x direct) [CPU ms per call: server / clients / double]"
    )
    for level, row in result["figures"]["throughput_20ms"].items():
        for mode, stats in row.items():
            parts = [stats.get(f"{part}_cpu_ms_per_call") for part in ("server", "clients")]
            parts.append(stats.get("double_cpu_ms_per_call"))
            cpu = " / ".join("-" if part is None else f"{part:.2f}" for part in parts)
            extra = f" [{cpu}]"
            lines.append(
                f"  {level:>4} {mode:28} {stats['calls_per_s']:8.1f}  x{stats['x_direct']}{extra}"
                + (f" errors={stats['errors']}" if stats["errors"] else "")
            )
    return lines


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = result["figures"]
    names = [v["name"] for v in result["variants"]]
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    for ax, key, goal in ((axes[0], "latency_0ms", 2.0), (axes[1], "latency_20ms", 1.1)):
        series = figs[key]["series"]
        width = 0.38
        for i, transport in enumerate(TRANSPORTS):
            values = [series[f"{n}/{transport}"]["x_p50"] for n in names]
            xs = [j + (i - 0.5) * width for j in range(len(names))]
            bars = ax.bar(xs, values, width, label=transport)
            ax.bar_label(bars, fmt="%.2f", fontsize=8)
        ax.axhline(goal, color="red", linestyle="--", label=f"goal x{goal}")
        ax.set_xticks(range(len(names)), names)
        ax.set_title(f"p50 ÷ direct SDK, {key.split('_')[1]}")
        ax.legend(fontsize=8)
    ax = axes[2]
    levels = list(figs["throughput_20ms"])
    modes = [m for m in figs["throughput_20ms"][levels[0]] if m != "direct_sdk"]
    for mode in modes:
        ax.plot(
            levels,
            [figs["throughput_20ms"][lv][mode]["x_direct"] for lv in levels],
            marker="o",
            label=mode,
        )
    ax.axhline(0.6, color="red", linestyle="--", label="goal x0.6")
    ax.set_xlabel("concurrent sessions")
    ax.set_title("throughput ÷ direct SDK, double at 20 ms")
    ax.legend(fontsize=8)
    fig.suptitle(f"bench.compare {result['started_at']} ({result['host']['cpus']} cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--variant", type=parse_variant, action="append")
    parser.add_argument("--throughput-variants", default="before,now")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="compare")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    _, png_path = write_results(args.out, args.name, result)
    plot(result, png_path)
    print("\n".join(table(result)))
    print(f"wrote {args.out / args.name}.json and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
