"""Cached Go builds of every cluster component, with the one version table of the project.

Each component has a wrapper Go module under ``cluster/gomod/<component>/`` whose go.mod/go.sum
pin the upstream release. Binaries land in ``$AIRS_MCP_CACHE/bin/<component>-<version>/<binary>``
and are built only when missing. Build durations are recorded beside them in
``build-times.json`` (``embedded-cluster build --times`` prints them).

The node engineer's components use the same hook: add an entry to :data:`COMPONENTS` and a
wrapper module, then call :func:`ensure_binary` / :func:`ensure_component`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from embedded_cluster.paths import GOMOD_ROOT, bin_dir

KUBERNETES_VERSION = "v1.34.4"


def _kubernetes_ldflags(version: str) -> tuple[str, ...]:
    major, minor = version.lstrip("v").split(".")[:2]
    values = {
        "k8s.io/component-base/version.gitVersion": version,
        "k8s.io/component-base/version.gitMajor": major,
        "k8s.io/component-base/version.gitMinor": minor,
        "k8s.io/component-base/version.gitTreeState": "clean",
        "k8s.io/client-go/pkg/version.gitVersion": version,
        "k8s.io/client-go/pkg/version.gitMajor": major,
        "k8s.io/client-go/pkg/version.gitMinor": minor,
    }
    return tuple(f"-X {name}={value}" for name, value in values.items())


@dataclass(frozen=True)
class Component:
    """One upstream project built from a wrapper module."""

    name: str
    version: str
    # The upstream Go module the wrapper's go.mod pins at ``version``.
    module: str
    # binary name -> Go package path (relative "." means the wrapper module's own main package)
    binaries: Mapping[str, str]
    gomod: str = ""
    ldflags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def module_dir(self) -> Path:
        return GOMOD_ROOT / (self.gomod or self.name)

    @property
    def out_dir(self) -> Path:
        return bin_dir(self.name, self.version)


_K8S_BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "kube-proxy",
    "kubeadm",
)

# The version table. Image tags that must match upstream manifests live with the images
# (images.py); these are the source versions the binaries are built from.
COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component(
            name="kubernetes",
            version=KUBERNETES_VERSION,
            module="k8s.io/kubernetes",
            binaries={b: f"k8s.io/kubernetes/cmd/{b}" for b in _K8S_BINARIES},
            ldflags=_kubernetes_ldflags(KUBERNETES_VERSION),
        ),
        Component(
            name="etcd",
            version="v3.6.16",
            module="go.etcd.io/etcd/server/v3",
            binaries={"etcd": "."},
        ),
        Component(
            name="cni-plugins",
            version="v1.9.0",
            module="github.com/containernetworking/plugins",
            binaries={
                b: f"github.com/containernetworking/plugins/plugins/{kind}/{b}"
                for kind, b in (
                    ("main", "bridge"),
                    ("main", "loopback"),
                    ("ipam", "host-local"),
                    ("meta", "firewall"),
                    ("meta", "portmap"),
                )
            },
        ),
        Component(
            name="coredns",
            version="v1.12.1",
            module="github.com/coredns/coredns",
            binaries={"coredns": "github.com/coredns/coredns"},
        ),
        Component(
            name="metrics-server",
            version="v0.8.0",
            module="sigs.k8s.io/metrics-server",
            binaries={"metrics-server": "sigs.k8s.io/metrics-server/cmd/metrics-server"},
        ),
        Component(
            name="metallb",
            version="v0.15.2",
            module="go.universe.tf/metallb",
            binaries={
                "controller": "go.universe.tf/metallb/controller",
                "speaker": "go.universe.tf/metallb/speaker",
            },
        ),
        Component(
            name="kind",
            version="v0.33.0",
            module="sigs.k8s.io/kind",
            binaries={"kind": "sigs.k8s.io/kind"},
        ),
    )
}


class BuildError(RuntimeError):
    """A component could not be built; the message names it and its build log."""


def go_binary() -> str:
    found = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(found).exists():
        raise BuildError("the Go toolchain (go) is not installed")
    return found


def component(name: str) -> Component:
    try:
        return COMPONENTS[name]
    except KeyError as exc:
        raise BuildError(f"unknown component {name!r}; known: {', '.join(COMPONENTS)}") from exc


def binary_path(component_name: str, binary: str) -> Path:
    """Where a binary lives in the cache (whether or not it is built yet)."""
    return component(component_name).out_dir / binary


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _record_time(comp: Component, binary: str, seconds: float) -> None:
    times_file = comp.out_dir / "build-times.json"
    times = json.loads(times_file.read_text()) if times_file.exists() else {}
    times[binary] = round(seconds, 1)
    times_file.write_text(json.dumps(times, indent=2, sort_keys=True) + "\n")


def build_times(component_name: str) -> dict[str, float]:
    """Recorded build durations (seconds) of a component's binaries, when it was built here."""
    times_file = component(component_name).out_dir / "build-times.json"
    return json.loads(times_file.read_text()) if times_file.exists() else {}


def _build_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false", "GOTOOLCHAIN": "local"})
    return env


def ensure_binary(component_name: str, binary: str, *, quiet: bool = False) -> Path:
    """Return the cached binary, building it first when missing."""
    comp = component(component_name)
    if binary not in comp.binaries:
        raise BuildError(f"{component_name} has no binary {binary!r}")
    target = comp.out_dir / binary
    if target.exists():
        return target
    if not (comp.module_dir / "go.mod").exists():
        raise BuildError(
            f"{component_name}: no wrapper module at {comp.module_dir}/go.mod to build {binary}"
        )
    with _locked(comp.out_dir):
        if target.exists():  # built by a concurrent caller while we waited
            return target
        log = comp.out_dir / f"{binary}.build.log"
        tmp = target.with_name(f"{binary}.tmp")
        ldflags = " ".join(("-s", "-w", *comp.ldflags))
        cmd = [go_binary(), "build", "-trimpath", "-ldflags", ldflags, "-o", str(tmp)]
        cmd.append(comp.binaries[binary])
        if not quiet:
            print(f"build: {component_name} {comp.version}: {binary} (log: {log})", file=sys.stderr)
        start = time.monotonic()
        with open(log, "w") as out:
            rc = subprocess.run(
                ["nice", "-n", "10", *cmd],
                cwd=comp.module_dir,
                env=_build_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            ).returncode
        elapsed = time.monotonic() - start
        if rc != 0:
            tmp.unlink(missing_ok=True)
            raise BuildError(f"{component_name}: building {binary} failed (rc={rc}), see {log}")
        tmp.rename(target)
        _record_time(comp, binary, elapsed)
        if not quiet:
            print(f"build: {binary} took {elapsed:.0f} s", file=sys.stderr)
    return target


def ensure_component(component_name: str, *, quiet: bool = False) -> dict[str, Path]:
    """Every binary of one component, built when missing."""
    comp = component(component_name)
    return {b: ensure_binary(component_name, b, quiet=quiet) for b in comp.binaries}


CONTROL_PLANE_BINARIES: tuple[tuple[str, str], ...] = (
    ("etcd", "etcd"),
    ("kubernetes", "kube-apiserver"),
    ("kubernetes", "kube-controller-manager"),
    ("kubernetes", "kube-scheduler"),
    ("kubernetes", "kubectl"),
)


def ensure_control_plane_binaries(*, quiet: bool = False) -> dict[str, Path]:
    """etcd, the three control-plane programs and kubectl, keyed by binary name."""
    return {b: ensure_binary(c, b, quiet=quiet) for c, b in CONTROL_PLANE_BINARIES}
