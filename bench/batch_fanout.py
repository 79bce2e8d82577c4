"""Batch fan-out: ``pan_batch_scan`` beside the other ways to scan N items, one run.

    .venv/bin/python -m bench.batch_fanout                          # ~3-4 minutes
    .venv/bin/python -m bench.batch_fanout --reference PATH         # also the PANW example server
    .venv/bin/python -m bench.batch_fanout --quick                  # smoke run, few items

Against the lean AIRS double (``bench.lean_double``) answering after 20 ms, the wall time of
scanning N items (100 and 1,000; quick: 10 and 50), series interleaved (one call of each per
round, rotating order):

- ``server_batch``: this server's ``pan_batch_scan`` of N items, with its defaults
  (``AIRS_MCP_BATCH_CONCURRENCY``, ``AIRS_MCP_BATCH_REQUESTS_PER_SECOND`` and
  ``AIRS_MCP_BATCH_BURST`` as in ``airs_mcp.config``), over SSE from the ``mcp`` Python
  client (as ``bench.suite``);
- ``server_batch_unpaced``: the same on a second server with the pacing off
  (``AIRS_MCP_BATCH_REQUESTS_PER_SECOND=0``): what the rate-limit default costs;
- ``naive_sdk``: pan-aisecurity's asyncio ``Scanner.async_scan`` of 5 items, one request after
  another, straight to the double;
- ``sequential_inline``: N ``pan_inline_scan`` calls one after another through this server;
- ``reference_batch`` (with ``--reference PATH``): the batch tool of the PANW SDK's example
  server (``examples/model_context_protocol/server.py``, path given by the user, run as it is
  from ``bench/reference_launcher.py`` in a venv of fastmcp, pan-aisecurity and python-dotenv
  made once under ``$AIRS_MCP_CACHE/bench/``), same client, ``scan_contents`` of
  ``{prompt, response}``.

Per call the double also reports the AIRS requests it received, the most it was answering at
once, and the most that arrived within any one second (``/_lean/stats``: counters, read
between calls, outside the timing). Writes ``bench/results/batch_fanout.json`` and ``.png``.
Loopback only; every loop is bounded in count, every call in time.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
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

from airs_mcp import config

from bench import venvs
from bench.clients import PROMPT, Direct, inline_call, mcp_session
from bench.host import host_facts
from bench.output import RESULTS, write_results
from bench.servers import LeanDouble, start_server
from bench.timing import interleaved, summarise
from harness.mcp_server import PROFILE_NAME
from harness.processes import ManagedProcess, env_without_proxies, spawn, wait_for_port

LATENCY_MS = 20
ITEMS_PER_REQUEST = 5  # AIRS's async scan limit (airs_mcp.scan.batching.MAX_OBJECTS_PER_ASYNC)
REFERENCE_PINS = {"fastmcp": "2.14.7", "pan-aisecurity": "0.11.0", "python-dotenv": "1.2.4"}
LAUNCHER = Path(__file__).with_name("reference_launcher.py")
SERIES = (
    "server_batch",
    "server_batch_unpaced",
    "naive_sdk",
    "sequential_inline",
    "reference_batch",
)
PLANS = {
    # rounds per item count; the warm-up round runs only before the first count
    "quick": {"items": [10, 50], "rounds": {10: 2, 50: 2}, "warmup": 1},
    "full": {"items": [100, 1000], "rounds": {100: 10, 1000: 3}, "warmup": 1},
}
CALL_TIMEOUT_S = 180.0  # one sample (1,000 sequential calls at 20 ms take ~30 s)

Call = Callable[[], Awaitable[Any]]


# --- the reference server ---------------------------------------------------------------------
def reference_venv() -> Path:
    name = "venv-reference-" + "-".join(f"{p}{v}" for p, v in REFERENCE_PINS.items())
    return venvs.venv_python(name, REFERENCE_PINS)


class ReferenceServer:
    """The PANW example server (``path``) over SSE on 127.0.0.1, pointed at the lean double."""

    def __init__(self, path: Path, double: LeanDouble, directory: Path) -> None:
        python = reference_venv()
        directory.mkdir(parents=True, exist_ok=True)
        port_file = directory / "reference.port"
        env = {
            k: v
            for k, v in env_without_proxies().items()
            if not k.startswith(("PANW_", "AIRS_MCP_"))
        }
        env.pop("PYTHONPATH", None)
        env.update(
            {
                "SSL_CERT_FILE": str(double.ca),  # the SDK trusts the double's CA, as Direct
                "PANW_AI_SEC_API_KEY": double.handle.api_key,
                "PANW_AI_PROFILE_NAME": PROFILE_NAME,
                "PANW_AI_SEC_API_ENDPOINT": double.url,
            }
        )
        argv = [str(python), "-I", str(LAUNCHER), "--server", str(path.resolve())]
        argv += ["--port-file", str(port_file)]
        self.process: ManagedProcess = spawn("reference-server", argv, env, directory / "log")
        self.url = f"http://127.0.0.1:{wait_for_port(self.process, port_file)}"

    def stop(self) -> None:
        self.process.stop()


# --- the series -------------------------------------------------------------------------------
def prompts(items: int) -> list[str]:
    return [f"{PROMPT} #{i}" for i in range(items)]


def server_batch(session: Any, items: int) -> Call:
    payload = {"items": [{"prompt": p} for p in prompts(items)]}
    requests = -(-items // ITEMS_PER_REQUEST)

    async def call() -> None:
        result = await session.call_tool("pan_batch_scan", payload)
        out = result.structured_content
        if result.is_error or out["failed"] or out["submitted"] != items:
            raise RuntimeError(f"batch failed: {result.content}")
        if out["requests"] != requests:
            raise RuntimeError(f"{out['requests']} requests for {items} items")

    return call


def reference_batch(session: Any, items: int) -> Call:
    payload = {"scan_contents": [{"prompt": p, "response": None} for p in prompts(items)]}
    requests = -(-items // ITEMS_PER_REQUEST)

    async def call() -> None:
        result = await session.call_tool("pan_batch_scan", payload)
        answers = (result.structured_content or {}).get("result")
        if result.is_error or not isinstance(answers, list) or len(answers) != requests:
            raise RuntimeError(f"reference batch failed: {result.content}")
        if not all(answer.get("scan_id") for answer in answers):
            raise RuntimeError(f"reference batch without scan ids: {answers[:2]}")

    return call


def naive_sdk(direct: Direct, items: int) -> Call:
    """One ``async_scan`` of 5 items after another (objects built inside the timed call, as a
    server does)."""
    from aisecurity.generated_openapi_client import (
        AsyncScanObject,
        ScanRequest,
        ScanRequestContentsInner,
    )

    texts = prompts(items)

    async def call() -> None:
        for start in range(0, items, ITEMS_PER_REQUEST):
            chunk = [
                AsyncScanObject(
                    req_id=start + offset,
                    scan_req=ScanRequest(
                        ai_profile=direct.profile,
                        contents=[ScanRequestContentsInner(prompt=text)],
                    ),
                )
                for offset, text in enumerate(texts[start : start + ITEMS_PER_REQUEST])
            ]
            response = await direct.scanner.async_scan(chunk)
            if not response.scan_id:
                raise RuntimeError(f"no scan id: {response}")

    return call


def sequential_inline(session: Any, items: int) -> Call:
    one = inline_call(session)

    async def call() -> None:
        for _ in range(items):
            await one()

    return call


def max_in_one_second(arrivals: list[float]) -> int:
    """The most arrivals within any window of one second."""
    ordered = sorted(arrivals)
    return max((bisect.bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered)), default=0)


def counted(double: LeanDouble, call: Call, record: list[dict[str, int]]) -> Call:
    """Time ``call`` (bounded) and append what the double saw during it to ``record``."""

    async def timed() -> float:
        double.take_stats()
        async with asyncio.timeout(CALL_TIMEOUT_S):
            begin = time.perf_counter()
            await call()
            elapsed = (time.perf_counter() - begin) * 1000
        seen = double.take_stats()
        record.append(
            {
                "requests": seen["requests"],
                "peak_in_flight": seen["peak_in_flight"],
                "max_per_second": max_in_one_second(seen["arrivals"]),
            }
        )
        return elapsed

    return timed


# --- run --------------------------------------------------------------------------------------
def figure(samples: dict[str, list[float]], seen: dict[str, list[dict[str, int]]]) -> dict:
    series: dict[str, Any] = {}
    for name, values in samples.items():
        stats: dict[str, Any] = summarise(values)
        stats["samples_ms"] = [round(v, 2) for v in values]
        kept = seen[name][-len(values) :]  # the warm-up round's calls are not samples
        stats["airs_requests"] = statistics.median(r["requests"] for r in kept)
        stats["peak_in_flight"] = max(r["peak_in_flight"] for r in kept)
        stats["max_requests_in_one_second"] = max(r["max_per_second"] for r in kept)
        series[name] = stats
    batch = series["server_batch"]["p50_ms"]
    for stats in series.values():
        stats["x_server_batch_p50"] = round(stats["p50_ms"] / batch, 2)
    return {"series": series}


def goals(figures: dict[str, Any], small: int, large: int) -> dict[str, Any]:
    """The batch goals, from the p50s (``met`` is None when a figure is missing)."""
    s, g = figures[str(small)]["series"], figures[str(large)]["series"]
    out: dict[str, Any] = {}
    ref = s.get("reference_batch")
    out["small_no_slower_than_reference"] = {
        "goal": f"pan_batch_scan of {small} items no slower than the reference (p50)",
        "server_p50_ms": s["server_batch"]["p50_ms"],
        "reference_p50_ms": ref["p50_ms"] if ref else None,
        "server_over_reference": round(s["server_batch"]["p50_ms"] / ref["p50_ms"], 2)
        if ref
        else None,
        "met": s["server_batch"]["p50_ms"] <= ref["p50_ms"] if ref else None,
    }
    speedup = round(g["sequential_inline"]["p50_ms"] / g["server_batch"]["p50_ms"], 1)
    out["large_vs_sequential"] = {
        "goal": f"pan_batch_scan of {large} items >= 20x faster than {large} sequential inline",
        "speedup": speedup,
        "met": speedup >= 20,
    }
    vs_naive = round(g["naive_sdk"]["p50_ms"] / g["server_batch"]["p50_ms"], 1)
    out["large_vs_naive"] = {
        "goal": f"pan_batch_scan of {large} items faster than one async request of 5 after another",
        "speedup": vs_naive,
        "met": vs_naive > 1,
    }
    busiest = max(
        figures[str(n)]["series"]["server_batch"]["max_requests_in_one_second"]
        for n in (small, large)
    )
    limit = config.AIRS_TENANT_REQUESTS_PER_SECOND
    out["default_respects_rate_limit"] = {
        "goal": f"the default sends at most {limit} requests in any second",
        "max_requests_in_one_second": busiest,
        "met": busiest <= limit,
    }
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    plan = PLANS["quick" if args.quick else "full"]
    workdir = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    clock = time.monotonic()
    double = LeanDouble(workdir / "double")
    servers = []
    reference = None
    figures: dict[str, Any] = {}
    try:
        server = start_server(double, workdir / "server")
        servers.append(server)
        unpaced = start_server(double, workdir / "unpaced", AIRS_MCP_BATCH_REQUESTS_PER_SECOND="0")
        servers.append(unpaced)
        if args.reference:
            print("[fanout] reference server ...", flush=True)
            reference = ReferenceServer(args.reference, double, workdir / "reference")
        double.set_latency(LATENCY_MS)
        async with AsyncExitStack() as stack:
            direct = Direct(double, stack)
            session = await mcp_session(stack, "sse", server.url)
            unpaced_session = await mcp_session(stack, "sse", unpaced.url)
            reference_session = None
            if reference is not None:
                # the example has no authentication: the bearer token is sent and ignored
                reference_session = await mcp_session(stack, "sse", reference.url)
            for position, items in enumerate(plan["items"]):
                builders: dict[str, Call] = {
                    "server_batch": server_batch(session, items),
                    "server_batch_unpaced": server_batch(unpaced_session, items),
                    "naive_sdk": naive_sdk(direct, items),
                    "sequential_inline": sequential_inline(session, items),
                }
                if reference_session is not None:
                    builders["reference_batch"] = reference_batch(reference_session, items)
                seen: dict[str, list[dict[str, int]]] = {name: [] for name in builders}
                calls = {n: counted(double, c, seen[n]) for n, c in builders.items()}
                rounds = plan["rounds"][items]
                print(f"[fanout] {items} items: {rounds} rounds", flush=True)
                samples = await interleaved(calls, rounds, plan["warmup"] if position == 0 else 0)
                figures[str(items)] = figure(samples, seen) | {"items": items, "rounds": rounds}
        double.set_latency(0)
    finally:
        if reference is not None:
            reference.stop()
        for one in servers:
            one.stop()
        double.stop()
    small, large = plan["items"]
    return {
        "benchmark": "batch_fanout",
        "mode": "quick" if args.quick else "full",
        "started_at": started,
        "seconds": round(time.monotonic() - clock, 1),
        "latency_ms": LATENCY_MS,
        "plan": {**plan, "rounds": {str(k): v for k, v in plan["rounds"].items()}},
        "server_settings": {
            "server_batch": "defaults: "
            f"AIRS_MCP_BATCH_CONCURRENCY {config.DEFAULT_BATCH_CONCURRENCY}, "
            f"AIRS_MCP_BATCH_REQUESTS_PER_SECOND {config.DEFAULT_BATCH_REQUESTS_PER_SECOND:g}, "
            f"AIRS_MCP_BATCH_BURST {config.DEFAULT_BATCH_BURST}",
            "server_batch_unpaced": "AIRS_MCP_BATCH_REQUESTS_PER_SECOND=0 "
            f"(concurrency {config.DEFAULT_BATCH_CONCURRENCY})",
        },
        "reference": (
            {"path": str(args.reference), "pins": REFERENCE_PINS} if args.reference else None
        ),
        "figures": figures,
        "goals": goals(figures, small, large),
        "host": host_facts(load_before),
    }


# --- output -----------------------------------------------------------------------------------
def table(result: dict[str, Any]) -> list[str]:
    rows = [
        f"{'items / series':<28}{'p50 ms':>11}{'p95 ms':>11}{'x batch':>9}{'AIRS req':>10}"
        f"{'peak':>6}{'max/s':>7}"
    ]
    for items, block in result["figures"].items():
        rows.append(f"{items} items, double at {result['latency_ms']} ms, {block['rounds']} rounds")
        for name, s in block["series"].items():
            rows.append(
                f"  {name:<26}{s['p50_ms']:>11.1f}{s['p95_ms']:>11.1f}"
                f"{s['x_server_batch_p50']:>9.2f}{s['airs_requests']:>10.0f}"
                f"{s['peak_in_flight']:>6}{s['max_requests_in_one_second']:>7}"
            )
    for key, goal in result["goals"].items():
        measured = " ".join(f"{k}={v}" for k, v in goal.items() if k not in ("goal", "met"))
        rows.append(f"goal {key}: met={goal['met']} {measured} ({goal['goal']})")
    return rows


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = list(result["figures"].values())
    fig, axes = plt.subplots(1, len(blocks) + 1, figsize=(6 * len(blocks) + 5, 5))
    colours = {
        "server_batch": "tab:green",
        "server_batch_unpaced": "tab:olive",
        "naive_sdk": "tab:blue",
        "sequential_inline": "tab:gray",
        "reference_batch": "tab:red",
    }
    for ax, block in zip(axes, blocks, strict=False):
        names = list(block["series"])
        values = [block["series"][n]["p50_ms"] for n in names]
        bars = ax.bar(range(len(names)), values, color=[colours[n] for n in names])
        ax.bar_label(bars, [f"x{block['series'][n]['x_server_batch_p50']:.2f}" for n in names])
        ax.set_yscale("log")
        ax.set_xticks(range(len(names)), [n.replace("_", "\n", 1) for n in names], fontsize=8)
        ax.set_ylabel("wall time for all items, p50 ms (label: ÷ server_batch)")
        ax.set_title(f"{block['items']} items, double at {result['latency_ms']} ms")
    ax = axes[-1]
    large = blocks[-1]["series"]
    names = list(large)
    width = 0.4
    ax.bar(
        [i - width / 2 for i in range(len(names))],
        [large[n]["peak_in_flight"] for n in names],
        width,
        label="peak in flight",
    )
    ax.bar(
        [i + width / 2 for i in range(len(names))],
        [large[n]["max_requests_in_one_second"] for n in names],
        width,
        label="most requests in one second",
    )
    limit = config.AIRS_TENANT_REQUESTS_PER_SECOND
    ax.axhline(limit, color="red", ls="--", label="AIRS default limit /s")
    ax.set_xticks(range(len(names)), [n.replace("_", "\n", 1) for n in names], fontsize=8)
    ax.set_title(f"at the double, {blocks[-1]['items']} items")
    ax.legend(fontsize=8)
    fig.suptitle(
        f"bench.batch_fanout ({result['mode']}), {result['started_at']}, "
        f"{result['host']['cpus']} cores, load {result['host']['loadavg_before'][0]}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.batch_fanout", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 and 50 items")
    parser.add_argument(
        "--reference",
        type=Path,
        metavar="PATH",
        help="the PANW SDK's examples/model_context_protocol/server.py, to run beside",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="batch_fanout")
    args = parser.parse_args(argv)
    if args.reference is not None and not args.reference.is_file():
        parser.error(f"--reference {args.reference}: no such file")
    result = asyncio.run(run(args))
    json_path, png_path = write_results(args.out, args.name, result)
    plot(result, png_path)
    print("\n".join(table(result)))
    print(f"wrote {json_path} and .png in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
