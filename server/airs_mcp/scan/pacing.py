"""Pacing of the AIRS requests that one tool call fans out (batch scans and id queries).

AIRS limits each tenant's Scan API to a request rate (by default 150 requests/s, shared by every
caller using the tenant's keys) and may throttle short bursts below it. ``RequestSchedule`` is a
token bucket in its virtual-scheduling form (GCRA): up to ``burst`` requests start at once, then
one every ``1 / rate`` seconds, so any one-second window holds at most ``burst + rate`` starts.
A 429 pauses the schedule (``pause_until``): every request of the process that has not started
yet waits (one already booked for a start inside the pause books again), and they resume one
per interval, not as a new burst.

With a ``FleetShare`` (``airs_mcp.scan.fleet_share``) the pace and burst are not fixed: before
each booking the schedule takes the share's current ones (the pod's part of the tenant's rate,
cut after a 429 and recovering), and a 429 also tells the share.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from airs_mcp.scan.fleet_share import FleetShare


class RequestSchedule:
    """Start times for requests under a rate and burst; pure (the caller passes the clock)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.set_pace(rate, burst)
        self._next = float("-inf")  # the theoretical start of the next request
        self.paused_until = float("-inf")

    def set_pace(self, rate: float, burst: int) -> None:
        """From now on ``rate`` per second after ``burst``; starts already booked stay."""
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval  # how far ahead a start may run

    def reserve(self, now: float) -> float:
        """Book one request arriving at ``now``; returns how long it must wait to start."""
        start = max(now, self._next - self.tolerance)
        self._next = max(self._next, now) + self.interval
        return start - now

    def pause_until(self, moment: float) -> None:
        """No request starts before ``moment``; from then on one per interval, no burst."""
        self._next = max(self._next, moment + self.tolerance)
        self.paused_until = max(self.paused_until, moment)

    def still_valid(self, start: float) -> bool:
        """False when a pause begun after booking ``start`` covers it: book again."""
        return start >= self.paused_until


class Pacer:
    """Waits for a ``RequestSchedule`` slot; a pacer without a rate or a share never waits."""

    def __init__(
        self,
        rate: float,
        burst: int,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float] = time.monotonic,
        share: FleetShare | None = None,
    ) -> None:
        self._share = share
        if share is not None:
            now = clock()
            self._schedule: RequestSchedule | None = RequestSchedule(
                share.rate(now), share.burst(now)
            )
        else:
            self._schedule = RequestSchedule(rate, burst) if rate > 0 else None
        self._sleep = sleep
        self._clock = clock

    async def wait_turn(self) -> None:
        schedule = self._schedule
        if schedule is None:
            return
        while True:
            now = self._clock()
            if self._share is not None:
                schedule.set_pace(self._share.rate(now), self._share.burst(now))
            wait = schedule.reserve(now)
            if wait > 0:
                await self._sleep(wait)
            if schedule.still_valid(now + wait):
                return

    def back_off(self, seconds: float) -> None:
        """AIRS answered 429: hold every paced request of this process for ``seconds`` (and
        cut the fleet share's pace)."""
        now = self._clock()
        if self._share is not None:
            self._share.throttled(now)
        if self._schedule is not None:
            self._schedule.pause_until(now + seconds)
