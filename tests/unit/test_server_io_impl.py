"""AIRS_MCP_LOOP / AIRS_MCP_HTTP: auto takes the fast implementation when it imports."""

from __future__ import annotations

import pytest
from airs_mcp import cli, io_impl
from airs_mcp.errors import ConfigError


def test_auto_takes_the_installed_fast_ones() -> None:
    # Both are project dependencies (pyproject.toml, requirements.lock).
    assert io_impl.choose_loop("auto") == "uvloop"
    assert io_impl.choose_http("auto") == "httptools"


def test_auto_falls_back_when_not_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(io_impl, "_importable", lambda module: False)
    assert io_impl.choose_loop("auto") == "asyncio"
    assert io_impl.choose_http("auto") == "h11"
    with pytest.raises(ConfigError, match=r"AIRS_MCP_LOOP.*uvloop is not installed"):
        io_impl.choose_loop("uvloop")
    with pytest.raises(ConfigError, match=r"AIRS_MCP_HTTP.*httptools is not installed"):
        io_impl.choose_http("httptools")


@pytest.mark.parametrize("value", ["asyncio", "uvloop"])
def test_explicit_loop(value: str) -> None:
    assert io_impl.choose_loop(value) == value


@pytest.mark.parametrize("value", ["h11", "httptools"])
def test_explicit_http(value: str) -> None:
    assert io_impl.choose_http(value) == value


def test_unknown_values_are_errors() -> None:
    with pytest.raises(ConfigError, match="AIRS_MCP_LOOP"):
        io_impl.choose_loop("trio")
    with pytest.raises(ConfigError, match="AIRS_MCP_HTTP"):
        io_impl.choose_http("h2")


def test_cli_reads_the_environment_and_flags_win() -> None:
    args = cli.parse_args([], {"AIRS_MCP_LOOP": "Asyncio", "AIRS_MCP_HTTP": " h11 "})
    assert (args.loop, args.http) == ("asyncio", "h11")
    args = cli.parse_args(["--loop", "uvloop", "--http", "httptools"], {"AIRS_MCP_LOOP": "asyncio"})
    assert (args.loop, args.http) == ("uvloop", "httptools")
    assert (cli.parse_args([], {}).loop, cli.parse_args([], {}).http) == ("auto", "auto")
