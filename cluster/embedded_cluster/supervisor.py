"""A tiny process supervisor: runs one command, restarts it when it dies, stops it on SIGTERM.

Started detached by :mod:`embedded_cluster.processes` as
``python -m embedded_cluster.supervisor NAME LOG -- COMMAND...``. It leads its own process group,
so stopping the group stops the supervisor and its child together. Every start and exit is noted
in the component's log, so a crash loop shows up where the component's own output is.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from types import FrameType
from typing import TextIO

MAX_BACKOFF_S = 10.0
STOP_GRACE_S = 10.0


def _note(log: TextIO, name: str, message: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    log.write(f"--- supervisor {stamp} {name}: {message}\n")
    log.flush()


def supervise(name: str, log_path: str, command: list[str]) -> int:
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    backoff = 1.0
    with open(log_path, "a", buffering=1) as log:
        while not stopping:
            started = time.monotonic()
            _note(log, name, f"starting: {' '.join(command)}")
            child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            if stopping:  # the signal arrived while the child was being started
                child.send_signal(signal.SIGTERM)
            rc = child.wait()
            if stopping:
                break
            _note(log, name, f"exited with code {rc}; restarting in {backoff:.0f} s")
            if time.monotonic() - started > 60:
                backoff = 1.0
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
        if child is not None and child.poll() is None:
            try:
                child.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        _note(log, name, "stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 4 or args[2] != "--":
        print(
            "usage: python -m embedded_cluster.supervisor NAME LOG -- COMMAND...", file=sys.stderr
        )
        return 2
    return supervise(args[0], args[1], args[3:])


if __name__ == "__main__":
    raise SystemExit(main())
