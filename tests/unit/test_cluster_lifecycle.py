"""What `embedded-cluster build` (and a cold `up`) builds for the deploy path."""

from __future__ import annotations

from embedded_cluster import build, images, lifecycle


def test_deploy_path_builds_no_test_only_or_unused_binaries() -> None:
    binaries = {t.binary for t in lifecycle.prebuild_targets()}
    assert {"probe", "kubeadm", "kind"}.isdisjoint(binaries)
    assert {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubectl",
        "kubelet",
        "kube-proxy",
        "bridge",
        "pause",
        "coredns",
        "metrics-server",
        "controller",
        "speaker",
    } <= binaries


def test_control_plane_only_builds_the_control_plane() -> None:
    binaries = {t.binary for t in lifecycle.prebuild_targets(control_plane_only=True)}
    assert binaries == {b for _, b in build.CONTROL_PLANE_BINARIES}


def test_up_imports_no_test_helper_image() -> None:
    refs = {spec.ref for spec in images.specs()}
    assert images.probe_image() not in refs
    assert [spec.ref for spec in images.helper_specs()] == [images.probe_image()]


def test_every_deploy_binary_has_a_reference_time() -> None:
    for target in lifecycle.prebuild_targets():
        if target.component == build.GOTOOLS:
            assert target.binary in build.GOTOOLS_REFERENCE_SECONDS
        else:
            assert target.binary in build.component(target.component).reference_seconds
