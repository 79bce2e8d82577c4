"""The embedded cluster's hardening, checked on the running cluster.

- the apiserver listens on the node address only (the socket table, no traffic elsewhere);
- anonymous requests reach the health paths (200) and nothing else (401 on every other path);
- kube-proxy's node-port rules match only the bridge's addresses;
- Secrets are stored encrypted in etcd (the raw value read with etcd's own API on loopback);
- a NetworkPolicy is enforced between two pods (deny-all ingress, then one allowed client).

Traffic goes only to the node address on the project's bridge, to loopback (etcd) and between
pods.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import shlex
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from embedded_cluster import cleanup, controlplane, encryption, images, network
from embedded_cluster.health import client_tls, probe

from tests.fixtures.cluster import EmbeddedCluster, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def cluster(embedded_cluster: EmbeddedCluster) -> EmbeddedCluster:
    assert embedded_cluster.mode == "full", "these checks need the node (full mode)"
    return embedded_cluster


@pytest.fixture
def namespace(cluster: EmbeddedCluster) -> Iterator[str]:
    name = f"harden-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _listeners(port: int) -> set[str]:
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return {line.split()[3] for line in out.splitlines() if line.strip()}


def test_apiserver_listens_on_the_node_address_only(cluster: EmbeddedCluster) -> None:
    port = cluster.config.apiserver_port
    assert _listeners(port) == {f"{cluster.config.node_ip}:{port}"}
    assert ipaddress.ip_address(cluster.config.node_ip) in network.SUBNET


def _anonymous_status(cluster: EmbeddedCluster, path: str) -> int:
    """HTTP status of a request with no client certificate (the server's CA is checked)."""
    status, _ = probe(
        f"{cluster.config.apiserver_url}{path}", client_tls(cluster.run.pki / "ca.crt")
    )
    return status


HEALTH_PATHS = ("/livez", "/readyz", "/healthz")
# Everything else an anonymous client could ask for: API discovery and objects, the OpenAPI
# documents, the version (RBAC's system:public-info-viewer role alone would give it to anyone),
# metrics, the ServiceAccount issuer's discovery, logs and profiling.
OTHER_PATHS = (
    "/", "/version", "/api", "/api/v1", "/api/v1/namespaces/default/secrets", "/apis",
    "/apis/apps/v1/deployments", "/openapi/v2", "/openapi/v3", "/metrics",
    "/.well-known/openid-configuration", "/openid/v1/jwks", "/logs/", "/debug/pprof/",
)  # fmt: skip


def test_anonymous_requests_reach_only_the_health_paths(cluster: EmbeddedCluster) -> None:
    statuses = {path: _anonymous_status(cluster, path) for path in HEALTH_PATHS + OTHER_PATHS}
    assert {path: statuses[path] for path in HEALTH_PATHS} == dict.fromkeys(HEALTH_PATHS, 200)
    assert {path: statuses[path] for path in OTHER_PATHS} == dict.fromkeys(OTHER_PATHS, 401)


def _node_port_jumps() -> list[str]:
    rules = []
    for _tool, save in cleanup.IPTABLES_TOOLS:
        dump = subprocess.run([save, "-t", "nat"], capture_output=True, text=True, check=False)
        rules += [line for line in dump.stdout.splitlines() if "-j KUBE-NODEPORTS" in line]
    return rules


def _destination(rule: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The rule's ``-d`` network, None when it has none or only a negated one."""
    args = shlex.split(rule)
    if "-d" not in args:
        return None
    at = args.index("-d")
    return None if args[at - 1] == "!" else ipaddress.ip_network(args[at + 1])


def test_node_ports_are_open_on_the_bridge_only(cluster: EmbeddedCluster) -> None:
    jumps = wait_for(_node_port_jumps, "kube-proxy's KUBE-NODEPORTS jump", timeout_s=30)
    assert isinstance(jumps, list)
    for rule in jumps:
        # Without nodePortAddresses (for a family) the jump matches every local address of
        # it: `-m addrtype --dst-type LOCAL`, on IPv6 `! -d ::1/128`.
        destination = _destination(rule)
        assert destination is not None, f"node ports open on every host address: {rule}"
        assert destination.version == 4, rule
        assert destination.subnet_of(network.SUBNET), rule


def _etcd_get(cluster: EmbeddedCluster, key: str) -> bytes:
    """The raw value etcd stores under ``key``, through its JSON gateway on loopback."""
    pki_dir = cluster.run.pki
    tls = client_tls(
        pki_dir / "etcd" / "ca.crt",
        pki_dir / "apiserver-etcd-client.crt",
        pki_dir / "apiserver-etcd-client.key",
    )
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
    request = urllib.request.Request(
        f"{controlplane.ETCD_CLIENT_URL}/v3/kv/range", data=body, method="POST"
    )
    with urllib.request.urlopen(request, context=tls, timeout=10) as response:
        kvs = json.load(response).get("kvs", [])
    assert len(kvs) == 1, f"etcd has no key {key}"
    return base64.b64decode(kvs[0]["value"])


def test_secrets_are_encrypted_at_rest(cluster: EmbeddedCluster, namespace: str) -> None:
    plaintext = f"plain-{uuid.uuid4().hex}"
    cluster.kubectl(
        "-n", namespace, "create", "secret", "generic", "probe", f"--from-literal=value={plaintext}"
    )
    stored = _etcd_get(cluster, f"/registry/secrets/{namespace}/probe")
    assert stored.startswith(encryption.STORED_PREFIX), stored[:40]
    assert plaintext.encode() not in stored
    assert base64.b64encode(plaintext.encode()) not in stored
    read_back = cluster.kubectl(
        "-n", namespace, "get", "secret", "probe", "-o", "jsonpath={.data.value}"
    ).stdout
    assert base64.b64decode(read_back).decode() == plaintext


@dataclass(frozen=True)
class Pods:
    namespace: str
    server_ip: str


def _pod(name: str, labels: dict[str, str], args: list[str], image: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "containers": [
                {
                    "name": name,
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "args": args,
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                }
            ],
            "terminationGracePeriodSeconds": 1,
        },
    }


@pytest.fixture
def pods(cluster: EmbeddedCluster, namespace: str) -> Pods:
    """A server pod and two client pods: ``stranger`` and ``friend`` (labelled role=friend)."""
    image = images.probe_image()
    items = [
        _pod("server", {"app": "server"}, ["serve", ":8080"], image),
        _pod("stranger", {"app": "client"}, ["sleep"], image),
        _pod("friend", {"app": "client", "role": "friend"}, ["sleep"], image),
    ]
    cluster.kubectl(
        "-n",
        namespace,
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
    )
    cluster.kubectl(
        "-n", namespace, "wait", "--for=condition=Ready", "pod", "--all", "--timeout=120s"
    )
    server_ip = cluster.kubectl(
        "-n", namespace, "get", "pod", "server", "-o", "jsonpath={.status.podIP}"
    ).stdout
    return Pods(namespace, server_ip)


def _reaches(cluster: EmbeddedCluster, pods: Pods, client: str) -> bool:
    result = cluster.kubectl(
        "-n",
        pods.namespace,
        "exec",
        client,
        "--",
        "/probe",
        "get",
        f"http://{pods.server_ip}:8080/",
        check=False,
        timeout=30,
    )
    return result.returncode == 0 and result.stdout.startswith("probe server")


def _policy(name: str, ingress: list[dict[str, object]], selector: dict[str, object]) -> str:
    return json.dumps(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name},
            "spec": {"podSelector": selector, "policyTypes": ["Ingress"], "ingress": ingress},
        }
    )


