"""Which build job runs next, and how long the rest should take: pure functions, no threads.

A :class:`Slot` is one schedulable job. Jobs of the same ``group`` never run at once: two Go
builds of one wrapper module would compile the same packages twice (the shared GOCACHE only
helps after the first one finishes). ``lane`` separates CPU-bound compiles (limited by
``--jobs``) from I/O-bound work (module downloads, docker images) that can overlap them.

The runner (``jobs.py``) and the ETA estimate (``progress.py``) use the same :func:`pick`, so
the estimate simulates the order the builds really take.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Sequence
from dataclasses import dataclass

CPU = "cpu"
IO = "io"


@dataclass(frozen=True)
class Slot:
    name: str
    expected: float
    group: str = ""
    lane: str = CPU
    after: tuple[str, ...] = ()


def _group_work(pending: Sequence[Slot]) -> dict[str, float]:
    work: dict[str, float] = {}
    for slot in pending:
        key = slot.group or slot.name
        work[key] = work.get(key, 0.0) + slot.expected
    return work


def pick(
    pending: Sequence[Slot],
    *,
    busy_groups: Collection[str] = (),
    done: Collection[str] | None = None,
    lane: str | None = None,
) -> Slot | None:
    """The next slot to start, or None when nothing is ready.

    Ready: its group is idle and everything in ``after`` is in ``done`` (``done=None`` ignores
    dependencies). Among ready slots the group with the most remaining work goes first (its
    chain is the critical path); within a group, plan order.
    """
    work = _group_work(pending)
    best: Slot | None = None
    best_work = -1.0
    for slot in pending:
        if lane is not None and slot.lane != lane:
            continue
        if slot.group and slot.group in busy_groups:
            continue
        if done is not None and not all(a in done for a in slot.after):
            continue
        slot_work = work[slot.group or slot.name]
        if slot_work > best_work:
            best, best_work = slot, slot_work
    return best


def simulate(running: Sequence[tuple[Slot, float]], pending: Sequence[Slot], workers: int) -> float:
    """Seconds until every slot is done with ``workers`` parallel jobs.

    ``running`` pairs each started slot with its remaining seconds; ``pending`` slots take
    their ``expected`` seconds. Dependencies are ignored (they are downloads, much shorter
    than the compiles waiting on them).
    """
    workers = max(1, workers)
    now = 0.0
    active: list[tuple[float, int, Slot]] = []
    for order, (slot, left) in enumerate(running):
        heapq.heappush(active, (max(0.0, left), order, slot))
    todo = list(pending)
    order = len(active)
    while todo or active:
        busy = {slot.group for _, _, slot in active if slot.group}
        while len(active) < workers:
            nxt = pick(todo, busy_groups=busy)
            if nxt is None:
                break
            todo.remove(nxt)
            busy.add(nxt.group)
            order += 1
            heapq.heappush(active, (now + nxt.expected, order, nxt))
        if not active:  # only reachable with an impossible plan; do not loop forever
            break
        now, _, _ = heapq.heappop(active)
    return now
