"""Deployment wall time: ``make deploy`` re-run, and a cold ``site.yml``, per role.

    .venv/bin/python -m bench.deploy                              # this checkout's collection
    .venv/bin/python -m bench.deploy --variant before=REV --variant now=.   # side by side
    .venv/bin/python -m bench.deploy --cold                       # also uninstall + first run

Needs the embedded cluster deployed once (``make deploy``). Each ``--variant NAME=REV`` is the
collection of commit REV (``git archive REV collections``; ``.`` = this checkout), given to
``scripts/deploy.sh`` (what ``make deploy`` runs) through ``ANSIBLE_COLLECTIONS_PATH``; the
playbooks, scripts and images are this checkout's. Every run has Ansible's
``ansible.posix.profile_roles`` callback on, and the figures come from what the run printed:

- ``rerun``: ``--rounds`` idempotent runs per variant, in alternating order (AB, BA, ...):
  the whole command's wall time, its phases (the ``[deploy MM:SS]`` step lines: builds and
  cluster start, ``demo.yml``, ``verify.yml``, the live scan), the time per role of
  ``demo.yml``, and its PLAY RECAP (a re-run must report ``changed=0``);
- ``cold`` (``--cold``): per variant, ``playbooks/uninstall.yml`` and then the same command on
  the emptied cluster, so ``demo.yml`` installs everything again (images stay imported).

Writes ``bench/results/deploy.json`` and ``.png``. Talks only to the embedded cluster
(10.234.17.0/24, the bridge this project makes) and its client namespace.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from embedded_cluster.paths import run_paths

from bench.host import host_facts
from bench.output import RESULTS, write_results
from bench.server_code import ROOT, tree_at
from harness.checkout import DEMO_VAULT_PASSWORD
from harness.playbooks import PlaybookRun, run_deploy_script, run_playbook

RUN_TIMEOUT_S = 1800
_STEP = re.compile(r"^\[deploy (?P<m>\d+):(?P<s>\d\d)\] (?P<what>.*)$")
_DONE = re.compile(r"^Deployed in (?P<m>\d+) min (?P<s>\d+) s; logs: (?P<logs>\S+)$")
# profile_roles' summary: "airs.mcp_k8s.metallb ------------------- 12.34s"
_ROLE_TIME = re.compile(r"^(?P<role>\S[^-]*?) -{3,} (?P<seconds>\d+\.\d+)s$")
PHASES = {
    "building": "builds, cluster start, image import",
    "demo.yml": "demo.yml (double + site.yml)",
    "verify.yml": "verify.yml",
    "live pan_inline_scan": "live scan",
}


def collection_at(rev: str, directory: Path) -> Path:
    """The ``collections`` directory of commit ``rev`` (``.``: this checkout's)."""
    if rev == ".":
        return ROOT / "collections"
    return tree_at(rev, "collections", directory / f"collections-{rev}")


def phases(step_lines: list[tuple[float, str]], total: float) -> dict[str, float]:
    """Seconds per phase, from the step lines' elapsed times (the next step ends a phase)."""
    out: dict[str, float] = {}
    ends = [t for t, _ in step_lines[1:]] + [total]
    for (start, what), end in zip(step_lines, ends, strict=True):
        for key, name in PHASES.items():
            if key in what:
                out[name] = out.get(name, 0.0) + end - start
    return out


def role_times(log_text: str) -> dict[str, float]:
    """profile_roles' seconds per role from a playbook log (the last summary in it)."""
    summary = log_text.rsplit("=" * 20, 1)[-1]
    times: dict[str, float] = {}
    for line in summary.splitlines():
        match = _ROLE_TIME.match(line.strip())
        if match:
            times[match["role"].strip()] = float(match["seconds"])
    return times


def deploy_once(collections: Path) -> dict[str, Any]:
    """``scripts/deploy.sh`` once with ``collections``; its wall time, phases, roles and recap."""
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_roles",
    }
    started = time.monotonic()
    proc = run_deploy_script(env, timeout=RUN_TIMEOUT_S)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"deploy failed ({proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr}")
    steps: list[tuple[float, str]] = []
    logs: Path | None = None
    for line in proc.stdout.splitlines():
        if match := _STEP.match(line):
            steps.append((int(match["m"]) * 60 + int(match["s"]), match["what"]))
        elif match := _DONE.match(line):
            logs = Path(match["logs"])
    if logs is None:
        raise SystemExit(f"no 'Deployed in' line:\n{proc.stdout[-3000:]}")
    demo_log = (logs / "demo.log").read_text()
    recap = PlaybookRun(args=("demo.yml",), returncode=0, output=demo_log).recap
    return {
        "wall_s": round(wall, 1),
        "phases_s": {k: round(v, 1) for k, v in phases(steps, wall).items()},
        "roles_s": role_times(demo_log),
        "recap": recap,
        "logs": str(logs),
    }


