"""The owner-token codec: round trips, and every kind of tampering is refused."""

from __future__ import annotations

import base64
import ipaddress
import uuid

import pytest
from airs_mcp.transport.routing import owner_token
from airs_mcp.transport.routing.owner_token import OwnerAddress, OwnerTokenError

KEY = b"k" * 32
SESSION = uuid.UUID("8a3c1f0e2b9d4c5aa1b2c3d4e5f60718").hex
V4 = OwnerAddress(ipaddress.ip_address("10.42.0.7"), 8000)
V6 = OwnerAddress(ipaddress.ip_address("fd00::1:7"), 65535)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


@pytest.mark.parametrize("owner", [V4, V6])
def test_round_trip(owner: OwnerAddress) -> None:
    token = owner_token.encode(KEY, SESSION, owner)
    assert owner_token.decode(KEY, SESSION, token) == owner
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_address_text() -> None:
    assert str(V4) == "10.42.0.7:8000"
    assert str(V6) == "[fd00::1:7]:65535"


def test_session_id_spellings_share_one_token() -> None:
    dashed = str(uuid.UUID(hex=SESSION)).upper()
    token = owner_token.encode(KEY, dashed, V4)
    assert token == owner_token.encode(KEY, SESSION, V4)
    assert owner_token.decode(KEY, SESSION, token) == V4


def test_other_session_is_refused() -> None:
    token = owner_token.encode(KEY, SESSION, V4)
    other = uuid.UUID(int=uuid.UUID(hex=SESSION).int ^ 1).hex
    with pytest.raises(OwnerTokenError, match="signature"):
        owner_token.decode(KEY, other, token)


def test_other_key_is_refused() -> None:
    token = owner_token.encode(b"x" * 32, SESSION, V4)
    with pytest.raises(OwnerTokenError, match="signature"):
        owner_token.decode(KEY, SESSION, token)


@pytest.mark.parametrize("offset", [1, 4, 5, 6, 10, 38])
def test_every_flipped_byte_is_refused(offset: int) -> None:
    data = bytearray(raw(owner_token.encode(KEY, SESSION, V4)))
    data[offset] ^= 0x01
    with pytest.raises(OwnerTokenError):
        owner_token.decode(KEY, SESSION, b64(bytes(data)))


def test_readdressed_token_is_refused() -> None:
    """Swapping the address while keeping the MAC (the forgery that matters) fails."""
    data = raw(owner_token.encode(KEY, SESSION, V4))
    forged = data[:1] + ipaddress.ip_address("10.42.0.8").packed + data[5:]
    with pytest.raises(OwnerTokenError, match="signature"):
        owner_token.decode(KEY, SESSION, b64(forged))


def test_token_lengths() -> None:
    """Version, address, port and MAC fill whole base64 groups: no padding, no spare bits."""
    assert len(owner_token.encode(KEY, SESSION, V4)) == 52
    assert len(owner_token.encode(KEY, SESSION, V6)) == 68


@pytest.mark.parametrize(
    "token",
    ["", "short", "A" * 52 + "=", "A" * 51 + "!", "A" * 60, "A" * 68, "A" * 52],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(OwnerTokenError):
        owner_token.decode(KEY, SESSION, token)


def test_unknown_version_is_refused() -> None:
    data = raw(owner_token.encode(KEY, SESSION, V4))
    with pytest.raises(OwnerTokenError, match="malformed"):
        owner_token.decode(KEY, SESSION, b64(b"\x02" + data[1:]))


@pytest.mark.parametrize("session", ["", "not-hex", "12" * 17])
def test_malformed_session_ids_are_refused(session: str) -> None:
    token = owner_token.encode(KEY, SESSION, V4)
    with pytest.raises(OwnerTokenError, match="session"):
        owner_token.decode(KEY, session, token)
    with pytest.raises(OwnerTokenError, match="session"):
        owner_token.encode(KEY, session, V4)


def test_port_zero_is_not_an_address() -> None:
    with pytest.raises(ValueError, match="port"):
        OwnerAddress(ipaddress.ip_address("10.0.0.1"), 0)
