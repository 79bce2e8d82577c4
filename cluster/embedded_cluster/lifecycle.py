"""``up``, ``down`` and ``status`` of the whole embedded cluster.

Full mode is control plane, then the node (``embedded_cluster.node``) and the addons
(``embedded_cluster.addons``); control-plane mode is the control plane alone. The node module
is called through this small interface::

    node.up(paths: RunPaths, config: ClusterConfig, kubeconfigs: dict[str, Path]) -> None
    node.down(paths: RunPaths) -> None
    node.status(paths: RunPaths) -> dict[str, bool]
    node.log_files(paths: RunPaths) -> dict[str, Path]
    node.release(admin: Path, config: ClusterConfig) -> None  # control-plane mode, see there
    node.prebuild_targets() -> list[build.Target]  # binaries the node and its images need
    addons.up(paths: RunPaths, config: ClusterConfig, kubeconfigs: dict[str, Path]) -> None
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from embedded_cluster import addons, build, buildplan, controlplane, network, node, pki, processes
from embedded_cluster.errors import EmbeddedClusterError
from embedded_cluster.hostfs import file_lock, mounts_under
from embedded_cluster.jobs import Job
from embedded_cluster.paths import RunPaths, run_paths
from embedded_cluster.state import (
    ClusterConfig,
    ClusterStateError,
    load_config,
    new_config,
    save_config,
)


@dataclass
class UpResult:
    kubeconfig: Path
    already_up: bool
    mode: str
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)


def _mode_file(paths: RunPaths) -> Path:
    return paths.root / "mode"


def current_mode(paths: RunPaths) -> str | None:
    try:
        return _mode_file(paths).read_text().strip() or None
    except OSError:
        return None


def prebuild_targets(*, control_plane_only: bool = False) -> list[build.Target]:
    """Every binary ``up`` needs (the deploy path), in build order; nothing only tests use."""
    targets = [build.Target(c, b) for c, b in build.CONTROL_PLANE_BINARIES]
    if not control_plane_only:
        targets += node.prebuild_targets()
    return list(dict.fromkeys(targets))


def prebuild(
    *, control_plane_only: bool = False, jobs: int | None = None, extra: Sequence[Job] = ()
) -> None:
    """Build (or find cached) everything ``up`` needs, without starting anything, with ``jobs``
    parallel compiles; ``extra`` jobs (docker images, manifests) overlap them.

    Run before the tests so cold builds do not count against a test's timeout.
    """
    buildplan.build_targets(
        prebuild_targets(control_plane_only=control_plane_only), jobs=jobs, extra=extra
    )


def is_up(paths: RunPaths) -> bool:
    """Every component of the recorded mode is running."""
    mode = current_mode(paths)
    if mode is None:
        return False
    if not all(controlplane.status(paths).values()):
        return False
    return mode != "full" or all(node.status(paths).values())


@contextmanager
def exclusive(paths: RunPaths) -> Iterator[None]:
    """One ``up``/``down`` at a time per run directory (the lock file lives beside it).

    Holding it keeps other sessions' ``up``/``down`` out; inside it call :func:`down_unlocked`
    (``down`` itself would wait for the lock held here).
    """
    with file_lock(paths.root.parent / f".{paths.root.name}.lock"):
        yield


def up(*, control_plane_only: bool = False, paths: RunPaths | None = None) -> UpResult:
    """Bring the cluster up (idempotent) and return where its admin kubeconfig is.

    Concurrent callers (two test sessions, a shell) wait for each other.
    """
    paths = paths or run_paths()
    with exclusive(paths):
        return _up(control_plane_only, paths)


@contextmanager
def _phase(phases: dict[str, float], name: str, *, failure: str | None = None) -> Iterator[None]:
    """Time the block into ``phases[name]``. With ``failure``, an error in the block becomes a
    ``EmbeddedClusterError`` saying "<failure> failed: ..."."""
    t = time.monotonic()
    try:
        yield
    except Exception as exc:
        if failure is None:
            raise
        raise EmbeddedClusterError(f"{failure} failed: {exc}") from exc
    phases[name] = time.monotonic() - t


def _up(control_plane_only: bool, paths: RunPaths) -> UpResult:
    started = time.monotonic()
    want = "control-plane" if control_plane_only else "full"
    if is_up(paths) and (current_mode(paths) == want or want == "control-plane"):
        mode = current_mode(paths) or want
        return UpResult(paths.admin_kubeconfig, True, mode, time.monotonic() - started)

    phases: dict[str, float] = {}
    with _phase(phases, "build"):
        # Everything missing in one parallel plan (a no-op after `embedded-cluster build`).
        prebuild(control_plane_only=want == "control-plane")
        binaries = build.ensure_control_plane_binaries()

    with _phase(phases, "pki"):
        config = _settle_config(paths)
        certs = pki.ensure_pki(paths, config)
        kubeconfigs = pki.ensure_kubeconfigs(paths, config, certs)

    _mode_file(paths).write_text(want + "\n")
    with _phase(phases, "network", failure="node address"):
        _ensure_node_address(config)
    with _phase(phases, "control-plane", failure="control plane"):
        waited = controlplane.start(paths, config, certs, kubeconfigs, binaries)
    phases.update({f"  wait {k}": v for k, v in waited.items()})

    if want == "full":
        _full_mode(paths, config, kubeconfigs, phases)
    else:
        # State kept from an earlier full run (a stopped cluster, a restarted machine) binds
        # pods to a node that will not run here.
        with _phase(phases, "release node", failure="releasing the stopped node"):
            node.release(kubeconfigs["admin"], config)
    return UpResult(paths.admin_kubeconfig, False, want, time.monotonic() - started, phases)


def _ensure_node_address(config: ClusterConfig) -> None:
    """The apiserver binds the node address only, so it must exist before the control plane
    starts, in either mode: the project's bridge carries it (``down`` removes the bridge).
    An address forced with ``AIRS_CLUSTER_NODE_IP`` is the user's to provide."""
    if config.node_ip == str(network.NODE_ADDRESS):
        network.setup()


