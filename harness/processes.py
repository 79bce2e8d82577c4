"""Child processes with their output in a log file: started, waited for, stopped.

``spawn(name, argv, env, log_path)`` starts one in a session of its own and returns a
``ManagedProcess``; ``wait_for_port(managed, port_file)`` and ``wait_for_http(managed, url)``
wait until it is ready, or stop it and raise with the tail of its log. Every process started
here and not stopped yet is in ``live_processes()``, so a failing test's report can show their
logs. ``env_without_proxies()`` is an environment for loopback traffic, ``script(name)`` a
console script of the running environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sysconfig
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "PROXY_VARS",
    "ManagedProcess",
    "env_without_proxies",
    "live_processes",
    "script",
    "spawn",
    "wait_for_http",
    "wait_for_port",
]

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
LOG_TAIL_BYTES = 8000
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")

_LIVE: list[ManagedProcess] = []


def script(name: str) -> str:
    """Path of a console script installed in the running environment."""
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: run `make setup` (pip install -e .[dev])")
    return str(path)


@dataclass
class ManagedProcess:
    """A child process whose output goes to ``log_path``; stopped by ``stop()``."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, size: int = LOG_TAIL_BYTES) -> str:
        text = self.log_text()
        return text[-size:]

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        if self in _LIVE:
            _LIVE.remove(self)
        return self.proc.returncode


def live_processes() -> list[ManagedProcess]:
    """Every process ``spawn`` started and ``stop()`` has not stopped yet, oldest first."""
    return list(_LIVE)


def spawn(name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> ManagedProcess:
    """Start ``argv`` in ``env``, stdout and stderr to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            list(argv), env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    managed = ManagedProcess(name, proc, log_path)
    _LIVE.append(managed)
    return managed


def wait_for_port(managed: ManagedProcess, port_file: Path) -> int:
    """The port ``managed`` writes to ``port_file`` once it listens."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if port_file.exists():
            return int(port_file.read_text())
        if not managed.running():
            break
        time.sleep(0.05)
    managed.stop()
    raise RuntimeError(f"{managed.name} did not start:\n{managed.log_tail()}")


def wait_for_http(managed: ManagedProcess, url: str, verify: Any = True) -> None:
    """Until ``url`` answers 200."""
    deadline = time.monotonic() + START_TIMEOUT
    last = ""
    while time.monotonic() < deadline and managed.running():
        try:
            if httpx.get(url, verify=verify, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.05)
    managed.stop()
    raise RuntimeError(f"{managed.name} never answered {url} ({last}):\n{managed.log_tail()}")


def env_without_proxies(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default this process's environment) with no proxy for loopback traffic."""
    env = dict(os.environ if base is None else base)
    for var in PROXY_VARS:
        env.pop(var, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
    return env
