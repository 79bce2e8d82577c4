"""Sends N requests as fast as C connections allow and counts the answers' status codes.

``python tests/e2e/clients/status_burst.py URL N [C [PAUSE]]`` (each connection waiting PAUSE
seconds after each answer: a steady client rather than a flood) prints ``{"first_429": seconds}``
as soon as the first 429 comes (a driver may start another client then), and at the end the
summary, ``{"statuses": {"401": ..., "429": ...}, "errors": ..., "seconds": ...}``. The
requests carry no token: what counts is which of them the ingress lets through (the server's
401) and which it refuses itself (Traefik's 429). Bounded: N requests, each with a 10 s timeout.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

import httpx2


async def main(url: str, count: int, connections: int, pause: float) -> dict[str, object]:
    statuses: Counter[str] = Counter()
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)
    started = time.monotonic()
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx2.AsyncClient(timeout=10, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                queue.get_nowait()
                try:
                    # A POST, so no SSE stream is opened: the server answers at once.
                    answer = await client.post(url, content=b"{}")
                    if answer.status_code == 429 and not statuses["429"]:
                        seconds = round(time.monotonic() - started, 2)
                        print(json.dumps({"first_429": seconds}), flush=True)
                    statuses[str(answer.status_code)] += 1
                except httpx2.HTTPError:
                    errors += 1
                if pause:
                    await asyncio.sleep(pause)

        await asyncio.gather(*(worker() for _ in range(connections)))
    return {"statuses": statuses, "errors": errors, "seconds": round(time.monotonic() - started, 2)}


if __name__ == "__main__":
    target, total = sys.argv[1], int(sys.argv[2])
    parallel = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    wait = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    print(json.dumps(asyncio.run(main(target, total, parallel, wait))), flush=True)
