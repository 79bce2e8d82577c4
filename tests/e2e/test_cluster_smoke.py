"""Smoke test of the embedded cluster's node: a locally built image runs, a ClusterIP Service
answers from another pod, DNS resolves Service names, metrics flow, the external client reaches
the node, and ``down`` leaves the host as it found it.

The host is snapshotted once per session with the cluster down (brought down first if an earlier
test had started it); the ``down`` test runs last (``stops_cluster``) and compares against it.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from embedded_cluster import build, cleanup, containerd, images, lifecycle, network
from embedded_cluster.paths import run_paths

from tests.fixtures.cluster import ClusterSession, EmbeddedCluster, command_lines, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Devices, mounts and rules that docker (used by other tests on the same host) may add or
# remove while this module runs; everything else must match the snapshot exactly.
DOCKER_NOISE = re.compile(r"docker|DOCKER|\bbr-[0-9a-f]{12}\b|/var/lib/docker|/run/docker")

COUNTERS = re.compile(r"\s*\[\d+:\d+\]$")
# A built-in chain at its default policy is what an empty table looks like: such a table
# appears when anything on the host (docker, kind's node in the docker lane running beside the
# cluster) first loads it, and holds nothing. A changed policy or any rule is still compared.
EMPTY_BUILTIN_CHAIN = re.compile(r"^:(INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) ACCEPT$")


def _lines(cmd: list[str]) -> set[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return {line for line in result.stdout.splitlines() if line.strip()}


def _without_docker(lines: set[str]) -> set[str]:
    return {line for line in lines if not DOCKER_NOISE.search(line)}


def _all_links() -> list[dict[str, str]]:
    out = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _is_docker_link(link: dict[str, str]) -> bool:
    return bool(DOCKER_NOISE.search(link.get("master", "")) or DOCKER_NOISE.search(link["ifname"]))


def _links() -> set[str]:
    return {link["ifname"] for link in _all_links() if not _is_docker_link(link)}


def _routes() -> set[str]:
    docker_devs = {link["ifname"] for link in _all_links() if _is_docker_link(link)}
    return {
        line
        for line in _without_docker(_lines(["ip", "route", "show", "table", "all"]))
        | _without_docker(_lines(["ip", "-6", "route", "show", "table", "all"]))
        if not any(f"dev {dev} " in f"{line} " for dev in docker_devs)
    }


def _iptables_rules() -> set[str]:
    rules: set[str] = set()
    for _tool, save in cleanup.IPTABLES_TOOLS:
        rules |= {
            f"{save}: {COUNTERS.sub('', line)}"
            for line in _lines([save])
            if line.startswith(("-A", ":"))
            and not DOCKER_NOISE.search(line)
            and not EMPTY_BUILTIN_CHAIN.match(COUNTERS.sub("", line))
        }
    return rules


def _cluster_processes() -> set[str]:
    # Every supervisor and component names the run directory; shims name containerd's socket.
    # Pod processes name neither: the pod cgroup check covers them.
    markers = (str(run_paths().root), str(containerd.STATE_DIR))
    return {
        f"{pid}: {cmd[:160]}"
        for pid, cmd in command_lines()
        if any(marker in cmd for marker in markers)
    }


@dataclass(frozen=True)
class HostSnapshot:
    mounts: set[str]
    routes: set[str]
    links: set[str]
    netns: set[str]
    rules: set[str]
    ipsets: set[str]
    processes: set[str]
    pod_logs: set[str]
    run_dirs: set[str]

    @classmethod
    def take(cls) -> HostSnapshot:
        mounts = {line.split()[1] for line in _lines(["cat", "/proc/self/mounts"])}
        return cls(
            mounts=_without_docker(mounts),
            routes=_routes(),
            links=_links(),
            netns={line.split()[0] for line in _lines(["ip", "netns", "list"])},
            rules=_iptables_rules(),
            ipsets=_lines(["ipset", "list", "-n"]),
            processes=_cluster_processes(),
            pod_logs={p.name for p in cleanup.POD_LOGS.glob("*")},
            run_dirs={str(p) for p in containerd.SHARED_RUN_DIR.glob("**/*")}
            | {str(p) for p in containerd.STATE_DIR.glob("*")},
        )


@pytest.fixture(scope="session")
def host_before_up() -> HostSnapshot:
    """The host with the cluster down: taken before this module's first ``up``."""
    paths = run_paths()
    # Holding the up/down lock keeps another session's ``up`` out of the snapshot.
    with lifecycle._exclusive(paths):
        if lifecycle.current_mode(paths) is not None or lifecycle.is_up(paths):
            lifecycle._down(paths)
        return HostSnapshot.take()


