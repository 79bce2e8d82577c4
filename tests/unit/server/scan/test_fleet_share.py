"""This pod's share of the tenant's AIRS rate: the split by replicas, AIMD on 429, recovery."""

from __future__ import annotations

import pytest
from airs_mcp.scan.fleet_share import DECREASE_HOLD_S, FleetShare


def test_one_replica_keeps_the_single_pod_default() -> None:
    share = FleetShare(150)
    assert (share.rate(0.0), share.burst(0.0)) == pytest.approx((100.0, 20))


@pytest.mark.parametrize("replicas", [1, 2, 3, 5, 10, 40])
def test_the_fleet_together_stays_within_the_tenant_rate(replicas: int) -> None:
    share = FleetShare(150, replicas=replicas)
    one_second = share.rate(0.0) + share.burst(0.0)  # the most starts a pod's schedule allows
    assert one_second * replicas <= 150
    assert share.share == pytest.approx(150 / replicas)


def test_the_pod_settings_stay_a_ceiling() -> None:
    share = FleetShare(1500, max_rate=100, max_burst=20, replicas=2)
    assert (share.rate(0.0), share.burst(0.0)) == (100, 20)


def test_a_count_below_one_counts_as_this_pod() -> None:
    share = FleetShare(150, replicas=3)
    share.set_replicas(0, 0.0)
    assert share.replicas == 1


def test_a_larger_fleet_applies_at_once_a_smaller_one_by_recovery() -> None:
    share = FleetShare(150, replicas=1)
    share.set_replicas(5, 1.0)
    assert share.rate(1.0) == pytest.approx(20.0)
    share.set_replicas(1, 2.0)
    assert share.rate(2.0) == pytest.approx(20.0)  # climbs, does not jump
    assert share.rate(3.0) == pytest.approx(30.0)  # +10 % of the 100/s target per second
    assert share.rate(60.0) == pytest.approx(100.0)


def test_a_429_halves_the_pace_and_the_burst() -> None:
    share = FleetShare(150, replicas=1)
    share.throttled(10.0)
    assert share.rate(10.0) == pytest.approx(50.0)
    assert share.burst(10.0) == 10


def test_a_volley_of_429s_is_one_decrease_per_hold() -> None:
    share = FleetShare(150, replicas=1)
    for _ in range(20):  # the requests in flight answer 429 together
        share.throttled(10.0)
    assert share.rate(10.0) == pytest.approx(50.0)
    share.throttled(10.0 + DECREASE_HOLD_S)
    assert share.rate(10.0 + DECREASE_HOLD_S) == pytest.approx(50.0 * 0.5 + 10.0 * 0.5)


def test_recovery_is_additive_and_stops_at_the_target() -> None:
    share = FleetShare(150, replicas=1)
    share.throttled(0.0)
    assert [round(share.rate(t), 6) for t in (1.0, 2.0, 4.0, 5.0, 9.0)] == [
        60.0,
        70.0,
        90.0,
        100.0,
        100.0,
    ]


def test_under_a_429_every_second_the_pace_settles_at_a_fifth_of_the_target() -> None:
    share = FleetShare(150, replicas=1)
    for second in range(40):
        share.throttled(float(second) * DECREASE_HOLD_S)
    assert share.rate(39.0) == pytest.approx(10.0, rel=1e-3)  # halved 20 -> 10, climbs to 20
    assert share.burst(39.0) == 2


def test_a_tenant_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="tenant_rate"):
        FleetShare(0)
