"""Local copies of the upstream manifests the Ansible roles install (MetalLB, Traefik CRDs and
RBAC), taken from the Go module cache so nothing is fetched from the roles' default URLs.

The modules and files come from ``build.MANIFEST_SOURCES`` (next to the version table);
``embedded-cluster manifests`` prints the result as role variables.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from embedded_cluster import build
from embedded_cluster.errors import EmbeddedClusterError


class ManifestError(EmbeddedClusterError):
    """A module could not be downloaded or lacks a manifest; the message names it."""


class ModuleUnavailable(ManifestError):
    """The module is neither in the Go module cache nor downloadable (no network, no proxy)."""


def module_dir(module: str, version: str) -> Path:
    """The extracted module in the Go module cache, downloaded first when missing."""
    proc = subprocess.run(
        [build.go_binary(), "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        cwd="/",  # outside any module: plain module@version lookup
        env=build._build_env(),
    )
    try:
        info = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        info = {}
    if proc.returncode != 0 or "Dir" not in info:
        reason = info.get("Error") or proc.stderr.strip()
        raise ModuleUnavailable(f"go mod download {module}@{version} failed: {reason}")
    return Path(info["Dir"])


def upstream_manifests() -> dict[str, str]:
    """Role variables (``metallb_manifest_src``, ``traefik_crds_src``) pointing at existing
    local files."""
    found: dict[str, str] = {}
    for source in build.MANIFEST_SOURCES:
        root = module_dir(source.module, source.version)
        for variable, relative in source.files.items():
            path = root / relative
            if not path.is_file():
                raise ManifestError(f"{source.module}@{source.version} has no {relative}")
            found[variable] = str(path)
    return found
