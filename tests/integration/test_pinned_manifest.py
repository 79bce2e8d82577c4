"""The ``airs.mcp_k8s.pinned_manifest`` lookup and the roles that read upstream files through it:
a file is used only when its SHA-256 is the pinned one, from a local path or over HTTP (a real
loopback server), and a role given a changed file stops before touching any cluster."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: pinned-example\n---\n"


def _play(
    tmp_path: Path, tasks: list[dict], extra_vars: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    )
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        # an unreachable cluster: nothing in these plays may talk to one
        "KUBECONFIG": str(tmp_path / "no-such-kubeconfig"),
    }
    return subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            str(playbook),
            "-e",
            json.dumps({"ansible_python_interpreter": sys.executable, **extra_vars}),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _read_with_lookup(tmp_path: Path, src: str, sha256: str) -> subprocess.CompletedProcess[str]:
    out = tmp_path / "read.txt"
    lookup = "lookup('airs.mcp_k8s.pinned_manifest', src, sha256=pin, variable='example_sha256')"
    tasks = [{"ansible.builtin.copy": {"content": "{{ " + lookup + " }}", "dest": str(out)}}]
    return _play(tmp_path, tasks, {"src": src, "pin": sha256})


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "served" / "manifest.yaml"
    path.parent.mkdir()
    path.write_text(MANIFEST)
    return path


@pytest.fixture
def served(manifest: Path) -> Iterator[str]:
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(manifest.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{manifest.name}"
    finally:
        server.shutdown()
        server.server_close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("where", ["local", "url"])
def test_the_pinned_file_is_read_byte_for_byte(
    tmp_path: Path, manifest: Path, served: str, where: str
) -> None:
    src = str(manifest) if where == "local" else served
    run = _read_with_lookup(tmp_path, src, _sha256(manifest))
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "read.txt").read_bytes() == manifest.read_bytes()


@pytest.mark.parametrize("where", ["local", "url"])
def test_a_changed_file_is_refused_naming_the_pin(
    tmp_path: Path, manifest: Path, served: str, where: str
) -> None:
    pin = _sha256(manifest)
    manifest.write_text(MANIFEST.replace("pinned-example", "pinned-exampl3"))  # one byte
    src = str(manifest) if where == "local" else served
    run = _read_with_lookup(tmp_path, src, pin)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert f"has sha256 {_sha256(manifest)}, but example_sha256 pins {pin}" in output
    assert not (tmp_path / "read.txt").exists()


def test_a_malformed_pin_is_refused(tmp_path: Path, manifest: Path) -> None:
    run = _read_with_lookup(tmp_path, str(manifest), "not-a-digest")
    assert run.returncode != 0
    assert "example_sha256 must be 64 hexadecimal digits" in run.stdout + run.stderr


@pytest.mark.parametrize(
    ("role", "tasks_from", "src_var"),
    [("metallb", "install", "metallb_manifest_src"), ("traefik", "crds", "traefik_crds_src")],
)
def test_a_role_refuses_a_changed_upstream_file_before_the_cluster(
    tmp_path: Path, manifest: Path, role: str, tasks_from: str, src_var: str
) -> None:
    """The roles' default pins against a file that is not the release's: the play stops at the
    read, and the unreachable KUBECONFIG shows nothing was sent to a cluster first."""
    tasks = [{
        "ansible.builtin.include_role": {"name": f"airs.mcp_k8s.{role}", "tasks_from": tasks_from},
    }]  # fmt: skip
    run = _play(tmp_path, tasks, {src_var: str(manifest)})
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    pin_var = {"metallb": "metallb_manifest_sha256", "traefik": "traefik_crds_sha256"}[role]
    assert f"{manifest} has sha256 {_sha256(manifest)}, but {pin_var} pins" in output
    assert "no-such-kubeconfig" not in output
