"""The benchmark suite: one command, every figure, one JSON, one PNG.

Run from the repository root::

    .venv/bin/python -m bench            # full run, ~4-5 minutes on 2 busy cores
    .venv/bin/python -m bench --quick    # smoke run, ~1 minute, same figures, few samples

It starts a lean AIRS double (``bench.lean_double``; HTTPS on loopback), ``airs-mcp-server``
processes with this checkout's code first on ``PYTHONPATH``, and a real Traefik for the proxy
figure. Every comparison is measured side by side in one run (interleaved rounds or
alternating windows), so background load hits both sides alike; read the ratios, not the
absolute numbers. Traffic goes to 127.0.0.1 only, every loop is bounded in count and time.

Writes ``bench/results/suite.json`` and ``suite.png`` (``--out``/``--name`` change that) and
prints one table. ``bench/README.md`` explains each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import mcp1_client
from bench.clients import PROMPT, Direct, inline_call, mcp_session
from bench.host import host_facts
from bench.idle_sessions import one_run
from bench.output import RESULTS, write_results
from bench.server_code import server_code_at
from bench.servers import LeanDouble, start_server
from bench.timing import Call, calls_in_window, interleaved, with_ratios
from harness.mcp_server import PROFILE_NAME, McpServerHandle
from harness.traefik import run_traefik

FIGURES = (
    "double_cost",
    "latency_0ms",
    "latency_20ms",
    "throughput",
    "idle_sessions",
    "output_schema",
    "batch",
    "traefik",
)


# --- figures ----------------------------------------------------------------------------------
async def double_cost(double: LeanDouble, direct: Direct, rounds: int) -> dict[str, Any]:
    """The lean double's own round trip (plain aiohttp POST) beside the SDK's sync_scan."""
    import aiohttp

    body = json.dumps({"ai_profile": {"profile_name": PROFILE_NAME}, "contents": [{"prompt": 1}]})
    async with aiohttp.ClientSession() as http:

        async def raw() -> None:
            async with http.post(
                f"{double.url}/v1/scan/sync/request", data=body, ssl=double.ssl
            ) as response:
                await response.read()

        samples = await interleaved({"raw_http": raw, "direct_sdk": direct.call}, rounds, 10)
    out = with_ratios(samples, "direct_sdk")
    out["double_share_of_sdk_p50"] = out["series"]["raw_http"]["x_p50"]
    return out


async def latency(server: McpServerHandle, direct: Direct, rounds: int) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        calls = {
            "sse": inline_call(await mcp_session(stack, "sse", server.url)),
            "streamable_http": inline_call(await mcp_session(stack, "streamable_http", server.url)),
            "direct_sdk": direct.call,
        }
        samples = await interleaved(calls, rounds, max(3, rounds // 10))
    return with_ratios(samples, "direct_sdk")


async def throughput(
    server: McpServerHandle,
    double: LeanDouble,
    direct: Direct,
    levels: list[int],
    latencies: list[int],
    seconds: float,
    repeats: int,
) -> dict[str, Any]:
    """calls/s at each concurrency: SSE sessions, Streamable HTTP sessions, direct SDK tasks."""
    out: dict[str, Any] = {}
    for level in levels:
        async with AsyncExitStack() as stack:
            sse = [inline_call(await mcp_session(stack, "sse", server.url)) for _ in range(level)]
            http = [
                inline_call(await mcp_session(stack, "streamable_http", server.url))
                for _ in range(level)
            ]
            modes = {"sse": sse, "streamable_http": http, "direct_sdk": [direct.call] * level}
            for ms in latencies:
                double.set_latency(ms)
                await calls_in_window(modes["sse"][:1], 0.3)  # settle after the switch
                counts: dict[str, list[float]] = {m: [] for m in modes}
                for rep in range(repeats):
                    order = list(modes) if rep % 2 == 0 else list(reversed(modes))
                    for mode in order:
                        counts[mode].append(await calls_in_window(modes[mode], seconds) / seconds)
                rates = {m: round(statistics.fmean(v), 1) for m, v in counts.items()}
                ref = rates["direct_sdk"]
                out[f"{level}@{ms}ms"] = {
                    "sessions": level,
                    "latency_ms": ms,
                    "calls_per_s": rates,
                    "x_direct": {m: round(r / ref, 2) for m, r in rates.items()},
                }
    double.set_latency(0)
    return out


async def idle_sessions(
    double: LeanDouble, directory: Path, counts: list[int], settle: float
) -> dict[str, Any]:
    """RSS of a fresh server per count, as the image runs it: baseline, with N idle initialised
    SSE sessions held open by ``bench.idle_client`` (every stream read), and after they close
    (``bench.idle_sessions``' "after" variant)."""
    runs = []
    for count in counts:
        run = await one_run(double, directory / str(count), "after", count, settle)
        runs.append(
            {
                "sessions": count,
                "open_seconds": run["opened"]["seconds"],
                "rss_before_kb": run["rss_baseline_kb"],
                "rss_held_kb": run["rss_held_kb"],
                "rss_after_close_kb": run["rss_after_close_kb"],
                "kb_per_session": run["kb_per_session"],
                "after_close_over_baseline": run["after_close_over_baseline"],
            }
        )
    return {"baseline_rss_kb": runs[0]["rss_before_kb"], "runs": runs}


def _check_alone(schema: dict[str, Any], instance: Any, repeats: int) -> dict[str, float]:
    """The check alone on one real result, median ms: compiled once and reused (the 2.x client)
    vs ``jsonschema.validate`` per call (the 1.x client: it checks the schema against its
    metaschema and builds a validator every call), and, for a schema that declares its
    dialect, the same schema read as MCP's default 2020-12."""
    import jsonschema

    variants = {"validate_per_call_1x": schema}
    if "$schema" in schema:
        variants["validate_per_call_1x_as_2020_12"] = {
            key: value for key, value in schema.items() if key != "$schema"
        }
    validator = jsonschema.validators.validator_for(schema)(schema)
    micro: dict[str, list[float]] = {"compiled_once_2x": []} | {name: [] for name in variants}
    for _ in range(repeats):
        begin = time.perf_counter()
        list(validator.iter_errors(instance))
        micro["compiled_once_2x"].append((time.perf_counter() - begin) * 1000)
        for name, variant in variants.items():
            begin = time.perf_counter()
            jsonschema.validate(instance, variant)
            micro[name].append((time.perf_counter() - begin) * 1000)
    return {name: round(statistics.median(values), 3) for name, values in micro.items()}


def _schema_facts(schema: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(schema)
    return {
        "bytes": len(text),
        "has_defs_or_ref": "$defs" in text or "$ref" in text,
        "dialect": schema.get("$schema", "2020-12 (MCP default)"),
    }


async def output_schema(
    server: McpServerHandle,
    rounds: int,
    mcp1: Path,
    directory: Path,
    before: McpServerHandle | None = None,
) -> dict[str, Any]:
    """What the output schema costs a client: the stock 2.x client (in this process) and the
    stock 1.x client (``bench.mcp1_client``, its own venv and process), each with its check on
    and off, all interleaved; with ``before``, the same four series against that server too
    (prefix ``before_``). Plus the check alone on each server's real result."""
    targets = {"": server} | ({"before_": before} if before is not None else {})
    calls: dict[str, Call] = {}
    facts: dict[str, dict[str, Any]] = {}
    async with AsyncExitStack() as stack:
        for prefix, target in targets.items():
            checked = await mcp_session(stack, "sse", target.url, validate=True)
            unchecked = await mcp_session(stack, "sse", target.url)
            client_1x = mcp1_client.Mcp1Client(mcp1, target.url, directory / f"{prefix}mcp1.log")
            stack.callback(client_1x.close)
            listed = {t.name: t.output_schema for t in (await checked.list_tools()).tools}
            if await client_1x.output_schemas() != listed:
                raise RuntimeError("the 1.x and 2.x clients list different output schemas")
            schema = listed["pan_inline_scan"]
            result = await checked.call_tool("pan_inline_scan", {"prompt": PROMPT})
            facts[prefix] = {
                "schema": _schema_facts(schema)
                | {"bytes_per_tool": {name: len(json.dumps(s)) for name, s in listed.items()}},
                "check_alone_ms": _check_alone(schema, result.structured_content, 200),
                "mcp1_version": client_1x.version,
            }
            calls |= {
                f"{prefix}client_2x_validating": inline_call(checked),
                f"{prefix}client_2x_no_validation": inline_call(unchecked),
                f"{prefix}client_1x_validating": client_1x.inline_call(
                    "validating", {"prompt": PROMPT}
                ),
                f"{prefix}client_1x_no_validation": client_1x.inline_call(
                    "no_validation", {"prompt": PROMPT}
                ),
            }
        samples = await interleaved(calls, rounds, max(3, rounds // 10))
    out = with_ratios(samples, "client_2x_no_validation")
    series = out["series"]
    out["added_p50_ms"] = {
        f"{prefix}{client}": round(
            series[f"{prefix}{client}_validating"]["p50_ms"]
            - series[f"{prefix}{client}_no_validation"]["p50_ms"],
            3,
        )
        for prefix in targets
        for client in ("client_2x", "client_1x")
    }
    out |= facts[""]
    if before is not None:
        out["before"] = facts["before_"]
    return out


async def batch(
    server: McpServerHandle, double: LeanDouble, items: int, repeats: int
) -> dict[str, Any]:
    """pan_batch_scan of N items vs N sequential pan_inline_scan calls, double at 20 ms."""
    double.set_latency(20)
    try:
        async with AsyncExitStack() as stack:
            session = await mcp_session(stack, "sse", server.url)
            one = inline_call(session)
            payload = {"items": [{"prompt": f"{PROMPT} #{i}"} for i in range(items)]}

            async def batch_call() -> None:
                result = await session.call_tool("pan_batch_scan", payload)
                if result.is_error or result.structured_content["failed"]:
                    raise RuntimeError(f"batch failed: {result.content}")

            async def sequential() -> None:
                for _ in range(items):
                    await one()

            samples = await interleaved(
                {"batch_scan": batch_call, "sequential_inline": sequential}, repeats, 1
            )
    finally:
        double.set_latency(0)
    out = with_ratios(samples, "batch_scan")
    out["items"] = items
    out["latency_ms"] = 20
    out["speedup"] = out["series"]["sequential_inline"]["x_p50"]
    return out


async def traefik(
    server: McpServerHandle, directory: Path, direct: Direct, rounds: int
) -> dict[str, Any]:
    """The same calls through a real Traefik (sticky cookie; ``/sse/`` and ``/mcp``) and
    straight to the process."""
    with run_traefik([server.url], sticky=True, directory=directory, mcp_route=True) as proxy:
        async with AsyncExitStack() as stack:
            calls = {
                "sse_direct": inline_call(await mcp_session(stack, "sse", server.url)),
                "sse_traefik": inline_call(await mcp_session(stack, "sse", proxy.url)),
                "streamable_http_direct": inline_call(
                    await mcp_session(stack, "streamable_http", server.url)
                ),
                "streamable_http_traefik": inline_call(
                    await mcp_session(stack, "streamable_http", proxy.url)
                ),
                "direct_sdk": direct.call,
            }
            samples = await interleaved(calls, rounds, max(3, rounds // 10))
    out = with_ratios(samples, "direct_sdk")
    series = out["series"]
    out["traefik_over_direct_p50"] = {
        t: round(series[f"{t}_traefik"]["p50_ms"] / series[f"{t}_direct"]["p50_ms"], 2)
        for t in ("sse", "streamable_http")
    }
    return out


# --- run --------------------------------------------------------------------------------------
PLANS = {
    "quick": {
        "rounds": 15,
        "levels": [1, 10],
        "latencies": [20],
        "window_s": 1.0,
        "repeats": 1,
        "idle": [100],
        "settle": 1.0,
        "batch_items": 20,
        "batch_repeats": 1,
    },
    "full": {
        "rounds": 300,
        "levels": [1, 10, 100],
        "latencies": [0, 20],
        "window_s": 4.0,
        "repeats": 2,
        "idle": [1000],
        "settle": 3.0,
        "batch_items": 100,
        "batch_repeats": 3,
    },
}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    plan = dict(PLANS["quick" if args.quick else "full"])
    workdir = Path(tempfile.mkdtemp(prefix="bench-suite-"))
    print("[bench] mcp 1.x client venv ...", flush=True)
    mcp1 = mcp1_client.venv_python()  # made once (pip), before anything is timed
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    clock = time.monotonic()
    timings: dict[str, float] = {}
    figures: dict[str, Any] = {}
    double = LeanDouble(workdir / "double")
    server = None
    try:
        server = start_server(double, workdir / "server")
        async with AsyncExitStack() as stack:
            direct = Direct(double, stack)

            async def step(name: str, work: Awaitable[Any]) -> None:
                began = time.monotonic()
                print(f"[bench] {name} ...", flush=True)
                figures[name] = await work
                timings[name] = round(time.monotonic() - began, 1)

            rounds = plan["rounds"]
            await step("double_cost", double_cost(double, direct, rounds))
            await step("latency_0ms", latency(server, direct, rounds))
            double.set_latency(20)
            await step("latency_20ms", latency(server, direct, max(10, rounds // 2)))
            double.set_latency(0)
            await step(
                "throughput",
                throughput(
                    server,
                    double,
                    direct,
                    plan["levels"],
                    plan["latencies"],
                    plan["window_s"],
                    plan["repeats"],
                ),
            )
            before = None
            if args.schema_before:
                code = server_code_at(args.schema_before, workdir / "before-code")
                before = start_server(double, workdir / "before", PYTHONPATH=str(code))
            try:
                await step(
                    "output_schema",
                    output_schema(server, max(10, rounds // 2), mcp1, workdir, before),
                )
            finally:
                if before is not None:
                    before.stop()
            await step("batch", batch(server, double, plan["batch_items"], plan["batch_repeats"]))
            await step(
                "traefik", traefik(server, workdir / "traefik", direct, max(10, rounds // 2))
            )
        server.stop()
        server = None
        await_idle = idle_sessions(double, workdir / "idle", plan["idle"], plan["settle"])
        began = time.monotonic()
        print("[bench] idle_sessions ...", flush=True)
        figures["idle_sessions"] = await await_idle
        timings["idle_sessions"] = round(time.monotonic() - began, 1)
    finally:
        if server is not None:
            server.stop()
        double.stop()
    return {
        "benchmark": "suite",
        "mode": "quick" if args.quick else "full",
        "started_at": started_at,
        "seconds": round(time.monotonic() - clock, 1),
        "step_seconds": timings,
        "plan": plan,
        "schema_before": args.schema_before,
        "figures": {name: figures[name] for name in FIGURES},
        "host": host_facts(load_before),
    }


# --- output -----------------------------------------------------------------------------------
def table(result: dict[str, Any]) -> list[str]:
    f = result["figures"]
    rows = [f"{'figure':<44}{'p50 ms':>9}{'p95 ms':>9}{'x p50':>8}{'x p95':>8}"]

    def series(title: str, block: dict[str, Any]) -> None:
        rows.append(f"{title} (x: vs {block['reference']})")
        for name, s in block["series"].items():
            rows.append(
                f"  {name:<42}{s['p50_ms']:>9.2f}{s['p95_ms']:>9.2f}{s['x_p50']:>8.2f}"
                f"{s['x_p95']:>8.2f}"
            )

    series("lean double's own cost", f["double_cost"])
    series("pan_inline_scan, double at 0 ms", f["latency_0ms"])
    series("pan_inline_scan, double at 20 ms", f["latency_20ms"])
    rows.append("throughput (calls/s; x vs direct SDK)")
    for key, t in f["throughput"].items():
        parts = ", ".join(
            f"{m} {t['calls_per_s'][m]:.0f} (x{t['x_direct'][m]:.2f})" for m in t["calls_per_s"]
        )
        rows.append(f"  {key:<10}{parts}")
    o = f["output_schema"]
    series("output schema: stock 2.x and 1.x clients, check on / off (SSE)", o)
    rows.append(f"  added by the check, p50 ms: {o['added_p50_ms']}")
    before = (f"before ({result['schema_before']})", o.get("before"))
    for label, block in (("this code", o), before):
        if block is not None:
            s = block["schema"]
            rows.append(
                f"  {label}: check alone (median ms) {block['check_alone_ms']}; schema "
                f"{s['bytes']} B, $defs/$ref: {s['has_defs_or_ref']}, dialect {s['dialect']}"
            )
    b = f["batch"]
    series(f"{b['items']} items at 20 ms", b)
    t = f["traefik"]
    series("through Traefik (sticky) vs direct, double at 0 ms", t)
    rows.append(f"  Traefik / direct p50: {t['traefik_over_direct_p50']}")
    i = f["idle_sessions"]
    rows.append(f"idle SSE sessions (baseline RSS {i['baseline_rss_kb'] / 1024:.1f} MB)")
    for r in i["runs"]:
        rows.append(
            f"  {r['sessions']:>6} sessions: {r['kb_per_session']:.1f} kB each, held "
            f"{r['rss_held_kb'] / 1024:.1f} MB, after close {r['rss_after_close_kb'] / 1024:.1f} MB"
            f" (x{r['after_close_over_baseline']:.2f} baseline)"
        )
    c = f["double_cost"]["double_share_of_sdk_p50"]
    rows.append(f"lean double raw round trip = {c:.2f} of the direct SDK call (p50)")
    return rows


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = result["figures"]
    fig, axes = plt.subplots(2, 3, figsize=(16, 8.5))
    (lat, thr, sch), (bat, tra, idl) = axes

    names = ["direct_sdk", "sse", "streamable_http"]
    width = 0.2
    for offset, (key, label) in enumerate((("latency_0ms", "0 ms"), ("latency_20ms", "20 ms"))):
        block = f[key]["series"]
        for j, stat in enumerate(("p50_ms", "p95_ms")):
            xs = [i + (offset * 2 + j - 1.5) * width for i in range(len(names))]
            bars = lat.bar(xs, [block[n][stat] for n in names], width, label=f"{label} {stat[:3]}")
            if stat == "p50_ms":
                lat.bar_label(bars, [f"x{block[n]['x_p50']:.2f}" for n in names], fontsize=7)
    lat.set_xticks(range(len(names)), names)
    lat.set_ylabel("ms per call")
    lat.set_title("pan_inline_scan vs direct SDK (label: p50 ratio)")
    lat.legend(fontsize=7)

    for key_ms, style in ((0, "--"), (20, "-")):
        points = [t for t in f["throughput"].values() if t["latency_ms"] == key_ms]
        if not points:
            continue
        levels = [p["sessions"] for p in points]
        for mode in ("direct_sdk", "sse", "streamable_http"):
            thr.plot(
                levels,
                [p["calls_per_s"][mode] for p in points],
                style,
                marker="o",
                label=f"{mode} @{key_ms} ms",
            )
    thr.set_xscale("log")
    thr.set_xlabel("concurrent sessions")
    thr.set_ylabel("calls/s")
    thr.set_title("throughput per process")
    thr.legend(fontsize=7)

    o = f["output_schema"]
    snames = list(o["series"])
    colours = ["tab:orange" if n.endswith("_validating") else "tab:blue" for n in snames]
    sch.bar(range(len(snames)), [o["series"][n]["p50_ms"] for n in snames], color=colours)
    sch.set_xticks(
        range(len(snames)),
        [n.replace("client_", "").replace("_", "\n", 2) for n in snames],
        fontsize=6,
    )
    sch.set_ylabel("p50 ms per call (orange: check on)")
    title = f"output schema: 1.x check alone {o['check_alone_ms']['validate_per_call_1x']:.2f} ms"
    if "before" in o:
        title += f" (before: {o['before']['check_alone_ms']['validate_per_call_1x']:.2f} ms)"
    sch.set_title(title, fontsize=9)

    b = f["batch"]
    bvals = [b["series"]["batch_scan"]["p50_ms"], b["series"]["sequential_inline"]["p50_ms"]]
    bat.bar(["pan_batch_scan", "sequential inline"], bvals, color=["tab:green", "tab:gray"])
    bat.set_ylabel("ms for all items (p50)")
    bat.set_title(f"{b['items']} items, double at 20 ms: x{b['speedup']:.1f}")

    t = f["traefik"]["series"]
    tnames = list(t)
    tra.bar(range(len(tnames)), [t[n]["p50_ms"] for n in tnames], color="tab:purple")
    tra.set_xticks(range(len(tnames)), [n.replace("_", "\n", 1) for n in tnames], fontsize=7)
    tra.set_ylabel("p50 ms")
    tra.set_title(
        f"Traefik sticky / direct p50: {f['traefik']['traefik_over_direct_p50']}", fontsize=9
    )

    i = f["idle_sessions"]
    runs = i["runs"]
    idl.plot(
        [0] + [r["sessions"] for r in runs],
        [i["baseline_rss_kb"] / 1024] + [r["rss_held_kb"] / 1024 for r in runs],
        marker="o",
        label="held",
    )
    idl.scatter(
        [r["sessions"] for r in runs],
        [r["rss_after_close_kb"] / 1024 for r in runs],
        color="tab:red",
        label="after they close",
    )
    idl.axhline(i["baseline_rss_kb"] / 1024, color="gray", ls=":", label="baseline")
    idl.set_xlabel("idle SSE sessions")
    idl.set_ylabel("server RSS (MB)")
    idl.set_title("idle sessions: " + ", ".join(f"{r['kb_per_session']:.0f} kB" for r in runs))
    idl.legend(fontsize=7)

    fig.suptitle(
        f"airs-mcp bench suite ({result['mode']}), {result['started_at']}, "
        f"{result['host']['cpus']} cores, load {result['host']['loadavg_before'][0]}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few samples, ~1 minute")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for JSON and PNG")
    parser.add_argument("--name", default="suite", help="result file stem")
    parser.add_argument(
        "--schema-before",
        metavar="REV",
        help="output_schema also against a server running the server/ code of git commit REV",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = asyncio.run(run(args))
    json_path, png_path = write_results(args.out, args.name, result)
    plot(result, png_path)
    print("\n".join(table(result)))
    print(f"wrote {json_path} and {png_path} in {result['seconds']} s")
    return 0
