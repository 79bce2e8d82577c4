"""The plan of downloads and compiles behind `embedded-cluster build` (buildplan.plan)."""

from __future__ import annotations

from pathlib import Path

import pytest
from embedded_cluster import build, buildplan
from embedded_cluster.build import Target
from embedded_cluster.schedule import CPU, IO


def test_plan_downloads_each_module_once_before_its_compiles(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRS_MCP_CACHE", str(tmp_path))
    cached = Target("kubernetes", "kube-scheduler")
    build.target_path(cached).parent.mkdir(parents=True)
    build.target_path(cached).touch()
    targets = [
        Target("kubernetes", "kube-apiserver"),
        cached,
        Target("kubernetes", "kubectl"),
        Target(build.GOTOOLS, "pause"),
    ]
    jobs = {job.slot.name: job.slot for job in buildplan.plan(targets)}
    assert set(jobs) == {"go mod download (kubernetes)", "kube-apiserver", "kubectl", "pause"}
    assert jobs["go mod download (kubernetes)"].lane == IO
    assert jobs["kube-apiserver"].after == ("go mod download (kubernetes)",)
    assert jobs["kube-apiserver"].group == jobs["kubectl"].group == "kubernetes"
    assert (jobs["pause"].after, jobs["pause"].lane) == ((), CPU)
