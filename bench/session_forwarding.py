"""Cost of a forwarded SSE message POST versus a direct POST to the replica holding the session.

One run, one AIRS double, two ``airs-mcp-server`` replicas with session routing (a shared key,
advertising ``127.0.0.1``): the SSE session lives on the owner; each round sends one JSON-RPC
``ping`` straight to the owner and one to the other replica, which forwards it (order rotates,
so background load hits both alike). Per POST two times are taken:

- ``post``: until the HTTP answer (202) — the part forwarding adds to;
- ``round_trip``: until the ``ping`` result arrives on the owner's event stream.

Run from the repository root::

    .venv/bin/python -m bench.session_forwarding [--calls 1000] [--warmup 50]

Writes ``bench/results/session_forwarding.json`` and ``.png`` and prints p50/p95 per series and
the forwarded/direct ratios. Loops are bounded by ``--calls`` and ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx

from bench.host import host_facts
from bench.inline_scan_latency import summarise
from bench.output import RESULTS, write_results
from bench.servers import NO_CLIENT_LIMITS
from harness.airs_double import start_airs_double
from harness.mcp_server import McpServerHandle, launch_mcp_server, routing_env

ROUTES = ("direct", "forwarded")
MEASURES = ("post", "round_trip")
INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-03-26",
        "capabilities": {},
        "clientInfo": {"name": "bench-session-forwarding", "version": "0"},
    },
}


class Stream:
    """The owner's SSE stream, read in the background: the message path and each response."""

    def __init__(self) -> None:
        self.path = ""
        self.ready = anyio.Event()
        self.waiting: dict[int, anyio.Event] = {}

    async def read(self, client: httpx.AsyncClient, url: str) -> None:
        async with client.stream("GET", url) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if not self.ready.is_set():
                    self.path = data
                    self.ready.set()
                    continue
                message = json.loads(data)
                event = self.waiting.pop(message.get("id"), None)
                if event is not None:
                    event.set()

    def expect(self, request_id: int) -> anyio.Event:
        event = anyio.Event()
        self.waiting[request_id] = event
        return event


async def ping(client: httpx.AsyncClient, stream: Stream, request_id: int) -> tuple[float, float]:
    """POST one ping; (ms until the 202, ms until its result came back on the stream)."""
    arrived = stream.expect(request_id)
    begin = time.perf_counter()
    response = await client.post(
        stream.path, json={"jsonrpc": "2.0", "id": request_id, "method": "ping"}
    )
    posted = time.perf_counter()
    if response.status_code != 202:
        raise RuntimeError(f"POST answered {response.status_code}: {response.text}")
    with anyio.fail_after(10):
        await arrived.wait()
    done = time.perf_counter()
    return (posted - begin) * 1000, (done - begin) * 1000


