"""The collection as a Galaxy user gets it, on the full embedded cluster.

The tarball is built (``ansible-galaxy collection build``) and installed with ``ansible-galaxy
collection install`` into an empty collections path, from a directory outside the checkout
with an empty ansible.cfg: its dependencies are found among the collections the ``ansible``
package bundles. Then the collection's own playbooks run from that copy as
``ansible-playbook airs.mcp_k8s.site`` / ``.verify`` / ``.uninstall`` with the example inventory
and the variables ``make deploy`` passes on the embedded cluster (local manifests, the image just
built, images pinned by digest), and every task they run is the installed copy's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from embedded_cluster import images

from harness.checkout import COLLECTION, ROOT
from harness.playbooks import PlaybookRun, run_installed_playbook
from tests.fixtures.ansible import (
    collection_tool,
    upstream_manifests_session,  # noqa: F401 - fixture
    vault_password_file,  # noqa: F401 - fixture
    write_vars,
)
from tests.fixtures.cluster import EmbeddedCluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PLAYBOOKS = ("demo.yml", "site.yml", "uninstall.yml", "verify.yml")
NAMESPACES = ("aisecurity", "traefik", "metallb-system")
SERVER = "aisecurity-mcp-server"
_TASK_PATH = re.compile(r"^task path: (\S+?):\d+$", re.MULTILINE)


@dataclass
class Installed:
    """The tarball installed for a user, and the playbook runs made from it."""

    cluster: EmbeddedCluster
    collections: Path
    workdir: Path
    install_output: str
    vars_file: Path
    password: Path
    server_tag: str
    runs: dict[str, PlaybookRun] = field(default_factory=dict)

    @property
    def collection(self) -> Path:
        return self.collections / "ansible_collections" / "airs" / "mcp_k8s"

    def play(self, name: str, *args: str) -> PlaybookRun:
        run = run_installed_playbook(
            name,
            self.cluster.kubeconfig,
            collections_path=self.collections,
            workdir=self.workdir,
            vault_password_file=self.password,
            vars_files=(self.vars_file,),
            args=args,
            timeout=1200,
        )
        self.runs[name] = run
        return run


def galaxy_install(tarball: Path, collections: Path, workdir: Path) -> str:
    """``ansible-galaxy collection install <tarball> -p <collections>`` as a user runs it (no
    --force, no --no-deps), from ``workdir`` with an empty ansible.cfg; its output."""
    config = workdir / "ansible.cfg"
    config.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env |= {"ANSIBLE_CONFIG": str(config), "ANSIBLE_COLLECTIONS_PATH": str(collections)}
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-galaxy"), "collection", "install", str(tarball),
         "-p", str(collections)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    return output


@pytest.fixture(scope="module")
def installed(
    embedded_cluster_session: EmbeddedCluster,
    upstream_manifests_session: dict[str, str],  # noqa: F811
    vault_password_file: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Installed]:
    if embedded_cluster_session.mode != "full":
        pytest.skip("the embedded cluster has no node yet (control plane only)")
    base = tmp_path_factory.mktemp("galaxy-user")
    (base / "dist").mkdir()
    collections = base / "collections"
    collections.mkdir()
    workdir = base / "work"
    workdir.mkdir()
    tarball = collection_tool("sanity").build(base / "dist")
    output = galaxy_install(tarball, collections, workdir)
    # What scripts/deploy.sh passes on the embedded cluster: the server image just built (and
    # imported), every role image pinned by digest, the manifests from the Go module cache.
    (server_tag,) = images.ensure_project_images(("server",))
    variables = {
        **upstream_manifests_session,
        "mcp_server_image_tag": server_tag.rsplit(":", 1)[1],
        **images.digest_role_variables(),
        "mcp_ingress_tls_ca_file": str(base / "airs-mcp-ca.pem"),
    }
    user = Installed(
        embedded_cluster_session,
        collections,
        workdir,
        output,
        write_vars(base / "vars.yml", variables),
        vault_password_file,
        server_tag,
    )
    yield user
    if "uninstall" not in user.runs:
        user.play("uninstall").check()


@pytest.fixture
def user(installed: Installed, embedded_cluster: EmbeddedCluster) -> Installed:
    """The module's installed collection, with the cluster logs dumped when a test fails."""
    return installed


def site_run(user: Installed) -> PlaybookRun:
    if "site" not in user.runs:
        user.play("site", "-vv")
    return user.runs["site"].check()


def task_paths(run: PlaybookRun) -> set[Path]:
    """The files of every task the run executed (``task path:`` lines of ``-vv``)."""
    return {Path(path) for path in _TASK_PATH.findall(run.output)}


def test_the_tarball_installs_into_an_empty_collections_path(user: Installed) -> None:
    assert "airs.mcp_k8s:1.0.0 was installed successfully" in user.install_output
    # The dependencies come from the ansible package, not from a Galaxy server.
    assert re.search(r"'kubernetes\.core:[\d.]+' is already installed", user.install_output)
    assert re.search(r"'community\.crypto:[\d.]+' is already installed", user.install_output)
    assert sorted(p.name for p in (user.collections / "ansible_collections").iterdir()) == ["airs"]
    assert sorted(p.name for p in (user.collection / "playbooks").iterdir()) == list(PLAYBOOKS)


def test_site_runs_from_the_tarball_with_its_own_roles(user: Installed) -> None:
    run = site_run(user)
    assert run.recap["failed"] == 0
    assert run.recap["changed"] > 0
    paths = task_paths(run)
    assert paths, run.output[-4000:]
    # Every task came from the installed copy, none from the checkout.
    assert all(path.is_relative_to(user.collection) for path in paths), sorted(paths)
    assert user.collection / "roles" / "mcp_server" / "tasks" / "deploy.yml" in paths
    assert not [path for path in paths if path.is_relative_to(COLLECTION)]
    server = json.loads(
        user.cluster.kubectl("get", "deployment", SERVER, "-n", "aisecurity", "-o", "json").stdout
    )
    assert server["status"]["readyReplicas"] >= 2
    image = server["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith(f"{user.server_tag}@sha256:"), image


def test_verify_from_the_tarball_passes_and_writes_nothing_into_it(user: Installed) -> None:
    site_run(user)
    before = sorted(p for p in user.collection.rglob("*") if "__pycache__" not in p.parts)
    # site points the server at the AIRS cloud, which this host cannot reach: verify's AIRS
    # check belongs to the demo (test_deploy_failures covers it), as in the molecule scenarios.
    run = user.play("verify", "-v", "-e", "verify_airs=false").check()
    assert run.recap["failed"] == 0
    assert run.recap["rescued"] == 0
    # The route's CA went to a temporary file (no verify_ca_file given), removed at the end.
    made = re.search(r"Make a temporary file for that CA.*?\n(?:changed|ok): \[localhost\] => "
                     r"\{.*?\"path\": \"([^\"]+)\"", run.output, re.DOTALL)  # fmt: skip
    assert made, run.output[-6000:]
    assert not Path(made.group(1)).exists()
    assert "Expect the SSE endpoint over HTTPS, with a verified certificate chain" in run.output
    after = sorted(p for p in user.collection.rglob("*") if "__pycache__" not in p.parts)
    assert after == before


def test_uninstall_from_the_tarball_removes_everything(user: Installed) -> None:
    site_run(user)
    run = user.play("uninstall").check()
    assert run.recap["failed"] == 0
    found = user.cluster.kubectl(
        "get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}"
    ).stdout.split()
    assert not set(found) & set(NAMESPACES), found
