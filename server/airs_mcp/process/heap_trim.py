"""``HeapTrimmer``: give the memory of closed SSE sessions back to the kernel.

What a closed session leaves is not a leak (``bench/idle_sessions.py --tracemalloc``): its
objects are freed, but (1) part of them sit in reference cycles (the SDK's per-session task
groups, streams and their exceptions) that only a full collection frees, and an idle server
may not run one for hours; (2) the freed memory stays in the allocator's free lists, where
glibc never returns holes below the top of its heaps on its own. The image runs with
``PYTHONMALLOC=malloc`` so Python objects come from glibc (pymalloc keeps an arena while any
object in it lives), and this module runs ``gc.collect()`` then glibc's ``malloc_trim(0)``,
which hands every free page back (``madvise``), once enough sessions have closed.

Debounced: after ``after_closes`` closes, the trim runs ``delay_s`` after the last close (a
wave of disconnects costs one trim, not one each), and at most ``MAX_WAIT_FACTOR * delay_s``
after the first pending close (a steady trickle still gets one). ``malloc_trim`` runs in a
worker thread (ctypes drops the GIL); the collection must hold it and is the pause logged as
``gc_ms`` in the ``heap_trimmed`` line.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable
from typing import Protocol

from airs_mcp.process.memory_limit import resident_bytes

__all__ = ["Clock", "HeapTrimmer", "glibc_malloc_trim"]

MAX_WAIT_FACTOR = 6

log = logging.getLogger("airs_mcp.memory")


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the debounce reads and schedules on: the running event loop, or a test's clock."""

    def time(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Cancellable: ...


def glibc_malloc_trim() -> Callable[[], int] | None:
    """glibc's ``malloc_trim(0)``, or None where the C library is not glibc (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))


class HeapTrimmer:
    """Counts closed sessions; collects and trims once enough have closed and things calm."""

    def __init__(
        self,
        after_closes: int,
        delay_s: float,
        trim: Callable[[], int] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.after_closes = after_closes  # 0: off
        self.delay_s = delay_s
        self.trim = trim if trim is not None else glibc_malloc_trim()
        self.clock = clock  # None: the running event loop
        self.pending = 0
        self.first_pending_at = 0.0
        self.timer: Cancellable | None = None
        self.runs = 0

    def session_closed(self) -> None:
        if not self.after_closes:
            return
        clock = self.clock if self.clock is not None else asyncio.get_running_loop()
        if self.pending == 0:
            self.first_pending_at = clock.time()
        self.pending += 1
        if self.pending < self.after_closes:
            return
        latest = self.first_pending_at + MAX_WAIT_FACTOR * self.delay_s
        wait = max(0.0, min(self.delay_s, latest - clock.time()))
        if self.timer is not None:
            self.timer.cancel()
        self.timer = clock.call_later(wait, self._start)

    def _start(self) -> None:
        self.timer = None
        task = asyncio.get_running_loop().create_task(self.run())
        task.add_done_callback(_log_failure)

    async def run(self) -> dict[str, float]:
        """One collection and trim now; returns (and logs) what it cost and freed."""
        closed, self.pending = self.pending, 0
        before = resident_bytes()
        began = time.perf_counter()
        unreachable = gc.collect()
        gc_ms = (time.perf_counter() - began) * 1000
        began = time.perf_counter()
        if self.trim is not None:
            await asyncio.to_thread(self.trim)
        trim_ms = (time.perf_counter() - began) * 1000
        after = resident_bytes()
        self.runs += 1
        facts = {
            "sessions_closed": closed,
            "unreachable": unreachable,
            "gc_ms": round(gc_ms, 1),
            "trim_ms": round(trim_ms, 1),
            "rss_before_bytes": before,
            "rss_after_bytes": after,
        }
        log.info("heap_trimmed", extra=facts)
        return facts


def _log_failure(task: asyncio.Task[dict[str, float]]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("heap_trim_failed", exc_info=task.exception())
