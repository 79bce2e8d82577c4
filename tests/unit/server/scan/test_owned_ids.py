"""The scan id codec: ids reopen only for the principal they were issued to, under the same key."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import pytest
from airs_mcp.scan.owned_ids import (
    KEY_LABEL,
    ScanIds,
    derive_key,
    is_owned_report_id,
    is_owned_scan_id,
)

KEY = derive_key("an-airs-api-key-for-the-tests")
ALICE = b'["token", "static:aa", null, null]'
BOB = b'["token", "static:bb", null, null]'


def airs_id() -> str:
    return str(uuid.uuid4())


def test_key_is_hmac_of_its_own_label_under_the_api_key() -> None:
    expected = hmac.new(b"api-key", b"airs-mcp/scan-id-key/v1", hashlib.sha256).digest()
    assert KEY_LABEL == b"airs-mcp/scan-id-key/v1"
    assert derive_key("api-key") == expected
    assert derive_key("api-key") != derive_key("api-key2")


def test_scan_and_report_ids_round_trip_for_their_principal() -> None:
    scan = airs_id()
    alice = ScanIds(KEY, ALICE)
    scan_id, report_id = alice.scan_id(scan), alice.report_id("R" + scan)
    assert scan_id.startswith(scan + ".")
    assert len(scan_id) == 36 + 1 + 22
    assert report_id == "R" + scan_id  # AIRS's relation, kept
    assert is_owned_scan_id(scan_id)
    assert is_owned_report_id(report_id)
    assert alice.open_scan_id(scan_id) == scan
    assert alice.open_report_id(report_id) == "R" + scan
    # Another replica: a new codec with the same key and principal.
    assert ScanIds(KEY, ALICE).open_scan_id(scan_id) == scan


def test_issuing_lower_cases_the_airs_id_and_opening_accepts_its_upper_case() -> None:
    scan = airs_id()
    alice = ScanIds(KEY, ALICE)
    scan_id = alice.scan_id(scan.upper())
    assert scan_id == alice.scan_id(scan)
    assert alice.open_scan_id(scan.upper() + scan_id[36:]) == scan


def test_another_principal_or_key_does_not_open_an_id() -> None:
    scan = airs_id()
    scan_id = ScanIds(KEY, ALICE).scan_id(scan)
    assert ScanIds(KEY, BOB).open_scan_id(scan_id) is None
    assert ScanIds(KEY, BOB).open_report_id("R" + scan_id) is None
    assert ScanIds(derive_key("another-api-key"), ALICE).open_scan_id(scan_id) is None


def test_tampered_ids_do_not_open() -> None:
    alice = ScanIds(KEY, ALICE)
    first, second = alice.scan_id(airs_id()), alice.scan_id(airs_id())
    swapped = first[:36] + second[36:]  # one scan's AIRS id under another's tag
    flipped = first[:-1] + ("A" if first[-1] != "A" else "B")
    assert alice.open_scan_id(swapped) is None
    assert alice.open_scan_id(flipped) is None
    assert alice.open_scan_id(f"{airs_id()}.{'A' * 22}") is None


def test_a_non_canonical_spelling_of_the_tag_does_not_open() -> None:
    """16 bytes leave 4 unused bits in the last of the 22 characters: another character with the
    same 128 bits must still fail."""
    alice = ScanIds(KEY, ALICE)
    scan_id = alice.scan_id(airs_id())
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(scan_id[-1])
    variant = scan_id[:-1] + alphabet[last | 1 if last % 2 == 0 else last & ~1]
    assert variant != scan_id
    assert alice.open_scan_id(variant) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0b5ad9a4-1c52-4f3e-9a56-6f4b2f0fd4a1",  # a bare AIRS id
        "0b5ad9a4-1c52-4f3e-9a56-6f4b2f0fd4a1.",
        "0b5ad9a4-1c52-4f3e-9a56-6f4b2f0fd4a1." + "A" * 21,
        "0b5ad9a4-1c52-4f3e-9a56-6f4b2f0fd4a1." + "A" * 23,
        "0b5ad9a4-1c52-4f3e-9a56-6f4b2f0fd4a1." + "A" * 21 + "=",
        "0b5ad9a4-1c52-4f3e-9a56-6f4b2f0fd4a1:" + "A" * 22,
        "0b5ad9a41c524f3e9a566f4b2f0fd4a1." + "A" * 22,
        "R0b5ad9a4-1c52-4f3e-9a56-6f4b2f0fd4a1." + "A" * 22,
        "0b5ad9a4-1c52-4f3e-9a56-6f4b2f0fd4a1." + "A" * 22 + "\n",
    ],
)
def test_malformed_scan_ids_are_refused_as_malformed(value: str) -> None:
    assert not is_owned_scan_id(value)
    with pytest.raises(ValueError, match="not shaped like a scan id"):
        ScanIds(KEY, ALICE).open_scan_id(value)


def test_a_report_id_needs_its_r() -> None:
    scan_id = ScanIds(KEY, ALICE).scan_id(airs_id())
    assert not is_owned_report_id(scan_id)
    assert not is_owned_report_id("r" + scan_id)
    with pytest.raises(ValueError, match="not shaped like a report id"):
        ScanIds(KEY, ALICE).open_report_id(scan_id)