def uninstall(collections: Path, logs: Path) -> float:
    """``playbooks/uninstall.yml`` with the vars the last deploy used; its wall time."""
    started = time.monotonic()
    run_playbook(
        "uninstall.yml",
        run_paths().admin_kubeconfig,
        vault_password_file=DEMO_VAULT_PASSWORD,
        vars_files=[p for p in (logs / "local-manifests.yml",) if p.exists()],
        collections_path=collections,
        timeout=RUN_TIMEOUT_S,
    ).check()
    return round(time.monotonic() - started, 1)


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    walls = [r["wall_s"] for r in runs]
    names = {name for r in runs for name in r["phases_s"]}
    roles = {role for r in runs for role in r["roles_s"]}
    return {
        "runs": len(runs),
        "wall_s_median": round(statistics.median(walls), 1),
        "wall_s": walls,
        "phases_s_median": {
            n: round(statistics.median(r["phases_s"].get(n, 0.0) for r in runs), 1) for n in names
        },
        "roles_s_median": {
            role: round(statistics.median(r["roles_s"].get(role, 0.0) for r in runs), 2)
            for role in sorted(roles)
        },
        "changed": [r["recap"].get("changed") for r in runs],
    }


def table(result: dict[str, Any]) -> list[str]:
    lines = [
        "| variant | figure | wall s (median) | demo.yml s | changed |",
        "|---|---|---|---|---|",
    ]
    for figure in ("rerun", "cold"):
        for name, s in result.get(figure, {}).items():
            demo = s["phases_s_median"].get(PHASES["demo.yml"], 0.0)
            lines.append(f"| {name} | {figure} | {s['wall_s_median']} | {demo} | {s['changed']} |")
    return lines


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = [f for f in ("rerun", "cold") if result.get(f)]
    fig, axes = plt.subplots(1, len(figures), figsize=(6 * len(figures), 4), squeeze=False)
    for axis, figure in zip(axes[0], figures, strict=True):
        variants = list(result[figure])
        bottom = [0.0] * len(variants)
        for phase in PHASES.values():
            heights = [result[figure][v]["phases_s_median"].get(phase, 0.0) for v in variants]
            axis.bar(variants, heights, bottom=bottom, label=phase)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        if figure == "rerun":
            axis.axhline(30, color="red", linestyle="--", label="goal: the playbook re-run < 30 s")
        axis.set_ylabel("seconds (median)")
        axis.set_title(f"make deploy, {figure}")
        axis.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", help="NAME=REV (REV '.': this checkout)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="deploy")
    args = parser.parse_args()
    variants = dict(v.split("=", 1) for v in (args.variant or ["now=."]))
    load_before = os.getloadavg()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        collections = {name: collection_at(rev, Path(tmp)) for name, rev in variants.items()}
        names = list(collections)
        print("[deploy] warm-up run", flush=True)
        last = deploy_once(collections[names[0]])
        reruns: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        for round_no in range(args.rounds):
            for name in names if round_no % 2 == 0 else names[::-1]:
                last = deploy_once(collections[name])
                print(f"[deploy] re-run {name}: {last['wall_s']} s {last['recap']}", flush=True)
                reruns[name].append(last)
        result: dict[str, Any] = {
            "benchmark": "deploy",
            "started_at": started_at,
            "variants": variants,
            "rerun": {n: summary(r) for n, r in reruns.items()},
            "rerun_runs": reruns,
        }
        if args.cold:
            result["cold"] = {}
            for name in names:
                removed = uninstall(collections[name], Path(last["logs"]))
                last = deploy_once(collections[name])
                print(f"[deploy] cold {name}: {last['wall_s']} s", flush=True)
                result["cold"][name] = {**summary([last]), "uninstall_s": removed}
            last = deploy_once(collections[names[-1]])  # leave the cluster as a re-run leaves it
    result["host"] = host_facts(load_before)
    _, png_path = write_results(args.out, args.name, result)
    plot(result, png_path)
    print("\n".join(table(result)))


if __name__ == "__main__":
    main()
