"""A small worker pool for build jobs: ``--jobs`` compiles plus a few I/O jobs at a time.

Order and constraints come from ``schedule.pick`` (one job per group at a time, dependencies
first, the longest chain first). The first failure stops new starts; running jobs finish, then
the error is raised.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from embedded_cluster.errors import EmbeddedClusterError
from embedded_cluster.progress import Progress
from embedded_cluster.schedule import CPU, IO, Slot, pick

# Downloads and docker builds mostly wait on the network and disks.
IO_WORKERS = 2
# Peak RSS of the largest Go build (kube-apiserver) is about 1.9 GB; keep headroom per job.
MEMORY_PER_JOB = 3 * 1024**3
MAX_JOBS = 4


class JobError(EmbeddedClusterError):
    """The plan cannot finish (a dependency that never becomes ready)."""


@dataclass(frozen=True)
class Job:
    slot: Slot
    run: Callable[[], object]
    detail: str = ""


def available_memory() -> int:
    """MemAvailable in bytes (0 when /proc/meminfo cannot tell)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def default_jobs(cpus: int | None = None, memory: int | None = None) -> int:
    """Parallel compiles: one per CPU, at most one per 3 GiB available memory, at most 4."""
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    memory = memory if memory is not None else available_memory()
    by_memory = memory // MEMORY_PER_JOB if memory else cpus
    return max(1, min(cpus, by_memory, MAX_JOBS))


def run_jobs(
    jobs: Sequence[Job],
    *,
    workers: int,
    io_workers: int = IO_WORKERS,
    progress: Progress | None = None,
) -> None:
    """Run every job; return when all are done, raise the first job's error otherwise."""
    by_name = {job.slot.name: job for job in jobs}
    # A dependency outside the plan (already built, say) counts as done.
    pending = [
        Slot(j.slot.name, j.slot.expected, j.slot.group, j.slot.lane,
             tuple(a for a in j.slot.after if a in by_name))
        for j in jobs
    ]  # fmt: skip
    limits = {CPU: max(1, workers), IO: max(1, io_workers)}
    done: set[str] = set()
    active: dict[str, Slot] = {}
    errors: list[BaseException] = []
    cond = threading.Condition()

    def work(slot: Slot) -> None:
        job = by_name[slot.name]
        error: BaseException | None = None
        try:
            if progress is None:
                job.run()
            else:
                with progress.track(slot.name, job.detail):
                    job.run()
        except BaseException as exc:  # handed to the caller's thread below
            error = exc
        with cond:
            del active[slot.name]
            if error is None:
                done.add(slot.name)
            else:
                errors.append(error)
            cond.notify()

    threads: list[threading.Thread] = []
    with cond:
        while True:
            if not errors:
                _start_ready(pending, active, done, limits, work, threads)
            if not active:
                break
            cond.wait()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    if pending:
        raise JobError(f"never ready: {', '.join(s.name for s in pending)}")


def _start_ready(
    pending: list[Slot],
    active: dict[str, Slot],
    done: set[str],
    limits: dict[str, int],
    work: Callable[[Slot], None],
    threads: list[threading.Thread],
) -> None:
    for lane, limit in limits.items():
        while sum(1 for s in active.values() if s.lane == lane) < limit:
            busy = {s.group for s in active.values() if s.group}
            slot = pick(pending, busy_groups=busy, done=done, lane=lane)
            if slot is None:
                break
            pending.remove(slot)
            active[slot.name] = slot
            thread = threading.Thread(target=work, args=(slot,), name=f"job {slot.name}")
            threads.append(thread)
            thread.start()
