"""Runs of the project's playbooks and of ``scripts/deploy.sh``, output captured.

- ``run_playbook(name, kubeconfig, ...)``: ``ansible-playbook playbooks/<name>`` with the example
  inventory and a vault password file; returns a :class:`PlaybookRun` (exit status, output, the
  PLAY RECAP counters, a check that no secret leaked into the output).
- ``run_installed_playbook(name, ...)``: ``ansible-playbook airs.mcp_k8s.<name>`` of an installed
  collection, run from outside the checkout.
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
    """Run ``playbooks/<name>`` from the checkout (its ansible.cfg) with the example inventory;
    stdout and stderr in one string.

    ``throwaway_cluster`` passes the molecule scenarios' vars file that lets the mcp_secret role
    accept the example inventory's placeholder key and demo token (refused on any other cluster).
    ``collections_path`` takes the collection from another place than the checkout (e.g. an
    installed tarball).
    """
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    if collections_path:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections_path)
    return _ansible_playbook(
        f"playbooks/{name}",
        kubeconfig,
        cwd=ROOT,
        env=env,
        vault_password_file=vault_password_file,
        vars_files=vars_files,
        args=args,
        timeout=timeout,
        throwaway_cluster=throwaway_cluster,
    )


def run_installed_playbook(
    name: str,
    kubeconfig: Path,
    *,
    collections_path: Path,
    workdir: Path,
    vault_password_file: Path,
    vars_files: Sequence[Path] = (),
    args: Sequence[str] = (),
    timeout: float = 900,
) -> PlaybookRun:
    """``ansible-playbook airs.mcp_k8s.<name>`` as a user of the installed collection runs it:
    from ``workdir``, with an empty ansible.cfg there, and ``collections_path`` as the only
    collections path (besides the collections the ``ansible`` package bundles); the example
    inventory and the throw-away cluster's vars as in :func:`run_playbook`."""
    config = workdir / "ansible.cfg"
    config.touch()
    env = {"ANSIBLE_CONFIG": str(config), "ANSIBLE_COLLECTIONS_PATH": str(collections_path)}
    return _ansible_playbook(
        f"airs.mcp_k8s.{name}",
        kubeconfig,
        cwd=workdir,
        env=env,
        vault_password_file=vault_password_file,
        vars_files=vars_files,
        args=args,
        timeout=timeout,
        throwaway_cluster=True,
        isolated=True,
    )


def _ansible_playbook(
    playbook: str,
    kubeconfig: Path,
    *,
    cwd: Path,
    env: Mapping[str, str],
    vault_password_file: Path,
    vars_files: Sequence[Path],
    args: Sequence[str],
    timeout: float,
    throwaway_cluster: bool,
    isolated: bool = False,
) -> PlaybookRun:
    throwaway = (THROWAWAY_CLUSTER_VARS,) if throwaway_cluster else ()
    cmd = [
        str(ROOT / ".venv" / "bin" / "ansible-playbook"),
        playbook,
        "-i",
        str(INVENTORY / "hosts.yml"),
        "--vault-password-file",
        str(vault_password_file),
        *(f"-e@{p}" for p in (*throwaway, *vars_files)),
        *args,
    ]
    full_env = {
        # A user's run of the installed collection sees none of the caller's Ansible settings.
        **{k: v for k, v in os.environ.items() if not (isolated and k.startswith("ANSIBLE_"))},
        "KUBECONFIG": str(kubeconfig),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        **env,
    }
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=full_env,
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
