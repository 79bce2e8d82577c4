"""The heap trim after closed SSE sessions: when it runs (on a test clock), and that it frees
cycles."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from dataclasses import dataclass, field

from airs_mcp.process.heap_trim import MAX_WAIT_FACTOR, HeapTrimmer, glibc_malloc_trim


@dataclass
class Timer:
    due: float
    callback: Callable[[], object]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class ManualClock:
    """A clock that moves only when told: ``advance`` runs the callbacks that fell due."""

    now: float = 0.0
    timers: list[Timer] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        timer = Timer(self.now + delay, callback)
        self.timers.append(timer)
        return timer

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [t for t in self.timers if t.due <= self.now and not t.cancelled]
        self.timers = [t for t in self.timers if t not in due]
        for timer in sorted(due, key=lambda t: t.due):
            timer.callback()
        # the trims those callbacks started (a task each) end before the test looks
        await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))


def counting_trimmer(after_closes: int, delay_s: float, clock: ManualClock) -> HeapTrimmer:
    return HeapTrimmer(after_closes, delay_s, trim=lambda: 1, clock=clock)


def test_runs_once_after_enough_closes_and_a_quiet_delay() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        trimmer = counting_trimmer(3, 5.0, clock)
        for _ in range(2):
            trimmer.session_closed()
        await clock.advance(10)
        assert trimmer.runs == 0  # fewer closes than the threshold
        for _ in range(5):  # t = 10 .. 14: each close pushes the trim back
            trimmer.session_closed()
            await clock.advance(1)
        await clock.advance(3.9)  # 4.9 s after the last close
        assert trimmer.runs == 0
        await clock.advance(0.1)  # 5 s after it
        assert trimmer.runs == 1
        assert trimmer.pending == 0
        await clock.advance(60)
        assert trimmer.runs == 1  # one trim for the wave

    asyncio.run(scenario())


def test_a_steady_trickle_is_trimmed_at_the_latest_after_the_first_close() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        delay = 5.0
        latest = MAX_WAIT_FACTOR * delay
        trimmer = counting_trimmer(1, delay, clock)
        while clock.now < latest - 1:  # a close every 4 s: never a quiet 5 s
            trimmer.session_closed()
            await clock.advance(min(4, latest - 1 - clock.now))
        assert trimmer.runs == 0
        await clock.advance(latest - clock.now - 0.1)
        assert trimmer.runs == 0
        await clock.advance(0.1)
        assert trimmer.runs == 1

    asyncio.run(scenario())


def test_off_when_zero() -> None:
    async def scenario() -> HeapTrimmer:
        clock = ManualClock()
        trimmer = counting_trimmer(0, 0.0, clock)
        for _ in range(10):
            trimmer.session_closed()
        await clock.advance(60)
        assert clock.timers == []
        return trimmer

    assert asyncio.run(scenario()).runs == 0


def test_the_event_loop_is_the_default_clock() -> None:
    async def scenario() -> HeapTrimmer:
        trimmer = HeapTrimmer(1, 0.0, trim=lambda: 1)
        trimmer.session_closed()
        async with asyncio.timeout(10):
            while trimmer.runs == 0:  # noqa: ASYNC110 - the trim sets a plain counter
                await asyncio.sleep(0.01)
        return trimmer

    assert asyncio.run(scenario()).runs == 1


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_a_run_collects_reference_cycles() -> None:
    gc.disable()
    try:
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        del a, b
        facts = asyncio.run(HeapTrimmer(1, 0.0, trim=lambda: 1).run())
    finally:
        gc.enable()
    assert facts["unreachable"] >= 2


def test_glibc_trim_is_found_here() -> None:
    trim = glibc_malloc_trim()
    assert trim is not None  # this machine and the image are glibc
    assert trim() in (0, 1)
