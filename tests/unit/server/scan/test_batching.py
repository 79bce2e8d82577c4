"""Chunking, grouping and de-duplication for the batch and query tools."""

from __future__ import annotations

from airs_mcp.scan import batching
from airs_mcp.scan.batching import plan_chunks


def test_chunks_hold_at_most_five_items_in_input_order() -> None:
    chunks, oversized = plan_chunks([10] * 12)
    assert chunks == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    assert oversized == []


def test_chunks_respect_the_payload_limit() -> None:
    # 2 + 400 + 2 + 400 = 804 fits in 810; adding the third (2 + 400) would not
    chunks, _ = plan_chunks([400, 400, 400, 400], max_bytes=810)
    assert chunks == [[0, 1], [2, 3]]
    assert all(sum(400 for _ in c) + 2 * len(c) <= 810 for c in chunks)


def test_item_too_large_for_any_request_is_reported_not_sent() -> None:
    chunks, oversized = plan_chunks([100, 5_000_000, 100])
    assert oversized == [1]
    assert chunks == [[0, 2]]


def test_every_index_lands_in_exactly_one_place() -> None:
    sizes = [(i * 7919) % 1_500_000 for i in range(37)]
    chunks, oversized = plan_chunks(sizes, max_bytes=3_000_000)
    placed = [i for chunk in chunks for i in chunk] + oversized
    assert sorted(placed) == list(range(37))
    assert [i for chunk in chunks for i in chunk] == sorted(i for c in chunks for i in c)
    for chunk in chunks:
        assert len(chunk) <= 5
        assert 2 + sum(sizes[i] for i in chunk) + 2 * (len(chunk) - 1) <= 3_000_000


def test_groups_and_dedupe() -> None:
    ids = [f"id{i}" for i in range(12)]
    assert batching.groups(ids) == [ids[0:5], ids[5:10], ids[10:12]]
    assert batching.dedupe(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]
