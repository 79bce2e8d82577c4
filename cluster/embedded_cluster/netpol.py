"""NetworkPolicy enforcement for the node: kube-router's firewall controller as a host process.

The pod network (``cni.py``, the plain bridge plugin) enforces no NetworkPolicy. kube-router
(``build.COMPONENTS["kube-router"]``) runs here with its firewall controller only: no routing,
no service proxy (kube-proxy does that), no CNI configuration. It turns each policy into
iptables chains (``KUBE-ROUTER-*``, ``KUBE-POD-FW-*``, ``KUBE-NWPLCY-*``) and ipsets
(``KUBE-SRC-*``, ``KUBE-DST-*``) matched on the bridged pod traffic.

Why not kube-network-policies (the first choice, v0.8.0): it sends packets to user space with
the nftables ``queue`` expression, and this host's kernel is built without ``CONFIG_NFT_QUEUE``
(``nft add rule ... queue num 100`` fails with "No such file or directory"), so it cannot
install a single rule here. kube-router uses iptables (``xt_set``, ``xt_physdev``) and ipset,
which this kernel has.

API (called by ``node``)::

    start(paths, config, kubeconfig) -> int
    wait_enforcing(paths, timeout_s=60) -> float
    stop(paths) -> bool
    remove_ipsets() -> list[str]        after the iptables rules that use them are gone
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from embedded_cluster import build, processes
from embedded_cluster.errors import EmbeddedClusterError
from embedded_cluster.paths import RunPaths
from embedded_cluster.state import ClusterConfig

COMPONENT = "kube-router"
# The chain kube-router hooks into FORWARD once its controller runs.
FORWARD_CHAIN = "KUBE-ROUTER-FORWARD"
IPSET_PREFIXES = ("KUBE-SRC-", "KUBE-DST-", "TMP-", "inet6:KUBE-")
NODE_PORT_RANGE = "30000-32767"  # the apiserver's default --service-node-port-range


class NetpolError(EmbeddedClusterError):
    """kube-router did not start enforcing; the message names its log."""


def kube_router_argv(binary: Path, config: ClusterConfig, kubeconfig: Path) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={config.node_name}",
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--run-loadbalancer=false",
        "--enable-cni=false",
        "--enable-ipv6=false",
        f"--service-cluster-ip-range={config.service_cidr}",
        f"--service-node-port-range={NODE_PORT_RANGE}",
        # Its health server listens on every host address, with no flag to narrow it.
        "--health-port=0",
        "--metrics-port=0",
        "--v=1",
    ]


def start(paths: RunPaths, config: ClusterConfig, kubeconfig: Path) -> int:
    binary = build.ensure_binary("kube-router", "kube-router")
    return processes.start(paths, COMPONENT, kube_router_argv(binary, config, kubeconfig))


def _forward_chain_exists() -> bool:
    result = subprocess.run(
        ["iptables", "-w", "5", "-t", "filter", "-S", FORWARD_CHAIN],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def wait_enforcing(paths: RunPaths, *, timeout_s: float = 60.0) -> float:
    """Wait until kube-router has synced with the API and installed its top-level chains."""
    start_t = time.monotonic()
    while time.monotonic() - start_t < timeout_s:
        if not processes.is_running(paths, COMPONENT):
            break
        if _forward_chain_exists():
            return time.monotonic() - start_t
        time.sleep(0.5)
    raise NetpolError(
        f"{COMPONENT} did not install {FORWARD_CHAIN} in {timeout_s:.0f} s "
        f"(log: {paths.log(COMPONENT)}):\n{processes.log_tail(paths, COMPONENT)}"
    )


def stop(paths: RunPaths) -> bool:
    return processes.stop(paths, COMPONENT)


def remove_ipsets() -> list[str]:
    """Destroy kube-router's ipsets (they outlive it; only unreferenced sets can go)."""
    try:
        listed = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True)
    except FileNotFoundError:
        return []
    removed = []
    for name in listed.stdout.split():
        if name.startswith(IPSET_PREFIXES):
            destroyed = subprocess.run(["ipset", "destroy", name], capture_output=True)
            if destroyed.returncode == 0:
                removed.append(f"ipset {name}")
    return removed
