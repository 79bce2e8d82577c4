"""Host adaptation for kind: an OCI runtime wrapper that lets ``docker run --privileged`` work on
a host whose capability bounding set lacks some capabilities (here ``CAP_SYS_RESOURCE``).

Why: kind starts every node with ``--privileged``; docker then asks runc for *every* capability
the kernel knows, and runc fails with "unable to apply caps" when one of them is outside the
bounding set. The wrapper removes exactly the missing capabilities from the bundle's
``config.json`` (``create``/``run``) or the process file (``exec --process``), then execs the
real runc with the same arguments. It changes nothing for a container that does not ask for a
missing capability, so other users of the docker daemon are unaffected.

Install registers it in ``/etc/docker/daemon.json`` as runtime ``airs-runc`` and as the default
runtime (kind passes no ``--runtime``), and reloads dockerd with SIGHUP (no restart). The
``daemon.json`` found first is kept (``docker_daemon_config``: bytes and mode, in a private
directory beside it) and ``remove`` (run by ``make down`` and at the end of a test session that
installed it) puts it back atomically. On a host whose bounding set is complete, ``install``
does nothing: docker stays untouched.

CLI::

    python -m embedded_cluster.kind_runtime status|install|remove
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from embedded_cluster import private_files
from embedded_cluster.docker_daemon_config import DAEMON_JSON, DaemonConfig
from embedded_cluster.errors import EmbeddedClusterError

RUNTIME_NAME = "airs-runc"
WRAPPER = Path("/usr/local/lib/airs-mcp-k8s/airs-runc")
WRAPPER_SCRATCH = WRAPPER.parent / ".tmp"  # private: where the next wrapper is written
DOCKERD_PID = Path("/run/docker.pid")

# Capability names by bit number (linux/capability.h); bits beyond the table are left alone.
CAPABILITIES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
]


class RuntimeSetupError(EmbeddedClusterError):
    """The wrapper could not be installed or removed; the message says which step."""


def missing_capabilities(status: str | None = None, last_cap: int | None = None) -> list[str]:
    """``CAP_*`` names the kernel knows but this process's bounding set lacks."""
    status = status if status is not None else Path("/proc/self/status").read_text()
    if last_cap is None:
        last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    bounding = next(
        int(line.split()[1], 16) for line in status.splitlines() if line.startswith("CapBnd:")
    )
    limit = min(last_cap, len(CAPABILITIES) - 1)
    return [f"CAP_{CAPABILITIES[bit]}" for bit in range(limit + 1) if not bounding >> bit & 1]


def wrapper_script(real_runc: str) -> str:
    """The wrapper program: Python without site (fast start), falls back to plain runc on any
    error so a bug here can never stop a container that did not need it."""
    return f"""#!/usr/bin/python3 -IS
# Installed by airs-mcp-k8s (embedded_cluster.kind_runtime): drops capabilities missing from
# the host's bounding set, then runs {real_runc}. Remove with:
#   python -m embedded_cluster.kind_runtime remove
import json, os, sys

RUNC = {real_runc!r}
NAMES = {CAPABILITIES!r}


def missing():
    with open("/proc/self/status") as f:
        bnd = next(int(l.split()[1], 16) for l in f if l.startswith("CapBnd:"))
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = min(int(f.read()), len(NAMES) - 1)
    return {{"CAP_" + NAMES[b] for b in range(last + 1) if not bnd >> b & 1}}


def strip(path, key):
    with open(path) as f:
        doc = json.load(f)
    process = doc.get("process", doc) if key == "bundle" else doc
    caps = process.get("capabilities") or {{}}
    gone = missing()
    changed = False
    for kind, names in caps.items():
        kept = [n for n in names or [] if n not in gone]
        if kept != (names or []):
            caps[kind] = kept
            changed = True
    if changed:
        # a new file only (a file or symlink already at tmp is refused, not written through)
        tmp = path + ".airs-runc"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, path)


def main(argv):
    try:
        if "create" in argv or "run" in argv:
            bundle = "."
            for i, a in enumerate(argv):
                if a in ("--bundle", "-b") and i + 1 < len(argv):
                    bundle = argv[i + 1]
                elif a.startswith("--bundle="):
                    bundle = a.split("=", 1)[1]
            strip(os.path.join(bundle, "config.json"), "bundle")
        elif "exec" in argv:
            for i, a in enumerate(argv):
                if a in ("--process", "-p") and i + 1 < len(argv):
                    strip(argv[i + 1], "process")
                elif a.startswith("--process="):
                    strip(a.split("=", 1)[1], "process")
    except Exception as exc:  # never block a container because of this wrapper
        sys.stderr.write("airs-runc: left the spec unchanged: %r\\n" % (exc,))
    os.execv(RUNC, [RUNC, *argv])


main(sys.argv[1:])
"""


def real_runc() -> str:
    found = shutil.which("runc")
    if found is None:
        raise RuntimeSetupError("runc is not installed")
    return str(Path(found).resolve())


