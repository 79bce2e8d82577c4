"""`embedded-cluster manifests`: role variables pointing at real files in the Go module cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

CLI = Path(sys.executable).with_name("embedded-cluster")
VARIABLES = {"metallb_manifest_src", "traefik_crds_src"}
# A line of each file that only the right manifest has.
MARKERS = {
    "metallb_manifest_src": "name: metallb-system",
    "traefik_crds_src": "name: ingressroutes.traefik.io",
}


def _manifests(fmt: str) -> str:
    proc = subprocess.run(
        [str(CLI), "manifests", "--format", fmt],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_manifests_point_at_existing_upstream_files(fmt: str) -> None:
    out = _manifests(fmt)
    found = json.loads(out) if fmt == "json" else yaml.safe_load(out)
    assert set(found) == VARIABLES
    for variable, path in found.items():
        manifest = Path(path)
        assert manifest.is_absolute()
        assert manifest.is_file(), f"{variable}: {manifest} does not exist"
        assert MARKERS[variable] in manifest.read_text(), f"{variable}: {manifest}"
    assert "go.universe.tf/metallb@v0.15.2" in found["metallb_manifest_src"]
