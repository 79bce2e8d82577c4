"""Cluster addons: CoreDNS (Service ``kube-dns`` at the cluster DNS address) and metrics-server.

The manifests are the project's own (``manifests/*.yaml``, ``${NAME}`` placeholders; the images'
names come from ``images.ADDON_IMAGES``), applied server-side with kubectl under one field
manager. ``up`` returns once CoreDNS answers a query for ``kubernetes.default`` on the cluster DNS
address and the ``metrics.k8s.io`` API serves node metrics.

API (called by ``lifecycle`` in full mode)::

    up(paths, config, kubeconfigs) -> None
    render(name, config) -> str            a manifest with its placeholders filled
    dns_query(server, name) -> list[str]   A records from one UDP query (host side)
"""

from __future__ import annotations

import json
import secrets
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from string import Template

from embedded_cluster import images, kubectl
from embedded_cluster.errors import EmbeddedClusterError
from embedded_cluster.paths import RunPaths
from embedded_cluster.state import ClusterConfig

MANIFEST_DIR = Path(__file__).with_name("manifests")
ADDONS = ("coredns", "metrics-server")
FIELD_MANAGER = "embedded-cluster"
METRIC_RESOLUTION = "15s"


class AddonError(EmbeddedClusterError):
    """An addon did not become ready; the message says which and what to look at."""


def render(name: str, config: ClusterConfig) -> str:
    text = (MANIFEST_DIR / f"{name}.yaml").read_text()
    return Template(text).substitute(
        CLUSTER_DNS_IP=config.cluster_dns_ip,
        CLUSTER_DOMAIN=config.cluster_domain,
        METRIC_RESOLUTION=METRIC_RESOLUTION,
        **images.ADDON_IMAGES,
    )


def apply(admin: Path, name: str, config: ClusterConfig) -> None:
    result = kubectl.run(
        admin,
        "apply",
        "--server-side",
        "--force-conflicts",
        f"--field-manager={FIELD_MANAGER}",
        "-f",
        "-",
        stdin=render(name, config),
    )
    if result.returncode != 0:
        raise AddonError(f"applying {name} failed: {result.stderr.strip()}")


def dns_query(server: str, name: str, *, port: int = 53, timeout_s: float = 2.0) -> list[str]:
    """Ask ``server`` for the A records of ``name`` (one UDP query); [] when none."""
    query_id = secrets.randbits(16)
    header = struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    packet = header + qname + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        sock.sendto(packet, (server, port))
        data, _ = sock.recvfrom(4096)
    rid, flags, qd, an, _ns, _ar = struct.unpack(">HHHHHH", data[:12])
    if rid != query_id or flags & 0x000F:
        return []
    offset = 12
    for _ in range(qd):
        offset = _skip_name(data, offset) + 4
    answers = []
    for _ in range(an):
        offset = _skip_name(data, offset)
        rtype, _cls, _ttl, length = struct.unpack(">HHIH", data[offset : offset + 10])
        offset += 10
        if rtype == 1 and length == 4:
            answers.append(socket.inet_ntoa(data[offset : offset + 4]))
        offset += length
    return answers


def _skip_name(data: bytes, offset: int) -> int:
    while True:
        length = data[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:
            return offset + 2
        offset += length + 1


def _wait(what: str, check: Callable[[], tuple[bool, str]], timeout_s: float, hint: str) -> float:
    start = time.monotonic()
    last = ""
    while time.monotonic() - start < timeout_s:
        try:
            ok, last = check()
        except (OSError, subprocess.SubprocessError) as exc:
            ok, last = False, str(exc)
        if ok:
            return time.monotonic() - start
        time.sleep(1)
    raise AddonError(f"{what} not ready after {timeout_s:.0f} s ({last}); {hint}")


def up(
    paths: RunPaths,
    config: ClusterConfig,
    kubeconfigs: Mapping[str, Path],
    *,
    timeout_s: float = 180,
) -> dict[str, float]:
    """Apply CoreDNS and metrics-server and wait until both answer; return seconds waited."""
    admin = kubeconfigs["admin"]
    for name in ADDONS:
        apply(admin, name, config)
    hint = "see `kubectl -n kube-system get pods,events` and the kubelet log " + str(
        paths.log("kubelet")
    )
    service_name = f"kubernetes.default.svc.{config.cluster_domain}"

    def dns_ready() -> tuple[bool, str]:
        answers = dns_query(config.cluster_dns_ip, service_name)
        return config.api_service_ip in answers, f"answers {answers}"

    def metrics_ready() -> tuple[bool, str]:
        result = kubectl.run(
            admin, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes", timeout=20
        )
        if result.returncode != 0:
            return False, result.stderr.strip()[-300:]
        items = json.loads(result.stdout).get("items", [])
        return bool(items), f"{len(items)} node metrics"

    return {
        "coredns": _wait("CoreDNS", dns_ready, timeout_s, hint),
        "metrics-server": _wait("metrics-server", metrics_ready, timeout_s, hint),
    }
