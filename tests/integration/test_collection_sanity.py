"""The collection as users install it: ``ansible-galaxy collection build`` + ``install`` of the
tarball (tools/sanity.py), what the installed copy holds, and ``ansible-test sanity`` on it.

The site.yml run from the installed copy is in test_collection_control_plane.py (it needs the
cluster)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.checkout import COLLECTION
from tests.fixtures.ansible import collection_tool

pytestmark = pytest.mark.integration

SANITY_TOOL = COLLECTION / "tools" / "sanity.py"
WORK = Path(os.environ.get("AIRS_MCP_CACHE") or Path.home() / ".cache" / "airs-mcp-k8s")


def test_the_installed_tarball_holds_what_users_need_and_nothing_else(tmp_path: Path) -> None:
    installed = collection_tool("sanity").build_and_install(tmp_path)
    files = {str(p.relative_to(installed)) for p in installed.rglob("*") if p.is_file()}
    roles = ("metallb", "mcp_secret", "mcp_server", "traefik", "mcp_ingress", "k8s_apply", "tls_ca")
    for role in roles:
        assert f"roles/{role}/tasks/main.yml" in files, role
        assert f"roles/{role}/meta/argument_specs.yml" in files, role
    for plugin in ("action/security_warning.py", "filter/images.py", "lookup/pinned_manifest.py"):
        assert f"plugins/{plugin}" in files, plugin
    assert {"meta/runtime.yml", "README.md", "MANIFEST.json", "FILES.json"} <= files
    # development-only content stays out of the tarball
    assert not [f for f in files if f.startswith(("tools/", "extensions/molecule/"))]
    assert not [f for f in files if f.endswith(".tar.gz") or "__pycache__" in f]


def test_ansible_test_sanity_passes_on_the_installed_copy() -> None:
    """Every ansible-test sanity check (ansible-doc, validate-modules, pylint, yamllint, import,
    ...) on the built and installed collection; it fails on, e.g., an unused import planted in a
    filter plugin."""
    run = subprocess.run(
        [sys.executable, str(SANITY_TOOL), "--work", str(WORK / "collection-sanity")],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    assert 'Running sanity test "validate-modules"' in output
    assert 'Running sanity test "pylint"' in output
    assert "ERROR" not in output