@pytest.fixture(scope="module")
def module_cluster(
    host_before_up: HostSnapshot, _cluster_session: ClusterSession
) -> EmbeddedCluster:
    """The full cluster, brought up after the snapshot (its ``up_seconds`` is the warm up)."""
    cluster = _cluster_session.ensure(control_plane_only=False)
    print(f"\nembedded-cluster up (full) took {cluster.up_seconds:.1f} s")
    return cluster


@pytest.fixture
def cluster(module_cluster: EmbeddedCluster, embedded_cluster: EmbeddedCluster) -> EmbeddedCluster:
    """Per test: the same cluster, with component logs dumped if the test fails."""
    assert embedded_cluster.mode == "full", "the smoke test needs the node (full mode)"
    return embedded_cluster


def _wait_for(check: Callable[[], object], what: str, timeout_s: float = 90) -> object:
    """``wait_for`` polling once a second (each check runs kubectl or an exec)."""
    return wait_for(check, what, timeout_s, interval_s=1)


def _manifest(namespace: str, image: str) -> str:
    def deployment(name: str, args: list[str], replicas: int, probe: bool) -> dict[str, object]:
        container: dict[str, object] = {
            "name": name,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "args": args,
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
        }
        if probe:
            container["ports"] = [{"containerPort": 8080}]
            container["readinessProbe"] = {
                "httpGet": {"path": "/", "port": 8080},
                "periodSeconds": 1,
            }
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [container], "terminationGracePeriodSeconds": 1},
                },
            },
        }

    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "type": "NodePort",
            "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": 8080}],
        },
    }
    items = [
        deployment("web", ["serve", ":8080"], 2, probe=True),
        deployment("client", ["sleep"], 1, probe=False),
        service,
    ]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


@dataclass(frozen=True)
class App:
    namespace: str
    cluster_ip: str
    node_port: int
    client_pod: str


@pytest.fixture(scope="module")
def app(module_cluster: EmbeddedCluster) -> Iterator[App]:
    """Two replicas of the probe image behind a Service, plus a client pod to exec into."""
    cluster = module_cluster
    namespace = f"smoke-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", namespace)
    try:
        cluster.kubectl("apply", "-f", "-", input=_manifest(namespace, images.probe_image()))
        for name in ("web", "client"):
            cluster.kubectl(
                "-n", namespace, "rollout", "status", f"deploy/{name}", "--timeout=120s"
            )
        svc = json.loads(cluster.kubectl("-n", namespace, "get", "svc", "web", "-o", "json").stdout)
        pods = cluster.kubectl(
            "-n",
            namespace,
            "get",
            "pods",
            "-l",
            "app=client",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ).stdout
        yield App(
            namespace=namespace,
            cluster_ip=svc["spec"]["clusterIP"],
            node_port=svc["spec"]["ports"][0]["nodePort"],
            client_pod=pods.strip(),
        )
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _exec(cluster: EmbeddedCluster, app: App, *argv: str) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl(
        "-n", app.namespace, "exec", app.client_pod, "--", "/probe", *argv, check=False, timeout=30
    )


def test_node_is_ready_with_the_pinned_version(cluster: EmbeddedCluster) -> None:
    node = json.loads(cluster.kubectl("get", "node", cluster.config.node_name, "-o", "json").stdout)
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready, node["status"]["conditions"]
    assert ready[0]["status"] == "True", node["status"]["conditions"]
    assert node["status"]["nodeInfo"]["kubeletVersion"] == build.KUBERNETES_VERSION
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == str(network.NODE_ADDRESS)
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == build.KUBERNETES_VERSION


def test_images_are_imported_under_upstream_names(cluster: EmbeddedCluster) -> None:
    present = images.present_images()
    missing = [spec.ref for spec in images.specs() if spec.ref not in present]
    assert not missing, f"not in containerd's k8s.io namespace: {missing}"


