"""The fan-out pacer: burst then rate, the one-second window bound, the pause after a 429."""

from __future__ import annotations

import asyncio

import pytest
from airs_mcp.config import Settings
from airs_mcp.scan.airs_client import AirsClient
from airs_mcp.scan.fleet_share import FleetShare
from airs_mcp.scan.pacing import Pacer, RequestSchedule

from tests.unit.server.scan.test_airs_client import SECRET, Attempts, sdk_http_error


def starts(schedule: RequestSchedule, arrivals: list[float]) -> list[float]:
    """When each request arriving at the given times may start."""
    return [round(at + schedule.reserve(at), 6) for at in arrivals]


def test_a_burst_starts_at_once_then_one_per_interval() -> None:
    schedule = RequestSchedule(rate=10, burst=3)
    assert starts(schedule, [0.0] * 6) == [0.0, 0.0, 0.0, 0.1, 0.2, 0.3]


def test_idle_time_refills_the_burst_but_never_beyond_it() -> None:
    schedule = RequestSchedule(rate=10, burst=2)
    starts(schedule, [0.0] * 4)  # booked until 0.2
    assert starts(schedule, [5.0] * 3) == [5.0, 5.0, 5.1]


@pytest.mark.parametrize(("rate", "burst"), [(125, 25), (10, 1), (3, 7)])
def test_no_one_second_window_holds_more_than_burst_plus_rate(rate: float, burst: int) -> None:
    schedule = RequestSchedule(rate, burst)
    arrivals = [i * 0.013 for i in range(300)] + [4.0] * 200 + [9.5 + i * 0.001 for i in range(50)]
    booked = starts(schedule, arrivals)
    assert all(start >= at for start, at in zip(booked, arrivals, strict=True))
    begun = sorted(booked)
    busiest = max(sum(1 for s in begun if t <= s < t + 1.0) for t in begun)
    assert busiest <= burst + rate


def test_a_pause_holds_every_request_and_ends_without_a_burst() -> None:
    schedule = RequestSchedule(rate=10, burst=5)
    schedule.pause_until(2.0)
    assert starts(schedule, [0.5, 0.5, 0.5]) == [2.0, 2.1, 2.2]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="rate must be"):
        RequestSchedule(rate=0, burst=1)
    with pytest.raises(ValueError, match="burst >= 1"):
        RequestSchedule(rate=1, burst=0)


class FrozenTime:
    """A clock that stands still and a sleep that only records: what each request waited."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))


async def test_pacer_without_a_rate_never_waits() -> None:
    frozen = FrozenTime()
    pacer = Pacer(0, 1, frozen.sleep, frozen.clock)
    for _ in range(100):
        await pacer.wait_turn()
    pacer.back_off(10)
    await pacer.wait_turn()
    assert frozen.sleeps == []


def paced_client(frozen: FrozenTime, rate: float, burst: int) -> AirsClient:
    settings = Settings(
        api_key=SECRET,
        profile_name="p",
        max_retries=2,
        retry_backoff_s=0,
        max_retry_after_s=10,
        batch_requests_per_second=rate,
        batch_burst=burst,
    )
    return AirsClient(settings, sleep=frozen.sleep, clock=frozen.clock)


async def test_retries_of_fanned_out_requests_are_paced_too() -> None:
    frozen = FrozenTime()
    client = paced_client(frozen, rate=10, burst=1)
    assert await client.call(Attempts([sdk_http_error(503)]), "async") == "done"
    assert frozen.sleeps == [0.0, 0.1]  # the backoff (0 s), then the retry's turn


async def test_a_429_holds_the_other_fanned_out_requests_but_not_inline_scans() -> None:
    frozen = FrozenTime()
    client = paced_client(frozen, rate=10, burst=2)
    limited = Attempts([sdk_http_error(429, {"Retry-After": "3"})])
    assert await client.call(limited, "async") == "done"
    assert frozen.sleeps == [3.0, 3.0]  # its retry waits; the pause holds the retry's turn too
    frozen.sleeps.clear()
    await client.call(Attempts([]), "results")  # another chunk or query of the process
    assert frozen.sleeps == [3.1]
    frozen.sleeps.clear()
    await client.call(Attempts([]), "sync")
    assert frozen.sleeps == []


class SteppingTime(FrozenTime):
    """A clock that each sleep moves forward by what it slept."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        self.now += seconds


async def test_a_request_asleep_when_a_429_pauses_books_again_after_the_pause() -> None:
    stepping = SteppingTime()
    pacer = Pacer(10, 1, stepping.sleep, stepping.clock)
    await pacer.wait_turn()  # starts at 0; the next slot is 0.1
    original_sleep = stepping.sleep

    async def a_429_arrives_meanwhile(seconds: float) -> None:
        if not stepping.sleeps:
            pacer.back_off(2.0)  # another chunk got a 429 while this one waited for 0.1
        await original_sleep(seconds)

    pacer._sleep = a_429_arrives_meanwhile
    await pacer.wait_turn()
    assert stepping.sleeps == [0.1, 1.9]  # woke at 0.1 inside the pause: waited until 2.0
    assert stepping.now == pytest.approx(2.0)


# --- with the fleet share ---------------------------------------------------------------------
async def test_a_shared_pacer_paces_at_the_share_of_the_tenant_rate() -> None:
    stepping = SteppingTime()
    pacer = Pacer(100, 20, stepping.sleep, stepping.clock, share=FleetShare(150, replicas=5))
    for _ in range(24):
        await pacer.wait_turn()
    # 150/s over 5 replicas: a burst of 4, then 20/s (not the pod's own 100/s after 20)
    assert stepping.sleeps == [0.05] * 20
    assert stepping.now == pytest.approx(1.0)


async def test_a_429_slows_a_shared_pacer_until_it_recovers() -> None:
    stepping = SteppingTime()
    pacer = Pacer(100, 20, stepping.sleep, stepping.clock, share=FleetShare(150, replicas=5))
    for _ in range(4):  # the burst
        await pacer.wait_turn()
    pacer.back_off(1.0)
    await pacer.wait_turn()  # after the pause
    assert stepping.now == pytest.approx(1.05)
    stepping.sleeps.clear()
    for _ in range(5):
        await pacer.wait_turn()
    # cut to 10/s, climbing 2/s per second: 12-13/s a second later, not the share's 20/s
    assert all(0.075 < s < 0.12 for s in stepping.sleeps)
    stepping.now += 10.0  # ten quiet seconds: back to the share, burst included
    stepping.sleeps.clear()
    for _ in range(6):
        await pacer.wait_turn()
    assert [s for s in stepping.sleeps if s > 0] == [0.05, 0.05]  # 4 at once, then 20/s


async def test_a_client_with_fleet_peers_builds_a_share_and_counts_them() -> None:
    settings = Settings(
        api_key=SECRET,
        profile_name="p",
        fleet_peers=("127.0.0.1", "127.0.0.2", "127.0.0.3"),
        airs_tenant_rate=90,
    )
    client = AirsClient(settings)
    client.start()
    try:
        share = client.fleet_share
        assert share is not None
        async with asyncio.timeout(10):
            while share.replicas != 3:  # noqa: ASYNC110 (the share has no event to wait on)
                await asyncio.sleep(0.01)
        assert share.share == pytest.approx(30.0)
    finally:
        await client.close()


def test_a_client_without_fleet_peers_has_no_share() -> None:
    assert AirsClient(Settings(api_key=SECRET, profile_name="p")).fleet_share is None
