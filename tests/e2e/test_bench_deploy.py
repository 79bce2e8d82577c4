"""The deployment benchmark runs end to end on the embedded cluster (no timing is asserted).

``bench.deploy --rounds 1``: a warm-up ``make deploy`` and one idempotent re-run of this
checkout's collection, through ``scripts/deploy.sh`` as a user runs it, with Ansible's
``profile_roles`` callback on. What must hold is what the figures rest on: the re-run changes
nothing, every phase and role of the run is found in its output, and the JSON and plot are
written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench import deploy
from tests.fixtures.bench_runs import run_bench
from tests.fixtures.cluster import EmbeddedCluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROLES = {"metallb", "mcp_secret", "mcp_server", "traefik", "mcp_ingress", "airs_api_double"}


def test_a_rerun_changes_nothing_and_every_phase_and_role_is_timed(
    embedded_cluster_session: EmbeddedCluster, tmp_path: Path
) -> None:
    assert embedded_cluster_session.mode == "full", "the deployment needs the node (full mode)"
    # deploy.sh targets the embedded cluster only when no other cluster is named.
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "AIRS_INVENTORY")}
    run_bench(
        "bench.deploy",
        *("--rounds", "1", "--out", str(tmp_path), "--name", "smoke"),
        timeout=1800,
        env=env,
    )
    assert (tmp_path / "smoke.png").read_bytes().startswith(b"\x89PNG")
    result = json.loads((tmp_path / "smoke.json").read_text())
    rerun = result["rerun"]["now"]
    assert rerun["runs"] == 1
    assert rerun["changed"] == [0]
    assert set(rerun["phases_s_median"]) == set(deploy.PHASES.values())
    assert set(rerun["roles_s_median"]) >= ROLES
    total = rerun["roles_s_median"]["total"]
    assert 0 < total <= rerun["phases_s_median"][deploy.PHASES["demo.yml"]] + 1
    assert rerun["wall_s_median"] >= sum(rerun["phases_s_median"].values()) - 1
