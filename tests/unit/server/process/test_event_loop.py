"""AIRS_MCP_LOOP / AIRS_MCP_HTTP: auto takes the fast implementation when it imports."""

from __future__ import annotations

import pytest
from airs_mcp import cli
from airs_mcp.errors import ConfigError
from airs_mcp.process import event_loop


def test_auto_takes_the_installed_fast_ones() -> None:
    # Both are project dependencies (pyproject.toml, requirements.lock).
    assert event_loop.choose_loop("auto") == "uvloop"
    assert event_loop.choose_http("auto") == "httptools"


def test_auto_falls_back_when_not_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_loop, "_importable", lambda module: False)
    assert event_loop.choose_loop("auto") == "asyncio"
    assert event_loop.choose_http("auto") == "h11"
    with pytest.raises(ConfigError, match=r"AIRS_MCP_LOOP.*uvloop is not installed"):
        event_loop.choose_loop("uvloop")
    with pytest.raises(ConfigError, match=r"AIRS_MCP_HTTP.*httptools is not installed"):
        event_loop.choose_http("httptools")


@pytest.mark.parametrize("value", ["asyncio", "uvloop"])
def test_explicit_loop(value: str) -> None:
    assert event_loop.choose_loop(value) == value


@pytest.mark.parametrize("value", ["h11", "httptools"])
def test_explicit_http(value: str) -> None:
    assert event_loop.choose_http(value) == value


def test_unknown_values_are_errors() -> None:
    with pytest.raises(ConfigError, match="AIRS_MCP_LOOP"):
        event_loop.choose_loop("trio")
    with pytest.raises(ConfigError, match="AIRS_MCP_HTTP"):
        event_loop.choose_http("h2")


def test_cli_reads_the_environment_and_flags_win() -> None:
    args = cli.parse_args([], {"AIRS_MCP_LOOP": "Asyncio", "AIRS_MCP_HTTP": " h11 "})
    assert (args.loop, args.http) == ("asyncio", "h11")
    args = cli.parse_args(["--loop", "uvloop", "--http", "httptools"], {"AIRS_MCP_LOOP": "asyncio"})
    assert (args.loop, args.http) == ("uvloop", "httptools")
    assert (cli.parse_args([], {}).loop, cli.parse_args([], {}).http) == ("auto", "auto")
