"""The stock ``mcp`` 1.x client, in a venv of its own, driven from the bench (2.x) process.

``venv_python()`` makes (once, ``bench.venvs``) and returns
``$AIRS_MCP_CACHE/bench/venv-mcp1-<MCP1_VERSION>/bin/python``: a venv with
``mcp==MCP1_VERSION`` from the package index, keyed by the version and reused when present.
``Mcp1Client`` starts ``bench/mcp1_driver.py`` in it against one server and turns its JSON lines
into awaitables for ``suite.interleaved``; each returns the time the 1.x ``call_tool`` took in
the driver, so the pipe to it is not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import venvs
from harness.client_process import ClientProcess
from harness.mcp_server import TEST_TOKEN
from harness.processes import PROXY_VARS

MCP1_VERSION = "1.30.0"  # the last 1.x release
DRIVER = Path(__file__).with_name("mcp1_driver.py")
READY_TIMEOUT = 60.0
CALL_TIMEOUT = 60.0


def venv_python(version: str = MCP1_VERSION) -> Path:
    """The Python of a venv holding ``mcp==version``; made on first use."""
    return venvs.venv_python(f"venv-mcp1-{version}", {"mcp": version})


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
