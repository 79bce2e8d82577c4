"""The build worker pool (embedded_cluster.jobs) with real threads and short sleeps."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from embedded_cluster.jobs import MEMORY_PER_JOB, Job, JobError, default_jobs, run_jobs
from embedded_cluster.schedule import CPU, IO, Slot

GIB = 1024**3


@pytest.mark.parametrize(
    ("cpus", "memory", "expected"),
    [
        (2, 24 * GIB, 2),  # this project's build machine
        (8, 7 * GIB, 2),  # memory is the limit
        (16, 64 * GIB, 4),  # never more than MAX_JOBS
        (2, GIB, 1),  # at least one
        (3, 0, 3),  # memory unknown: one per CPU
    ],
)
def test_default_jobs(cpus: int, memory: int, expected: int) -> None:
    assert default_jobs(cpus, memory) == expected
    assert MEMORY_PER_JOB == 3 * GIB


class Recorder:
    """Jobs that sleep and note what ran at the same time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: set[str] = set()
        self.overlaps: list[set[str]] = []
        self.order: list[str] = []

    def job(self, name: str, seconds: float = 0.05, **slot: object) -> Job:
        def run() -> None:
            with self.lock:
                self.running.add(name)
                self.overlaps.append(set(self.running))
                self.order.append(name)
            time.sleep(seconds)
            with self.lock:
                self.running.discard(name)

        return Job(Slot(name, seconds, **slot), run)  # type: ignore[arg-type]


def test_workers_limit_parallel_compiles_and_groups_never_overlap() -> None:
    rec = Recorder()
    jobs = [
        rec.job("k1", group="kubernetes"),
        rec.job("k2", group="kubernetes"),
        rec.job("k3", group="kubernetes"),
        rec.job("etcd", group="etcd"),
        rec.job("coredns", group="coredns"),
        rec.job("dl", lane=IO),
    ]
    run_jobs(jobs, workers=2)
    assert sorted(rec.order) == sorted(j.slot.name for j in jobs)
    for together in rec.overlaps:
        compiles = together - {"dl"}
        assert len(compiles) <= 2, together
        assert len(compiles & {"k1", "k2", "k3"}) <= 1, together
    # The I/O lane runs beside two compiles.
    assert any(len(t) == 3 for t in rec.overlaps)


def test_a_compile_waits_for_its_download() -> None:
    rec = Recorder()
    jobs = [
        rec.job("kube-apiserver", group="kubernetes", after=("download",)),
        rec.job("download", seconds=0.1, group="kubernetes", lane=IO),
    ]
    run_jobs(jobs, workers=2)
    assert rec.order == ["download", "kube-apiserver"]


def test_a_dependency_outside_the_plan_counts_as_done() -> None:
    rec = Recorder()
    run_jobs([rec.job("etcd", after=("go mod download (etcd)",))], workers=1)
    assert rec.order == ["etcd"]


def test_the_first_error_stops_new_starts_and_is_raised() -> None:
    rec = Recorder()

    def broken() -> None:
        raise RuntimeError("compile error in k1")

    jobs = [
        Job(Slot("k1", 10, "kubernetes", CPU), broken),
        rec.job("k2", group="kubernetes"),
    ]
    with pytest.raises(RuntimeError, match="compile error in k1"):
        run_jobs(jobs, workers=1)
    assert rec.order == []


def test_an_impossible_plan_is_named() -> None:
    never: Callable[[], None] = lambda: None  # noqa: E731
    jobs = [Job(Slot("a", 1, after=("b",)), never), Job(Slot("b", 1, after=("a",)), never)]
    with pytest.raises(JobError, match="never ready: a, b"):
        run_jobs(jobs, workers=2)
