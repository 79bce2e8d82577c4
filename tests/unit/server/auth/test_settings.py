"""Authentication and limit settings, the static-token verifier and the log content filter."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys

import pytest
from airs_mcp.auth.settings import auth_from_env, token_digest
from airs_mcp.auth.static_tokens import StaticTokenVerifier
from airs_mcp.config import ConfigError, Settings
from airs_mcp.observability.log import JsonFormatter
from airs_mcp.observability.log_filter import ContentFilter, scrub
from pydantic import BaseModel, Field, ValidationError

TOKEN = "placeholder-bearer-token-0123456789abcdef"
OTHER = "another-placeholder-token-0123456789abcdef"
BASE = {"PANW_AI_SEC_API_KEY": "k", "PANW_AI_PROFILE_NAME": "p", "AIRS_MCP_AUTH_TOKENS": TOKEN}
OAUTH = {
    "AIRS_MCP_AUTH": "oauth",
    "AIRS_MCP_OAUTH_ISSUER": "https://login.example",
    "AIRS_MCP_OAUTH_JWKS_URL": "https://login.example/jwks.json",
    "AIRS_MCP_OAUTH_RESOURCE": "https://mcp.example/",
}


def test_defaults_keep_only_digests_and_every_limit_on() -> None:
    settings = Settings.from_env({**BASE, "AIRS_MCP_AUTH_TOKENS": f"{TOKEN}, {OTHER}"})
    assert settings.auth.mode == "token"
    assert settings.auth.token_digests == (token_digest(TOKEN), token_digest(OTHER))
    assert TOKEN not in repr(settings)
    assert (settings.max_sse_sessions, settings.limit_concurrency) == (1000, 2000)
    assert settings.max_body_bytes == 4 * 1024 * 1024


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"AIRS_MCP_AUTH_TOKENS": ""}, "AIRS_MCP_AUTH_TOKENS"),
        ({"AIRS_MCP_AUTH_TOKENS": "short-secret-value"}, "AIRS_MCP_AUTH_TOKENS"),
        ({"AIRS_MCP_AUTH_TOKENS": f"{TOKEN},short-secret-value"}, "AIRS_MCP_AUTH_TOKENS"),
        ({"AIRS_MCP_AUTH": "none"}, "AIRS_MCP_AUTH"),  # tokens set and auth off: contradiction
        ({"AIRS_MCP_AUTH": "basic"}, "AIRS_MCP_AUTH"),
        ({**OAUTH, "AIRS_MCP_OAUTH_ISSUER": ""}, "AIRS_MCP_OAUTH_ISSUER"),
        ({**OAUTH, "AIRS_MCP_OAUTH_JWKS_URL": "http://idp.example/j"}, "AIRS_MCP_OAUTH_JWKS_URL"),
        ({**OAUTH, "AIRS_MCP_OAUTH_RESOURCE": "mcp.example"}, "AIRS_MCP_OAUTH_RESOURCE"),
        ({**OAUTH, "AIRS_MCP_OAUTH_REQUIRE_AT_JWT": "maybe"}, "AIRS_MCP_OAUTH_REQUIRE_AT_JWT"),
        ({"AIRS_MCP_MAX_SSE_SESSIONS": "-1"}, "AIRS_MCP_MAX_SSE_SESSIONS"),
        ({"AIRS_MCP_MAX_SSE_SESSIONS": "3000"}, "AIRS_MCP_LIMIT_CONCURRENCY"),
        ({"AIRS_MCP_MAX_BODY_BYTES": str(8 * 1024 * 1024)}, "AIRS_MCP_MAX_BODY_BYTES"),
        ({"AIRS_MCP_MAX_BODY_BYTES": "100"}, "AIRS_MCP_MAX_BODY_BYTES"),
    ],
)
def test_bad_auth_and_limit_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**BASE, **env})
    assert caught.value.variable == variable
    assert "short-secret-value" not in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_auth_none_and_oauth_modes() -> None:
    env = {k: v for k, v in BASE.items() if k != "AIRS_MCP_AUTH_TOKENS"}
    assert not Settings.from_env({**env, "AIRS_MCP_AUTH": "none"}).auth.enabled
    oauth = Settings.from_env({**env, **OAUTH}).auth
    assert oauth.mode == "oauth"
    assert oauth.oauth is not None
    assert oauth.oauth.resource == "https://mcp.example"
    assert oauth.oauth.require_at_jwt  # RFC 9068 typ checked unless turned off
    lax = auth_from_env({**OAUTH, "AIRS_MCP_OAUTH_REQUIRE_AT_JWT": "False"}).oauth
    assert lax is not None
    assert not lax.require_at_jwt
    loopback = {**OAUTH, "AIRS_MCP_OAUTH_JWKS_URL": "http://127.0.0.1:8080/jwks.json"}
    assert auth_from_env(loopback).oauth is not None  # plain http only on loopback


def test_static_verifier_accepts_each_configured_token_only() -> None:
    verifier = StaticTokenVerifier((token_digest(TOKEN), token_digest(OTHER)))
    first = asyncio.run(verifier.verify_token(TOKEN))
    second = asyncio.run(verifier.verify_token(OTHER))
    assert first is not None
    assert second is not None
    assert first.client_id != second.client_id  # a session is bound to one of them
    assert TOKEN not in first.model_dump_json()
    assert asyncio.run(verifier.verify_token(TOKEN + "x")) is None
    assert asyncio.run(verifier.verify_token("")) is None


def test_cli_without_tokens_exits_2_naming_the_variable() -> None:
    env = {"PANW_AI_SEC_API_KEY": "k", "PANW_AI_PROFILE_NAME": "p", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from airs_mcp.cli import main; sys.exit(main([]))"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("airs-mcp-server: configuration error: AIRS_MCP_AUTH_TOKENS:")


# --- log hygiene ---------------------------------------------------------------------------------
class Message(BaseModel):
    jsonrpc: str = Field(pattern="^2.0$")


def formatted(record: logging.LogRecord) -> str:
    assert ContentFilter().filter(record)
    return JsonFormatter().format(record)


def test_traceback_keeps_frames_but_not_the_rejected_input() -> None:
    content = "-".join(("MARKER", "in", "a", "prompt"))  # not in this file's source lines
    try:
        Message.model_validate({"jsonrpc": content})
    except ValidationError:
        record = logging.LogRecord(
            "mcp.server.sse", logging.ERROR, __file__, 1, "Failed to parse message", None,
            sys.exc_info(),
        )  # fmt: skip
    line = formatted(record)
    assert "MARKER" not in line
    assert "ValidationError" in line
    assert "auth/test_settings.py" in line  # the frames stay


def test_third_party_messages_lose_tokens_and_session_ids() -> None:
    session = "5f0c6b0e2a7d4c1e9b3a8d7c6b5a4f3e"
    text = (
        f"GET /sse/messages/?session_id={session}&owner=abc Authorization: Bearer {TOKEN} "
        "input_value='MARKER', input_type=str"
    )
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "%s", (text,), None)
    line = formatted(record)
    for secret in (session, TOKEN, "owner=abc", "MARKER"):
        assert secret not in line
    assert "session_id=#" in line
    dashed = "Could not find session for ID: 5f0c6b0e-2a7d-4c1e-9b3a-8d7c6b5a4f3e"
    assert scrub(dashed) == "Could not find session for ID: " + scrub(session)  # one tag per id
