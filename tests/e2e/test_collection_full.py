"""The Ansible collection on the full embedded cluster (node, MetalLB L2 on the project bridge).

``site.yml`` runs with the example inventory as users run it: every wait on, the MetalLB pool
applied through the controller's webhook, the server image built by this project. Then a second
run must report ``changed=0``, ``verify.yml`` must pass (everything Available, only ``/sse/``
routed, the sticky cookie set) and an MCP client must list the tools through the load balancer
address. The module removes the deployment again at the end (``uninstall.yml``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from embedded_cluster import images
from mcp import ClientSession
from mcp.client.sse import sse_client

from tests.fixtures.ansible import (
    PlaybookRun,
    run_playbook,
    upstream_manifests_session,  # noqa: F401 - fixture
    vault_password_file,  # noqa: F401 - fixture
    write_vars,
)
from tests.fixtures.cluster import EmbeddedCluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PUBLIC_ADDRESS = "10.234.17.200"  # airs_public_address of the example inventory


class FullDeployment:
    def __init__(self, cluster: EmbeddedCluster, vars_file: Path, password: Path) -> None:
        self.cluster = cluster
        self.vars_file = vars_file
        self.password = password
        self.runs: dict[str, PlaybookRun] = {}

    def play(self, name: str, *args: str) -> PlaybookRun:
        return run_playbook(
            name,
            self.cluster.kubeconfig,
            vault_password_file=self.password,
            vars_files=(self.vars_file,),
            args=args,
            timeout=1200,
        )


@pytest.fixture(scope="module")
def deployment(
    embedded_cluster_session: EmbeddedCluster,
    server_image: str,
    upstream_manifests_session: dict[str, str],  # noqa: F811
    vault_password_file: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FullDeployment]:
    if embedded_cluster_session.mode != "full":
        pytest.skip("the embedded cluster has no node yet (control plane only)")
    images.import_docker_image(server_image)
    vars_file = write_vars(
        tmp_path_factory.mktemp("collection-e2e") / "vars.yml", upstream_manifests_session
    )
    dep = FullDeployment(embedded_cluster_session, vars_file, vault_password_file)
    dep.runs["first"] = dep.play("site.yml")
    yield dep
    dep.play("uninstall.yml").check()


@pytest.fixture
def dep(deployment: FullDeployment, embedded_cluster: EmbeddedCluster) -> FullDeployment:
    """The module's deployment, with the cluster logs dumped when the test fails."""
    return deployment


def test_site_converges_with_every_wait(dep: FullDeployment) -> None:
    run = dep.runs["first"].check()
    assert run.recap["failed"] == 0
    pool = dep.cluster.kubectl(
        "get", "ipaddresspools.metallb.io", "aisecurity-pool", "-n", "metallb-system",
        "-o", "jsonpath={.spec.addresses}",
    ).stdout  # fmt: skip
    assert "10.234.17.200-10.234.17.239" in pool
    address = dep.cluster.kubectl(
        "get", "service", "traefik", "-n", "aisecurity",
        "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}",
    ).stdout  # fmt: skip
    assert address == PUBLIC_ADDRESS
    ready = dep.cluster.kubectl(
        "get", "deployment", "aisecurity-mcp-server", "-n", "aisecurity",
        "-o", "jsonpath={.status.readyReplicas}",
    ).stdout  # fmt: skip
    assert int(ready) >= 2


def test_second_run_changes_nothing(dep: FullDeployment) -> None:
    dep.runs["first"].check()
    run = dep.runs.setdefault("second", dep.play("site.yml")).check()
    assert run.recap["changed"] == 0, run.output[-6000:]


def test_verify_playbook_passes(dep: FullDeployment) -> None:
    dep.runs["first"].check()
    run = dep.play("verify.yml").check()
    assert run.recap["failed"] == 0
    assert run.recap["rescued"] == 0
    assert "Expect the server itself to answer an unknown SSE session" in run.output


async def test_mcp_client_lists_tools_through_the_load_balancer(dep: FullDeployment) -> None:
    dep.runs["first"].check()
    async with (
        sse_client(f"http://{PUBLIC_ADDRESS}/sse/", timeout=20) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = await session.list_tools()
    names = {tool.name for tool in tools.tools}
    assert "pan_inline_scan" in names, names