def test_cluster_ip_service_answers_from_another_pod(cluster: EmbeddedCluster, app: App) -> None:
    url = f"http://{app.cluster_ip}/"
    # kube-proxy programs a new Service within its sync period: allow for that once.
    _wait_for(lambda: _exec(cluster, app, "get", url).returncode == 0, "the Service", 30)
    seen = set()
    for _ in range(12):
        result = _exec(cluster, app, "get", f"http://{app.cluster_ip}/")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("probe web-"), result.stdout
        seen.add(result.stdout.strip())
    assert len(seen) == 2, f"expected both replicas behind the Service, saw {seen}"


def test_dns_resolves_service_names(cluster: EmbeddedCluster, app: App) -> None:
    fqdn = f"web.{app.namespace}.svc.{cluster.config.cluster_domain}"
    for name in (fqdn, "web", "kubernetes.default"):
        result = _exec(cluster, app, "resolve", name)
        assert result.returncode == 0, f"{name}: {result.stderr}"
    assert _exec(cluster, app, "resolve", fqdn).stdout.split() == [app.cluster_ip]
    assert _exec(cluster, app, "resolve", "kubernetes.default").stdout.split() == [
        cluster.config.api_service_ip
    ]
    missing = _exec(cluster, app, "resolve", f"nothing-here.{app.namespace}.svc.cluster.local")
    assert missing.returncode != 0


def test_pod_metrics_are_available(cluster: EmbeddedCluster, app: App) -> None:
    def web_metrics() -> list[dict[str, object]]:
        raw = cluster.kubectl(
            "get",
            "--raw",
            f"/apis/metrics.k8s.io/v1beta1/namespaces/{app.namespace}/pods",
            check=False,
        )
        if raw.returncode != 0:
            return []
        return [
            i for i in json.loads(raw.stdout)["items"] if i["metadata"]["name"].startswith("web-")
        ]

    items = _wait_for(web_metrics, "pod metrics of the web replicas", timeout_s=120)
    assert isinstance(items, list)
    for item in items:
        usage = item["containers"][0]["usage"]  # type: ignore[index]
        assert usage["memory"].endswith("Ki"), usage
        assert int(usage["memory"][:-2]) > 0, usage
    top = cluster.kubectl("top", "node", cluster.config.node_name, "--no-headers")
    assert top.stdout.startswith(cluster.config.node_name)


def test_external_client_reaches_the_node(cluster: EmbeddedCluster, app: App) -> None:
    """The client namespace on the node's bridge reaches a NodePort on the node address."""
    probe = images.gotool("probe")
    url = f"http://{network.NODE_ADDRESS}:{app.node_port}/"

    def fetch() -> subprocess.CompletedProcess[str] | None:
        argv = network.client_argv(str(probe), "get", url)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        return done if done.returncode == 0 else None

    result = _wait_for(fetch, f"{url} from the client namespace", 30)
    assert isinstance(result, subprocess.CompletedProcess)
    assert result.stdout.startswith("probe web-")
    routes = subprocess.run(
        ["ip", "-n", network.CLIENT_NETNS, "route"], capture_output=True, text=True, check=True
    ).stdout
    assert "default" not in routes, "the client namespace must not route off the bridge"


def _metallb_manifest() -> Path:
    """The unmodified metallb-native.yaml of the pinned release, from the Go module cache."""
    component = build.component("metallb")
    found = subprocess.run(
        [
            build.go_binary(),
            "mod",
            "download",
            "-json",
            f"go.universe.tf/metallb@{component.version}",
        ],
        cwd=component.module_dir,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(json.loads(found.stdout)["Dir"]) / "config" / "manifests" / "metallb-native.yaml"


def _l2_pool(address: str) -> str:
    meta = {"name": "smoke-l2", "namespace": "metallb-system"}
    pool = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": meta,
        "spec": {"addresses": [f"{address}/32"]},
    }
    l2 = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": meta,
        # Announce on the project bridge only: nothing may leave through the host's uplink.
        "spec": {"ipAddressPools": ["smoke-l2"], "interfaces": [network.BRIDGE]},
    }
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [pool, l2]})


