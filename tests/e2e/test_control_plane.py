"""The embedded cluster's control plane against real requests: version, admission, validation,
controllers, RBAC with real ServiceAccount tokens, NodeRestriction, and a clean ``down``."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from embedded_cluster import build, containerd, controlplane, lifecycle

from tests.fixtures.cluster import EmbeddedCluster, command_lines, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONTROL_PLANE_PORTS = (6443, 2379, 2380, 2381, controlplane.CONTROLLER_MANAGER_PORT, 10259)


def _deployment(name: str, namespace: str, *, with_selector: bool = True) -> str:
    spec: dict[str, object] = {
        "replicas": 2,
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "main", "image": containerd.PAUSE_IMAGE}]},
        },
    }
    if with_selector:
        spec["selector"] = {"matchLabels": {"app": name}}
    doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return json.dumps(doc)


@pytest.fixture
def namespace(embedded_control_plane: EmbeddedCluster) -> Iterator[str]:
    name = f"cp-test-{uuid.uuid4().hex[:8]}"
    embedded_control_plane.kubectl("create", "namespace", name)
    yield name
    embedded_control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_server_reports_pinned_version(embedded_control_plane: EmbeddedCluster) -> None:
    out = embedded_control_plane.kubectl("version", "-o", "json").stdout
    versions = json.loads(out)
    assert versions["serverVersion"]["gitVersion"] == build.KUBERNETES_VERSION
    assert versions["clientVersion"]["gitVersion"] == build.KUBERNETES_VERSION
    ready = embedded_control_plane.kubectl("get", "--raw", "/readyz?verbose").stdout
    assert "readyz check passed" in ready
    assert "[+]etcd ok" in ready


def test_deployment_is_admitted_and_reconciled_by_controllers(
    embedded_control_plane: EmbeddedCluster, namespace: str
) -> None:
    cluster = embedded_control_plane
    cluster.kubectl("apply", "-f", "-", input=_deployment("web", namespace))
    got = json.loads(
        cluster.kubectl("get", "deployment", "web", "-n", namespace, "-o", "json").stdout
    )
    # Defaulting by the apiserver proves the object went through the real API machinery.
    assert got["spec"]["strategy"]["type"] == "RollingUpdate"
    assert got["spec"]["template"]["spec"]["restartPolicy"] == "Always"

    def replica_sets() -> list[dict]:
        out = cluster.kubectl("get", "replicasets", "-n", namespace, "-o", "json").stdout
        return json.loads(out)["items"]

    rs = wait_for(replica_sets, what="the deployment controller's ReplicaSet")
    assert rs[0]["metadata"]["ownerReferences"][0]["name"] == "web"

    def pods() -> list[dict]:
        out = cluster.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout
        items = json.loads(out)["items"]
        return items if len(items) == 2 else []

    created = wait_for(pods, what="two pods from the ReplicaSet controller")
    # ServiceAccount admission mounted a projected token volume into each pod.
    volumes = created[0]["spec"]["volumes"]
    assert any(v["name"].startswith("kube-api-access-") for v in volumes), volumes
    if cluster.mode == "full":
        # With a node, the same objects must end as running pods.
        cluster.kubectl(
            "rollout", "status", "deployment/web", "-n", namespace, "--timeout=120s", timeout=150
        )
    if cluster.mode == "control-plane":
        # No node: the scheduler must have tried and reported why it could not place them.
        def scheduler_verdict() -> bool:
            out = cluster.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout
            conditions = [
                c for p in json.loads(out)["items"] for c in p["status"].get("conditions", [])
            ]
            return any(
                c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable"
                for c in conditions
            )

        wait_for(scheduler_verdict, what="the scheduler's Unschedulable condition")


def test_invalid_deployment_is_rejected_by_the_apiserver(
    embedded_control_plane: EmbeddedCluster, namespace: str
) -> None:
    proc = embedded_control_plane.kubectl(
        "create",
        "--validate=false",  # no client-side check: the apiserver must refuse it
        "-f",
        "-",
        input=_deployment("broken", namespace, with_selector=False),
        check=False,
    )
    assert proc.returncode != 0
    assert "spec.selector: Required value" in proc.stderr
    missing = embedded_control_plane.kubectl(
        "get", "deployment", "broken", "-n", namespace, check=False
    )
    assert "NotFound" in missing.stderr


def _token_kubeconfig(cluster: EmbeddedCluster, token: str, path: Path) -> Path:
    admin = json.loads(cluster.kubeconfig.read_text())
    ca_data = admin["clusters"][0]["cluster"]["certificate-authority-data"]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": cluster.config.apiserver_url,
                    "certificate-authority-data": ca_data,
                },
            }
        ],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path.write_text(json.dumps(doc))
    return path


def test_rbac_limits_a_service_account_token(
    embedded_control_plane: EmbeddedCluster, namespace: str, tmp_path: Path
) -> None:
    cluster = embedded_control_plane
    cluster.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    token = cluster.kubectl("create", "token", "reader", "-n", namespace).stdout.strip()
    # A real, signed ServiceAccount JWT with the cluster's issuer.
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["iss"] == f"https://kubernetes.default.svc.{cluster.config.cluster_domain}"
    assert claims["sub"] == f"system:serviceaccount:{namespace}:reader"

    sa_config = _token_kubeconfig(cluster, token, tmp_path / "sa.conf")

    def as_sa(*args: str):
        return cluster.kubectl("--kubeconfig", str(sa_config), *args, check=False)

    whoami = as_sa("auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == claims["sub"]

    denied = as_sa("get", "secrets", "-n", "kube-system")
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr
    assert 'cannot list resource "secrets"' in denied.stderr
    assert as_sa("get", "pods", "-n", namespace).returncode != 0

    # Granting a namespaced Role must open exactly that, proving the denial came from RBAC.
    cluster.kubectl(
        "create", "role", "pod-reader", "--verb=list", "--resource=pods", "-n", namespace
    )
    cluster.kubectl(
        "create",
        "rolebinding",
        "reader-pods",
        "--role=pod-reader",
        f"--serviceaccount={namespace}:reader",
        "-n",
        namespace,
    )
    allowed = wait_for(
        lambda: as_sa("get", "pods", "-n", namespace).returncode == 0, what="RBAC grant"
    )
    assert allowed
    assert as_sa("get", "secrets", "-n", "kube-system").returncode != 0

    # A forged token (same claims, wrong signature) is not accepted at all.
    header, payload, signature = token.split(".")
    forged = _token_kubeconfig(
        cluster, f"{header}.{payload}.{signature[::-1]}", tmp_path / "f.conf"
    )
    bad = cluster.kubectl("--kubeconfig", str(forged), "get", "pods", "-n", namespace, check=False)
    assert bad.returncode != 0
    assert "Unauthorized" in bad.stderr or "must be logged in" in bad.stderr


def test_node_restriction_stops_a_kubelet_touching_another_node(
    embedded_control_plane: EmbeddedCluster,
) -> None:
    cluster = embedded_control_plane
    kubelet_conf = cluster.run.kubeconfig("kubelet")
    node = json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "someone-else"}})
    proc = cluster.kubectl(
        "--kubeconfig",
        str(kubelet_conf),
        "--server",
        cluster.config.apiserver_url,
        "create",
        "-f",
        "-",
        input=node,
        check=False,
    )
    assert proc.returncode != 0
    assert "Forbidden" in proc.stderr
    assert 'node "airs-node" is not allowed to modify node "someone-else"' in proc.stderr


def _listening_ports() -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _processes_mentioning(text: str) -> list[str]:
    return [f"{pid}: {cmd[:200]}" for pid, cmd in command_lines() if text in cmd]


@pytest.mark.stops_cluster
def test_down_leaves_no_process_port_or_state_behind(
    embedded_control_plane: EmbeddedCluster,
) -> None:
    run = embedded_control_plane.run
    assert lifecycle.is_up(run)
    assert set(CONTROL_PLANE_PORTS) <= _listening_ports()
    assert _processes_mentioning(str(run.root))

    lifecycle.down(paths=run)

    assert not _processes_mentioning(str(run.root))
    left = set(CONTROL_PLANE_PORTS) & _listening_ports()
    assert not left, f"ports still listening after down: {sorted(left)}"
    assert not run.root.exists()
    status = lifecycle.status(run)
    assert status
    assert not any(status.values()), status
