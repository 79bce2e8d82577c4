"""Where the embedded cluster keeps its builds and its runtime state.

Builds are cached under ``$AIRS_MCP_CACHE/bin/<component>-<version>/<binary>``. Everything a
running cluster owns (PKI, kubeconfigs, etcd data, logs, pid files) lives in one run directory,
``$AIRS_MCP_CACHE/run/cluster`` unless ``AIRS_CLUSTER_RUN_DIR`` says otherwise, so ``down`` can
remove it whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
GOMOD_ROOT = REPO_ROOT / "cluster" / "gomod"
# The Ansible collection's roles: their defaults pin what the roles deploy (see pins.py).
ROLES_ROOT = REPO_ROOT / "collections" / "ansible_collections" / "airs" / "mcp_k8s" / "roles"


def cache_root() -> Path:
    """The cache folder shared by every heavy build of the project."""
    value = os.environ.get("AIRS_MCP_CACHE", "").strip()
    return Path(value) if value else Path.home() / ".cache" / "airs-mcp-k8s"


def bin_dir(component: str, version: str) -> Path:
    """Folder holding the binaries of one component at one version."""
    return cache_root() / "bin" / f"{component}-{version}"


@dataclass(frozen=True)
class RunPaths:
    """Layout of one cluster's run directory."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def kubeconfigs(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.kubeconfigs / "admin.conf"

    @property
    def state_file(self) -> Path:
        return self.root / "cluster.json"

    @property
    def authentication_config(self) -> Path:
        return self.root / "apiserver-authentication.json"

    @property
    def encryption_config(self) -> Path:
        """Holds the key of Secrets at rest: kept with the etcd data, apart from the PKI that
        ``up`` may regenerate."""
        return self.root / "encryption-config.json"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def pid(self, component: str) -> Path:
        return self.pids / f"{component}.pid"

    def kubeconfig(self, name: str) -> Path:
        return self.kubeconfigs / f"{name}.conf"


def run_paths() -> RunPaths:
    """The run directory of the (single) embedded cluster on this machine."""
    value = os.environ.get("AIRS_CLUSTER_RUN_DIR", "").strip()
    root = Path(value) if value else cache_root() / "run" / "cluster"
    return RunPaths(root=root)
