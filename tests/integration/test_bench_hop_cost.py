"""The one-more-process benchmark runs end to end (no timing is asserted beyond the double's own
20 ms, which shows the calls really reached it through the relay)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.bench_runs import run_bench

pytestmark = pytest.mark.integration

ROUNDS = 20


def test_both_paths_reach_the_double_at_both_latencies(tmp_path: Path) -> None:
    stdout = run_bench(
        "bench.hop_cost",
        *("--rounds", str(ROUNDS), "--out", str(tmp_path), "--name", "smoke"),
        timeout=300,
    )
    assert (tmp_path / "smoke.png").read_bytes().startswith(b"\x89PNG")
    figures = json.loads((tmp_path / "smoke.json").read_text())["figures"]
    for latency in ("0ms", "20ms"):
        series = figures[latency]["series"]
        assert {name: s["n"] for name, s in series.items()} == {"direct": ROUNDS, "relay": ROUNDS}
        added = series["relay"]["p50_ms"] - series["direct"]["p50_ms"]
        assert figures[latency]["added_ms_p50"] == pytest.approx(added, abs=0.002)
    for name in ("direct", "relay"):
        assert figures["20ms"]["series"][name]["p50_ms"] >= 20  # the double waited: it was reached
    for latency in ("0ms", "20ms"):  # the bench reports each figure itself
        direct, relay = (figures[latency]["series"][name]["p50_ms"] for name in ("direct", "relay"))
        added = figures[latency]["added_ms_p50"]
        assert f"| {latency.removesuffix('ms')} ms | {direct} | {relay} | {added} |" in stdout
    assert f"extra added at 20 ms: {figures['extra_at_20ms_ms']} ms" in stdout
