"""Timed series of calls: interleaved rounds, call windows, their summaries and ratios.

Every comparison is measured side by side (rotating order each round, or windows one after the
other), so background load hits every series alike; read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.inline_scan_latency import percentile

Call = Callable[[], Awaitable[Any]]


def summarise(samples: list[float]) -> dict[str, float]:
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 0.50), 3),
        "p95_ms": round(percentile(samples, 0.95), 3),
        "mean_ms": round(statistics.fmean(samples), 3),
    }


async def interleaved(calls: dict[str, Call], rounds: int, warmup: int) -> dict[str, list[float]]:
    """Each round times one call of every series, in rotating order; returns ms samples. A call
    that returns a float has timed itself (a client in another process): that is its sample."""
    names = list(calls)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(warmup + rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            begin = time.perf_counter()
            timed = await calls[name]()
            elapsed = timed if isinstance(timed, float) else (time.perf_counter() - begin) * 1000
            if index >= warmup:
                samples[name].append(elapsed)
    return samples


def with_ratios(samples: dict[str, list[float]], reference: str) -> dict[str, Any]:
    series = {name: summarise(values) for name, values in samples.items()}
    ref = series[reference]
    for stats in series.values():
        stats["x_p50"] = round(stats["p50_ms"] / ref["p50_ms"], 2)
        stats["x_p95"] = round(stats["p95_ms"] / ref["p95_ms"], 2)
    return {"reference": reference, "series": series}


async def calls_in_window(calls: list[Call], seconds: float) -> int:
    """Every worker calls in a loop until the window closes; returns completed calls."""
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker(call: Call) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    await asyncio.gather(*(worker(c) for c in calls))
    return done
