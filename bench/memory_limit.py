"""How many idle SSE sessions fit the pod's memory limit, and what happens at the edge.

The server runs as the image runs it (``PYTHONMALLOC=malloc``) inside a real memory cgroup of
the Deployment's limit (512 MiB; ``harness/cgroup.py``), with the session cap and
concurrency limit off. ``bench.idle_client`` opens initialised idle SSE sessions in steps until
one is refused or the server is gone; after every step the server's RSS and the cgroup's
charge are read. Two runs: with the memory refusal (default fraction 0.85) and without it
(``AIRS_MCP_MEMORY_REFUSE_FRACTION=0``, where the kernel's OOM killer ends the run).

``python -m bench.memory_limit [--limit-mib 512] [--step 250]`` (needs root and a writable
cgroup; about 2 minutes). Loopback only; at most ``--max`` sessions per run.
"""

from __future__ import annotations

import argparse
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bench.idle_sessions import ClientProcess
from bench.output import RESULTS, write_results
from bench.servers import SERVER_ENV, LeanDouble, rss_kb
from harness.cgroup import memory_cgroup
from harness.mcp_server import launch_mcp_server

VARIANTS = {"refusal": {}, "no_refusal": {"AIRS_MCP_MEMORY_REFUSE_FRACTION": "0"}}


def one_run(
    double: LeanDouble, directory: Path, variant: str, limit: int, step: int, most: int
) -> dict[str, Any]:
    cgroup = memory_cgroup(f"airs-mcp-bench-{uuid.uuid4().hex[:8]}", limit)
    if cgroup is None:
        raise SystemExit("no writable memory cgroup here (needs root and a cgroup mount)")
    steps: list[dict[str, Any]] = []
    try:
        env = {**SERVER_ENV, "PYTHONMALLOC": "malloc", **VARIANTS[variant]}
        server = launch_mcp_server(
            double.handle, directory, env_overrides=env, wrapper=cgroup.wrapper()
        )
        pid = server.process.proc.pid

        def record(held: int, refused: int, answer: dict[str, Any]) -> None:
            alive = server.process.running()
            steps.append(
                {
                    "held": held,
                    "refused": refused,
                    "failed": answer["failed"],
                    "rss_mb": round(rss_kb(pid) / 1024, 1) if alive else None,
                    "cgroup_mb": round(cgroup.usage_bytes() / 2**20, 1),
                    "alive": alive,
                }
            )
            print(f"[memory_limit] {variant}: {steps[-1]}", flush=True)

        client = ClientProcess(server.url)
        try:
            held, refused = client.open_until_refused(step, most, server.process.running, record)
        finally:
            client.stop()
        alive = server.process.running()
        server.stop()
        return {
            "variant": variant,
            "limit_mib": limit >> 20,
            "held_at_end": held,
            "refused": refused,
            "alive_at_end": alive,
            "oom_kills": cgroup.oom_kills(),
            "steps": steps,
        }
    finally:
        cgroup.remove()


def table(result: dict[str, Any]) -> list[str]:
    rows = ["| variant | sessions held at the end | refused | alive | OOM kills | last RSS MB |"]
    rows.append("|---|---|---|---|---|---|")
    for run in result["runs"]:
        rss = [s["rss_mb"] for s in run["steps"] if s["rss_mb"] is not None]
        rows.append(
            f"| {run['variant']} | {run['held_at_end']:,} | {run['refused']} | "
            f"{run['alive_at_end']} | {run['oom_kills']} | {rss[-1] if rss else '-'} |"
        )
    return rows


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(7, 4))
    for run in result["runs"]:
        points = [(s["held"], s["rss_mb"]) for s in run["steps"] if s["rss_mb"] is not None]
        label = f"{run['variant']}: {'alive' if run['alive_at_end'] else 'OOM-killed'}"
        axis.plot(*zip(*points, strict=True), marker="o", label=label)
    limit = result["runs"][0]["limit_mib"]
    axis.axhline(limit, color="red", linestyle="--", label=f"limit {limit:.0f} MiB")
    axis.axhline(limit * 0.85, color="grey", linestyle=":", label="0.85 of the limit")
    axis.set_xlabel("idle SSE sessions held")
    axis.set_ylabel("server RSS (MiB)")
    axis.set_title("idle sessions in a memory cgroup")
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-mib", type=int, default=512)
    parser.add_argument("--step", type=int, default=250)
    parser.add_argument("--max", type=int, default=8000)
    parser.add_argument("--name", default="memory_limit")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-memory-limit-"))
    double = LeanDouble(workdir / "double")
    try:
        runs = [
            one_run(double, workdir / v, v, args.limit_mib << 20, args.step, args.max)
            for v in VARIANTS
        ]
    finally:
        double.stop()
    result = {"benchmark": "memory_limit", "runs": runs}
    _, png_path = write_results(args.out, args.name, result)
    plot(result, png_path)
    print("\n".join(table(result)))


if __name__ == "__main__":
    main()
