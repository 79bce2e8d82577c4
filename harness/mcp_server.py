"""``airs-mcp-server`` (uvicorn) on loopback, pointed at an AIRS double.

``launch_mcp_server(double, directory, env_overrides=None, port=0, host="127.0.0.1", args=(),
name=..., wrapper=())`` starts one (``port=0`` lets it pick a free port and report it through
``--port-file``) and waits for ``/readyz``; ``server_env(double, overrides)`` is the environment
it runs in (``None`` values remove a variable). Both leave out every ``PANW_*`` and
``AIRS_MCP_*`` variable of this process.

The returned ``McpServerHandle``: ``url`` (``http://127.0.0.1:PORT``), ``sse_url``
(``…/sse/``), ``mcp_url`` (``…/mcp``), ``port``, ``process``, ``log_path``, ``log_text()``,
``log_lines()`` and ``tool_calls()`` (parsed JSON log lines), ``stop()``, ``token`` (the first
bearer token it accepts; ``None`` with ``AIRS_MCP_AUTH=none``) and ``auth_headers``.

Authentication: every server gets ``AIRS_MCP_AUTH_TOKENS=TEST_TOKEN`` (a random token made once
per process) unless the overrides set ``AIRS_MCP_AUTH_TOKENS`` or ``AIRS_MCP_AUTH``.
``routing_env(key)`` are the overrides of a replica with session routing on loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.airs_double import AirsDouble
from harness.processes import (
    ManagedProcess,
    env_without_proxies,
    script,
    spawn,
    wait_for_http,
    wait_for_port,
)

__all__ = [
    "PROFILE_NAME",
    "ROUTING_KEY",
    "TEST_TOKEN",
    "McpServerHandle",
    "launch_mcp_server",
    "routing_env",
    "server_env",
]

PROFILE_NAME = "test-profile"
TEST_TOKEN = f"test-token-{secrets.token_hex(24)}"  # one per run; servers accept it by default
ROUTING_KEY = "test-session-routing-key-0123456789abcdef"  # a test value, not a secret


@dataclass
class McpServerHandle:
    url: str
    port: int
    process: ManagedProcess
    env: dict[str, str] = field(repr=False)

    @property
    def sse_url(self) -> str:
        return f"{self.url}/sse/"

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def log_text(self) -> str:
        return self.process.log_text()

    def log_lines(self) -> list[dict[str, Any]]:
        """Every JSON log line written so far, parsed (non-JSON lines are skipped)."""
        lines = []
        for raw in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(raw))
        return lines

    def tool_calls(self) -> list[dict[str, Any]]:
        return [line for line in self.log_lines() if line.get("msg") == "tool_call"]

    @property
    def token(self) -> str | None:
        """The first bearer token the server accepts (``None`` without static tokens)."""
        tokens = [t.strip() for t in self.env.get("AIRS_MCP_AUTH_TOKENS", "").split(",")]
        return next((t for t in tokens if t), None)

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def stop(self) -> int | None:
        return self.process.stop()


def server_env(
    double: AirsDouble | None, overrides: Mapping[str, str | None] | None = None
) -> dict[str, str]:
    """Environment for ``airs-mcp-server`` talking to ``double``; ``None`` values unset."""
    env = env_without_proxies()
    for name in list(env):
        if name.startswith(("PANW_", "AIRS_MCP_")):
            del env[name]
    if double is not None:
        env.update(
            {
                "SSL_CERT_FILE": str(double.ca_path),
                "PANW_AI_SEC_API_KEY": double.api_key,
                "PANW_AI_SEC_API_ENDPOINT": double.url,
                "PANW_AI_PROFILE_NAME": PROFILE_NAME,
            }
        )
    overrides = overrides or {}
    if double is not None and not {"AIRS_MCP_AUTH_TOKENS", "AIRS_MCP_AUTH"} & set(overrides):
        env["AIRS_MCP_AUTH_TOKENS"] = TEST_TOKEN
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def routing_env(key: str = ROUTING_KEY) -> dict[str, str | None]:
    """Environment overrides of a replica with session routing on loopback: it advertises
    ``127.0.0.1`` (its listen port is added per stream) and accepts only ``127.0.0.1`` owners."""
    return {
        "AIRS_MCP_SESSION_ROUTING_KEY": key,
        "AIRS_MCP_ADVERTISE_ADDRESS": "127.0.0.1",
        "AIRS_MCP_PEER_NETWORKS": "127.0.0.1/32",
    }


def launch_mcp_server(
    double: AirsDouble | None,
    directory: Path,
    *,
    env_overrides: Mapping[str, str | None] | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
    args: Sequence[str] = (),
    name: str = "airs-mcp-server",
    wrapper: Sequence[str] = (),
) -> McpServerHandle:
    """Start ``airs-mcp-server`` and wait until ``/readyz`` answers 200. ``wrapper`` is a
    command that ends by exec'ing its arguments (the server's argv), e.g. into a cgroup."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, raw = tempfile.mkstemp(prefix="server-", suffix=".port", dir=directory)
    os.close(fd)
    port_file = Path(raw)
    port_file.unlink()
    env = server_env(double, env_overrides)
    argv = [
        *wrapper,
        script("airs-mcp-server"),
        "--host",
        host,
        "--port",
        str(port),
        "--port-file",
        str(port_file),
        *args,
    ]
    managed = spawn(name, argv, env, port_file.with_suffix(".log"))
    bound = wait_for_port(managed, port_file)
    url = f"http://127.0.0.1:{bound}"
    wait_for_http(managed, f"{url}/readyz")
    return McpServerHandle(url, bound, managed, env)
