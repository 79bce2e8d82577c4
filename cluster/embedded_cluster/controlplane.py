"""etcd, kube-apiserver, kube-controller-manager and kube-scheduler as supervised host processes.

Flags follow what kubeadm gives a control plane: RBAC + Node authorization, NodeRestriction,
ServiceAccount tokens signed with the project's key and issuer, front-proxy (aggregation) set up,
and controller-manager signing CSRs with the cluster CA. etcd listens on loopback with mutual TLS.

The apiserver listens on the node address only (the project's bridge, never every host
interface), takes anonymous requests only on its health paths (``authn.py``) and encrypts Secrets
in etcd (``encryption.py``).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from pathlib import Path

from embedded_cluster import authn, encryption, processes
from embedded_cluster.health import ComponentNotReady, client_tls, probe, wait_healthy
from embedded_cluster.paths import RunPaths
from embedded_cluster.pki import Pki
from embedded_cluster.state import ClusterConfig

ETCD_CLIENT_URL = "https://127.0.0.1:2379"
ETCD_PEER_URL = "http://127.0.0.1:2380"
ETCD_METRICS_URL = "http://127.0.0.1:2381"
CONTROLLER_MANAGER_PORT = 10257
SCHEDULER_PORT = 10259

# Start order; ``down`` stops them in reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


def _flags(values: Mapping[str, str | int | bool]) -> list[str]:
    out = []
    for key, value in values.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        out.append(f"--{key}={text}")
    return out


def etcd_argv(binary: Path, paths: RunPaths, pki: Pki) -> list[str]:
    return [
        str(binary),
        *_flags(
            {
                "name": "airs-node",
                "data-dir": paths.etcd_data,
                "listen-client-urls": ETCD_CLIENT_URL,
                "advertise-client-urls": ETCD_CLIENT_URL,
                "listen-peer-urls": ETCD_PEER_URL,
                "initial-advertise-peer-urls": ETCD_PEER_URL,
                "initial-cluster": f"airs-node={ETCD_PEER_URL}",
                "initial-cluster-state": "new",
                "listen-metrics-urls": ETCD_METRICS_URL,
                "cert-file": pki.etcd_server.cert,
                "key-file": pki.etcd_server.key,
                "trusted-ca-file": pki.etcd_ca.cert,
                "client-cert-auth": True,
                "snapshot-count": 10000,
                "log-level": "warn",
            }
        ),
    ]


def apiserver_argv(binary: Path, paths: RunPaths, config: ClusterConfig, pki: Pki) -> list[str]:
    return [
        str(binary),
        *_flags(
            {
                "advertise-address": config.node_ip,
                # One address: pods reach it there through the `kubernetes` Service, and
                # no other host interface exposes it.
                "bind-address": config.node_ip,
                "secure-port": config.apiserver_port,
                # Anonymous only on the health paths; excludes --anonymous-auth.
                "authentication-config": paths.authentication_config,
                "encryption-provider-config": paths.encryption_config,
                "allow-privileged": True,
                "authorization-mode": "Node,RBAC",
                "enable-admission-plugins": "NodeRestriction",
                "client-ca-file": pki.ca.cert,
                "tls-cert-file": pki.apiserver.cert,
                "tls-private-key-file": pki.apiserver.key,
                "cert-dir": paths.root / "apiserver-certs",
                "etcd-servers": ETCD_CLIENT_URL,
                "etcd-cafile": pki.etcd_ca.cert,
                "etcd-certfile": pki.apiserver_etcd_client.cert,
                "etcd-keyfile": pki.apiserver_etcd_client.key,
                "kubelet-client-certificate": pki.apiserver_kubelet_client.cert,
                "kubelet-client-key": pki.apiserver_kubelet_client.key,
                "kubelet-preferred-address-types": "InternalIP,ExternalIP,Hostname",
                "service-account-issuer": (
                    f"https://kubernetes.default.svc.{config.cluster_domain}"
                ),
                "service-account-key-file": pki.sa_pub,
                "service-account-signing-key-file": pki.sa_key,
                "service-cluster-ip-range": config.service_cidr,
                "proxy-client-cert-file": pki.front_proxy_client.cert,
                "proxy-client-key-file": pki.front_proxy_client.key,
                "requestheader-client-ca-file": pki.front_proxy_ca.cert,
                "requestheader-allowed-names": "front-proxy-client",
                "requestheader-extra-headers-prefix": "X-Remote-Extra-",
                "requestheader-group-headers": "X-Remote-Group",
                "requestheader-username-headers": "X-Remote-User",
                "enable-aggregator-routing": True,
                "profiling": False,
            }
        ),
    ]


def _loopback_serving(
    kubeconfig: Path, port: int, paths: RunPaths, name: str
) -> dict[str, str | int | Path]:
    """Flags the controller manager and the scheduler share: one kubeconfig for the API and
    for delegated authn/authz, HTTPS on loopback with self-made certificates in their own dir."""
    return {
        "kubeconfig": kubeconfig,
        "authentication-kubeconfig": kubeconfig,
        "authorization-kubeconfig": kubeconfig,
        "bind-address": "127.0.0.1",
        "secure-port": port,
        "cert-dir": paths.root / f"{name}-certs",
    }


def controller_manager_argv(
    binary: Path, paths: RunPaths, config: ClusterConfig, pki: Pki, kubeconfig: Path
) -> list[str]:
    return [
        str(binary),
        *_flags(
            {
                **_loopback_serving(
                    kubeconfig, CONTROLLER_MANAGER_PORT, paths, "controller-manager"
                ),
                "client-ca-file": pki.ca.cert,
                "requestheader-client-ca-file": pki.front_proxy_ca.cert,
                "root-ca-file": pki.ca.cert,
                "service-account-private-key-file": pki.sa_key,
                "use-service-account-credentials": True,
                "cluster-signing-cert-file": pki.ca.cert,
                "cluster-signing-key-file": pki.ca.key,
                "controllers": "*,bootstrapsigner,tokencleaner",
                "allocate-node-cidrs": True,
                "cluster-cidr": config.pod_cidr,
                "service-cluster-ip-range": config.service_cidr,
                "node-cidr-mask-size": 24,
                "leader-elect": False,
                "profiling": False,
            }
        ),
    ]


def scheduler_argv(binary: Path, paths: RunPaths, kubeconfig: Path) -> list[str]:
    return [
        str(binary),
        *_flags(
            {
                **_loopback_serving(kubeconfig, SCHEDULER_PORT, paths, "scheduler"),
                "leader-elect": False,
                "profiling": False,
            }
        ),
    ]


# A program that exits this often while we wait for it is crash-looping: report it at once.
CRASH_LOOP_EXITS = 2


def _wait(
    paths: RunPaths, component: str, url: str, tls: ssl.SSLContext | None, timeout_s: float
) -> float:
    exits_before = processes.exits_noted(paths, component)

    def alive() -> bool:
        crashes = processes.exits_noted(paths, component) - exits_before
        return processes.is_running(paths, component) and crashes < CRASH_LOOP_EXITS

    return wait_healthy(
        component,
        url,
        tls=tls,
        timeout_s=timeout_s,
        log=paths.log(component),
        alive=alive,
        log_tail=lambda: processes.log_tail(paths, component),
    )


def start(
    paths: RunPaths,
    config: ClusterConfig,
    pki: Pki,
    kubeconfigs: Mapping[str, Path],
    binaries: Mapping[str, Path],
    *,
    timeout_s: float = 120.0,
) -> dict[str, float]:
    """Start (or keep) the four control-plane components and wait for each to be healthy.

    Returns seconds spent waiting per component.
    """
    waited: dict[str, float] = {}
    paths.etcd_data.mkdir(parents=True, exist_ok=True)
    paths.etcd_data.chmod(0o700)
    processes.start(paths, "etcd", etcd_argv(binaries["etcd"], paths, pki))
    waited["etcd"] = _wait(paths, "etcd", f"{ETCD_METRICS_URL}/health", None, timeout_s)

    authn.write_authentication_config(paths)
    encryption.ensure_encryption_config(paths)
    processes.start(
        paths, "kube-apiserver", apiserver_argv(binaries["kube-apiserver"], paths, config, pki)
    )
    admin_tls = admin_client_tls(paths, pki)
    waited["kube-apiserver"] = _wait(
        paths, "kube-apiserver", f"{config.apiserver_url}/readyz", admin_tls, timeout_s
    )

    processes.start(
        paths,
        "kube-controller-manager",
        controller_manager_argv(
            binaries["kube-controller-manager"],
            paths,
            config,
            pki,
            kubeconfigs["controller-manager"],
        ),
    )
    processes.start(
        paths,
        "kube-scheduler",
        scheduler_argv(binaries["kube-scheduler"], paths, kubeconfigs["scheduler"]),
    )
    insecure = client_tls(None)
    waited["kube-controller-manager"] = _wait(
        paths,
        "kube-controller-manager",
        f"https://127.0.0.1:{CONTROLLER_MANAGER_PORT}/healthz",
        insecure,
        timeout_s,
    )
    waited["kube-scheduler"] = _wait(
        paths, "kube-scheduler", f"https://127.0.0.1:{SCHEDULER_PORT}/healthz", insecure, timeout_s
    )
    waited["default-serviceaccount"] = wait_default_service_account(
        paths, config, pki, timeout_s=timeout_s
    )
    return waited


def admin_client_tls(paths: RunPaths, pki: Pki) -> ssl.SSLContext:
    admin = paths.pki / "clients"
    return client_tls(pki.ca.cert, admin / "admin.crt", admin / "admin.key")


def wait_default_service_account(
    paths: RunPaths, config: ClusterConfig, pki: Pki, *, timeout_s: float = 60.0
) -> float:
    """Pods can only be created once the controller-manager made the ``default`` ServiceAccount."""
    url = f"{config.apiserver_url}/api/v1/namespaces/default/serviceaccounts/default"
    tls = admin_client_tls(paths, pki)
    start_t = time.monotonic()
    while time.monotonic() - start_t < timeout_s:
        status, _ = probe(url, tls)
        if status == 200:
            return time.monotonic() - start_t
        time.sleep(0.25)
    raise ComponentNotReady(
        "kube-controller-manager did not create the default ServiceAccount in "
        f"{timeout_s:.0f} s (log: {paths.log('kube-controller-manager')})"
    )


def stop(paths: RunPaths) -> list[str]:
    """Stop every control-plane component (reverse order); return those that were running."""
    return [name for name in reversed(COMPONENTS) if processes.stop(paths, name)]


def status(paths: RunPaths) -> dict[str, bool]:
    return {name: processes.is_running(paths, name) for name in COMPONENTS}