async def measure(
    owner: McpServerHandle, other: McpServerHandle, args: argparse.Namespace
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {f"{r}_{m}": [] for r in ROUTES for m in MEASURES}
    stream = Stream()
    auth = owner.auth_headers  # both replicas accept the fixtures' test token
    async with (
        httpx.AsyncClient(headers=auth, timeout=30) as sse,
        httpx.AsyncClient(base_url=owner.url, headers=auth, timeout=30) as direct,
        httpx.AsyncClient(base_url=other.url, headers=auth, timeout=30) as forwarded,
        anyio.create_task_group() as group,
    ):
        group.start_soon(stream.read, sse, owner.sse_url)
        with anyio.fail_after(15):
            await stream.ready.wait()
        initialized = stream.expect(0)
        (await direct.post(stream.path, json=INIT)).raise_for_status()
        await initialized.wait()
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        (await direct.post(stream.path, json=note)).raise_for_status()

        clients = {"direct": direct, "forwarded": forwarded}
        started = time.monotonic()
        request_id = 0
        for index in range(args.warmup + args.calls):
            if time.monotonic() - started > args.max_seconds:
                break
            order = ROUTES if index % 2 == 0 else ROUTES[::-1]
            for route in order:
                request_id += 1
                post_ms, trip_ms = await ping(clients[route], stream, request_id)
                if index >= args.warmup:
                    samples[f"{route}_post"].append(post_ms)
                    samples[f"{route}_round_trip"].append(trip_ms)
        group.cancel_scope.cancel()
    return samples


def forwards_logged(replica: McpServerHandle) -> int:
    return sum(
        1
        for line in replica.log_lines()
        if line.get("msg") == "session_forward" and line.get("outcome") == "forwarded"
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-forwarding-"))
    double = start_airs_double(workdir / "double")
    replicas: list[McpServerHandle] = []
    try:
        for name in ("owner", "other"):
            replicas.append(
                launch_mcp_server(
                    double,
                    workdir / name,
                    env_overrides={**routing_env(), **NO_CLIENT_LIMITS},
                    name=name,
                )
            )
        owner, other = replicas
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        load_before = os.getloadavg()
        samples = await measure(owner, other, args)
        series = {name: summarise(values) for name, values in samples.items()}
        ratios = {
            measure: {
                q: round(
                    series[f"forwarded_{measure}"][f"{q}_ms"]
                    / series[f"direct_{measure}"][f"{q}_ms"],
                    2,
                )
                for q in ("p50", "p95")
            }
            for measure in MEASURES
        }
        extra = {
            measure: {
                q: round(
                    series[f"forwarded_{measure}"][f"{q}_ms"]
                    - series[f"direct_{measure}"][f"{q}_ms"],
                    3,
                )
                for q in ("p50", "p95")
            }
            for measure in MEASURES
        }
        rounds = len(samples["direct_post"])
        return {
            "benchmark": "session_forwarding",
            "started_at": started_at,
            "rounds": rounds,
            "warmup": args.warmup,
            "forwarded_posts_logged": forwards_logged(other),
            "series": series,
            "ratio_forwarded_to_direct": ratios,
            "added_ms_forwarded_minus_direct": extra,
            "samples_ms": {name: [round(v, 3) for v in values] for name, values in samples.items()},
            "host": host_facts(load_before),
        }
    finally:
        for replica in replicas:
            replica.stop()
        double.stop()


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda value, _pos: f"{value:g}")
    samples = result["samples_ms"]
    fig, axes = plt.subplots(1, len(MEASURES), figsize=(11, 4.2))
    for axis, measure in zip(axes, MEASURES, strict=True):
        for route in ROUTES:
            name = f"{route}_{measure}"
            ordered = sorted(samples[name])
            ys = [(i + 1) / len(ordered) for i in range(len(ordered))]
            stats = result["series"][name]
            label = f"{route} p50 {stats['p50_ms']:.2f} / p95 {stats['p95_ms']:.2f} ms"
            axis.plot(ordered, ys, label=label)
        ratio = result["ratio_forwarded_to_direct"][measure]
        axis.set_title(f"{measure}: forwarded/direct p50 x{ratio['p50']}, p95 x{ratio['p95']}")
        axis.set_xscale("log")
        axis.xaxis.set_major_formatter(plain)
        axis.set_xlabel("ms per message POST (log scale)")
        axis.set_ylabel("fraction of POSTs")
        axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    fig.suptitle(
        f"SSE message POST to the owner vs via another replica, {result['rounds']} interleaved "
        f"rounds, {result['started_at']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_table(result: dict[str, Any]) -> None:
    print(f"SSE message POST, {result['rounds']} interleaved rounds (ms)")
    print(f"{'series':<22}{'p50':>9}{'p95':>9}{'mean':>9}")
    for name, stats in result["series"].items():
        print(f"{name:<22}{stats['p50_ms']:>9.2f}{stats['p95_ms']:>9.2f}{stats['mean_ms']:>9.2f}")
    for measure, ratio in result["ratio_forwarded_to_direct"].items():
        extra = result["added_ms_forwarded_minus_direct"][measure]
        print(
            f"{measure}: forwarded/direct p50 x{ratio['p50']} (+{extra['p50']} ms), "
            f"p95 x{ratio['p95']} (+{extra['p95']} ms)"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="measured rounds")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured first rounds")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="stop after this long")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for JSON and PNG")
    parser.add_argument("--name", default="session_forwarding", help="result file stem")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = anyio.run(run, args)
    json_path, png_path = write_results(args.out, args.name, result)
    plot(result, png_path)
    print_table(result)
    print(f"wrote {json_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
