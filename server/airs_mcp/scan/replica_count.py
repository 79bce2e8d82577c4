"""How many replicas share the AIRS budget, learnt without the Kubernetes API.

Server pods mount no ServiceAccount token, so they cannot list Endpoints. A headless Service
(``clusterIP: None``) selecting the server pods answers a DNS query for its name with one A/AAAA
record per *ready* pod: counting the distinct addresses is counting the ready replicas.
``watch_replicas`` resolves the name through the event loop's ``getaddrinfo`` (the pod's own
resolver and search path) every ``interval_s`` and reports the count; a failed or empty answer
keeps the last good count (a DNS hiccup must not make every pod take the whole budget), and the
count is never below 1 (this pod runs).

Several names may be given: the distinct addresses of all of them count. Where there is no DNS
for the fleet (processes on one machine), a list of literal addresses, one per replica
(``127.0.0.1,127.0.0.2,...``), takes the same path: ``getaddrinfo`` of a literal is itself.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

log = logging.getLogger("airs_mcp.replica_count")

Resolve = Callable[[str], Awaitable[Sequence[tuple[Any, ...]]]]


def distinct_addresses(infos: Sequence[tuple[Any, ...]]) -> int:
    """The number of distinct IP addresses in ``getaddrinfo`` results (one per ready pod)."""
    return len({info[4][0] for info in infos})


async def resolve_with_loop(name: str) -> Sequence[tuple[Any, ...]]:
    loop = asyncio.get_running_loop()
    return await loop.getaddrinfo(name, None, type=socket.SOCK_STREAM)


async def count_replicas(
    names: Sequence[str], last: int, resolve: Resolve = resolve_with_loop
) -> int:
    """The distinct addresses behind ``names``, or ``last`` when one does not resolve."""
    infos: list[tuple[Any, ...]] = []
    for name in names:
        try:
            infos.extend(await resolve(name))
        except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
            log.warning("replica_count_failed", extra={"peer": name, "error": type(exc).__name__})
            return last
    found = distinct_addresses(infos)
    return found if found >= 1 else last


async def watch_replicas(
    names: Sequence[str],
    interval_s: float,
    report: Callable[[int], None],
    *,
    resolve: Resolve = resolve_with_loop,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Report the replica count now and after every ``interval_s``, until cancelled."""
    count = 1
    while True:
        found = await count_replicas(names, count, resolve)
        if found != count:
            log.info("replica_count", extra={"replicas": found})
        count = found
        report(count)
        await sleep(interval_s)
