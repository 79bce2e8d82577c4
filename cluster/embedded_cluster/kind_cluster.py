"""A multi-node kind cluster on a LAN of its own, with client hosts on that LAN.

``AIRS_NODES=3 make deploy`` runs the collection against this instead of the single embedded
node: one control plane and ``nodes - 1`` workers from the project's kind node image
(``kind_prepare``: kube-router as the pod network, see ``imaging/kind_cni.py``), all on the
docker network :data:`NETWORK`, whose subnet :data:`SUBNET` the project chooses. That network's
bridge (:data:`BRIDGE`) is the LAN: MetalLB announces its L2 addresses (:data:`METALLB_POOL`)
on it, and the client namespaces (:data:`CLIENTS`) are other machines on it, each a network
namespace with a veth into the bridge, an address of the subnet and no route beyond it.

The kind configuration (:func:`kind_config`) is shared with the collection's molecule ``kind``
scenario, so both run the same layout.

CLI (``python -m embedded_cluster.kind_cluster``)::

    up [--nodes 3] [--vars-file F]   create (or reuse) cluster, network, clients; load the images;
                                     write the deploy's Ansible variables to F; print JSON
    down                             delete cluster, client namespaces and network
    exists                           exit 0 when any of them exists (for ``make down``)
    info                             the fixed names and addresses, as JSON
    config [--nodes 3]               kind's cluster configuration (JSON, which kind reads as YAML)
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from embedded_cluster import build, kind_prepare
from embedded_cluster.errors import EmbeddedClusterError
from embedded_cluster.paths import cache_root

CLUSTER_NAME = "airs"
NETWORK = "airs-lan"
BRIDGE = "airslan0"
SUBNET = ipaddress.ip_network("10.234.18.0/24")
GATEWAY = SUBNET[1]  # the host's address on the bridge
# docker hands node addresses out of the first quarter; the rest is the LAN's.
NODE_RANGE = next(SUBNET.subnets(new_prefix=26))
METALLB_POOL = f"{SUBNET[200]}-{SUBNET[239]}"
PUBLIC_ADDRESS = SUBNET[200]
DEFAULT_NODES = 3
# kind's --wait covers the control plane; the workers and pod network are waited on after it.
READY_TIMEOUT_S = 300


@dataclass(frozen=True)
class Client:
    """A machine on the LAN: a network namespace wired into the bridge by a veth pair."""

    netns: str
    address: ipaddress.IPv4Address
    veth_host: str  # enslaved to BRIDGE

    @property
    def veth_peer(self) -> str:  # renamed eth0 inside the namespace
        return self.veth_host[:-1] + "1"


CLIENTS = (
    Client("airs-lan-a", SUBNET[250], "airslana0"),
    Client("airs-lan-b", SUBNET[251], "airslanb0"),
)


class KindClusterError(EmbeddedClusterError):
    """A step of bringing the kind cluster up or down failed; the message says which."""


def kind_config(nodes: int = DEFAULT_NODES) -> dict[str, object]:
    """kind's configuration: one control plane, ``nodes - 1`` workers."""
    if nodes < 1:
        raise KindClusterError(f"a cluster needs at least one node, not {nodes}")
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "nodes": [{"role": "control-plane"}] + [{"role": "worker"}] * (nodes - 1),
        # This host's docker withholds CAP_SYS_RESOURCE from containers, so containerd in the
        # node cannot set negative oom_score_adj values: it clamps them instead (as rootless).
        "containerdConfigPatches": [
            '[plugins."io.containerd.grpc.v1.cri"]\n  restrict_oom_score_adj = true'
        ],
    }


def state_dir() -> Path:
    return cache_root() / "kind" / CLUSTER_NAME


def kubeconfig_path() -> Path:
    return state_dir() / "kubeconfig"


def info() -> dict[str, object]:
    return {
        "cluster": CLUSTER_NAME,
        "network": NETWORK,
        "bridge": BRIDGE,
        "subnet": str(SUBNET),
        "metallb_pool": METALLB_POOL,
        "public_address": str(PUBLIC_ADDRESS),
        "clients": {c.netns: str(c.address) for c in CLIENTS},
        "kubeconfig": str(kubeconfig_path()),
    }


def _run(argv: list[str], *, check: bool = True, stdin: str | None = None) -> str:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise KindClusterError(f"{' '.join(argv)}: {(result.stderr or result.stdout).strip()}")
    return result.stdout


def _say(message: str) -> None:
    print(f"kind: {message}", file=sys.stderr, flush=True)


# -- the LAN ----------------------------------------------------------------------------------


