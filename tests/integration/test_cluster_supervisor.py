"""The embedded cluster's process supervisor, with real processes: restart on crash, clean stop."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from embedded_cluster import controlplane, processes
from embedded_cluster.health import ComponentNotReady
from embedded_cluster.paths import RunPaths

pytestmark = pytest.mark.integration


def _child_of(pid: int) -> int | None:
    for p in processes.group_pids(pid):
        if p != pid:
            return p
    return None


def _wait(predicate, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_supervisor_restarts_a_crashed_program_and_stops_the_group(tmp_path: Path) -> None:
    paths = RunPaths(root=tmp_path / "run")
    pid = processes.start(paths, "sleeper", ["sleep", "300"])
    try:
        assert processes.is_running(paths, "sleeper")
        assert processes.start(paths, "sleeper", ["sleep", "300"]) == pid  # idempotent
        first = _wait(lambda: _child_of(pid))
        os.kill(first, signal.SIGKILL)
        second = _wait(lambda: (c := _child_of(pid)) and c != first and c)
        assert second != first
        log = paths.log("sleeper").read_text()
        assert "exited with code -9; restarting" in log
    finally:
        stopped = processes.stop(paths, "sleeper")
    assert stopped
    assert processes.group_pids(pid) == []
    assert not processes.is_running(paths, "sleeper")
    assert not processes.stop(paths, "sleeper")  # nothing left to stop


def test_stray_supervisors_are_found_without_pid_files(tmp_path: Path) -> None:
    paths = RunPaths(root=tmp_path / "run")
    pid = processes.start(paths, "orphan", ["sleep", "300"])
    paths.pid("orphan").unlink()
    try:
        assert processes.stray_supervisors(paths) == {pid: "orphan"}
    finally:
        processes.stop_pid_group(pid, "orphan")
    assert processes.stray_supervisors(paths) == {}


def test_a_crash_looping_component_fails_fast_naming_its_log(tmp_path: Path) -> None:
    paths = RunPaths(root=tmp_path / "run")
    processes.start(paths, "broken", ["sh", "-c", "echo 'flag provided but not defined'; exit 3"])
    started = time.monotonic()
    try:
        with pytest.raises(ComponentNotReady) as caught:
            # Port 9 on loopback: nothing answers there, so only the crash check can end this.
            controlplane._wait(paths, "broken", "http://127.0.0.1:9/healthz", None, 60)
    finally:
        processes.stop(paths, "broken")
    assert time.monotonic() - started < 30
    message = str(caught.value)
    assert "broken not healthy" in message
    assert str(paths.log("broken")) in message
    assert "flag provided but not defined" in message
