"""The latency benchmark still runs end to end (a few rounds; no timing is asserted).

It runs as a subprocess: the SDK's configuration and HTTP sessions are process-wide, and the
benchmark closes its Scanner, which would break any later in-process SDK use.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import inline_scan_latency
from tests.fixtures.bench_runs import run_bench

pytestmark = pytest.mark.integration


def test_benchmark_writes_json_and_png(tmp_path: Path) -> None:
    args = ["--calls", "5", "--warmup", "1", "--out", str(tmp_path), "--name", "smoke"]
    stdout = run_bench("bench.inline_scan_latency", *args, timeout=180)
    assert "direct_sdk" in stdout
    result = json.loads((tmp_path / "smoke.json").read_text())
    assert set(result["series"]) == set(inline_scan_latency.SERIES)
    for name, stats in result["series"].items():
        assert stats["n"] == 5, name
        assert 0 < stats["min_ms"] <= stats["p50_ms"] <= stats["p95_ms"] <= stats["max_ms"]
        assert len(result["samples_ms"][name]) == 5
    assert result["ratio_to_direct_sdk"]["direct_sdk"] == {"p50": 1.0, "p95": 1.0}
    assert (tmp_path / "smoke.png").read_bytes().startswith(b"\x89PNG")


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert inline_scan_latency.percentile(values, 0.50) == 50.0
    assert inline_scan_latency.percentile(values, 0.95) == 95.0
    assert inline_scan_latency.percentile([7.0], 0.95) == 7.0
