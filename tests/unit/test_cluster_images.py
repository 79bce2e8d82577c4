"""``images``: the names the node's images carry, without a cluster."""

from __future__ import annotations

import pytest
from embedded_cluster import images


@pytest.mark.parametrize(
    ("tag", "ref"),
    [
        ("traefik:v3.7.15", "docker.io/library/traefik:v3.7.15"),
        ("airs-mcp-k8s/mcp-server:0.1.0", "docker.io/airs-mcp-k8s/mcp-server:0.1.0"),
        ("quay.io/metallb/speaker:v0.15.2", "quay.io/metallb/speaker:v0.15.2"),
        ("localhost/x:1", "localhost/x:1"),
        ("registry.k8s.io/pause:3.10.1", "registry.k8s.io/pause:3.10.1"),
    ],
)
def test_docker_tags_map_to_the_names_kubernetes_uses(tag: str, ref: str) -> None:
    assert images.containerd_ref(tag) == ref


def test_image_names_match_the_upstream_manifests() -> None:
    refs = {spec.ref for spec in images.specs()}
    assert {
        "registry.k8s.io/pause:3.10.1",
        "registry.k8s.io/coredns/coredns:v1.12.1",
        "registry.k8s.io/metrics-server/metrics-server:v0.8.0",
        "quay.io/metallb/controller:v0.15.2",
        "quay.io/metallb/speaker:v0.15.2",
        "docker.io/library/traefik:v3.7.15",
    } <= refs
