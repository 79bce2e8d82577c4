"""The pod network: CNI plugins built from containernetworking/plugins and one bridge conflist.

Pods of the node get addresses from the node's first /24 of the cluster's pod range on the
bridge :data:`BRIDGE` (gateway ``.1``), with masquerading for traffic leaving the pod range,
hairpin (a pod reaching itself through its Service), host ports (``portmap``) and ``firewall``,
which accepts pod traffic in ``FORWARD`` (the host's docker sets that chain's policy to DROP).
IPAM state lives in the run directory, so ``down`` removes it with everything else.

API::

    ensure(paths, config) -> CniDirs      build the plugins if missing, write the conflist
    node_subnet(config) -> str            the pods' /24 on this node
"""

from __future__ import annotations

import ipaddress
import json

from embedded_cluster import build
from embedded_cluster.containerd import CniDirs
from embedded_cluster.paths import RunPaths
from embedded_cluster.state import ClusterConfig

BRIDGE = "airscni0"
NETWORK_NAME = "airs-pods"


def node_subnet(config: ClusterConfig) -> str:
    """First /24 of the pod range: what the controller-manager allocates to the only node."""
    return str(next(ipaddress.ip_network(config.pod_cidr).subnets(new_prefix=24)))


def conflist(paths: RunPaths, config: ClusterConfig) -> dict[str, object]:
    return {
        "cniVersion": "1.0.0",
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node_subnet(config)}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(paths.root / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "firewall", "backend": "iptables"},
        ],
    }


def ensure(paths: RunPaths, config: ClusterConfig) -> CniDirs:
    """Plugins (built on first use) and the conflist; returns the directories for containerd."""
    plugins = build.ensure_component("cni-plugins")
    bin_dir = next(iter(plugins.values())).parent
    conf_dir = paths.root / "cni" / "net.d"
    conf_dir.mkdir(parents=True, exist_ok=True)
    target = conf_dir / f"10-{NETWORK_NAME}.conflist"
    target.write_text(json.dumps(conflist(paths, config), indent=2) + "\n")
    return CniDirs(bin_dir=bin_dir, conf_dir=conf_dir)
