"""Build many targets at once: a plan of downloads and compiles run by the job pool.

For every component with a missing binary: one ``go mod download`` (I/O lane) and one compile
per missing binary (CPU lane, after the download, one at a time per wrapper module because they
share its packages). Extra jobs (docker images, manifest downloads) join the I/O lane.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from embedded_cluster import build
from embedded_cluster.jobs import Job, default_jobs, run_jobs
from embedded_cluster.progress import Progress, Ticker, fmt_duration
from embedded_cluster.schedule import CPU, IO, Slot, simulate


def _download_name(component: str) -> str:
    return f"go mod download ({component})"


def plan(targets: Sequence[build.Target]) -> list[Job]:
    """Jobs building the missing ones among ``targets`` (cached ones need nothing)."""
    missing = [t for t in dict.fromkeys(targets) if not build.target_path(t).exists()]
    jobs: list[Job] = []
    for name in dict.fromkeys(t.component for t in missing):
        if name == build.GOTOOLS:  # standard library only: nothing to download
            continue
        slot = Slot(_download_name(name), 0.0, group=name, lane=IO)
        jobs.append(Job(slot, lambda name=name: build.download_modules(name)))
    for target in missing:
        after = () if target.component == build.GOTOOLS else (_download_name(target.component),)
        slot = Slot(target.binary, build.expected_seconds(target), target.component, CPU, after)
        run = lambda target=target: build.ensure_target(target, quiet=True)  # noqa: E731
        detail = f"{target.component}, log: {build.target_path(target)}.build.log"
        jobs.append(Job(slot, run, detail))
    return jobs


def build_targets(
    targets: Sequence[build.Target],
    *,
    jobs: int | None = None,
    extra: Sequence[Job] = (),
) -> dict[build.Target, Path]:
    """Build what is missing of ``targets`` (plus ``extra`` jobs) with ``jobs`` parallel
    compiles (default :func:`jobs.default_jobs`), reporting progress on stderr."""
    workers = jobs or default_jobs()
    planned = [*plan(targets), *extra]
    compiles = [j.slot for j in planned if j.slot.lane == CPU]
    if planned:
        guess = fmt_duration(simulate([], compiles, workers))
        others = len(planned) - len(compiles)
        print(
            f"build: {len(compiles)} binaries to build (~{guess} with {workers} parallel "
            f"compiles), {others} download/image job{'s' if others != 1 else ''} beside them",
            file=sys.stderr,
            flush=True,
        )
        progress = Progress([j.slot for j in planned], workers=workers)
        with Ticker(progress):
            run_jobs(planned, workers=workers, progress=progress)
    return {t: build.target_path(t) for t in targets}
