"""Counting the replicas from DNS: distinct addresses, the last good count on failure, >= 1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Sequence
from typing import Any

from airs_mcp.scan.replica_count import count_replicas, watch_replicas


async def test_literal_addresses_resolve_through_the_loop_and_count_once_each() -> None:
    names = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.2"]
    assert await count_replicas(names, last=7) == 3


async def test_a_failed_lookup_keeps_the_last_good_count() -> None:
    async def no_dns(name: str) -> Sequence[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    assert await count_replicas(["mcp-server-peers.airs-mcp.svc"], last=4, resolve=no_dns) == 4


async def test_an_empty_answer_keeps_the_last_good_count() -> None:
    async def nothing(name: str) -> Sequence[tuple[Any, ...]]:
        return []

    assert await count_replicas(["peers"], last=2, resolve=nothing) == 2


async def test_the_watch_reports_each_count_and_starts_from_one() -> None:
    answers: list[list[str] | None] = [None, ["10.0.0.1", "10.0.0.2"], None, ["10.0.0.3"]]
    reported: list[int] = []

    async def changing(name: str) -> Sequence[tuple[Any, ...]]:
        addresses = answers.pop(0)
        if addresses is None:
            raise socket.gaierror(socket.EAI_NONAME, "not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in addresses]

    async def tick(seconds: float) -> None:
        if not answers:
            raise asyncio.CancelledError

    with contextlib.suppress(asyncio.CancelledError):
        await watch_replicas(["peers"], 10.0, reported.append, resolve=changing, sleep=tick)
    assert reported == [1, 2, 2, 1]
