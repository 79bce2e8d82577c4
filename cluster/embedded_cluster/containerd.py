"""The node's containerd (Debian's package), started by the project with its own config.

It never touches a containerd the host may run (docker's, or a system one): its socket and state
live in :data:`STATE_DIR`, and its content store and snapshots under
``$AIRS_MCP_CACHE/containerd`` so imported images survive ``down`` (a warm ``up`` imports
nothing). The CRI plugin uses the ``k8s.io`` namespace, cgroupfs (``SystemdCgroup = false``), the
sandbox image :data:`PAUSE_IMAGE` and the project's CNI directories; pod network
namespaces are mounted under the state directory, not in ``/run/netns``. Pod oom_score_adj
values are clamped at containerd's own (this host withholds ``CAP_SYS_RESOURCE``).

API::

    start(paths, cni: CniDirs) -> None      write config, start supervised, wait for the socket
    stop(paths) -> None                     stop it (tasks must be gone first, see node.py)
    ctr(*args, check=True) -> CompletedProcess   ``ctr`` against this containerd, ``k8s.io``
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from embedded_cluster import processes
from embedded_cluster.errors import EmbeddedClusterError
from embedded_cluster.paths import RunPaths, cache_root

NAME = "containerd"
STATE_DIR = Path("/run/airs-containerd")
SOCKET = STATE_DIR / "containerd.sock"
NAMESPACE = "k8s.io"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.1"


class ContainerdError(EmbeddedClusterError):
    """containerd did not start or a ctr command failed; the message names the log."""


@dataclass(frozen=True)
class CniDirs:
    bin_dir: Path
    conf_dir: Path


def root_dir() -> Path:
    """Content store and snapshots: kept across ``down`` as the image cache."""
    return cache_root() / "containerd"


def config_text(paths: RunPaths, cni: CniDirs) -> str:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""# Written by embedded_cluster.containerd; rewritten on every start.
version = 2
root = "{root_dir()}"
state = "{STATE_DIR}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{SOCKET}"

[ttrpc]
  address = "{STATE_DIR / "containerd.sock.ttrpc"}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{paths.root / "containerd-opt"}"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  netns_mounts_under_state_dir = true
  enable_selinux = false
  disable_apparmor = true
  # This host withholds CAP_SYS_RESOURCE: lowering an oom_score_adj fails with EPERM, which
  # runc reports as "can't get final child's PID from pipe". Clamp to containerd's own value.
  restrict_oom_score_adj = true
  max_container_log_line_size = 16384

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
  discard_unpacked_layers = false

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "{STATE_DIR / "runc"}"

[{cri}.cni]
  bin_dir = "{cni.bin_dir}"
  conf_dir = "{cni.conf_dir}"
  max_conf_num = 1
"""


def ctr(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    cmd = ["ctr", "--address", str(SOCKET), "--namespace", NAMESPACE, *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise ContainerdError(f"{' '.join(cmd)} failed: {result.stderr.strip()[-2000:]}")
    return result


def is_serving() -> bool:
    if not SOCKET.exists():
        return False
    return ctr("version", check=False, timeout=10).returncode == 0


def start(paths: RunPaths, cni: CniDirs, *, timeout_s: float = 60.0) -> None:
    """Write the config and start containerd (no-op when already running)."""
    if processes.is_running(paths, NAME) and is_serving():
        return
    config = paths.root / "containerd.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(config_text(paths, cni))
    root_dir().mkdir(parents=True, exist_ok=True)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    processes.start(paths, NAME, ["containerd", "--config", str(config), "--log-level", "warn"])
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if is_serving():
            return
        if not processes.is_running(paths, NAME):
            break
        time.sleep(0.2)
    raise ContainerdError(
        f"containerd did not serve {SOCKET} (log: {paths.log(NAME)}):\n"
        f"{processes.log_tail(paths, NAME)}"
    )


def stop(paths: RunPaths) -> bool:
    return processes.stop(paths, NAME)


# containerd 1.6 puts shim sockets (and ctr's fifos) under this fixed directory whatever its
# state directory is; ``remove_shared_run_dirs`` takes away what is left empty there.
SHARED_RUN_DIR = Path("/run/containerd")


def remove_shared_run_dirs() -> None:
    """rmdir the empty folders our shims leave in /run/containerd (never anything non-empty)."""
    for sub in ("s", "fifo", "runc/k8s.io", "runc", ""):
        with contextlib.suppress(OSError):
            (SHARED_RUN_DIR / sub).rmdir()


def shim_pids() -> list[int]:
    """Runtime shims started by this containerd (found by its socket on their command line)."""
    marker = str(SOCKET).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"containerd-shim" in cmdline.split(b"\0", 1)[0] and marker in cmdline:
            found.append(int(entry.name))
    return found
