"""The caller's principal inside a tool call, from the SDK's auth context."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from airs_mcp.auth.caller import ANONYMOUS, NoCaller, principal
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken


@pytest.fixture
def signed_in() -> Iterator[AccessToken]:
    token = AccessToken(
        token="sha256:00",
        client_id="app",
        scopes=[],
        subject="alice",
        claims={"iss": "https://issuer.test"},
    )
    reset = auth_context_var.set(AuthenticatedUser(token))
    try:
        yield token
    finally:
        auth_context_var.reset(reset)


def test_without_authentication_every_caller_is_one_principal() -> None:
    assert principal(auth_enabled=False) == ANONYMOUS


def test_with_authentication_a_call_without_a_caller_is_refused() -> None:
    with pytest.raises(NoCaller):
        principal(auth_enabled=True)


def test_the_principal_is_client_issuer_and_subject(signed_in: AccessToken) -> None:
    found = principal(auth_enabled=True)
    assert json.loads(found) == ["token", "app", "https://issuer.test", "alice"]
    assert found != ANONYMOUS


def test_components_cannot_be_shifted_into_each_other(signed_in: AccessToken) -> None:
    """A client id holding what looks like a separator does not collide with another triple."""
    first = principal(auth_enabled=True)
    shifted = AccessToken(
        token="sha256:00",
        client_id='app", "https://issuer.test',
        scopes=[],
        subject="alice",
    )
    reset = auth_context_var.set(AuthenticatedUser(shifted))
    try:
        assert principal(auth_enabled=True) != first
    finally:
        auth_context_var.reset(reset)
