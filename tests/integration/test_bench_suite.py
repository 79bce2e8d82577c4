"""The benchmark suite still runs end to end in its quick mode (no timing is asserted).

A subprocess, like the other bench smoke tests: the SDK's configuration and sessions are
process-wide.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import suite
from bench.inline_scan_latency import percentile
from tests.fixtures.bench_runs import run_bench

pytestmark = pytest.mark.integration


def test_quick_suite_writes_every_figure(tmp_path: Path) -> None:
    stdout = run_bench(
        "bench",
        *("--quick", "--out", str(tmp_path), "--name", "smoke", "--schema-before", "HEAD"),
        timeout=400,
    )
    result = json.loads((tmp_path / "smoke.json").read_text())
    figures = result["figures"]
    assert set(figures) == set(suite.FIGURES)
    for key in ("latency_0ms", "latency_20ms"):
        series = figures[key]["series"]
        assert set(series) == {"sse", "streamable_http", "direct_sdk"}, key
        for stats in series.values():
            assert 0 < stats["p50_ms"] <= stats["p95_ms"]
    assert figures["double_cost"]["double_share_of_sdk_p50"] > 0
    levels = {entry["sessions"] for entry in figures["throughput"].values()}
    assert levels == set(suite.PLANS["quick"]["levels"])
    for entry in figures["throughput"].values():
        assert set(entry["calls_per_s"]) == {"sse", "streamable_http", "direct_sdk"}
        assert all(rate > 0 for rate in entry["calls_per_s"].values())
    idle = figures["idle_sessions"]
    assert idle["baseline_rss_kb"] > 0
    assert [run["sessions"] for run in idle["runs"]] == suite.PLANS["quick"]["idle"]
    assert all(run["rss_held_kb"] > 0 and run["rss_after_close_kb"] > 0 for run in idle["runs"])
    schema = figures["output_schema"]
    clients = [f"client_{v}_{c}" for v in ("2x", "1x") for c in ("validating", "no_validation")]
    assert set(schema["series"]) == set(clients) | {f"before_{name}" for name in clients}
    assert all(s["p50_ms"] > 0 for s in schema["series"].values())
    assert schema["mcp1_version"].startswith("1.")  # a real 1.x client made those calls
    for block in (schema, schema["before"]):  # the before server ran HEAD's server/ code
        assert set(block["check_alone_ms"]) >= {"compiled_once_2x", "validate_per_call_1x"}
        assert block["schema"]["bytes"] > 0
    assert schema["schema"]["has_defs_or_ref"] is False
    assert set(schema["added_p50_ms"]) == {
        "client_2x",
        "client_1x",
        "before_client_2x",
        "before_client_1x",
    }
    assert result["schema_before"] == "HEAD"
    assert figures["batch"]["speedup"] > 0
    assert set(figures["traefik"]["traefik_over_direct_p50"]) == {"sse", "streamable_http"}
    assert "lean double" in stdout
    assert (tmp_path / "smoke.png").read_bytes().startswith(b"\x89PNG")


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.95) == 95.0
