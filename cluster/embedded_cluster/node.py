"""The embedded cluster's single node on the host: network, containerd, images, kubelet,
kube-proxy, the CNI bridge and NetworkPolicy enforcement (``netpol``) (the "direct path", see
cluster/KIND_EVALUATION.md).

Interface used by ``lifecycle`` (documented there)::

    up(paths, config, kubeconfigs) -> None     start everything, wait until the node is Ready
    down(paths) -> None                        stop everything and remove what it created
    status(paths) -> dict[str, bool]           containerd, kubelet, kube-proxy running?
    release(admin, config) -> None             drop what only a running node serves
    log_files(paths) -> dict[str, Path]
    network_info() -> dict[str, str]           bridge, node IP, client netns, MetalLB pool
    prebuild_targets() -> list[build.Target]   every binary the node and its images need

``kubeconfigs`` must hold ``kubelet``, ``kube-proxy`` and ``kube-router`` (written by
``pki.ensure_kubeconfigs``) and ``admin`` for the readiness check and kube-router's RBAC. Host
sysctls the node needs (``net.bridge.bridge-nf-call-iptables``, ``net.ipv4.ip_forward``) are set
on ``up`` and their previous values restored on ``down``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from embedded_cluster import (
    addons,
    build,
    cleanup,
    cni,
    containerd,
    images,
    kubectl,
    kubelet,
    netpol,
    network,
    processes,
)
from embedded_cluster.errors import EmbeddedClusterError
from embedded_cluster.paths import RunPaths
from embedded_cluster.state import ClusterConfig

# What must run before the node can be Ready; kube-router starts once it is.
RUNTIME = ("containerd", *kubelet.COMPONENTS)
COMPONENTS = (*RUNTIME, netpol.COMPONENT)
KUBELET_HEALTHZ = "http://127.0.0.1:10248/healthz"
# Set on up; None: not set by us but changed by kube-proxy (route_localnet), restored on down.
SYSCTLS: dict[str, str | None] = {
    "net/bridge/bridge-nf-call-iptables": "1",
    "net/ipv4/ip_forward": "1",
    "net/ipv4/conf/all/route_localnet": None,
}


def _sysctl_file(paths: RunPaths) -> Path:
    return paths.root / "node-sysctls.json"


def _set_sysctls(paths: RunPaths) -> None:
    saved_file = _sysctl_file(paths)
    saved = json.loads(saved_file.read_text()) if saved_file.exists() else {}
    for key, value in SYSCTLS.items():
        proc = Path("/proc/sys") / key
        if not proc.exists():
            continue
        current = proc.read_text().strip()
        saved.setdefault(key, current)
        if value is not None and current != value:
            proc.write_text(value)
    saved_file.write_text(json.dumps(saved, indent=2) + "\n")


def _restore_sysctls(paths: RunPaths) -> None:
    saved_file = _sysctl_file(paths)
    if not saved_file.exists():
        return
    for key, value in json.loads(saved_file.read_text()).items():
        with contextlib.suppress(OSError):
            (Path("/proc/sys") / key).write_text(value)
    saved_file.unlink()


def _check_alive(paths: RunPaths, name: str) -> None:
    if not processes.is_running(paths, name):
        raise EmbeddedClusterError(
            f"{name} exited (log: {paths.log(name)}):\n{processes.log_tail(paths, name)}"
        )


def _kubelet_healthy() -> bool:
    try:
        with urllib.request.urlopen(KUBELET_HEALTHZ, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_ready(
    paths: RunPaths,
    config: ClusterConfig,
    admin: Path,
    *,
    fresh: bool = True,
    timeout_s: float = 120,
) -> float:
    """Wait until kubelet is healthy and the node reports Ready.

    With ``fresh`` (kubelet was just started) the Ready condition only counts when its
    heartbeat is newer than this call: a node object left from an earlier kubelet can still
    say Ready for a while.
    """
    start = time.monotonic()
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    if not fresh:
        since = dt.datetime.min.replace(tzinfo=dt.UTC)
    jsonpath = '{range .status.conditions[?(@.type=="Ready")]}{.status} {.lastHeartbeatTime}{end}'
    while time.monotonic() - start < timeout_s:
        for name in RUNTIME:
            _check_alive(paths, name)
        if _kubelet_healthy():
            result = kubectl.run(
                admin, "get", "node", config.node_name, "-o", f"jsonpath={jsonpath}", timeout=20
            )
            fields = result.stdout.split()
            if result.returncode == 0 and len(fields) == 2 and fields[0] == "True":
                beat = dt.datetime.fromisoformat(fields[1].replace("Z", "+00:00"))
                if beat >= since:
                    return time.monotonic() - start
        time.sleep(1)
    raise EmbeddedClusterError(
        f"node {config.node_name} not Ready after {timeout_s:.0f} s "
        f"(logs: {paths.log('kubelet')}, {paths.log('containerd')})"
    )


def prebuild_targets() -> list[build.Target]:
    """The node's binaries and the programs of the images ``up`` imports (not the tests'
    helper images: those are built when a test asks for them)."""
    targets = [build.Target("kubernetes", b) for b in ("kubelet", "kube-proxy", "kubectl")]
    targets += build.component_targets("cni-plugins")
    targets += build.component_targets("kube-router")
    targets += [spec.source for spec in images.specs() if spec.source is not None]
    return targets


def up(paths: RunPaths, config: ClusterConfig, kubeconfigs: Mapping[str, Path]) -> None:
    """Start the node (idempotent) and wait until it is Ready."""
    paths.root.mkdir(parents=True, exist_ok=True)
    network.setup()
    _set_sysctls(paths)
    dirs = cni.ensure(paths, config)
    for component, binary in (("kubernetes", "kubelet"), ("kubernetes", "kube-proxy")):
        build.ensure_binary(component, binary)
    try:
        containerd.start(paths, dirs)
        images.ensure_all()
        images.import_built_project_images()
    except (containerd.ContainerdError, images.ImageError) as exc:
        raise EmbeddedClusterError(str(exc)) from exc
    kubelet_was_running = processes.is_running(paths, "kubelet")
    kubelet.start_kubelet(paths, config, kubeconfigs["kubelet"])
    kubelet.start_kube_proxy(paths, config, kubeconfigs["kube-proxy"])
    wait_ready(paths, config, kubeconfigs["admin"], fresh=not kubelet_was_running)
    # kube-router reads its Node object at start: only once the node has registered.
    try:
        addons.apply(kubeconfigs["admin"], "kube-router-rbac", config)
        netpol.start(paths, config, kubeconfigs["kube-router"])
        netpol.wait_enforcing(paths)
    except (addons.AddonError, netpol.NetpolError) as exc:
        raise EmbeddedClusterError(str(exc)) from exc


def _remove_containers() -> None:
    """Kill and delete every task and container of the k8s.io namespace (containerd running)."""
    if not containerd.is_serving():
        return
    tasks = containerd.ctr("tasks", "ls", "-q", check=False).stdout.split()
    for task in tasks:
        containerd.ctr("tasks", "kill", "-a", "-s", "SIGKILL", task, check=False)
    deadline = time.monotonic() + 15
    for task in tasks:
        while time.monotonic() < deadline:
            if containerd.ctr("tasks", "delete", task, check=False).returncode == 0:
                break
            if task not in containerd.ctr("tasks", "ls", "-q", check=False).stdout.split():
                break
            time.sleep(0.2)
    for container in containerd.ctr("containers", "ls", "-q", check=False).stdout.split():
        containerd.ctr("containers", "delete", container, check=False)


def _kill_shims() -> None:
    for pid in containerd.shim_pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while containerd.shim_pids() and time.monotonic() < deadline:
        time.sleep(0.1)


def down(paths: RunPaths) -> None:
    """Stop the node and remove every process, mount, rule, interface and netns it created."""
    netpol.stop(paths)
    for name in reversed(kubelet.COMPONENTS):
        processes.stop(paths, name)
    _remove_containers()
    cleanup.kill_pod_processes()
    containerd.stop(paths)
    _kill_shims()
    containerd.remove_shared_run_dirs()
    cleanup.kill_pod_processes()
    still = cleanup.unmount_under(
        [kubelet.kubelet_root(paths), containerd.STATE_DIR, containerd.root_dir()]
    )
    if containerd.STATE_DIR.exists() and not still:
        subprocess.run(["rm", "-rf", "--one-file-system", str(containerd.STATE_DIR)], check=False)
    cleanup.remove_pod_cgroups()
    cleanup.remove_pod_logs()
    cleanup.remove_iptables()
    netpol.remove_ipsets()
    if network.link_exists(cni.BRIDGE):
        subprocess.run(["ip", "link", "del", cni.BRIDGE], capture_output=True, check=False)
    network.teardown()
    if paths.root.exists():
        _restore_sysctls(paths)
    if still:
        raise EmbeddedClusterError(f"node down: still mounted: {', '.join(still[:5])}")


def release(admin: Path, config: ClusterConfig) -> None:
    """Drop what an earlier full run left that only a running node could serve or finish.

    Control-plane mode runs no kubelet and no pods, so:

    - pods bound to the old Node would never be confirmed deleted: they, and any namespace
      holding them, would stay Terminating. They go at once, and the Node with them; their
      Deployments and other owners stay, and new pods wait until the node registers anew;
    - an APIService served by a Service (metrics-server's) stays unavailable, and a namespace
      cannot finish deleting while discovery fails. The addons apply it again in full mode.
    """
    _kubectl_or_raise(
        admin, "the stopped node's pods", "delete", "pods", "--all-namespaces",
        "--field-selector", f"spec.nodeName={config.node_name}",
        "--force", "--grace-period=0", "--wait=false",
    )  # fmt: skip
    _kubectl_or_raise(
        admin, "the stopped node", "delete", "node", config.node_name,
        "--ignore-not-found", "--wait=false",
    )  # fmt: skip
    listed = _kubectl_or_raise(admin, "the APIServices", "get", "apiservices", "-o", "json")
    served_by_pods = [
        item["metadata"]["name"]
        for item in json.loads(listed)["items"]
        if item["spec"].get("service")
    ]
    if served_by_pods:
        _kubectl_or_raise(
            admin, "APIServices served by pods", "delete", "apiservice", *served_by_pods,
            "--ignore-not-found", "--wait=false",
        )  # fmt: skip


def _kubectl_or_raise(admin: Path, what: str, *args: str) -> str:
    result = kubectl.run(admin, *args, timeout=60)
    if result.returncode != 0:
        raise EmbeddedClusterError(f"kubectl on {what} failed: {result.stderr.strip()}")
    return result.stdout


def status(paths: RunPaths) -> dict[str, bool]:
    return {name: processes.is_running(paths, name) for name in COMPONENTS}


def log_files(paths: RunPaths) -> dict[str, Path]:
    return {name: paths.log(name) for name in COMPONENTS}


def network_info() -> dict[str, str]:
    return network.info().as_dict()
