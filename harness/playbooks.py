"""Runs of the project's playbooks and of ``scripts/deploy.sh``, output captured.

- ``run_playbook(name, kubeconfig, ...)``: ``ansible-playbook playbooks/<name>`` with the example
  inventory and a vault password file; returns a :class:`PlaybookRun` (exit status, output, the
  PLAY RECAP counters, a check that no secret leaked into the output).
- ``run_deploy_script(env, timeout=...)``: ``bash scripts/deploy.sh``, what ``make deploy`` runs.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.checkout import COLLECTION, INVENTORY, ROOT
from harness.secret_leaks import assert_secret_absent, secret_forms

__all__ = ["THROWAWAY_CLUSTER_VARS", "PlaybookRun", "run_deploy_script", "run_playbook"]

MOLECULE_SHARED = COLLECTION / "extensions" / "molecule" / "shared"
THROWAWAY_CLUSTER_VARS = MOLECULE_SHARED / "vars" / "throwaway-cluster.yml"

_RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*(?P<counts>(?:\w+=\d+\s*)+)$", re.MULTILINE)


@dataclass(frozen=True)
class PlaybookRun:
    """One finished ``ansible-playbook`` run."""

    args: tuple[str, ...]
    returncode: int
    output: str

    @property
    def recap(self) -> dict[str, int]:
        """The PLAY RECAP counters of the (single) host, e.g. ``{"ok": 30, "changed": 0, ...}``."""
        matches = list(_RECAP.finditer(self.output.split("PLAY RECAP", 1)[-1]))
        if not matches:
            raise AssertionError(f"no PLAY RECAP in the output:\n{self.output[-4000:]}")
        counts = matches[-1]["counts"].split()
        return {k: int(v) for k, v in (c.split("=") for c in counts)}

    def assert_secrets_absent(self, *secrets: str) -> None:
        """Fail if the output holds any of ``secrets`` in plain or base64 form (see
        :func:`harness.secret_leaks.assert_secret_absent`)."""
        for secret in secrets:
            command = " ".join(self.args)
            for form in secret_forms(secret):  # an -e on the command line may hold it too
                command = command.replace(form, "<secret>")
            assert_secret_absent(self.output, secret, f"ansible-playbook {command}")

    def check(self) -> PlaybookRun:
        """Raise with the output's tail unless the run succeeded."""
        if self.returncode != 0:
            raise AssertionError(
                f"ansible-playbook {' '.join(self.args)} failed ({self.returncode}):\n"
                f"{self.output[-6000:]}"
            )
        return self


def run_playbook(
    name: str,
    kubeconfig: Path,
    *,
    vault_password_file: Path,
    vars_files: Sequence[Path] = (),
    args: Sequence[str] = (),
    timeout: float = 900,
    throwaway_cluster: bool = True,
    collections_path: Path | None = None,
) -> PlaybookRun:
    """Run ``playbooks/<name>`` with the example inventory; stdout and stderr in one string.

    ``throwaway_cluster`` passes the molecule scenarios' vars file that lets the mcp_secret role
    accept the example inventory's placeholder key and demo token (refused on any other cluster).
    """
    throwaway = (THROWAWAY_CLUSTER_VARS,) if throwaway_cluster else ()
    cmd = [
        str(ROOT / ".venv" / "bin" / "ansible-playbook"),
        f"playbooks/{name}",
        "-i",
        str(INVENTORY / "hosts.yml"),
        "--vault-password-file",
        str(vault_password_file),
        *(f"-e@{p}" for p in (*throwaway, *vars_files)),
        *args,
    ]
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        # The collection from another place than the checkout (e.g. an installed tarball).
        **({"ANSIBLE_COLLECTIONS_PATH": str(collections_path)} if collections_path else {}),
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
    }
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return PlaybookRun(args=tuple(cmd[1:]), returncode=proc.returncode, output=proc.stdout)


def run_deploy_script(
    env: Mapping[str, str], *, timeout: float, merge_stderr: bool = False
) -> subprocess.CompletedProcess[str]:
    """``bash scripts/deploy.sh`` (what ``make deploy`` runs) from the checkout, in ``env``;
    stderr apart, or in stdout with ``merge_stderr``. Never raises on its exit status."""
    return subprocess.run(
        ["bash", "scripts/deploy.sh"],
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
    )
