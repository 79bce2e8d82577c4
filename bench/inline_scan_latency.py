"""Per-call latency of ``pan_inline_scan`` through the MCP server versus a direct SDK call.

One run, one AIRS double (HTTPS on loopback), one ``airs-mcp-server`` (uvicorn), three series
measured in interleaved rounds so background load hits them alike:

- ``sse``: the ``mcp`` Python client over SSE -> server -> double;
- ``streamable_http``: the same client over stateless Streamable HTTP (``/mcp``);
- ``direct_sdk``: ``aisecurity`` asyncio ``Scanner.sync_scan`` straight to the double.

Run from the repository root::

    .venv/bin/python -m bench.inline_scan_latency [--calls 300] [--warmup 30]

Writes ``bench/results/inline_scan_latency.json`` and ``.png`` and prints p50/p95 per series and
the ratio to the direct call. Loops are bounded by ``--calls`` and ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from bench.host import host_facts
from bench.output import RESULTS, write_results
from bench.servers import NO_CLIENT_LIMITS
from harness.airs_double import start_airs_double
from harness.mcp_client import open_session
from harness.mcp_server import PROFILE_NAME, launch_mcp_server

PROMPT = "What is the capital of France?"
SERIES = ("sse", "streamable_http", "direct_sdk")

Call = Callable[[], Awaitable[str]]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values`` (milliseconds)."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarise(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 0.50), 3),
        "p95_ms": round(percentile(samples, 0.95), 3),
        "mean_ms": round(statistics.fmean(samples), 3),
        "min_ms": round(min(samples), 3),
        "max_ms": round(max(samples), 3),
    }


async def mcp_call(stack: AsyncExitStack, transport: str, base_url: str) -> Call:
    session = await stack.enter_async_context(open_session(transport, base_url))

    async def call() -> str:
        result = await session.call_tool("pan_inline_scan", {"prompt": PROMPT})
        if result.is_error:
            raise RuntimeError(f"{transport}: tool error {result.content}")
        return str(result.structured_content["action"])

    return call


async def direct_call(stack: AsyncExitStack, double_url: str, api_key: str) -> Call:
    # Imported here: the SDK reads SSL_CERT_FILE when its HTTP session is created.
    import aisecurity
    from aisecurity.generated_openapi_client import AiProfile
    from aisecurity.scan.asyncio.scanner import Scanner
    from aisecurity.scan.models.content import Content

    aisecurity.init(api_key=api_key, api_endpoint=double_url)
    scanner = Scanner()
    stack.push_async_callback(scanner.close)
    profile = AiProfile(profile_name=PROFILE_NAME)

    async def call() -> str:
        response = await scanner.sync_scan(ai_profile=profile, content=Content(prompt=PROMPT))
        return str(response.action)

    return call


async def measure(
    calls: dict[str, Call], rounds: int, warmup: int, max_seconds: float
) -> dict[str, list[float]]:
    """Interleaved rounds: each round times one call of every series, in rotating order."""
    names = list(calls)
    samples: dict[str, list[float]] = {name: [] for name in names}
    started = time.monotonic()
    for index in range(warmup + rounds):
        if time.monotonic() - started > max_seconds:
            break
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            begin = time.perf_counter()
            action = await calls[name]()
            elapsed_ms = (time.perf_counter() - begin) * 1000
            if action != "allow":
                raise RuntimeError(f"{name}: unexpected action {action!r}")
            if index >= warmup:
                samples[name].append(elapsed_ms)
    return samples


def plot(samples: dict[str, list[float]], summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda value, _pos: f"{value:g}")
    sparse = FuncFormatter(lambda value, _pos: f"{value:g}" if f"{value:g}"[0] in "125" else "")

    fig, (box, cdf) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = list(samples)
    box.boxplot([samples[n] for n in names], showfliers=False)
    box.set_xticks(range(1, len(names) + 1), names)
    box.set_yscale("log")
    box.yaxis.set_major_formatter(plain)
    box.yaxis.set_minor_formatter(plain)
    box.set_ylabel("latency per call (ms, log scale)")
    box.set_title("pan_inline_scan vs direct SDK sync_scan")
    for name in names:
        ordered = sorted(samples[name])
        ys = [(i + 1) / len(ordered) for i in range(len(ordered))]
        stats = summary["series"][name]
        cdf.plot(ordered, ys, label=f"{name} p50 {stats['p50_ms']:.1f} / p95 {stats['p95_ms']:.1f}")
    cdf.set_xscale("log")
    cdf.xaxis.set_major_formatter(plain)
    cdf.xaxis.set_minor_formatter(sparse)
    cdf.set_xlabel("latency per call (ms, log scale)")
    cdf.set_ylabel("fraction of calls")
    cdf.legend(fontsize=8)
    cdf.grid(alpha=0.3)
    fig.suptitle(f"{summary['rounds']} interleaved rounds, {summary['started_at']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-inline-"))
    double = start_airs_double(workdir / "double")
    server = None
    try:
        server = launch_mcp_server(double, workdir / "server", env_overrides=NO_CLIENT_LIMITS)
        os.environ["SSL_CERT_FILE"] = str(double.ca_path)
        if args.upstream_latency_ms:
            double.set_fault(count=-1, latency_ms=args.upstream_latency_ms)
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        load_before = os.getloadavg()
        async with AsyncExitStack() as stack:
            calls = {
                "sse": await mcp_call(stack, "sse", server.url),
                "streamable_http": await mcp_call(stack, "streamable_http", server.url),
                "direct_sdk": await direct_call(stack, double.url, double.api_key),
            }
            samples = await measure(calls, args.calls, args.warmup, args.max_seconds)
        series = {name: summarise(values) for name, values in samples.items()}
        direct = series["direct_sdk"]
        ratios = {
            name: {
                "p50": round(stats["p50_ms"] / direct["p50_ms"], 2),
                "p95": round(stats["p95_ms"] / direct["p95_ms"], 2),
            }
            for name, stats in series.items()
        }
        return {
            "benchmark": "inline_scan_latency",
            "started_at": started_at,
            "rounds": len(samples["direct_sdk"]),
            "warmup": args.warmup,
            "upstream_latency_ms": args.upstream_latency_ms,
            "series": series,
            "ratio_to_direct_sdk": ratios,
            "samples_ms": {name: [round(v, 3) for v in values] for name, values in samples.items()},
            "host": host_facts(load_before),
        }
    finally:
        if args.upstream_latency_ms and double.process.running():
            double.clear_faults()
        if server is not None:
            server.stop()
        double.stop()


def print_table(result: dict[str, Any]) -> None:
    print(f"pan_inline_scan latency, {result['rounds']} interleaved rounds (ms)")
    print(f"{'series':<17}{'p50':>9}{'p95':>9}{'mean':>9}{'x p50':>8}{'x p95':>8}")
    for name, stats in result["series"].items():
        ratio = result["ratio_to_direct_sdk"][name]
        print(
            f"{name:<17}{stats['p50_ms']:>9.2f}{stats['p95_ms']:>9.2f}{stats['mean_ms']:>9.2f}"
            f"{ratio['p50']:>8.1f}{ratio['p95']:>8.1f}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="measured rounds")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured first rounds")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="stop after this long")
    parser.add_argument(
        "--upstream-latency-ms", type=int, default=0, help="latency the double adds to each call"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for JSON and PNG")
    parser.add_argument("--name", default="inline_scan_latency", help="result file stem")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = anyio.run(run, args)
    json_path, png_path = write_results(args.out, args.name, result)
    plot(result["samples_ms"], result, png_path)
    print_table(result)
    print(f"wrote {json_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
