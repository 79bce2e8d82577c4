"""kubelet and kube-proxy of the node, as supervised host processes.

kubelet: cgroupfs driver (this host is cgroup v1 without systemd), the project's containerd,
x509 + webhook authentication and webhook authorization like kubeadm's, the node address on the
project bridge (``network.NODE_ADDRESS``), cluster DNS at the Service range's tenth address, and
eviction thresholds low enough that a shared CI disk does not evict pods. Its root directory is
``<run>/kubelet`` so ``down`` finds (and unmounts) every volume it mounted.

kube-proxy: iptables mode through the host's ``iptables`` (the nf_tables backend on Debian 12,
which this kernel supports), conntrack sysctls left alone.

API::

    start_kubelet(paths, config, kubeconfig) / start_kube_proxy(paths, config, kubeconfig)
    kubelet_root(paths) -> Path
    COMPONENTS = ("kubelet", "kube-proxy")
# kube-proxy also programs IPv6 when the host has it, and a family without a CIDR in
# nodePortAddresses matches every local address of that family (this host's uplink has one).
# A documentation prefix (RFC 3849) that no interface holds leaves IPv6 with no node port.
NO_IPV6_NODE_PORTS = "2001:db8::/128"
"""

from __future__ import annotations

import json
from pathlib import Path

from embedded_cluster import build, containerd, network, processes
from embedded_cluster.paths import RunPaths
from embedded_cluster.state import ClusterConfig

COMPONENTS = ("kubelet", "kube-proxy")
# kube-proxy also programs IPv6 when the host has it, and a family without a CIDR in
# nodePortAddresses matches every local address of that family (this host's uplink has one).
# A documentation prefix (RFC 3849) that no interface holds leaves IPv6 with no node port.
NO_IPV6_NODE_PORTS = "2001:db8::/128"
KUBELET_PORT = 10250


def kubelet_root(paths: RunPaths) -> Path:
    return paths.root / "kubelet"


def kubelet_config(paths: RunPaths, config: ClusterConfig) -> dict[str, object]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": str(network.NODE_ADDRESS),
        "port": KUBELET_PORT,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "readOnlyPort": 0,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(paths.pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{containerd.SOCKET}",
        "clusterDNS": [config.cluster_dns_ip],
        "clusterDomain": config.cluster_domain,
        # Pods with dnsPolicy Default get no host resolvers: nothing in the cluster should
        # send queries off this machine.
        "resolvConf": "",
        "failSwapOn": False,
        "serializeImagePulls": False,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
            "nodefs.inodesFree": "2%",
        },
        "imageGCHighThresholdPercent": 98,
        "imageGCLowThresholdPercent": 95,
        "maxPods": 110,
        "podCIDR": "",
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": True,
        "containerLogMaxSize": "10Mi",
        "containerLogMaxFiles": 2,
        "shutdownGracePeriod": "0s",
    }


def _argv_with_config(
    paths: RunPaths, binary: str, config_doc: dict[str, object], *flags: str
) -> list[str]:
    """Write ``<binary>-config.json`` into the run directory; the argv that starts ``binary``
    from it with the extra ``flags``."""
    config_file = paths.root / f"{binary}-config.json"
    config_file.write_text(json.dumps(config_doc, indent=2) + "\n")
    return [
        str(build.ensure_binary("kubernetes", binary)),
        f"--config={config_file}",
        *flags,
        "--v=1",
    ]


def kubelet_argv(paths: RunPaths, config: ClusterConfig, kubeconfig: Path) -> list[str]:
    return _argv_with_config(
        paths,
        "kubelet",
        kubelet_config(paths, config),
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={kubelet_root(paths)}",
        f"--cert-dir={paths.root / 'kubelet-pki'}",
        f"--node-ip={network.NODE_ADDRESS}",
        f"--hostname-override={config.node_name}",
    )


def kube_proxy_config(config: ClusterConfig, kubeconfig: Path) -> dict[str, object]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "clusterCIDR": config.pod_cidr,
        # Node ports only on the project's bridge, not on every host interface.
        "nodePortAddresses": [str(network.SUBNET), NO_IPV6_NODE_PORTS],
        "hostnameOverride": config.node_name,
        "bindAddress": "0.0.0.0",  # noqa: S104 - IPv4 family selection, not a listener
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"syncPeriod": "30s", "minSyncPeriod": "1s", "masqueradeAll": False},
        "detectLocalMode": "ClusterCIDR",
    }


def kube_proxy_argv(paths: RunPaths, config: ClusterConfig, kubeconfig: Path) -> list[str]:
    return _argv_with_config(paths, "kube-proxy", kube_proxy_config(config, kubeconfig))


def start_kubelet(paths: RunPaths, config: ClusterConfig, kubeconfig: Path) -> int:
    kubelet_root(paths).mkdir(parents=True, exist_ok=True)
    return processes.start(paths, "kubelet", kubelet_argv(paths, config, kubeconfig))


def start_kube_proxy(paths: RunPaths, config: ClusterConfig, kubeconfig: Path) -> int:
    return processes.start(paths, "kube-proxy", kube_proxy_argv(paths, config, kubeconfig))
