"""What one more process on the path costs, with the AIRS double at 0 ms and at 20 ms.

    .venv/bin/python -m bench.hop_cost [--rounds 300]        # ~1 minute; bench/results/hop_cost.*

The MCP server is one more process between the client and AIRS. Part of what it adds is its
code; part is the machine's: one more process to wake, twice per call. This measures the
second part alone. A plain TCP relay (``--relay``: asyncio on uvloop, as the server runs, bytes
copied both ways, no parsing) in its own process in front of the lean double; the client posts
the same scan request over one keep-alive aiohttp connection straight to the double
(``direct``) and through the relay (``relay``), interleaved (one of each per round, rotating
order), first with the double answering at once, then after 20 ms. ``added_ms`` = relay - direct
(p50). If the relay adds more at 20 ms than at 0 ms, that extra is the cost of waking idle
processes, and the server pays it too.

Loopback only; every loop is bounded in count, every call in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.host import host_facts
from bench.output import RESULTS, write_results
from bench.servers import LeanDouble
from bench.timing import interleaved, with_ratios
from harness.mcp_server import PROFILE_NAME
from harness.processes import env_without_proxies, spawn, wait_for_port

LATENCIES_MS = (0, 20)
CALL_TIMEOUT_S = 10
COPY_CHUNK = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(COPY_CHUNK):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def relay(target_port: int, port_file: Path) -> None:
    """Accept on an ephemeral loopback port (written to ``port_file``) and copy every connection
    to and from ``127.0.0.1:target_port``."""

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(connection, "127.0.0.1", 0)
    await asyncio.to_thread(port_file.write_text, str(server.sockets[0].getsockname()[1]))
    async with server:
        await server.serve_forever()


async def measure(double: LeanDouble, relay_url: str, rounds: int) -> dict[str, Any]:
    import aiohttp

    body = json.dumps({"ai_profile": {"profile_name": PROFILE_NAME}, "contents": [{"prompt": 1}]})
    timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT_S)
    figures: dict[str, Any] = {}
    async with aiohttp.ClientSession(timeout=timeout) as http:

        def post_to(base: str) -> Callable[[], Awaitable[None]]:
            async def call() -> None:
                url = f"{base}/v1/scan/sync/request"
                async with http.post(url, data=body, ssl=double.ssl) as response:
                    response.raise_for_status()
                    await response.read()

            return call

        calls = {"direct": post_to(double.url), "relay": post_to(relay_url)}
        for ms in LATENCIES_MS:
            double.set_latency(ms)
            samples = await interleaved(calls, rounds, max(5, rounds // 10))
            out = with_ratios(samples, "direct")
            series = out["series"]
            out["added_ms_p50"] = round(series["relay"]["p50_ms"] - series["direct"]["p50_ms"], 3)
            figures[f"{ms}ms"] = out
    figures["extra_at_20ms_ms"] = round(
        figures["20ms"]["added_ms_p50"] - figures["0ms"]["added_ms_p50"], 3
    )
    return figures


def table(result: dict[str, Any]) -> list[str]:
    lines = [
        "| double | direct p50 ms | through the relay p50 ms | added ms |",
        "|---|---|---|---|",
    ]
    for ms in LATENCIES_MS:
        figure = result["figures"][f"{ms}ms"]
        series = figure["series"]
        lines.append(
            f"| {ms} ms | {series['direct']['p50_ms']} | {series['relay']['p50_ms']} "
            f"| {figure['added_ms_p50']} |"
        )
    lines.append(f"extra added at 20 ms: {result['figures']['extra_at_20ms_ms']} ms")
    return lines


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(5, 3.5))
    labels = [f"double at {ms} ms" for ms in LATENCIES_MS]
    added = [result["figures"][f"{ms}ms"]["added_ms_p50"] for ms in LATENCIES_MS]
    axis.bar(labels, added, color=["tab:blue", "tab:orange"])
    axis.set_ylabel("relay p50 - direct p50 (ms)")
    axis.set_title("one more process on the path")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="hop_cost")
    parser.add_argument("--relay", type=int, metavar="TARGET_PORT", help=argparse.SUPPRESS)
    parser.add_argument("--port-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.relay:
        import uvloop

        uvloop.run(relay(args.relay, args.port_file))
        return
    load_before = os.getloadavg()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    workdir = Path(tempfile.mkdtemp(prefix="bench-hop-"))
    double = LeanDouble(workdir / "double")
    port_file = workdir / "relay.port"
    target_port = int(double.url.rsplit(":", 1)[1])
    argv = [sys.executable, "-m", "bench.hop_cost", "--relay", str(target_port)]
    relay_process = spawn(
        "relay",
        [*argv, "--port-file", str(port_file)],
        env_without_proxies(),
        workdir / "relay.log",
    )
    try:
        relay_url = f"https://127.0.0.1:{wait_for_port(relay_process, port_file)}"
        figures = asyncio.run(measure(double, relay_url, args.rounds))
    finally:
        relay_process.stop()
        double.stop()
    result = {
        "benchmark": "hop_cost",
        "started_at": started_at,
        "rounds": args.rounds,
        "figures": figures,
        "host": host_facts(load_before),
    }
    _, png_path = write_results(args.out, args.name, result)
    plot(result, png_path)
    print("\n".join(table(result)))


if __name__ == "__main__":
    main()
