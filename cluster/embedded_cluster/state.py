"""The cluster's settings, decided once at ``up`` and saved in the run directory.

Every module (control plane, node, addons) reads the same :class:`ClusterConfig`, so addresses
and ranges are defined in one place.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass

from embedded_cluster import network
from embedded_cluster.errors import EmbeddedClusterError
from embedded_cluster.paths import RunPaths

SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
CLUSTER_DOMAIN = "cluster.local"
NODE_NAME = "airs-node"
APISERVER_PORT = 6443


class ClusterStateError(EmbeddedClusterError):
    """The run directory does not hold a usable cluster state."""


@dataclass(frozen=True)
class ClusterConfig:
    """Addresses and ranges of the embedded cluster."""

    node_name: str
    node_ip: str
    service_cidr: str = SERVICE_CIDR
    pod_cidr: str = POD_CIDR
    cluster_domain: str = CLUSTER_DOMAIN
    apiserver_port: int = APISERVER_PORT

    @property
    def api_service_ip(self) -> str:
        """First address of the service range: the ``kubernetes.default`` Service."""
        return str(ipaddress.ip_network(self.service_cidr)[1])

    @property
    def cluster_dns_ip(self) -> str:
        """The address kubelet hands pods as their DNS server (CoreDNS's Service)."""
        return str(ipaddress.ip_network(self.service_cidr)[10])

    @property
    def apiserver_url(self) -> str:
        """The apiserver's one address, on the node: every client (kubectl, controllers,
        kubelet, tests, Ansible) uses it, as pods do through the ``kubernetes`` Service."""
        return f"https://{self.node_ip}:{self.apiserver_port}"


def detect_node_ip() -> str:
    """The node address: ``AIRS_CLUSTER_NODE_IP`` when set, otherwise the address the node
    module puts on the node's own bridge (``network.NODE_ADDRESS``), so pods reach the
    apiserver there."""
    forced = os.environ.get("AIRS_CLUSTER_NODE_IP", "").strip()
    if forced:
        return str(ipaddress.ip_address(forced))
    return str(network.NODE_ADDRESS)


def new_config() -> ClusterConfig:
    return ClusterConfig(node_name=NODE_NAME, node_ip=detect_node_ip())


def save_config(paths: RunPaths, config: ClusterConfig) -> None:
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.state_file.write_text(json.dumps(asdict(config), indent=2) + "\n")


def load_config(paths: RunPaths) -> ClusterConfig:
    try:
        data = json.loads(paths.state_file.read_text())
    except FileNotFoundError as exc:
        raise ClusterStateError(f"no cluster state at {paths.state_file}") from exc
    except ValueError as exc:
        raise ClusterStateError(f"unreadable cluster state {paths.state_file}: {exc}") from exc
    try:
        return ClusterConfig(**data)
    except TypeError as exc:
        raise ClusterStateError(f"outdated cluster state {paths.state_file}: {exc}") from exc
