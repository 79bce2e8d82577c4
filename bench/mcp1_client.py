"""The stock ``mcp`` 1.x client, in a venv of its own, driven from the bench (2.x) process.

``venv_python()`` makes (once) and returns ``$AIRS_MCP_CACHE/bench/venv-mcp1-<MCP1_VERSION>/``
``bin/python``: a venv with ``mcp==MCP1_VERSION`` from the package index, keyed by the version
and reused when present (built under a temporary name and renamed, so a half-built one is never
reused). ``Mcp1Client`` starts ``bench/mcp1_driver.py`` in it against one server and turns its
JSON lines into awaitables for ``suite.interleaved``; each returns the time the 1.x
``call_tool`` took in the driver, so the pipe to it is not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.fixtures.client_process import ClientProcess
from tests.fixtures.processes import PROXY_VARS, TEST_TOKEN

MCP1_VERSION = "1.30.0"  # the last 1.x release
DRIVER = Path(__file__).with_name("mcp1_driver.py")
INSTALL_TIMEOUT = 600.0
READY_TIMEOUT = 60.0
CALL_TIMEOUT = 60.0


def cache_dir() -> Path:
    base = os.environ.get("AIRS_MCP_CACHE") or Path.home() / ".cache" / "airs-mcp-k8s"
    return Path(base) / "bench"


def venv_python(version: str = MCP1_VERSION) -> Path:
    """The Python of a venv holding ``mcp==version``; made on first use."""
    venv = cache_dir() / f"venv-mcp1-{version}"
    python = venv / "bin" / "python"
    if not python.exists():
        partial = venv.with_name(f"{venv.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(partial)], check=True, timeout=120)
        pip = [str(partial / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, f"mcp=={version}"], check=True, timeout=INSTALL_TIMEOUT)
        try:
            partial.rename(venv)  # the interpreter finds its venv from its own path: safe to move
        except OSError:  # another run finished one first: use that
            shutil.rmtree(partial, ignore_errors=True)
            if not python.exists():
                raise
    found = subprocess.run(
        [str(python), "-I", "-c", "import importlib.metadata as m; print(m.version('mcp'))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    if found != version:
        raise RuntimeError(f"{venv} holds mcp {found}, not {version}: remove it to rebuild")
    return python


class Mcp1Client:
    """Two 1.x SSE sessions to ``base_url`` (validating and not) in a driver process."""

    def __init__(self, python: Path, base_url: str, log_path: Path) -> None:
        env = {var: "" for var in PROXY_VARS}  # loopback only: no proxy
        env.update({"NO_PROXY": "127.0.0.1,localhost", "MCP1_TOKEN": TEST_TOKEN})
        argv = [str(python), "-I", str(DRIVER), "--url", base_url, "--timeout", str(CALL_TIMEOUT)]
        self.process = ClientProcess(argv, log_path, env=env)
        ready = self.process.read_json(READY_TIMEOUT, "ready line")
        if not ready.get("ready"):
            raise RuntimeError(f"the 1.x driver did not start: {ready}")
        self.version: str = ready["mcp"]

    async def request(self, **message: Any) -> dict[str, Any]:
        self.process.send(json.dumps(message))
        answer = await asyncio.to_thread(
            self.process.read_json, CALL_TIMEOUT + 10, f"answer to {message['op']}"
        )
        if "error" in answer:
            raise RuntimeError(f"1.x client: {answer['error']}")
        return answer

    async def output_schemas(self) -> dict[str, Any]:
        return (await self.request(op="tools"))["tools"]

    def inline_call(
        self, session: str, arguments: dict[str, Any]
    ) -> Callable[[], Awaitable[float]]:
        """A ``pan_inline_scan`` call on one of the driver's sessions; returns its ms."""

        async def call() -> float:
            answer = await self.request(
                op="call", session=session, tool="pan_inline_scan", arguments=arguments
            )
            if answer["is_error"] or answer["structured"]["action"] != "allow":
                raise RuntimeError(f"unexpected 1.x result {answer}")
            return float(answer["ms"])

        return call

    def close(self) -> None:
        if self.process.proc.poll() is None:
            self.process.send(json.dumps({"op": "quit"}))
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
        self.process.kill()
