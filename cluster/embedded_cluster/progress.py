"""Line-oriented progress of long builds on stderr: start, a heartbeat every ~20 s, end.

Plain lines (no terminal control) so CI logs show them as they come::

    build: kube-apiserver started, ~160 s expected (kubernetes <version>, log: ...)
    build: kube-apiserver 80 s elapsed, ~160 s expected; overall 4/14 binaries, ~35 %, ~6 min left
    build: kube-apiserver done in 172 s; overall 5/14 binaries, ~40 %, ~5 min left

Only ``cpu`` slots (the compiles) count towards "binaries", the percentage and the time left;
``io`` slots (downloads, docker images) get start and end lines and an elapsed-time heartbeat.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TextIO

from embedded_cluster.schedule import CPU, IO, Slot, simulate

HEARTBEAT_S = 20.0


def fmt_duration(seconds: float) -> str:
    """``45 s`` below 90 s, else whole minutes (``6 min``); estimates need no more."""
    if seconds < 90:
        return f"{max(0, round(seconds))} s"
    return f"{round(seconds / 60)} min"


def remaining_of(expected: float, elapsed: float) -> float:
    """Seconds a running job probably still needs; an overrun job gets a tenth of its guess."""
    return max(expected - elapsed, expected * 0.1)


def pace(finished: Sequence[tuple[float, float]], running: Sequence[tuple[float, float]]) -> float:
    """How much slower (>1) or faster (<1) than expected builds run here right now.

    ``finished`` holds ``(expected, took)``, ``running`` ``(expected, elapsed)``; a running job
    only tells something once it overruns. 1.0 until anything is known.
    """
    observed = sum(took for _, took in finished) + sum(elapsed for _, elapsed in running)
    predicted = sum(exp for exp, _ in finished) + sum(min(exp, el) for exp, el in running)
    return observed / predicted if predicted > 0 and observed > 0 else 1.0


def done_fraction(
    finished: Sequence[float], running: Sequence[tuple[float, float]], pending: Sequence[float]
) -> float:
    """Share of the work done: finished jobs count their real seconds, running ones
    ``(expected, elapsed)`` their elapsed part of ``elapsed + remaining``, pending ones nothing."""
    done = sum(finished) + sum(elapsed for _, elapsed in running)
    total = (
        sum(finished)
        + sum(elapsed + remaining_of(exp, elapsed) for exp, elapsed in running)
        + sum(pending)
    )
    return done / total if total > 0 else 1.0


def _expected(slot: Slot) -> str:
    return f", ~{fmt_duration(slot.expected)} expected" if slot.expected > 0 else ""


@dataclass
class _State:
    slot: Slot
    started: float | None = None
    took: float | None = None


class Progress:
    """Thread-safe reporter for one set of planned slots (the pool's plan)."""

    def __init__(
        self,
        slots: Sequence[Slot],
        *,
        workers: int,
        prefix: str = "build",
        out: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._states = {slot.name: _State(slot) for slot in slots}
        self._workers = workers
        self._prefix = prefix
        self._out = out
        self._clock = clock
        self._lock = threading.Lock()

    def _emit(self, line: str) -> None:
        out = self._out or sys.stderr  # looked up late: tests capture sys.stderr
        print(f"{self._prefix}: {line}", file=out, flush=True)

    def _cpu(self) -> list[_State]:
        return [s for s in self._states.values() if s.slot.lane == CPU]

    def overall(self, now: float | None = None) -> str:
        """``overall 4/14 binaries, ~35 %, ~6 min left`` (empty without cpu slots)."""
        now = self._clock() if now is None else now
        cpu = self._cpu()
        if not cpu:
            return ""
        finished = [(s.slot.expected, s.took) for s in cpu if s.took is not None]
        running = [
            (s.slot, now - s.started) for s in cpu if s.started is not None and s.took is None
        ]
        pending = [s.slot for s in cpu if s.started is None]
        # A loaded (or faster) machine: scale what is still expected by the pace seen so far.
        factor = pace(finished, [(slot.expected, elapsed) for slot, elapsed in running])
        fraction = done_fraction(
            [took for _, took in finished],
            [(slot.expected * factor, elapsed) for slot, elapsed in running],
            [slot.expected * factor for slot in pending],
        )
        left = simulate(
            [(slot, remaining_of(slot.expected * factor, elapsed)) for slot, elapsed in running],
            [replace(slot, expected=slot.expected * factor) for slot in pending],
            self._workers,
        )
        slower = f" (builds take {factor:.1f}x the expected time here)" if factor >= 1.5 else ""
        return (
            f"overall {len(finished)}/{len(cpu)} binaries, ~{fraction * 100:.0f} %, "
            f"~{fmt_duration(left)} left{slower}"
        )

    def started(self, name: str, detail: str = "") -> None:
        with self._lock:
            state = self._states[name]
            state.started = self._clock()
            expect = _expected(state.slot)
            self._emit(f"{name} started{expect}" + (f" ({detail})" if detail else ""))

    def finished(self, name: str, *, ok: bool = True) -> float:
        """Record the end of ``name``; return its seconds."""
        with self._lock:
            state = self._states[name]
            start = state.started if state.started is not None else self._clock()
            took = self._clock() - start
            if not ok:
                self._emit(f"{name} FAILED after {fmt_duration(took)}")
                return took
            state.took = took
            overall = self.overall() if state.slot.lane == CPU else ""
            self._emit(f"{name} done in {took:.0f} s" + (f"; {overall}" if overall else ""))
            return took

    def heartbeat(self) -> None:
        """One line per running slot."""
        with self._lock:
            now = self._clock()
            for state in self._states.values():
                if state.started is None or state.took is not None:
                    continue
                line = f"{state.slot.name} {now - state.started:.0f} s elapsed"
                line += _expected(state.slot)
                if state.slot.lane == CPU:
                    line += f"; {self.overall(now)}"
                self._emit(line)

    @contextmanager
    def track(self, name: str, detail: str = "") -> Iterator[None]:
        """``started`` before the block, ``finished`` (ok or not) after it."""
        self.started(name, detail)
        ok = False
        try:
            yield
            ok = True
        finally:
            self.finished(name, ok=ok)


class Ticker:
    """Calls ``progress.heartbeat()`` every ``interval`` seconds while the ``with`` block runs."""

    def __init__(self, progress: Progress, interval: float = HEARTBEAT_S) -> None:
        self._progress = progress
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress-ticker", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._progress.heartbeat()

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def phase(prefix: str, name: str, expected: float | None = None) -> Iterator[None]:
    """One timed step outside a planned build (a docker image phase): start, heartbeat, end."""
    slot = Slot(name, expected or 0.0, lane=IO)
    progress = Progress([slot], workers=1, prefix=prefix)
    with Ticker(progress), progress.track(name):
        yield
