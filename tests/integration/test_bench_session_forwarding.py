"""The session-forwarding benchmark still runs end to end (a few rounds; no timing asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import session_forwarding
from tests.fixtures.bench_runs import run_bench

pytestmark = pytest.mark.integration


def test_benchmark_writes_json_and_png(tmp_path: Path) -> None:
    args = ["--calls", "5", "--warmup", "1", "--out", str(tmp_path), "--name", "smoke"]
    run_bench("bench.session_forwarding", *args, timeout=180)
    result = json.loads((tmp_path / "smoke.json").read_text())
    names = {f"{r}_{m}" for r in session_forwarding.ROUTES for m in session_forwarding.MEASURES}
    assert set(result["series"]) == names
    for name, stats in result["series"].items():
        assert stats["n"] == 5, name
        assert 0 < stats["min_ms"] <= stats["p50_ms"] <= stats["p95_ms"] <= stats["max_ms"]
        assert len(result["samples_ms"][name]) == 5
    # every POST sent to the other replica was forwarded (warm-up round included)
    assert result["forwarded_posts_logged"] == 6
    assert set(result["ratio_forwarded_to_direct"]) == set(session_forwarding.MEASURES)
    assert (tmp_path / "smoke.png").read_bytes().startswith(b"\x89PNG")
