"""Which build job goes next and how long the rest takes (embedded_cluster.schedule)."""

from __future__ import annotations

import pytest
from embedded_cluster.schedule import CPU, IO, Slot, pick, simulate


def _name(slot: Slot | None) -> str | None:
    return None if slot is None else slot.name


def test_the_group_with_the_most_work_left_goes_first() -> None:
    pending = [
        Slot("metrics-server", 100, "metrics-server"),
        Slot("kube-apiserver", 160, "kubernetes"),
        Slot("kube-scheduler", 6, "kubernetes"),
        Slot("kubelet", 57, "kubernetes"),
    ]
    assert _name(pick(pending)) == "kube-apiserver"


def test_within_a_group_plan_order_wins_over_length() -> None:
    pending = [Slot("kube-scheduler", 6, "kubernetes"), Slot("kubelet", 57, "kubernetes")]
    assert _name(pick(pending)) == "kube-scheduler"


def test_a_busy_group_waits() -> None:
    pending = [Slot("kubelet", 57, "kubernetes"), Slot("etcd", 60, "etcd")]
    assert _name(pick(pending, busy_groups={"kubernetes"})) == "etcd"
    assert pick([Slot("kubelet", 57, "kubernetes")], busy_groups={"kubernetes"}) is None


def test_dependencies_and_lanes_are_respected() -> None:
    pending = [
        Slot("coredns", 90, "coredns", CPU, ("download coredns",)),
        Slot("download coredns", 0, "coredns", IO),
    ]
    assert pick(pending, done=set(), lane=CPU) is None
    assert _name(pick(pending, done=set(), lane=IO)) == "download coredns"
    assert _name(pick(pending, done={"download coredns"}, lane=CPU)) == "coredns"


def test_one_worker_runs_everything_in_a_row() -> None:
    pending = [Slot("a", 100, "x"), Slot("b", 50, "x"), Slot("c", 60, "y")]
    assert simulate([], pending, 1) == pytest.approx(210)


def test_two_workers_overlap_different_groups_only() -> None:
    pending = [Slot("a", 100, "x"), Slot("b", 50, "x"), Slot("c", 60, "y")]
    assert simulate([], pending, 2) == pytest.approx(150)
    same_group = [Slot("k1", 100, "k"), Slot("k2", 100, "k")]
    assert simulate([], same_group, 2) == pytest.approx(200)


def test_running_jobs_count_with_their_remaining_time() -> None:
    running = [(Slot("a", 100, "x"), 30.0)]
    pending = [Slot("b", 50, "x"), Slot("c", 60, "y")]
    # c runs beside a (0..60); b follows a in its group (30..80).
    assert simulate(running, pending, 2) == pytest.approx(80)
    assert simulate([], [], 2) == 0
