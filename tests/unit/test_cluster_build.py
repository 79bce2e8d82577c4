"""The embedded cluster's version table agrees with the wrapper modules and the cache layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from embedded_cluster import build
from embedded_cluster.build import Target


@pytest.mark.parametrize("name", sorted(build.COMPONENTS))
def test_wrapper_module_pins_the_table_version(name: str) -> None:
    comp = build.COMPONENTS[name]
    go_mod = (comp.module_dir / "go.mod").read_text()
    pinned = re.search(rf"^\s*(?:require\s+)?{re.escape(comp.module)} (v\S+)", go_mod, re.M)
    assert pinned, f"{comp.module_dir}/go.mod does not require {comp.module}"
    assert pinned.group(1) == comp.version
    assert (comp.module_dir / "go.sum").exists()


def test_kubernetes_binaries_land_where_the_prebuilt_cache_is(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRS_MCP_CACHE", str(tmp_path))
    path = build.binary_path("kubernetes", "kube-apiserver")
    assert path == tmp_path / "bin" / "kubernetes-v1.34.4" / "kube-apiserver"
    assert build.binary_path("etcd", "etcd") == tmp_path / "bin" / "etcd-v3.6.16" / "etcd"


def test_kubernetes_version_is_stamped_into_the_binaries() -> None:
    flags = " ".join(build.COMPONENTS["kubernetes"].ldflags)
    for expected in (
        "-X k8s.io/component-base/version.gitVersion=v1.34.4",
        "-X k8s.io/component-base/version.gitMajor=1",
        "-X k8s.io/component-base/version.gitMinor=34",
        "-X k8s.io/client-go/pkg/version.gitVersion=v1.34.4",
    ):
        assert expected in flags


def test_unknown_component_or_binary_is_named_in_the_error() -> None:
    with pytest.raises(build.BuildError, match="unknown component 'nope'"):
        build.binary_path("nope", "x")
    with pytest.raises(build.BuildError, match="kubernetes has no binary 'etcd'"):
        build.ensure_binary("kubernetes", "etcd")


def test_estimates_prefer_times_recorded_on_this_machine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRS_MCP_CACHE", str(tmp_path))
    apiserver = Target("kubernetes", "kube-apiserver")
    reference = build.COMPONENTS["kubernetes"].reference_seconds["kube-apiserver"]
    assert build.expected_seconds(apiserver) == reference
    out = build.out_dir(apiserver)
    out.mkdir(parents=True)
    (out / "build-times.json").write_text('{"kube-apiserver": 123.4}\n')
    assert build.expected_seconds(apiserver) == 123.4
