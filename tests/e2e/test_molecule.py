"""The collection's molecule ``embedded`` scenario, run for real as a collection user runs it.

``molecule test -s embedded``: create (the embedded cluster, images, local manifests), converge
(``site.yml``), idempotence (a second converge must change nothing), verify (``verify.yml``) and
destroy (``uninstall.yml``; the cluster itself is left to its owner).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.ansible import DEMO_VAULT_PASSWORD
from tests.fixtures.cluster import EmbeddedCluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "collections" / "ansible_collections" / "airs" / "mcp_k8s"


def test_embedded_scenario_passes(embedded_cluster: EmbeddedCluster, tmp_path: Path) -> None:
    if embedded_cluster.mode != "full":
        pytest.skip("the embedded cluster has no node yet (control plane only)")
    password = tmp_path / "vault-pass"
    password.write_bytes(DEMO_VAULT_PASSWORD.read_bytes())
    password.chmod(0o600)
    env = {
        **os.environ,
        "AIRS_VAULT_PASSWORD_FILE": str(password),
        "ANSIBLE_NOCOLOR": "1",
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
    }
    env.pop("KUBECONFIG", None)
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "molecule"), "test", "-s", "embedded"],
        cwd=COLLECTION,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=1800,
        check=False,
    )
    # molecule colours its own lines even without a terminal
    out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)
    assert proc.returncode == 0, out[-8000:]
    for action in ("syntax", "create", "converge", "idempotence", "verify", "destroy"):
        done = rf"embedded(?: ➜ | > ){action}\]?:? Executed: Successful"
        assert re.search(done, out), action
    # verify.yml's HTTP checks ran against the converged deployment
    assert "Expect the server itself to answer an unknown SSE session" in out
