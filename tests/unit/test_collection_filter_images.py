"""The collection's image filters (plugins/filter/images.py), applied to the MetalLB release
manifest the metallb role installs (read from the Go module cache; skipped only when the module
cannot be downloaded)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from embedded_cluster import upstream

from tests.fixtures.ansible import load_module, role_defaults

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "collections/ansible_collections/airs/mcp_k8s/plugins/filter/images.py"
DIGEST_A = "sha256:" + hashlib.sha256(b"a").hexdigest()
DIGEST_B = "sha256:" + hashlib.sha256(b"b").hexdigest()


images = load_module(PLUGIN)

DEPLOYMENT = {
    "kind": "Deployment",
    "metadata": {"name": "controller"},
    "spec": {"template": {"spec": {
        "initContainers": [{"name": "init", "image": "docker.io/library/busybox:1"}],
        "containers": [{"name": "c", "image": "quay.io/metallb/controller:v1.0.0"}],
    }}},
}  # fmt: skip
DAEMONSET = {
    "kind": "DaemonSet",
    "metadata": {"name": "speaker"},
    "spec": {"template": {"spec": {"containers": [
        {"name": "s", "image": "quay.io/metallb/speaker:v1.0.0"},
    ]}}},
}  # fmt: skip


def test_image_ref_appends_the_digest_and_keeps_the_tag() -> None:
    assert images.image_ref("docker.io/library/traefik:v3.0.0", DIGEST_A) == (
        f"docker.io/library/traefik:v3.0.0@{DIGEST_A}"
    )
    assert images.image_ref("airs-mcp-k8s/mcp-server:0.1.0", "") == "airs-mcp-k8s/mcp-server:0.1.0"


@pytest.mark.parametrize("digest", ["sha256:abc", "md5:" + "0" * 64, DIGEST_A.upper()])
def test_image_ref_refuses_a_malformed_digest(digest: str) -> None:
    with pytest.raises(AnsibleFilterError, match="sha256:<64 hex digits>"):
        images.image_ref("traefik:v3", digest)


def test_image_ref_refuses_a_reference_that_already_has_a_digest() -> None:
    with pytest.raises(AnsibleFilterError, match="already names a digest"):
        images.image_ref(f"traefik:v3@{DIGEST_B}", DIGEST_A)


@pytest.mark.parametrize(
    ("ref", "repo"),
    [
        ("quay.io/metallb/controller:v1.0.0", "quay.io/metallb/controller"),
        ("localhost:5000/team/server:1.2", "localhost:5000/team/server"),
        ("localhost:5000/server", "localhost:5000/server"),
        ("traefik", "traefik"),
        (f"traefik:v3@{DIGEST_A}", "traefik"),
    ],
)
def test_repository_strips_tag_and_digest_but_not_a_registry_port(ref: str, repo: str) -> None:
    assert images.repository(ref) == repo


def test_pin_images_rewrites_only_the_mapped_repositories() -> None:
    objects = [{"kind": "Namespace", "metadata": {"name": "m"}}, DEPLOYMENT, DAEMONSET]
    digests = {"quay.io/metallb/controller": DIGEST_A, "quay.io/metallb/speaker": DIGEST_B}
    pinned = images.pin_images(objects, digests)
    pod = pinned[1]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == f"quay.io/metallb/controller:v1.0.0@{DIGEST_A}"
    assert pod["initContainers"][0]["image"] == "docker.io/library/busybox:1"  # not mapped
    assert pinned[2]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(DIGEST_B)
    # the input is left as it was (a shared fact in Ansible's templating)
    assert DEPLOYMENT["spec"]["template"]["spec"]["containers"][0]["image"].endswith("v1.0.0")


def test_pin_images_with_no_digests_changes_nothing() -> None:
    assert images.pin_images([DEPLOYMENT, DAEMONSET], {}) == [DEPLOYMENT, DAEMONSET]


def test_pin_images_refuses_a_repository_no_container_runs() -> None:
    with pytest.raises(AnsibleFilterError, match=r"quay\.io/metallb/contoller"):
        images.pin_images([DEPLOYMENT], {"quay.io/metallb/contoller": DIGEST_A})


def test_the_metallb_release_manifest_gets_both_images_pinned() -> None:
    try:
        path = Path(upstream.upstream_manifests()["metallb_manifest_src"])
    except upstream.ModuleUnavailable as exc:  # a module there without its manifest fails
        pytest.skip(f"the MetalLB module is not in the Go module cache: {exc}")
    objects = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    digests = {"quay.io/metallb/controller": DIGEST_A, "quay.io/metallb/speaker": DIGEST_B}
    pinned = images.pin_images(objects, digests)
    found = sorted(
        c["image"]
        for obj in pinned
        if obj["kind"] in ("Deployment", "DaemonSet")
        for c in obj["spec"]["template"]["spec"]["containers"]
    )
    version = role_defaults("metallb")["metallb_version"]  # the release the role installs
    assert found == [
        f"quay.io/metallb/controller:{version}@{DIGEST_A}",
        f"quay.io/metallb/speaker:{version}@{DIGEST_B}",
    ]
