"""`embedded-cluster manifests`: role variables pointing at real files in the Go module cache,
and its two failures told apart (a module that cannot be downloaded, a file the module lacks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from embedded_cluster import build, upstream

from tests.fixtures.ansible import role_defaults

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
    # The release the metallb role deploys (its default), not any other.
    metallb = role_defaults("metallb")["metallb_version"]
    assert f"go.universe.tf/metallb@{metallb}/" in found["metallb_manifest_src"]


def test_a_module_that_cannot_be_downloaded_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one error the manifest tests may skip on: no module, as without network."""
    monkeypatch.setenv("GOPROXY", "off")  # a module not in the cache cannot come from anywhere
    with pytest.raises(upstream.ModuleUnavailable, match="go mod download"):
        upstream.module_dir("example.com/airs-mcp-k8s/not-a-module", "v0.0.1")


def test_a_module_without_its_manifest_is_an_error_not_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A module that is there but lacks the file (a moved manifest) must fail a test, not skip
    it: the error is a ManifestError and not a ModuleUnavailable."""
    real = build.MANIFEST_SOURCES[0]
    moved = build.ManifestSource(real.module, real.version, {"metallb_manifest_src": "moved.yaml"})
    monkeypatch.setattr(build, "MANIFEST_SOURCES", (moved,))
    with pytest.raises(upstream.ManifestError, match=r"has no moved\.yaml") as raised:
        upstream.upstream_manifests()
    assert not isinstance(raised.value, upstream.ModuleUnavailable)
