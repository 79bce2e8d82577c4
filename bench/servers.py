"""The processes a benchmark measures: the lean AIRS double and ``airs-mcp-server`` on it.

``LeanDouble(directory)`` starts ``bench.lean_double`` (HTTPS on loopback, adjustable added
latency, counters); ``start_server(double, directory, **env)`` an ``airs-mcp-server`` on it with
``SERVER_ENV`` (no session cap, no concurrency cap) and this checkout's code
(``bench.server_code``); ``rss_kb(pid)`` is a process's resident memory.
"""

from __future__ import annotations

import ssl
import sys
from pathlib import Path
from typing import Any

import httpx

import bench.server_code  # noqa: F401 - this checkout's code first, for every server started here
from harness.airs_double import AirsDouble
from harness.mcp_server import McpServerHandle, launch_mcp_server
from harness.processes import env_without_proxies, spawn, wait_for_port

__all__ = ["NO_CLIENT_LIMITS", "SERVER_ENV", "LeanDouble", "rss_kb", "start_server"]

# Every figure is driven with one token: the per-credential limits would measure themselves.
NO_CLIENT_LIMITS = {
    "AIRS_MCP_CLIENT_REQUESTS_PER_SECOND": "0",
    "AIRS_MCP_CLIENT_AIRS_CALLS_IN_FLIGHT": "0",
    "AIRS_MCP_CLIENT_AIRS_REQUESTS_PER_MINUTE": "0",
}
SERVER_ENV: dict[str, str | None] = {
    # The idle-session figure opens thousands of streams: no session cap, no concurrency cap.
    "AIRS_MCP_MAX_SSE_SESSIONS": "0",
    "AIRS_MCP_LIMIT_CONCURRENCY": "0",
    **NO_CLIENT_LIMITS,
    "AIRS_MCP_BATCH_CONCURRENCY": None,
}


class LeanDouble:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        port_file = directory / "lean.port"
        argv = [sys.executable, "-m", "bench.lean_double"]
        argv += ["--cert-dir", str(directory / "certs"), "--port-file", str(port_file)]
        managed = spawn("lean-double", argv, env_without_proxies(), directory / "lean.log")
        port = wait_for_port(managed, port_file)
        self.url = f"https://127.0.0.1:{port}"
        self.ca = directory / "certs" / "ca.pem"
        self.handle = AirsDouble(
            self.url, self.ca, "bench-placeholder-key", managed, self.ca.parent
        )
        self.ssl = ssl.create_default_context(cafile=str(self.ca))

    def set_latency(self, ms: float) -> None:
        httpx.post(f"{self.url}/_lean/latency", json={"ms": ms}, verify=self.ssl).raise_for_status()

    def take_stats(self) -> dict[str, Any]:
        """The double's counters since the last take (``bench.lean_double``); starts new ones."""
        response = httpx.post(f"{self.url}/_lean/stats", verify=self.ssl)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.handle.process.stop()


def start_server(double: LeanDouble, directory: Path, **env: str | None) -> McpServerHandle:
    return launch_mcp_server(double.handle, directory, env_overrides={**SERVER_ENV, **env})


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")
