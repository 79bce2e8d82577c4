"""Progress lines and their arithmetic (embedded_cluster.progress), with a fake clock."""

from __future__ import annotations

import io

import pytest
from embedded_cluster.progress import (
    Progress,
    done_fraction,
    fmt_duration,
    pace,
    remaining_of,
)
from embedded_cluster.schedule import IO, Slot


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (44.6, "45 s"), (89, "89 s"), (90, "2 min"), (360, "6 min"), (-3, "0 s")],
)
def test_durations_read_as_seconds_then_minutes(seconds: float, text: str) -> None:
    assert fmt_duration(seconds) == text


def test_remaining_time_of_a_running_job() -> None:
    assert remaining_of(160, 80) == 80
    # Overran its estimate: still "a little more", never zero or negative.
    assert remaining_of(100, 150) == pytest.approx(10)


def test_done_fraction_weighs_jobs_by_their_time() -> None:
    assert done_fraction([100], [(100, 50)], [100]) == pytest.approx(150 / 300)
    assert done_fraction([], [], [50, 50]) == 0
    assert done_fraction([], [], []) == 1.0


def test_pace_compares_seen_times_with_the_expected_ones() -> None:
    assert pace([], []) == 1.0
    assert pace([(60, 60)], [(160, 80)]) == 1.0  # a job within its estimate says nothing yet
    assert pace([(2, 122)], []) == pytest.approx(61)
    assert pace([], [(100, 300)]) == pytest.approx(3)
    assert pace([(100, 50)], []) == pytest.approx(0.5)


def _plan() -> list[Slot]:
    return [
        Slot("kube-apiserver", 160, "kubernetes"),
        Slot("kubelet", 60, "kubernetes"),
        Slot("etcd", 60, "etcd"),
        Slot("go mod download (etcd)", 0, "etcd", IO),
    ]


def test_heartbeat_names_elapsed_expected_and_overall_progress() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress(_plan(), workers=1, out=out, clock=clock)
    progress.started("etcd")
    clock.now += 60
    progress.finished("etcd")
    progress.started("kube-apiserver", "kubernetes v1.2.3")
    clock.now += 80
    progress.heartbeat()
    lines = out.getvalue().splitlines()
    assert lines == [
        "build: etcd started, ~60 s expected",
        "build: etcd done in 60 s; overall 1/3 binaries, ~21 %, ~4 min left",
        "build: kube-apiserver started, ~3 min expected (kubernetes v1.2.3)",
        # done 60 + 80 of 60 + 80 + 80 + 60; left: 80 s of the apiserver, then kubelet's 60
        "build: kube-apiserver 80 s elapsed, ~3 min expected; "
        "overall 1/3 binaries, ~50 %, ~2 min left",
    ]


def test_io_jobs_report_elapsed_time_but_do_not_count_as_binaries() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress(_plan(), workers=2, out=out, clock=clock)
    progress.started("go mod download (etcd)")
    clock.now += 21
    progress.heartbeat()
    progress.finished("go mod download (etcd)")
    assert out.getvalue().splitlines() == [
        "build: go mod download (etcd) started",
        "build: go mod download (etcd) 21 s elapsed",
        "build: go mod download (etcd) done in 21 s",
    ]


def test_a_failed_job_says_so_and_is_not_counted_done() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress(_plan(), workers=1, out=out, clock=clock)

    def fail() -> None:
        with progress.track("etcd"):
            clock.now += 5
            raise RuntimeError("compile error")

    with pytest.raises(RuntimeError, match="compile error"):
        fail()
    assert out.getvalue().splitlines()[-1] == "build: etcd FAILED after 5 s"
    assert progress.overall().startswith("overall 0/3 binaries")


def test_a_slow_machine_stretches_the_time_left() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress(_plan(), workers=1, out=out, clock=clock)
    progress.started("etcd")
    clock.now += 180  # three times its expected 60 s
    progress.finished("etcd")
    # 160 + 60 s left at three times the expected time: 11 min, not 4.
    assert out.getvalue().splitlines()[-1] == (
        "build: etcd done in 180 s; overall 1/3 binaries, ~21 %, ~11 min left "
        "(builds take 3.0x the expected time here)"
    )