def installed(daemon_json: Path = DAEMON_JSON) -> bool:
    runtimes = DaemonConfig(daemon_json).read().get("runtimes")
    return isinstance(runtimes, dict) and RUNTIME_NAME in runtimes and WRAPPER.is_file()


def register(config: DaemonConfig, wrapper: Path = WRAPPER) -> bool:
    """Make the wrapper docker's default runtime in ``config`` (its original saved once);
    False when it already was."""
    current = config.read()
    runtimes = dict(current.get("runtimes") or {})  # type: ignore[call-overload]
    runtimes[RUNTIME_NAME] = {"path": str(wrapper)}
    wanted = {**current, "runtimes": runtimes, "default-runtime": RUNTIME_NAME}
    if wanted == current and config.saved():
        return False
    config.write(wanted)
    return True


def docker_default_runtime() -> str:
    result = subprocess.run(
        ["docker", "info", "--format", "{{.DefaultRuntime}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeSetupError(f"docker info failed: {result.stderr.strip()}")
    return result.stdout.strip()


def _reload_dockerd(expect_default: str) -> None:
    """SIGHUP makes dockerd re-read daemon.json (runtimes and default-runtime are reloadable)."""
    try:
        pid = int(DOCKERD_PID.read_text().strip())
    except (OSError, ValueError) as exc:
        raise RuntimeSetupError(f"cannot find dockerd's pid in {DOCKERD_PID}: {exc}") from exc
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if docker_default_runtime() == expect_default:
            return
        time.sleep(0.3)
    raise RuntimeSetupError(
        f"dockerd did not switch its default runtime to {expect_default!r} after SIGHUP "
        f"(see its log; daemon.json: {DAEMON_JSON})"
    )


def _install_wrapper(script: str) -> None:
    WRAPPER.parent.mkdir(parents=True, exist_ok=True)
    if WRAPPER.is_file() and WRAPPER.read_text() == script:
        return
    with private_files.private_dir(WRAPPER_SCRATCH) as scratch:
        private_files.replace(scratch, WRAPPER, script.encode(), 0o755)


def install(daemon_json: Path = DAEMON_JSON) -> str:
    """Install and activate the wrapper when the bounding set needs it; say what was done."""
    gone = missing_capabilities()
    if not gone:
        return "bounding set complete: docker left unchanged"
    _install_wrapper(wrapper_script(real_runc()))
    register(DaemonConfig(daemon_json))
    if docker_default_runtime() != RUNTIME_NAME:
        _reload_dockerd(RUNTIME_NAME)
    return f"{RUNTIME_NAME} is docker's default runtime (drops {', '.join(gone)})"


def containers_on_wrapper() -> list[str]:
    """Containers created with the wrapper as runtime: they could no longer start or exec
    without it. None when docker does not answer (then nothing runs on it either)."""
    try:
        listed = subprocess.run(
            ["docker", "ps", "-aq"], capture_output=True, text=True, check=False, timeout=30
        )
        ids = listed.stdout.split() if listed.returncode == 0 else []
        if not ids:
            return []
        inspected = subprocess.run(
            ["docker", "inspect", "--format", "{{.Name}} {{.HostConfig.Runtime}}", *ids],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    lines = (line.rsplit(" ", 1) for line in inspected.stdout.splitlines() if " " in line)
    return [name.lstrip("/") for name, runtime in lines if runtime == RUNTIME_NAME]


def remove(daemon_json: Path = DAEMON_JSON) -> str:
    """Restore the daemon.json found before install, reload dockerd, delete the wrapper;
    kept while containers (a kind cluster's nodes) still run on the wrapper."""
    config = DaemonConfig(daemon_json)
    if not config.saved():
        return "not installed: nothing to remove"
    users = containers_on_wrapper()
    if users:
        names = ", ".join(users)
        return f"kept {RUNTIME_NAME}: containers still use it ({names}); delete them first"
    config.restore()
    previous_default = str(config.read().get("default-runtime", "runc"))
    if DOCKERD_PID.exists():  # a stopped dockerd reads the restored file when it starts
        _reload_dockerd(previous_default)
    WRAPPER.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        WRAPPER_SCRATCH.rmdir()
    return f"removed {RUNTIME_NAME}; docker's default runtime is {previous_default} again"


def status() -> str:
    gone = missing_capabilities()
    return json.dumps(
        {
            "missing_capabilities": gone,
            "needed": bool(gone),
            "installed": installed(),
            "original_saved": DaemonConfig().saved(),
            "default_runtime": docker_default_runtime(),
            "wrapper": str(WRAPPER),
        },
        indent=2,
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    actions = {"status": status, "install": install, "remove": remove}
    if len(args) != 1 or args[0] not in actions:
        print("usage: python -m embedded_cluster.kind_runtime status|install|remove")
        return 2
    try:
        print(actions[args[0]]())
    except EmbeddedClusterError as exc:  # also a refused daemon.json or private directory
        print(f"kind_runtime: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
