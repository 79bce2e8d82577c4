"""``airs_deploy.progress`` on the output of a real ``ansible-playbook`` run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

PLAYBOOK = """
- name: Progress sample
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello
    - name: Change something
      ansible.builtin.copy:
        content: "{{{{ now() }}}}\\n"
        dest: "{tmp}/changed.txt"
        mode: "0600"
      diff: true
    - name: Fail but ignore it
      ansible.builtin.command: /bin/false
      changed_when: false
      ignore_errors: true
    - name: Rescued block
      block:
        - name: Fail inside a block
          ansible.builtin.command: /bin/false
          changed_when: false
      rescue:
        - name: Recover
          ansible.builtin.debug:
            msg: recovered
    - name: Wait a little
      ansible.builtin.pause:
        seconds: 3
    - name: Skipped step
      ansible.builtin.debug:
        msg: never
      when: false
    - name: Final step
      ansible.builtin.fail:
        msg: the step that breaks
      when: {fail}
"""


def _run(tmp_path: Path, *, fail: bool) -> tuple[int, str, str]:
    book = tmp_path / "book.yml"
    book.write_text(PLAYBOOK.format(tmp=tmp_path, fail=str(fail).lower()))
    log = tmp_path / "ansible.log"
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    ansible = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", str(book),
         "-e", f"ansible_python_interpreter={sys.executable}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
    )  # fmt: skip
    filtered = subprocess.run(
        [sys.executable, "-m", "airs_deploy.progress", "--log", str(log), "--heartbeat", "1"],
        stdin=ansible.stdout, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ansible.wait(timeout=60) == (2 if fail else 0)
    return filtered.returncode, filtered.stdout, log.read_text()


def test_a_good_run_prints_one_line_per_step_and_keeps_the_rest_in_the_log(
    tmp_path: Path,
) -> None:
    rc, shown, log = _run(tmp_path, fail=False)
    assert rc == 0, shown
    lines = shown.splitlines()
    assert "== Progress sample" in lines
    assert any(line.split()[:1] == ["ok"] and "Say hello" in line for line in lines), shown
    assert any(line.split()[:1] == ["changed"] and "Change something" in line for line in lines)
    assert any("Fail but ignore it" in line and line.split()[0] == "ok" for line in lines), shown
    assert not any("Skipped step" in line for line in lines)
    # The heartbeat shows a long step while it runs.
    assert any("Wait a little: still running" in line for line in lines), shown
    assert "PLAY RECAP" in lines
    assert lines[-1].startswith("done in")
    assert str(tmp_path / "ansible.log") in lines[-1]
    # Diffs and results stay in the log only.
    assert "+++ after" in log
    assert "+++ after" not in shown
    assert "msg: hello" in log
    assert "msg: hello" not in shown


def test_a_failure_names_the_step_and_the_log(tmp_path: Path) -> None:
    rc, shown, log = _run(tmp_path, fail=True)
    assert rc == 2
    lines = shown.splitlines()
    failure = lines[-1]
    assert failure.startswith("FAILED at:"), shown
    assert "Final step" in failure
    assert str(tmp_path / "ansible.log") in failure
    assert any("the step that breaks" in line for line in lines), shown
    assert "the step that breaks" in log
