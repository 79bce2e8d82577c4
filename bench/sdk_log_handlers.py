"""Before/after of the SDK logger-handler fix, in process: what each scan's ``Content`` costs
as scans accumulate, with pan-aisecurity's own ``BaseLogger`` and with ``airs_mcp``'s bound one.

    .venv/bin/python -m bench.sdk_log_handlers [--scans 100000]

Prints, at 0 / 10% / 50% / 100% of ``--scans`` earlier scans: the handlers on the
``aisecurity.scan.models.content`` logger, microseconds per ``Content(prompt=...)`` (mean of
1,000) and the memory tracemalloc sees held. The two variants run one after the other in one
process (the fix is applied for the second), so read them side by side.
"""

from __future__ import annotations

import argparse
import logging
import time
import tracemalloc

from aisecurity.scan.models.content import Content

LOGGER = logging.getLogger("aisecurity.scan.models.content")


def measure(scans: int) -> list[dict[str, float]]:
    rows = []
    LOGGER.handlers.clear()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    done = 0
    for target in (0, scans // 10, scans // 2, scans):
        while done < target:
            Content(prompt="x")
            done += 1
        begin = time.perf_counter()
        for _ in range(1000):
            Content(prompt="x")
        per_call_us = (time.perf_counter() - begin) * 1000
        done += 1000
        rows.append(
            {
                "scans": target,
                "handlers": len(LOGGER.handlers),
                "us_per_content": round(per_call_us, 1),
                "held_mb": round((tracemalloc.get_traced_memory()[0] - base) / 1e6, 2),
            }
        )
    tracemalloc.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=100_000)
    args = parser.parse_args()
    before = measure(args.scans)
    from airs_mcp.scan.airs_client import bound_sdk_log_handlers

    bound_sdk_log_handlers()
    after = measure(args.scans)
    print(
        f"{'scans':>8} | {'handlers':>9}{'us/Content':>11}{'held MB':>9} | "
        f"{'handlers':>9}{'us/Content':>11}{'held MB':>9}   (SDK as is | bounded)"
    )
    for b, a in zip(before, after, strict=True):
        print(
            f"{b['scans']:>8} | {b['handlers']:>9}{b['us_per_content']:>11}{b['held_mb']:>9} | "
            f"{a['handlers']:>9}{a['us_per_content']:>11}{a['held_mb']:>9}"
        )


if __name__ == "__main__":
    main()