def test_external_client_reaches_a_metallb_l2_address(cluster: EmbeddedCluster, app: App) -> None:
    """Upstream MetalLB (locally built images) answers ARP on the bridge for a pool address,
    and the client namespace reaches the Service through it, as a machine on the LAN would."""
    manifest = _metallb_manifest()
    address = network.METALLB_POOL.split("-")[1]  # the pool's last address
    lb = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web-lb", "namespace": app.namespace},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": 8080}],
        },
    }
    # Leave a MetalLB that someone else installed alone; otherwise install and remove our own.
    ours = cluster.kubectl("get", "namespace", "metallb-system", check=False).returncode != 0
    if ours:
        cluster.kubectl("apply", "--server-side", "-f", str(manifest))
    try:
        cluster.kubectl("-n", "metallb-system", "rollout", "status", "deploy/controller")
        cluster.kubectl("-n", "metallb-system", "rollout", "status", "ds/speaker")
        # The controller's webhook starts serving after the Deployment is Available.
        _wait_for(
            lambda: (
                cluster.kubectl("apply", "-f", "-", input=_l2_pool(address), check=False).returncode
                == 0
            ),
            "the IPAddressPool to be accepted",
            90,
        )
        cluster.kubectl("apply", "-f", "-", input=json.dumps(lb))

        def assigned() -> str:
            svc = cluster.kubectl("-n", app.namespace, "get", "svc/web-lb", "-o", "json")
            ingress = json.loads(svc.stdout)["status"].get("loadBalancer", {}).get("ingress", [])
            return ingress[0]["ip"] if ingress else ""

        assert _wait_for(assigned, "a LoadBalancer address", 60) == address
        probe = images.gotool("probe")

        def fetch() -> str:
            argv = network.client_argv(str(probe), "get", f"http://{address}/")
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
            return done.stdout if done.returncode == 0 else ""

        body = _wait_for(fetch, f"http://{address}/ from the client namespace", 60)
        assert str(body).startswith("probe web-")
        neighbours = subprocess.run(
            ["ip", "-n", network.CLIENT_NETNS, "neigh", "show", address],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        bridge_mac = json.loads(
            subprocess.run(
                ["ip", "-j", "link", "show", network.BRIDGE], capture_output=True, check=True
            ).stdout
        )[0]["address"]
        assert bridge_mac in neighbours, f"ARP for {address} not answered on the bridge"
    finally:
        cluster.kubectl("-n", app.namespace, "delete", "svc", "web-lb", check=False)
        cluster.kubectl("delete", "-f", "-", input=_l2_pool(address), check=False)
        if ours:
            cluster.kubectl("delete", "-f", str(manifest), "--wait=true", check=False, timeout=180)


@pytest.mark.stops_cluster
def test_down_leaves_the_host_as_it_was(
    cluster: EmbeddedCluster, host_before_up: HostSnapshot
) -> None:
    during = HostSnapshot.take()
    assert network.BRIDGE in during.links
    assert network.CLIENT_NETNS in during.netns
    assert during.processes, "no cluster process seen while up: the check would prove nothing"
    assert any("KUBE-SERVICES" in rule for rule in during.rules)
    assert any("KUBE-ROUTER-FORWARD" in rule for rule in during.rules)  # NetworkPolicy enforcer

    with lifecycle._exclusive(cluster.run):  # no other session's ``up`` in between
        lifecycle._down(cluster.run)
        after = HostSnapshot.take()

    problems = {
        "processes": after.processes - host_before_up.processes,
        "mounts": after.mounts - host_before_up.mounts,
        "routes": after.routes - host_before_up.routes,
        "links": after.links - host_before_up.links,
        "netns": after.netns - host_before_up.netns,
        "iptables": after.rules - host_before_up.rules,
        "ipsets": after.ipsets - host_before_up.ipsets,
        "pod logs": after.pod_logs - host_before_up.pod_logs,
        "runtime dirs": after.run_dirs - host_before_up.run_dirs,
        "pod cgroups": set(cleanup.pod_processes())
        or {str(p) for p in Path("/sys/fs/cgroup").glob("*/kubepods")},
    }
    left = {kind: sorted(items)[:10] for kind, items in problems.items() if items}
    assert not left, f"left behind after down: {left}"
