"""``bench.session_memory`` runs end to end and charges the held sessions' heap to packages.

A subprocess, as the bench clears and refills ``os.environ`` and starts tracemalloc.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.bench_runs import run_bench

pytestmark = pytest.mark.integration

SESSIONS = 30


def test_held_sessions_heap_is_charged_to_the_transport_stack(tmp_path: Path) -> None:
    args = ["--sessions", str(SESSIONS), "--settle", "1", "--out", str(tmp_path), "--name", "s"]
    run_bench("bench.session_memory", *args, timeout=240)
    result = json.loads((tmp_path / "s.json").read_text())
    assert result["sessions"]["opened"] == SESSIONS
    per_session = result["traced_bytes_per_session"]
    # A held, initialised SSE session keeps tasks, streams and request state: tens of kB.
    assert per_session > 10_000
    owners = result["by_owner"]
    assert {"anyio", "starlette", "uvicorn", "mcp"} <= set(owners)
    # What is charged to owners (the top ones) cannot exceed what was traced in all.
    assert sum(owners.values()) <= per_session * 1.01
    assert result["top_lines"][0]["bytes_per_session"] > 0
