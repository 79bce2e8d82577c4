"""Pure helpers for splitting work into AIRS-sized requests (input checks: ``validation``)."""

from __future__ import annotations

from collections.abc import Sequence

MAX_OBJECTS_PER_ASYNC = 5
MAX_ASYNC_PAYLOAD_BYTES = 5_000_000
MAX_SYNC_PAYLOAD_BYTES = 2_000_000
MAX_IDS_PER_QUERY = 5
ARRAY_OVERHEAD = 2  # the enclosing "[]"
ITEM_SEPARATOR = 2  # ", " between array elements (json.dumps default)


def plan_chunks(
    sizes: Sequence[int],
    *,
    max_objects: int = MAX_OBJECTS_PER_ASYNC,
    max_bytes: int = MAX_ASYNC_PAYLOAD_BYTES,
) -> tuple[list[list[int]], list[int]]:
    """Group item indexes, in order, into chunks of at most ``max_objects`` items whose JSON
    array stays within ``max_bytes``. Returns (chunks, indexes too large for any request)."""
    chunks: list[list[int]] = []
    oversized: list[int] = []
    current: list[int] = []
    current_bytes = ARRAY_OVERHEAD
    for index, size in enumerate(sizes):
        if size + ARRAY_OVERHEAD > max_bytes:
            oversized.append(index)
            continue
        extra = size + (ITEM_SEPARATOR if current else 0)
        if current and (len(current) >= max_objects or current_bytes + extra > max_bytes):
            chunks.append(current)
            current, current_bytes = [], ARRAY_OVERHEAD
            extra = size
        current.append(index)
        current_bytes += extra
    if current:
        chunks.append(current)
    return chunks, oversized


def groups(values: Sequence[str], size: int = MAX_IDS_PER_QUERY) -> list[list[str]]:
    return [list(values[i : i + size]) for i in range(0, len(values), size)]


def dedupe(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))
