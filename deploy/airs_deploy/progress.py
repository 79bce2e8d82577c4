"""Compact progress for ``ansible-playbook`` output: the whole output goes to a log file.

``ansible-playbook ... 2>&1 | python -m airs_deploy.progress --log FILE``

On the terminal: one line per play and per finished task with its status and duration, a
heartbeat every ``--heartbeat`` seconds while a task runs (rollout waits), the PLAY RECAP, and on
failure the failing task's name, its error lines and the log's path. Object diffs and results
stay in the log. The exit status is ansible's, read from the recap (pipe with ``pipefail``).
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

_PLAY = re.compile(r"^PLAY \[(?P<name>.*)\] \*+$")
_TASK = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(?P<name>.*)\] \*+$")
_STATUS = re.compile(r"^(?P<status>ok|changed|skipping|fatal|failed|included|unreachable):")
_RECAP = re.compile(r"^PLAY RECAP \*+$")
_RECAP_FAILURES = re.compile(r"\b(?:failed|unreachable)=(?P<count>\d+)")
# Bookkeeping steps that pass in no time: shown only when they fail.
_QUIET_PREFIXES = ("Validating arguments against arg spec",)
_FAILED_STATUSES = {"fatal", "failed", "unreachable"}


@dataclass
class _Task:
    name: str
    started: float
    statuses: list[str] = field(default_factory=list)
    error_lines: list[str] = field(default_factory=list)

    def status(self) -> str:
        for wanted in ("fatal", "failed", "unreachable", "changed", "ok", "included", "skipping"):
            if wanted in self.statuses:
                return wanted
        return "done"


class Progress:
    """Turns ansible's default output, line by line, into compact progress."""

    def __init__(self, out: TextIO, log_path: Path, heartbeat_s: float) -> None:
        self.out = out
        self.log_path = log_path
        self.heartbeat_s = heartbeat_s
        self.task: _Task | None = None
        self.failed: list[_Task] = []
        self.in_recap = False
        self.recap_failures = 0
        self.start = time.monotonic()
        self.lock = threading.Lock()

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _finish_task(self) -> None:
        task, self.task = self.task, None
        if task is None or not task.statuses:
            return
        status = task.status()
        took = time.monotonic() - task.started
        if status in _FAILED_STATUSES:
            self.failed.append(task)
        quiet = task.name.split(" : ")[-1].startswith(_QUIET_PREFIXES)
        if status == "skipping" or (quiet and status not in _FAILED_STATUSES):
            return
        mark = {"changed": "changed", "ok": "ok", "included": "ok"}.get(status, status.upper())
        self._say(f"  {mark:<8} {task.name} ({took:.1f} s)")
        if status in _FAILED_STATUSES:
            for line in task.error_lines[:20]:
                self._say(f"           {line[:400]}")

    def feed(self, line: str) -> None:
        with self.lock:
            self._feed(line.rstrip("\n"))

    def _feed(self, line: str) -> None:
        if match := _PLAY.match(line):
            self._finish_task()
            self._say(f"== {match['name']}")
        elif match := _TASK.match(line):
            self._finish_task()
            self.task = _Task(match["name"], time.monotonic())
        elif _RECAP.match(line):
            self._finish_task()
            self.in_recap = True
            self._say("PLAY RECAP")
        elif self.in_recap:
            if line.strip():
                self._say(f"  {line.strip()}")
                self.recap_failures += sum(int(m["count"]) for m in _RECAP_FAILURES.finditer(line))
        elif self.task is not None and line.strip() == "...ignoring":
            # ignore_errors: the failure above it does not count.
            self.task.statuses = [s for s in self.task.statuses if s not in _FAILED_STATUSES]
            self.task.statuses.append("ok")
        elif self.task is not None and line.startswith("[ERROR]"):
            self.task.error_lines.append(line)
        elif self.task is not None and (match := _STATUS.match(line)):
            self.task.statuses.append(match["status"])
            if match["status"] in _FAILED_STATUSES:
                self.task.error_lines.append(line)
        elif self.task is not None and self.task.error_lines and line.strip():
            self.task.error_lines.append(line.strip())

    def heartbeat(self) -> None:
        with self.lock:
            task = self.task
            if task is None:
                return
            running = time.monotonic() - task.started
            if running >= self.heartbeat_s:
                self._say(f"  ...      {task.name}: still running after {running:.0f} s")

    def close(self) -> int:
        with self.lock:
            self._finish_task()
            elapsed = time.monotonic() - self.start
            if not self.in_recap:
                where = f" at: {self.failed[-1].name}" if self.failed else ""
                self._say(f"FAILED{where}: no PLAY RECAP. Full output: {self.log_path}")
                return 1
            if self.recap_failures:
                # A failure inside a block with a rescue is not the step that failed the run.
                names = "; ".join(task.name for task in self.failed) or "see the log"
                self._say(f"FAILED at: {names} ({elapsed:.0f} s). Full output: {self.log_path}")
                return 2
            self._say(f"done in {elapsed:.0f} s (full output with diffs: {self.log_path})")
            return 0


def run(lines: Iterable[str], out: TextIO, log_path: Path, heartbeat_s: float) -> int:
    progress = Progress(out, log_path, heartbeat_s)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(heartbeat_s):
            progress.heartbeat()

    ticker = threading.Thread(target=beat, daemon=True)
    ticker.start()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a") as log:
        for line in lines:
            log.write(line)
            log.flush()
            progress.feed(line)
    stop.set()
    return progress.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airs_deploy.progress")
    parser.add_argument("--log", type=Path, required=True, help="append the whole output here")
    parser.add_argument("--heartbeat", type=float, default=30.0, help="seconds between notes")
    args = parser.parse_args(argv)
    return run(sys.stdin, sys.stdout, args.log, args.heartbeat)


if __name__ == "__main__":
    sys.exit(main())
