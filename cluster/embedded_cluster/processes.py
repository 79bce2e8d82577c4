"""Start, find and stop the cluster's host processes, each under its own supervisor.

A component runs as ``supervisor -> program`` in a process group of its own; its pid file
(``<run>/pids/<name>.pid``) holds the supervisor's pid, which is also the group id. Stopping
sends SIGTERM to the group, then SIGKILL after a grace period. A pid is only trusted while
``/proc/<pid>/cmdline`` still shows our supervisor for that component, so a reused pid is never
signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from embedded_cluster.errors import EmbeddedClusterError
from embedded_cluster.paths import RunPaths

SUPERVISOR_MODULE = "embedded_cluster.supervisor"


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_our_supervisor(pid: int, name: str) -> bool:
    cmd = _cmdline(pid)
    return SUPERVISOR_MODULE in cmd and name in cmd


def supervisor_pid(paths: RunPaths, name: str) -> int | None:
    """The live supervisor pid of a component, or None."""
    try:
        pid = int(paths.pid(name).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _is_our_supervisor(pid, name) else None


def is_running(paths: RunPaths, name: str) -> bool:
    return supervisor_pid(paths, name) is not None


def group_pids(pgid: int) -> list[int]:
    """Every live process in a process group (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def start(
    paths: RunPaths,
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` supervised as component ``name`` unless it already runs; return its pid."""
    existing = supervisor_pid(paths, name)
    if existing is not None:
        return existing
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.pids.mkdir(parents=True, exist_ok=True)
    log = paths.log(name)
    cmd = [sys.executable, "-m", SUPERVISOR_MODULE, name, str(log), "--", *argv]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "ab"),  # noqa: SIM115 - handed to the child, closed below
        start_new_session=True,
        env=dict(env) if env is not None else None,
        cwd=cwd,
    )
    if proc.stderr is not None:
        proc.stderr.close()
    paths.pid(name).write_text(f"{proc.pid}\n")
    # Until the child has exec'd, /proc shows the parent's command line: wait for ours.
    deadline = time.monotonic() + 10
    while not _is_our_supervisor(proc.pid, name):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise EmbeddedClusterError(f"{name}: supervisor did not start, see {log}")
        time.sleep(0.01)
    return proc.pid


def stop(paths: RunPaths, name: str, *, grace_s: float = 15.0) -> bool:
    """Stop a component and everything in its process group. True if something was running."""
    pid = supervisor_pid(paths, name)
    paths.pid(name).unlink(missing_ok=True)
    if pid is None:
        return False
    stop_pid_group(pid, name, grace_s=grace_s)
    return True


def stray_supervisors(paths: RunPaths) -> dict[int, str]:
    """Supervisors of this run directory still alive, found by command line: pid -> name.

    Catches processes whose pid file was lost, so ``down`` still stops them.
    """
    found: dict[int, str] = {}
    marker = str(paths.logs)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        cmd = _cmdline(int(entry.name))
        if SUPERVISOR_MODULE in cmd and len(cmd) > 3:
            index = cmd.index(SUPERVISOR_MODULE)
            if len(cmd) > index + 2 and cmd[index + 2].startswith(marker):
                found[int(entry.name)] = cmd[index + 1]
    return found


def stop_pid_group(pgid: int, name: str, *, grace_s: float = 15.0) -> None:
    """SIGTERM a process group, SIGKILL it after ``grace_s``, and wait until it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and group_pids(pgid):
        time.sleep(0.1)
    if group_pids(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and group_pids(pgid):
            time.sleep(0.1)
    if group_pids(pgid):
        raise EmbeddedClusterError(f"{name}: processes {group_pids(pgid)} survived SIGKILL")


def exits_noted(paths: RunPaths, name: str) -> int:
    """How many times the supervisor has seen the program exit (from the component's log)."""
    try:
        text = paths.log(name).read_text(errors="replace")
    except OSError:
        return 0
    return sum(
        1 for line in text.splitlines() if line.startswith("--- supervisor") and " exited " in line
    )


def log_tail(paths: RunPaths, name: str, lines: int = 20) -> str:
    """The last lines of a component's log, for error messages."""
    try:
        text = paths.log(name).read_text(errors="replace")
    except OSError:
        return "(no log yet)"
    return "\n".join(text.splitlines()[-lines:])
