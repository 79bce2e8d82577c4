"""Which event loop and HTTP parser uvicorn runs: ``AIRS_MCP_LOOP`` / ``AIRS_MCP_HTTP``.

``auto`` takes the C implementation (uvloop, httptools) when it imports and falls back to the
pure-Python one (asyncio, h11) when it does not, as uvicorn's own ``auto`` does; naming the fast
one explicitly makes its absence a configuration error instead of a silent fallback.
"""

from __future__ import annotations

import importlib.util

from airs_mcp.errors import ConfigError

LOOP_CHOICES = ("auto", "asyncio", "uvloop")
HTTP_CHOICES = ("auto", "h11", "httptools")


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _pick(variable: str, value: str, choices: tuple[str, ...], fast: str, slow: str) -> str:
    if value not in choices:
        raise ConfigError(variable, f"must be one of {', '.join(choices)}")
    if value == "auto":
        return fast if _importable(fast) else slow
    if value == fast and not _importable(fast):
        raise ConfigError(variable, f"{fast} is not installed (use auto or {slow})")
    return value


def choose_loop(value: str) -> str:
    """The uvicorn ``loop`` for ``AIRS_MCP_LOOP`` / ``--loop``."""
    return _pick("AIRS_MCP_LOOP", value, LOOP_CHOICES, "uvloop", "asyncio")


def choose_http(value: str) -> str:
    """The uvicorn ``http`` for ``AIRS_MCP_HTTP`` / ``--http``."""
    return _pick("AIRS_MCP_HTTP", value, HTTP_CHOICES, "httptools", "h11")
