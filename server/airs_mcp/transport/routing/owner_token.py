"""The ``owner`` token of an SSE session: which replica holds the stream, signed by the fleet.

A replica that opens an SSE stream advertises ``/sse/messages/?session_id=<hex>&owner=<token>``.
Another replica receiving a POST for that session reads the owner's address from the token and
forwards the POST there. The address is trusted only because of the HMAC, so the codec is
strict: one version, fixed lengths, canonical base64url, and a MAC over both the session id and
the address (a token cannot be moved to another session, nor re-pointed at another address).

Layout before base64url (no padding)::

    version (1 byte, 1) | IPv4 (4) or IPv6 (16) | port (2, big-endian) | HMAC-SHA256 (32)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import uuid
from dataclasses import dataclass

__all__ = ["OwnerAddress", "OwnerTokenError", "decode", "encode", "session_hex"]

VERSION = 1
_DOMAIN = b"airs-mcp/sse-session-owner/v1\x00"
_MAC_SIZE = hashlib.sha256().digest_size
_V4_SIZE = 1 + 4 + 2 + _MAC_SIZE
_V6_SIZE = 1 + 16 + 2 + _MAC_SIZE
# Unpadded base64url lengths of the two layouts; anything else is rejected before decoding.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{52}|[A-Za-z0-9_-]{68}")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OwnerTokenError(ValueError):
    """The token or session id is malformed or its signature does not match."""


@dataclass(frozen=True)
class OwnerAddress:
    """A replica's address as its peers reach it."""

    ip: IPAddress
    port: int

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port out of range: {self.port}")

    def __str__(self) -> str:
        host = f"[{self.ip}]" if self.ip.version == 6 else str(self.ip)
        return f"{host}:{self.port}"

    def packed(self) -> bytes:
        return self.ip.packed + self.port.to_bytes(2, "big")


def session_hex(session_id: str) -> str:
    """The canonical form of a session id (what the SDK advertises: 32 lowercase hex digits)."""
    try:
        return uuid.UUID(hex=session_id).hex
    except ValueError:
        raise OwnerTokenError("malformed session id") from None


def _mac(key: bytes, session: str, address: bytes) -> bytes:
    message = _DOMAIN + session.encode("ascii") + b"\x00" + bytes([VERSION]) + address
    return hmac.new(key, message, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def encode(key: bytes, session_id: str, owner: OwnerAddress) -> str:
    session = session_hex(session_id)
    address = owner.packed()
    return _b64(bytes([VERSION]) + address + _mac(key, session, address))


def decode(key: bytes, session_id: str, token: str) -> OwnerAddress:
    """The owner named by ``token`` for ``session_id``; ``OwnerTokenError`` unless authentic."""
    session = session_hex(session_id)
    if not _TOKEN.fullmatch(token):
        raise OwnerTokenError("malformed owner token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise OwnerTokenError("malformed owner token") from None
    # Only the canonical spelling is accepted (no variants differing in unused trailing bits).
    if _b64(raw) != token or raw[0] != VERSION or len(raw) not in (_V4_SIZE, _V6_SIZE):
        raise OwnerTokenError("malformed owner token")
    address, mac = raw[1:-_MAC_SIZE], raw[-_MAC_SIZE:]
    if not hmac.compare_digest(mac, _mac(key, session, address)):
        raise OwnerTokenError("owner token signature does not match")
    ip = ipaddress.ip_address(address[:-2])
    port = int.from_bytes(address[-2:], "big")
    try:
        return OwnerAddress(ip, port)
    except ValueError:
        raise OwnerTokenError("owner token names port 0") from None
