"""Input checks before any AIRS call: scan items, sizes, list lengths and ids."""

from __future__ import annotations

import uuid

import pytest
from airs_mcp.scan import validation
from airs_mcp.scan.models import ScanItem
from airs_mcp.scan.validation import InputProblem


def test_an_item_needs_something_to_scan() -> None:
    for item in (ScanItem(), ScanItem(prompt=""), ScanItem(context="only context")):
        with pytest.raises(InputProblem, match="nothing to scan"):
            validation.check_item(item)


def test_empty_strings_count_as_absent() -> None:
    item = validation.check_item(ScanItem(prompt="hi", response=""))
    assert item.prompt == "hi"
    assert item.response is None


def test_oversized_field_is_named() -> None:
    with pytest.raises(InputProblem, match=r"^response is 2097153 bytes"):
        validation.check_item(ScanItem(prompt="ok", response="x" * (2 * 1024 * 1024 + 1)))


def test_field_limits_are_utf8_bytes() -> None:
    limit = validation.MAX_FIELD_BYTES
    assert validation.field_problems({"prompt": "a" * limit}) == []
    problems = validation.field_problems({"prompt": "é" * (limit // 2 + 1), "response": None})
    assert len(problems) == 1
    assert problems[0].startswith("prompt is")
    # context has the same 2 MiB limit (it was 100 MiB, more than a request body may carry)
    assert validation.field_problems({"context": "a" * limit}) == []
    assert validation.field_problems({"context": "a" * (limit + 1)})[0].startswith("context is")


def test_inline_request_size_is_held_to_the_sync_limit() -> None:
    validation.check_inline_size(2_000_000)
    with pytest.raises(InputProblem, match=r"^the request would be 2000001 bytes.*pan_batch_scan"):
        validation.check_inline_size(2_000_001)


def test_an_oversized_batch_item_says_its_size() -> None:
    assert validation.oversized_batch_item(6_000_000).startswith("item is 6000000 bytes as JSON")


def test_list_length_is_one_to_the_limit() -> None:
    validation.check_count(1, "items", 3)
    validation.check_count(3, "items", 3)
    with pytest.raises(InputProblem, match=r"^items is empty$"):
        validation.check_count(0, "items", 3)
    with pytest.raises(InputProblem, match=r"^scan_ids has 4 entries; at most 3 are accepted"):
        validation.check_count(4, "scan_ids", 3)


def shaped(airs_id: str, tag: str = "A" * 22) -> str:
    return f"{airs_id}.{tag}"


def test_id_validation_names_each_bad_id() -> None:
    good = shaped(str(uuid.uuid4()))
    bare = good[:36]
    assert validation.bad_ids([good, "nope", bare, good[:-1], good + "0"], report=False) == [
        "nope",
        bare,
        good[:-1],
        good + "0",
    ]
    assert validation.bad_ids(["R" + good, good, "R" + bare, "Rxyz"], report=True) == [
        good,
        "R" + bare,
        "Rxyz",
    ]


def test_query_ids_are_trimmed_lower_cased_and_unique_in_input_order() -> None:
    first = shaped(str(uuid.uuid4()), "Ab" * 11)
    second = shaped(str(uuid.uuid4()), "cD" * 11)
    upper_first = first[:36].upper() + first[36:]
    values = [f" {upper_first}", second, first]
    assert validation.query_ids(values, report=False, limit=5) == [first, second]
    upper_second = second[:36].upper() + second[36:]
    reports = ["R" + upper_second, "R" + first, "R" + second]
    assert validation.query_ids(reports, report=True, limit=5) == ["R" + second, "R" + first]


def test_query_ids_keep_the_case_of_the_tag() -> None:
    value = shaped(str(uuid.uuid4()), "aB" * 11)
    assert validation.query_ids([value], report=False, limit=5) == [value]


def test_query_ids_name_every_malformed_id_once() -> None:
    good = shaped(str(uuid.uuid4()))
    bare = good[:36]
    with pytest.raises(InputProblem) as caught:
        validation.query_ids([good, "nope", bare, "nope"], report=False, limit=5)
    assert str(caught.value) == (
        "invalid scan_ids (each must be an id returned by pan_inline_scan or pan_batch_scan: "
        f"a UUID, '.' and a 22-character tag): 'nope', '{bare}'"
    )
    with pytest.raises(InputProblem, match=r"^invalid report_ids \(each must be an id returned"):
        validation.query_ids([good], report=True, limit=5)
    with pytest.raises(InputProblem, match=r"^report_ids is empty$"):
        validation.query_ids([], report=True, limit=5)