def _wait_reach(cluster: EmbeddedCluster, pods: Pods, client: str, expected: bool) -> None:
    state = "reaches" if expected else "is refused by"
    wait_for(
        lambda: _reaches(cluster, pods, client) == expected,
        f"{client} {state} the server",
        timeout_s=60,
        interval_s=1,
    )


def test_network_policy_is_enforced(cluster: EmbeddedCluster, pods: Pods) -> None:
    kubectl_ns = ("-n", pods.namespace)
    assert _reaches(cluster, pods, "stranger"), "no policy yet: traffic must pass"
    assert _reaches(cluster, pods, "friend")

    cluster.kubectl(*kubectl_ns, "apply", "-f", "-", input=_policy("deny-all", [], {}))
    _wait_reach(cluster, pods, "stranger", expected=False)
    assert not _reaches(cluster, pods, "friend")

    allow_friend = [
        {
            "from": [{"podSelector": {"matchLabels": {"role": "friend"}}}],
            "ports": [{"protocol": "TCP", "port": 8080}],
        }
    ]
    selector = {"matchLabels": {"app": "server"}}
    cluster.kubectl(
        *kubectl_ns, "apply", "-f", "-", input=_policy("allow-friend", allow_friend, selector)
    )
    _wait_reach(cluster, pods, "friend", expected=True)
    assert not _reaches(cluster, pods, "stranger")
