"""The batch fan-out benchmark still runs end to end in its quick mode and reports its figures
(no speed is asserted: the speedups are the bench's to report, not a test's to require).

A subprocess, like the other bench smoke tests: the SDK's configuration and sessions are
process-wide. The reference series needs the PANW example server, which this repository does
not hold: set ``AIRS_MCP_BENCH_REFERENCE`` to its path (``examples/model_context_protocol/
server.py`` of the pan-aisecurity SDK) to run that test too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bench import batch_fanout
from tests.fixtures.bench_runs import run_bench

pytestmark = pytest.mark.integration

REFERENCE = os.environ.get("AIRS_MCP_BENCH_REFERENCE")


def run_quick(tmp_path: Path, *extra: str) -> tuple[dict[str, Any], str]:
    stdout = run_bench(
        "bench.batch_fanout",
        *("--quick", "--out", str(tmp_path), "--name", "smoke", *extra),
        timeout=400,
    )
    assert (tmp_path / "smoke.png").read_bytes().startswith(b"\x89PNG")
    return json.loads((tmp_path / "smoke.json").read_text()), stdout


def check_figures(result: dict[str, Any], series: set[str]) -> None:
    plan = batch_fanout.PLANS["quick"]
    assert result["mode"] == "quick"
    assert result["latency_ms"] == 20
    assert list(result["figures"]) == [str(n) for n in plan["items"]]
    for items in plan["items"]:
        block = result["figures"][str(items)]
        assert block["items"] == items
        assert set(block["series"]) == series
        requests = -(-items // 5)
        for name, stats in block["series"].items():
            rounds = plan["rounds"][items]
            assert stats["n"] == rounds == len(stats["samples_ms"]), name
            assert 0 < stats["p50_ms"] <= stats["p95_ms"], name
            # every call waited at least the double's 20 ms once
            assert min(stats["samples_ms"]) >= 20, name
            expected = items if name == "sequential_inline" else requests
            assert stats["airs_requests"] == expected, name
            assert 1 <= stats["peak_in_flight"] <= expected, name
            assert 1 <= stats["max_requests_in_one_second"] <= expected, name
        one_at_a_time = ("naive_sdk", "sequential_inline")
        for name in one_at_a_time:
            assert block["series"][name]["peak_in_flight"] == 1, name
        # the batch's requests overlap: several were in flight at the double at once
        assert block["series"]["server_batch"]["peak_in_flight"] > 1
        assert block["series"]["server_batch"]["x_server_batch_p50"] == 1.0
        # N sequential 20 ms calls cannot beat N x 20 ms
        assert block["series"]["sequential_inline"]["p50_ms"] >= items * 20
    goals = result["goals"]
    assert set(goals) == {
        "small_no_slower_than_reference",
        "large_vs_sequential",
        "large_vs_naive",
        "default_respects_rate_limit",
    }
    for key in ("large_vs_sequential", "large_vs_naive"):
        speedup = goals[key]["speedup"]
        assert speedup > 0, key  # a ratio of two measured p50s
        assert goals[key]["met"] is (speedup >= 20 if key == "large_vs_sequential" else speedup > 1)
    assert goals["default_respects_rate_limit"]["met"] is True
    assert result["host"]["cpus"] >= 1


def check_reported(result: dict[str, Any], stdout: str) -> None:
    """The bench prints each goal's figures itself (the speedups are reported, not asserted)."""
    for key, goal in result["goals"].items():
        line = next(line for line in stdout.splitlines() if line.startswith(f"goal {key}:"))
        assert f"met={goal['met']}" in line, line
        for name, value in goal.items():
            if name not in ("goal", "met"):
                assert f"{name}={value}" in line, line


def test_quick_run_writes_every_figure(tmp_path: Path) -> None:
    result, stdout = run_quick(tmp_path)
    check_figures(result, set(batch_fanout.SERIES) - {"reference_batch"})
    assert result["reference"] is None
    assert result["goals"]["small_no_slower_than_reference"]["met"] is None
    assert "server_batch" in stdout
    check_reported(result, stdout)


@pytest.mark.skipif(not REFERENCE, reason="AIRS_MCP_BENCH_REFERENCE (the example's path) not set")
def test_quick_run_with_the_reference_server(tmp_path: Path) -> None:
    assert REFERENCE is not None
    result, stdout = run_quick(tmp_path, "--reference", REFERENCE)
    check_figures(result, set(batch_fanout.SERIES))
    check_reported(result, stdout)
    assert result["reference"]["pins"] == batch_fanout.REFERENCE_PINS
    goal = result["goals"]["small_no_slower_than_reference"]
    assert goal["reference_p50_ms"] > 0
    assert goal["met"] in (True, False)


def test_max_in_one_second() -> None:
    assert batch_fanout.max_in_one_second([]) == 0
    assert batch_fanout.max_in_one_second([5.0, 0.0, 0.5, 0.99, 1.0, 1.2]) == 4
    assert batch_fanout.max_in_one_second([float(t) for t in range(10)]) == 1
