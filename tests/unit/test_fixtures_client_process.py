"""The driver of the e2e client scripts: a chatty child never blocks, a silent one fails fast."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from harness.client_process import ClientProcess

# What the mcp SDK does when streams drop: far more stderr than a pipe holds, then the answer.
CHATTY = (
    "import sys\n"
    "for _ in range(2000):\n"
    "    sys.stderr.write('Traceback (most recent call last): ' + 'x' * 200 + '\\n')\n"
    "sys.stderr.flush()\n"
    "print('{\"ready\": 1}', flush=True)\n"
    "line = sys.stdin.readline()\n"
    'print(\'{"echo": "%s"}\' % line.strip(), flush=True)\n'
)


def test_a_child_writing_more_stderr_than_a_pipe_holds_still_answers(tmp_path: Path) -> None:
    client = ClientProcess([sys.executable, "-c", CHATTY], tmp_path / "child.stderr")
    try:
        assert client.read_json(20, "ready line") == {"ready": 1}
        client.send("stop")
        assert client.read_json(20, "echo") == {"echo": "stop"}
        assert client.wait(20) == 0
    finally:
        client.kill()
    assert (tmp_path / "child.stderr").stat().st_size > 400_000


def test_a_silent_child_fails_the_read_with_its_stderr(tmp_path: Path) -> None:
    silent = "import sys, time\nsys.stderr.write('stuck connecting\\n')\ntime.sleep(60)\n"
    client = ClientProcess([sys.executable, "-c", silent], tmp_path / "child.stderr")
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"no summary .* within 2 s(.|\n)*stuck connecting"):
        client.read_json(2, "summary")
    assert time.monotonic() - started < 20
    assert client.proc.poll() is not None  # killed, not left behind


def test_a_child_that_exits_early_fails_the_read_with_its_exit_code(tmp_path: Path) -> None:
    gone = "import sys\nsys.stderr.write('no token\\n')\nsys.exit(3)\n"
    client = ClientProcess([sys.executable, "-c", gone], tmp_path / "child.stderr")
    with pytest.raises(AssertionError, match=r"exited \(3\) before its ready line(.|\n)*no token"):
        client.read_json(20, "ready line")
