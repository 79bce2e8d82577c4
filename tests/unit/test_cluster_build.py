"""The embedded cluster's component table agrees with the wrapper modules (and MetalLB's with
the metallb role) and the cache layout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from embedded_cluster import build
from embedded_cluster.build import Target

from tests.fixtures.ansible import role_defaults


@pytest.mark.parametrize("name", sorted(build.COMPONENTS))
def test_wrapper_module_pins_the_table_version(name: str) -> None:
    comp = build.COMPONENTS[name]
    go_mod = (comp.module_dir / "go.mod").read_text()
    pinned = re.search(rf"^\s*(?:require\s+)?{re.escape(comp.module)} (v\S+)", go_mod, re.M)
    assert pinned, f"{comp.module_dir}/go.mod does not require {comp.module}"
    assert pinned.group(1) == comp.version
    assert (comp.module_dir / "go.sum").exists()


def test_metallb_is_built_at_the_release_the_role_deploys() -> None:
    """The metallb role's default is MetalLB's one version; the wrapper module Go builds from
    must require that release (Go cannot read the role's defaults)."""
    comp = build.COMPONENTS["metallb"]
    go_mod = (comp.module_dir / "go.mod").read_text()
    role = role_defaults("metallb")["metallb_version"]
    assert comp.version == role
    assert re.search(rf"^\s*{re.escape(comp.module)} {re.escape(role)}\b", go_mod, re.M), (
        f"{comp.module_dir}/go.mod does not require {comp.module} {role} (metallb_version)"
    )


def test_kubernetes_binaries_land_where_the_prebuilt_cache_is(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRS_MCP_CACHE", str(tmp_path))
    path = build.binary_path("kubernetes", "kube-apiserver")
    kubernetes, etcd = build.KUBERNETES_VERSION, build.component("etcd").version
    assert path == tmp_path / "bin" / f"kubernetes-{kubernetes}" / "kube-apiserver"
    assert build.binary_path("etcd", "etcd") == tmp_path / "bin" / f"etcd-{etcd}" / "etcd"


def test_kubernetes_version_is_stamped_into_the_binaries() -> None:
    flags = " ".join(build.COMPONENTS["kubernetes"].ldflags)
    version = build.COMPONENTS["kubernetes"].version
    release = re.fullmatch(r"v(\d+)\.(\d+)\.\d+", version)
    assert release, version
    major, minor = release.groups()
    for expected in (
        f"-X k8s.io/component-base/version.gitVersion={version}",
        f"-X k8s.io/component-base/version.gitMajor={major}",
        f"-X k8s.io/component-base/version.gitMinor={minor}",
        f"-X k8s.io/client-go/pkg/version.gitVersion={version}",
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
