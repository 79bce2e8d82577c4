"""The heap trim after closed SSE sessions: when it runs, and that it frees cycles."""

from __future__ import annotations

import asyncio
import gc

from airs_mcp.process.heap_trim import HeapTrimmer, glibc_malloc_trim


def test_runs_once_after_enough_closes_and_a_quiet_delay() -> None:
    trims: list[int] = []

    async def scenario() -> HeapTrimmer:
        trimmer = HeapTrimmer(3, 0.05, trim=lambda: trims.append(1) or 1)
        for _ in range(2):
            trimmer.session_closed()
        await asyncio.sleep(0.1)
        assert trimmer.runs == 0  # fewer closes than the threshold
        for _ in range(5):
            trimmer.session_closed()
            await asyncio.sleep(0.01)  # each close pushes the trim back
        assert trimmer.runs == 0
        await asyncio.sleep(0.15)
        return trimmer

    trimmer = asyncio.run(scenario())
    assert trimmer.runs == 1
    assert trims == [1]
    assert trimmer.pending == 0


def test_off_when_zero() -> None:
    async def scenario() -> HeapTrimmer:
        trimmer = HeapTrimmer(0, 0.0, trim=lambda: 1)
        for _ in range(10):
            trimmer.session_closed()
        await asyncio.sleep(0.05)
        return trimmer

    assert asyncio.run(scenario()).runs == 0


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
