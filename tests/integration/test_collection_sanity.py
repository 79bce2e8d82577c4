"""The collection as users install it: ``ansible-galaxy collection build`` + ``install`` of the
tarball (tools/sanity.py), what the installed copy holds, and ``ansible-test sanity`` on it.

The site.yml run from the installed copy is in test_collection_control_plane.py (it needs the
cluster); tests/e2e/test_collection_tarball.py runs its playbooks from a Galaxy-style install."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from harness.checkout import COLLECTION, ROOT
from tests.fixtures.ansible import collection_tool

pytestmark = pytest.mark.integration

SANITY_TOOL = COLLECTION / "tools" / "sanity.py"
WORK = Path(os.environ.get("AIRS_MCP_CACHE") or Path.home() / ".cache" / "airs-mcp-k8s")
PLAYBOOKS = ("site", "verify", "uninstall", "demo")
# The Python package each collection the roles call modules from needs on the controller.
MODULE_PACKAGES = {"kubernetes.core": "kubernetes", "community.crypto": "cryptography"}
# `text` in backticks, and the target of a Markdown link: (target).
_CODE = re.compile(r"`([^`\s]+)`")
_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return collection_tool("sanity").build_and_install(tmp_path_factory.mktemp("installed"))


def installed_files(installed: Path) -> set[str]:
    return {str(p.relative_to(installed)) for p in installed.rglob("*") if p.is_file()}


def test_the_installed_tarball_holds_what_users_need_and_nothing_else(installed: Path) -> None:
    files = installed_files(installed)
    roles = ("metallb", "mcp_secret", "mcp_server", "traefik", "mcp_ingress", "k8s_apply", "tls_ca")
    for role in roles:
        assert f"roles/{role}/tasks/main.yml" in files, role
        assert f"roles/{role}/meta/argument_specs.yml" in files, role
    for plugin in ("action/security_warning.py", "filter/images.py", "lookup/pinned_manifest.py"):
        assert f"plugins/{plugin}" in files, plugin
    for playbook in PLAYBOOKS:
        assert f"playbooks/{playbook}.yml" in files, playbook
    assert {"meta/runtime.yml", "README.md", "MANIFEST.json", "FILES.json"} <= files
    environment = yaml.safe_load((installed / "meta" / "execution-environment.yml").read_text())
    assert set(environment["dependencies"]) == {"python", "system"}
    assert set(environment["dependencies"].values()) <= files
    # development-only content stays out of the tarball
    assert not [f for f in files if f.startswith(("tools/", "extensions/molecule/"))]
    assert not [f for f in files if f.endswith(".tar.gz") or "__pycache__" in f]


def test_the_readme_points_only_at_files_the_tarball_holds(installed: Path) -> None:
    """Every file the collection README names (in backticks or as a link) that exists in the
    checkout, beside the collection or at the project's top, is in the installed copy; so is
    every relative link's target."""
    readme = (installed / "README.md").read_text()
    named = {m.rstrip("/") for m in (*_CODE.findall(readme), *_LINK.findall(readme))}
    named = {n for n in named if "/" in n or "." in n}  # file-like, not a word such as a tag
    in_checkout = {n for n in named if (COLLECTION / n).exists() or (ROOT / n).exists()}
    assert in_checkout, "the README names no file at all"
    missing = sorted(n for n in in_checkout if not (installed / n).exists())
    assert not missing, f"the README points at files the tarball does not hold: {missing}"
    links = {target for target in _LINK.findall(readme) if "://" not in target}
    assert links
    assert not sorted(t for t in links if not (installed / t).exists())


def _third_party_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    ours = {"__future__", "ansible", "ansible_collections"}
    return {n for n in names if n not in sys.stdlib_module_names and n not in ours}


def _collections_used(installed: Path) -> set[str]:
    """The collections (other than ansible.builtin and this one) whose modules the roles call."""
    used = set()
    for path in (installed / "roles").rglob("tasks/*.yml"):
        for name in re.findall(r"^\s+([a-z_]+\.[a-z_]+)\.[a-z_0-9]+:", path.read_text(), re.M):
            used.add(name)
    return used - {"ansible.builtin", "airs.mcp_k8s"}


def test_the_execution_environment_declares_what_the_collection_imports(installed: Path) -> None:
    environment = yaml.safe_load((installed / "meta" / "execution-environment.yml").read_text())
    lines = (installed / environment["dependencies"]["python"]).read_text().splitlines()
    declared = {Requirement(line).name.lower() for line in lines if line.strip() and line[0] != "#"}
    distributions = importlib.metadata.packages_distributions()
    for plugin in (installed / "plugins").rglob("*.py"):
        for module in _third_party_imports(plugin):
            packages = {d.lower() for d in distributions.get(module, [module])}
            assert packages & declared, f"{plugin.name} imports {module}: not declared"
    used = _collections_used(installed)
    assert used == set(MODULE_PACKAGES), used
    assert {MODULE_PACKAGES[name] for name in used} <= declared
    system = (installed / environment["dependencies"]["system"]).read_text().splitlines()
    assert [line for line in system if line.strip() and line[0] != "#"]


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
