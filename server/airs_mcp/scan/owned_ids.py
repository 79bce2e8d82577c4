"""Scan ids bound to the principal that made the scan, checkable by every replica.

The tools never hand out a bare AIRS scan id: a scan id is the AIRS id, a dot and a tag, an
HMAC over the caller's principal and the AIRS id; a report id is ``R`` followed by the scan id
(AIRS's own relation, kept). A replica reopens an id by recomputing the tag for the caller at
hand: no store, nothing shared but the key. An id made for another principal, a tampered one and
one never issued all fail the same comparison and read as unknown.

Layout::

    <AIRS scan id: lower-case UUID>.<tag: 22 base64url characters>
    tag = first 16 bytes of HMAC-SHA256(key, DOMAIN | SHA-256(principal) | AIRS scan id)

The key is derived from the AIRS API key with its own label (``derive_key``): every replica of a
deployment holds the API key already, and whoever holds it can read every scan of the tenant from
AIRS directly, so the derived key guards nothing more than the API key does. It is never used
for anything else (session routing has its own key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

__all__ = ["KEY_LABEL", "ScanIds", "derive_key", "is_owned_report_id", "is_owned_scan_id"]

KEY_LABEL = b"airs-mcp/scan-id-key/v1"
_DOMAIN = b"airs-mcp/scan-id/v1\x00"
TAG_BYTES = 16  # 128 bits: not forgeable by guessing
TAG_CHARS = 22  # unpadded base64url of 16 bytes
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_SCAN_ID = re.compile(rf"({_UUID})\.([A-Za-z0-9_-]{{{TAG_CHARS}}})")


def derive_key(api_key: str) -> bytes:
    """The scan id key: HMAC-SHA256 of ``KEY_LABEL`` under the AIRS API key."""
    return hmac.new(api_key.encode("utf-8"), KEY_LABEL, hashlib.sha256).digest()


def is_owned_scan_id(value: str) -> bool:
    """Shaped like a scan id the tools hand out (whoever it was made for)."""
    return _SCAN_ID.fullmatch(value) is not None


def is_owned_report_id(value: str) -> bool:
    return value.startswith("R") and is_owned_scan_id(value[1:])


class ScanIds:
    """Issues and reopens the ids of one principal's scans.

    ``principal`` names the caller unambiguously (``auth.caller.principal``); only its SHA-256
    enters the tag.
    """

    def __init__(self, key: bytes, principal: bytes) -> None:
        self._key = key
        self._principal = hashlib.sha256(principal).digest()

    def _tag(self, airs_scan_id: str) -> str:
        message = _DOMAIN + self._principal + airs_scan_id.encode("ascii")
        mac = hmac.new(self._key, message, hashlib.sha256).digest()[:TAG_BYTES]
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def scan_id(self, airs_scan_id: str) -> str:
        """The id handed out for the AIRS scan id ``airs_scan_id``."""
        airs = airs_scan_id.lower()
        return f"{airs}.{self._tag(airs)}"

    def report_id(self, airs_report_id: str) -> str:
        """The id handed out for the AIRS report id (``R`` + AIRS scan id)."""
        return "R" + self.scan_id(airs_report_id.removeprefix("R"))

    def open_scan_id(self, scan_id: str) -> str | None:
        """The AIRS scan id inside ``scan_id`` if it was issued to this principal, else None.

        ``scan_id`` must have the shape (``is_owned_scan_id``); ``ValueError`` otherwise.
        """
        found = _SCAN_ID.fullmatch(scan_id)
        if found is None:
            raise ValueError("not shaped like a scan id")
        airs, tag = found.group(1).lower(), found.group(2)
        # Comparing the base64url text also rejects other spellings of the same 16 bytes.
        return airs if hmac.compare_digest(tag.encode(), self._tag(airs).encode()) else None

    def open_report_id(self, report_id: str) -> str | None:
        """The AIRS report id inside ``report_id`` if issued to this principal, else None."""
        if not report_id.startswith("R"):
            raise ValueError("not shaped like a report id")
        airs = self.open_scan_id(report_id[1:])
        return None if airs is None else "R" + airs
