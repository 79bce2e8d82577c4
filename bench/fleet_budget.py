"""One AIRS budget for the fleet: five servers against one tenant limit, with and without the share.

    .venv/bin/python -m bench.fleet_budget            # ~2 minutes
    .venv/bin/python -m bench.fleet_budget --quick    # smoke run

One AIRS double (``airs-api-double``, the validating one) limits the tenant to 150 requests in
any second and answers 429 beyond (``--tenant-rate``), each answer 20 ms late as a remote AIRS.
Two fleets of five real ``airs-mcp-server`` processes point at it:

- ``fleet_share``: each told the five replica addresses (``AIRS_MCP_FLEET_PEERS``: five
  loopback addresses, resolved by the same ``getaddrinfo`` path a headless Service name takes)
  and the tenant's rate (``AIRS_MCP_AIRS_TENANT_RATE=150``): each paces at its share;
- ``per_pod``: the pacing before the share, each pod at its own default (100/s after 20).

A round sends one ``pan_batch_scan`` of N items (500; quick: 100) to each of a fleet's five
servers at once (Streamable HTTP, the ``mcp`` client, sessions opened outside the timing); the
two fleets alternate, order rotating per round. Per round the double's stats give the requests
that arrived (429s and retries included), the most in any one second, the mean rate from first
to last, and the 429s; the calls give the items that failed and each batch's wall time. Writes
``bench/results/fleet_budget.json``. Loopback only; every loop is bounded in count, every call
in time.
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
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.host import host_facts
from bench.output import RESULTS, write_results
from harness.airs_double import AirsDouble, start_airs_double
from harness.mcp_client import open_session
from harness.mcp_server import McpServerHandle, launch_mcp_server

TENANT_RATE = 150
REPLICAS = 5
LATENCY_MS = 20
PEERS = ",".join(f"127.0.0.{n}" for n in range(1, REPLICAS + 1))
FLEETS = {
    "fleet_share": {"AIRS_MCP_FLEET_PEERS": PEERS, "AIRS_MCP_AIRS_TENANT_RATE": str(TENANT_RATE)},
    "per_pod": {},
}
PLANS = {"quick": {"items": 100, "rounds": 2}, "full": {"items": 500, "rounds": 6}}
CALL_TIMEOUT_S = 120.0


def most_in_one_second(times: list[float]) -> int:
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered)), default=0)


async def quiet_window(double: AirsDouble) -> None:
    """Wait until the last request the double saw left its one-second window (bounded)."""
    for _ in range(50):
        await asyncio.sleep(0.1)
        if double.stats()["in_flight"] == 0:
            break
    await asyncio.sleep(1.1)


async def one_round(sessions: list[Any], double: AirsDouble, items: int) -> dict[str, Any]:
    payload = {"items": [{"prompt": f"benign question {i}"} for i in range(items)]}
    double.reset()

    async def batch(session: Any) -> tuple[float, int]:
        begin = time.perf_counter()
        result = await session.call_tool("pan_batch_scan", payload)
        elapsed = (time.perf_counter() - begin) * 1000
        out = result.structured_content
        if result.is_error or out is None:
            raise RuntimeError(f"batch failed: {result.content}")
        return elapsed, int(out["failed"])

    async with asyncio.timeout(CALL_TIMEOUT_S):
        answers = await asyncio.gather(*(batch(s) for s in sessions))
    stats = double.stats()
    arrivals = sorted(t for times in stats["arrivals"].values() for t in times)
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    return {
        "batch_ms": [round(ms, 1) for ms, _ in answers],
        "failed_items": sum(failed for _, failed in answers),
        "requests": len(arrivals),
        "max_in_one_second": most_in_one_second(arrivals),
        "mean_per_second": round(len(arrivals) / span, 1) if span else None,
        "answered_429": stats["statuses"].get("429", 0),
    }


def summary(rounds: list[dict[str, Any]], items: int) -> dict[str, Any]:
    batch = [ms for r in rounds for ms in r["batch_ms"]]
    fleet_wall = [max(r["batch_ms"]) for r in rounds]
    means = [r["mean_per_second"] for r in rounds if r["mean_per_second"]]
    return {
        "max_in_one_second": max(r["max_in_one_second"] for r in rounds),
        "mean_per_second_median": statistics.median(means) if means else None,
        "answered_429_per_round": statistics.median(r["answered_429"] for r in rounds),
        "answered_429_total": sum(r["answered_429"] for r in rounds),
        "failed_items_total": sum(r["failed_items"] for r in rounds),
        "items_total": items * REPLICAS * len(rounds),
        "requests_per_round_median": statistics.median(r["requests"] for r in rounds),
        "batch_p50_ms": round(statistics.median(batch), 1),
        "batch_max_ms": max(batch),
        "all_five_p50_ms": round(statistics.median(fleet_wall), 1),
        "rounds": rounds,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    plan = PLANS["quick" if args.quick else "full"]
    workdir = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    clock = time.monotonic()
    double = start_airs_double(workdir / "double", args=["--tenant-rate", str(TENANT_RATE)])
    servers: list[McpServerHandle] = []
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in FLEETS}
    try:
        fleets: dict[str, list[McpServerHandle]] = {}
        for name, env in FLEETS.items():
            print(f"[fleet] starting {REPLICAS} servers: {name}", flush=True)
            fleets[name] = []
            for n in range(REPLICAS):
                server = launch_mcp_server(double, workdir / f"{name}-{n}", env_overrides=env)
                servers.append(server)
                fleets[name].append(server)
        double.set_fault(latency_ms=LATENCY_MS, count=-1)
        async with AsyncExitStack() as stack:
            sessions = {
                name: [
                    await stack.enter_async_context(open_session("streamable_http", s.url))
                    for s in fleet
                ]
                for name, fleet in fleets.items()
            }
            order = list(FLEETS)
            for number in range(plan["rounds"]):
                for name in order:
                    await quiet_window(double)
                    seen = await one_round(sessions[name], double, plan["items"])
                    rounds[name].append(seen)
                    print(
                        f"[fleet] round {number + 1} {name}: max/s {seen['max_in_one_second']}, "
                        f"429 {seen['answered_429']}, failed {seen['failed_items']}",
                        flush=True,
                    )
                order.reverse()
        double.clear_faults()
    finally:
        for server in servers:
            server.stop()
        double.stop()
    return {
        "benchmark": "fleet_budget",
        "mode": "quick" if args.quick else "full",
        "started_at": started,
        "seconds": round(time.monotonic() - clock, 1),
        "tenant_rate": TENANT_RATE,
        "replicas": REPLICAS,
        "latency_ms": LATENCY_MS,
        "plan": plan,
        "fleets": {name: dict(env) for name, env in FLEETS.items()},
        "series": {name: summary(r, plan["items"]) for name, r in rounds.items()},
        "host": host_facts(load_before),
    }


def table(result: dict[str, Any]) -> list[str]:
    rows = [
        f"{'series':<14}{'max/s':>7}{'mean/s':>8}{'429/round':>10}{'failed':>8}"
        f"{'req/round':>10}{'batch p50 ms':>13}{'all five p50 ms':>16}"
    ]
    for name, s in result["series"].items():
        rows.append(
            f"{name:<14}{s['max_in_one_second']:>7}{s['mean_per_second_median'] or 0:>8.1f}"
            f"{s['answered_429_per_round']:>10}{s['failed_items_total']:>8}"
            f"{s['requests_per_round_median']:>10}{s['batch_p50_ms']:>13.1f}"
            f"{s['all_five_p50_ms']:>16.1f}"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fleet_budget", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 100 items, 2 rounds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="fleet_budget")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    json_path, _ = write_results(args.out, args.name, result)
    print("\n".join(table(result)))
    print(f"wrote {json_path} in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