def _settle_config(paths: RunPaths) -> ClusterConfig:
    """The saved config while components run; else a fresh one (stale PKI is then dropped)."""
    fresh = new_config()
    try:
        saved = load_config(paths)
    except ClusterStateError:
        saved = None
    if saved is not None and (saved == fresh or any(controlplane.status(paths).values())):
        return saved
    if saved is not None:  # addresses changed while nothing ran: certificates must follow
        shutil.rmtree(paths.pki, ignore_errors=True)
        shutil.rmtree(paths.kubeconfigs, ignore_errors=True)
    save_config(paths, fresh)
    return fresh


def _full_mode(
    paths: RunPaths, config: ClusterConfig, kubeconfigs: dict[str, Path], phases: dict[str, float]
) -> None:
    with _phase(phases, "node", failure="node"):
        node.up(paths, config, kubeconfigs)
    with _phase(phases, "addons", failure="addons"):
        addons.up(paths, config, kubeconfigs)


def down(*, paths: RunPaths | None = None) -> list[str]:
    """Stop everything, remove the run directory; return what was stopped."""
    paths = paths or run_paths()
    with exclusive(paths):
        return _down(paths)


def down_unlocked(paths: RunPaths) -> list[str]:
    """:func:`down` for a caller that already holds :func:`exclusive`."""
    return _down(paths)


# Names used before these became public.
_exclusive = exclusive


def _down(paths: RunPaths) -> list[str]:
    node.down(paths)
    stopped = ["node", *controlplane.stop(paths)]
    for pid, name in processes.stray_supervisors(paths).items():
        processes.stop_pid_group(pid, name)
        stopped.append(name)
    if paths.root.exists():
        mounts = mounts_under([paths.root])
        if mounts:
            raise EmbeddedClusterError(
                f"not removing {paths.root}: still mounted: {', '.join(mounts[:5])}"
            )
        shutil.rmtree(paths.root)
    return stopped


def status(paths: RunPaths | None = None) -> dict[str, bool]:
    paths = paths or run_paths()
    result = controlplane.status(paths)
    if current_mode(paths) == "full":
        result.update(node.status(paths))
    return result


def log_files(paths: RunPaths | None = None) -> dict[str, Path]:
    paths = paths or run_paths()
    logs = {name: paths.log(name) for name in controlplane.COMPONENTS}
    logs.update(node.log_files(paths))
    return logs


def ensure_config(paths: RunPaths) -> ClusterConfig:
    """The saved config of a cluster that is up (for other modules and tests)."""
    return load_config(paths)
