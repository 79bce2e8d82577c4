"""The collection's molecule ``embedded`` scenario, run for real as a collection user runs it.

``molecule test -s embedded``: create (the embedded cluster, images, local manifests), converge
(``site.yml``), idempotence (a second converge must change nothing), verify (``verify.yml``) and
destroy (``uninstall.yml``; the cluster itself is left to its owner).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.cluster import EmbeddedCluster
from tests.fixtures.molecule import assert_actions_passed, run_scenario

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_embedded_scenario_passes(embedded_cluster: EmbeddedCluster, tmp_path: Path) -> None:
    assert embedded_cluster.mode == "full", "the scenario needs the node (full mode)"
    returncode, out = run_scenario("embedded", tmp_path, timeout=1800)
    assert returncode == 0, out[-8000:]
    actions = ("syntax", "create", "converge", "idempotence", "verify", "destroy")
    assert_actions_passed(out, "embedded", actions)
    # verify.yml's HTTP checks ran against the converged deployment
    assert "Expect the server itself to answer an unknown SSE session" in out