def _network_subnets() -> list[str] | None:
    result = subprocess.run(
        ["docker", "network", "inspect", NETWORK], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return None
    config = json.loads(result.stdout)[0].get("IPAM", {}).get("Config") or []
    return [c["Subnet"] for c in config if "Subnet" in c]


def ensure_network() -> None:
    subnets = _network_subnets()
    if subnets is None:
        _run(
            [
                *("docker", "network", "create", "--driver", "bridge"),
                *("--subnet", str(SUBNET), "--ip-range", str(NODE_RANGE)),
                *("--gateway", str(GATEWAY)),
                *("-o", f"com.docker.network.bridge.name={BRIDGE}"),
                *("-o", "com.docker.network.driver.mtu=1500"),
                NETWORK,
            ]
        )
    elif subnets != [str(SUBNET)]:
        raise KindClusterError(f"docker network {NETWORK} has {subnets}, expected {SUBNET}")


def _ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    return _run(["ip", *(["-n", netns] if netns else []), *args], check=check)


def _link_exists(name: str, netns: str | None = None) -> bool:
    return bool(_ip("-j", "link", "show", "dev", name, netns=netns, check=False).strip())


def ensure_client(client: Client) -> None:
    """The client namespace on the LAN (idempotent): veth into the bridge, an address, no
    default route, so nothing it sends can leave the subnet."""
    if not Path("/run/netns", client.netns).exists():
        _ip("netns", "add", client.netns)
    if not _link_exists(client.veth_host):
        if _link_exists(client.veth_peer):
            _ip("link", "del", client.veth_peer)
        _ip("link", "add", client.veth_host, "type", "veth", "peer", "name", client.veth_peer)
        _ip("link", "set", client.veth_peer, "netns", client.netns)
        _ip("link", "set", client.veth_peer, "name", "eth0", netns=client.netns)
    _ip("link", "set", client.veth_host, "master", BRIDGE)
    _ip("link", "set", client.veth_host, "up")
    _ip("link", "set", "lo", "up", netns=client.netns)
    cidr = f"{client.address}/{SUBNET.prefixlen}"
    if cidr not in _ip("-o", "addr", "show", "dev", "eth0", netns=client.netns):
        _ip("addr", "add", cidr, "dev", "eth0", netns=client.netns)
    _ip("link", "set", "eth0", "up", netns=client.netns)


def remove_client(client: Client) -> list[str]:
    removed = []
    if Path("/run/netns", client.netns).exists():
        _ip("netns", "del", client.netns)  # takes the namespace's end of the pair with it
        removed.append(f"netns {client.netns}")
    if _link_exists(client.veth_host):
        _ip("link", "del", client.veth_host, check=False)
        removed.append(f"link {client.veth_host}")
    return removed


def client_argv(netns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv]


# -- the cluster ------------------------------------------------------------------------------


def _kind() -> str:
    return str(build.ensure_binary("kind", "kind"))


def _kubectl(*args: str, stdin: str | None = None) -> str:
    kubectl = str(build.ensure_binary("kubernetes", "kubectl"))
    return _run([kubectl, f"--kubeconfig={kubeconfig_path()}", *args], stdin=stdin)


def cluster_exists() -> bool:
    clusters = _run([_kind(), "get", "clusters"], check=False).split()
    return CLUSTER_NAME in clusters


def node_count() -> int:
    out = _run(
        ["docker", "ps", "-q", "--filter", f"label=io.x-k8s.kind.cluster={CLUSTER_NAME}"],
        check=False,
    )
    return len(out.split())


def create_cluster(node_image: str, nodes: int) -> float:
    """``kind create cluster`` on :data:`NETWORK`; returns its seconds."""
    state_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=state_dir()) as config:
        json.dump(kind_config(nodes), config)
        config.flush()
        started = time.monotonic()
        result = subprocess.run(
            [
                *(_kind(), "create", "cluster", "--name", CLUSTER_NAME, "--image", node_image),
                *("--config", config.name, "--kubeconfig", str(kubeconfig_path())),
                "--wait",
                "180s",
            ],
            env={**os.environ, "KIND_EXPERIMENTAL_DOCKER_NETWORK": NETWORK},
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise KindClusterError(f"kind create cluster:\n{result.stderr[-3000:]}")
    return time.monotonic() - started


def wait_ready() -> None:
    """Every node Ready (the pod network is up on each) and CoreDNS available."""
    timeout = f"--timeout={READY_TIMEOUT_S}s"
    _kubectl("wait", "--for=condition=Ready", "nodes", "--all", timeout)
    _kubectl("-n", "kube-system", "rollout", "status", "daemonset/kube-router", timeout)
    _kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", timeout)


def drop_coredns_forwarding() -> bool:
    """Nothing may leave this machine: CoreDNS answers the cluster zone only (as on the embedded
    cluster) instead of forwarding other names to the node's resolver. True when changed."""
    configmap = json.loads(_kubectl("-n", "kube-system", "get", "configmap", "coredns", "-o=json"))
    corefile = configmap["data"]["Corefile"]
    stripped = re.sub(r"\n\s*forward \. /etc/resolv\.conf \{[^}]*\}", "", corefile)
    if stripped == corefile:
        return False
    configmap["data"]["Corefile"] = stripped
    _kubectl("replace", "-f", "-", stdin=json.dumps(configmap))
    return True


def load_archives(archives: list[str]) -> None:
    for archive in archives:
        _run([_kind(), "load", "image-archive", "--name", CLUSTER_NAME, archive])


def deploy_vars(project_images: dict[str, str]) -> dict[str, object]:
    """What the deploy's inventory needs for this cluster: the MetalLB pool and address on the
    LAN, announcements on every node interface (a kind node has one on the LAN), the images."""
    return {
        "airs_public_address": str(PUBLIC_ADDRESS),
        "metallb_address_pool": [METALLB_POOL],
        "metallb_l2_interfaces": [],
        "mcp_server_image_tag": project_images["server"].rsplit(":", 1)[1],
        "airs_api_double_image_tag": project_images["double"].rsplit(":", 1)[1],
    }


def up(nodes: int, vars_file: Path | None) -> dict[str, object]:
    """Prepare, create (or reuse) the cluster, load the images, wire the clients."""
    report: dict[str, object] = {**info(), "nodes": nodes}
    if cluster_exists() and node_count() != nodes:
        raise KindClusterError(
            f"kind cluster {CLUSTER_NAME} has {node_count()} nodes, not {nodes}: make down first"
        )
    _say("preparing the runtime, kind, the node image and the image archives (cached)")
    archives = state_dir() / "images"
    prepared = kind_prepare.prepare(archives)
    report["node_image"] = prepared["node_image"]
    ensure_network()
    if cluster_exists():
        _say(f"cluster {CLUSTER_NAME} exists ({nodes} nodes)")
        report["create_seconds"] = None
        # The kubeconfig may be gone (another cache folder, a hand-made clean-up): kind rewrites it.
        state_dir().mkdir(parents=True, exist_ok=True)
        _run([_kind(), "export", "kubeconfig", "--name", CLUSTER_NAME,
              "--kubeconfig", str(kubeconfig_path())])  # fmt: skip
    else:
        _say(f"kind create cluster: {nodes} nodes on {NETWORK} ({SUBNET})")
        report["create_seconds"] = round(create_cluster(str(prepared["node_image"]), nodes), 1)
    started = time.monotonic()
    wait_ready()
    report["ready_seconds"] = round(time.monotonic() - started, 1)
    drop_coredns_forwarding()
    _say("loading the images into every node")
    started = time.monotonic()
    load_archives([str(a) for a in prepared["archives"]])  # type: ignore[attr-defined]
    report["load_seconds"] = round(time.monotonic() - started, 1)
    for client in CLIENTS:
        ensure_client(client)
    if vars_file is not None:
        project_images = prepared["project_images"]
        assert isinstance(project_images, dict)
        vars_file.write_text(json.dumps(deploy_vars(project_images), indent=2) + "\n")
        report["vars_file"] = str(vars_file)
    return report


def exists() -> bool:
    """Whether anything ``down`` removes is there (docker and /run/netns only: no kind binary)."""
    return (
        node_count() > 0
        or _network_subnets() is not None
        or any(Path("/run/netns", c.netns).exists() for c in CLIENTS)
    )


def down() -> list[str]:
    removed = []
    for client in CLIENTS:
        removed += remove_client(client)
    if cluster_exists():
        _run([_kind(), "delete", "cluster", "--name", CLUSTER_NAME])
        removed.append(f"kind cluster {CLUSTER_NAME}")
    if _network_subnets() is not None:
        _run(["docker", "network", "rm", NETWORK])
        removed.append(f"docker network {NETWORK}")
    kubeconfig_path().unlink(missing_ok=True)
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m embedded_cluster.kind_cluster")
    sub = parser.add_subparsers(dest="command", required=True)
    up_parser = sub.add_parser("up", help="create or reuse the cluster; print JSON")
    up_parser.add_argument("--nodes", type=int, default=DEFAULT_NODES)
    up_parser.add_argument("--vars-file", type=Path, help="write the deploy's variables here")
    sub.add_parser("down", help="delete cluster, clients and network")
    sub.add_parser("exists", help="exit 0 when the cluster, its network or a client exists")
    sub.add_parser("info", help="names and addresses, as JSON")
    config_parser = sub.add_parser("config", help="kind's cluster configuration")
    config_parser.add_argument("--nodes", type=int, default=DEFAULT_NODES)
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            print(json.dumps(up(args.nodes, args.vars_file)))
        elif args.command == "down":
            for item in down():
                print(f"removed {item}")
        elif args.command == "exists":
            return 0 if exists() else 1
        elif args.command == "info":
            print(json.dumps(info()))
        else:
            print(json.dumps(kind_config(args.nodes), indent=2))
    except (RuntimeError, OSError) as exc:
        print(f"kind_cluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
