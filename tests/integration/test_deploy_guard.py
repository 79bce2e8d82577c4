"""The deploy guard: the example inventory's public secrets never reach a real cluster.

``make deploy`` refuses the public demo vault password unless it deploys the embedded cluster,
and the mcp_secret role refuses the placeholder key and the public demo token unless the play says
the cluster is a throw-away one. Both refuse before talking to any cluster, so the kubeconfig
here points nowhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.checkout import DEMO_VAULT_PASSWORD
from harness.playbooks import run_deploy_script, run_playbook
from tests.fixtures.ansible import (
    vault_password_file,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.integration


def test_make_deploy_refuses_the_demo_vault_password_for_another_cluster(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "KUBECONFIG": str(tmp_path / "someone-elses-cluster"),
        "AIRS_VAULT_PASSWORD_FILE": str(DEMO_VAULT_PASSWORD),
        "AIRS_MCP_CACHE": str(tmp_path / "cache"),
    }
    proc = run_deploy_script(env, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "PUBLIC demo vault password" in proc.stderr
    # Refused before anything was built, started or logged.
    assert not (tmp_path / "cache" / "deploy").exists()


@pytest.mark.parametrize("throwaway", [False, True])
def test_secret_role_refuses_demo_credentials_unless_the_cluster_is_throwaway(
    throwaway: bool,
    vault_password_file: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    run = run_playbook(
        "site.yml",
        tmp_path / "no-cluster",
        vault_password_file=vault_password_file,
        args=("--tags", "mcp_secret_preflight"),
        throwaway_cluster=throwaway,
        timeout=300,
    )
    if throwaway:
        run.check()
        assert run.recap["failed"] == 0
    else:
        assert run.returncode != 0
        assert "placeholder" in run.output
        assert run.recap["failed"] == 1
