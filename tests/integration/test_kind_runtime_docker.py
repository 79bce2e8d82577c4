"""The host adaptation for kind, for real: privileged docker containers through airs-runc.

Needs root and the docker daemon; installs the wrapper when the host's bounding set needs it
(as the kind scenario does) and leaves it installed. On a host with a full bounding set docker
is left untouched and only the plain privileged run is checked.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from embedded_cluster import kind_runtime
from embedded_cluster.imaging.base_image import ensure_base_image

pytestmark = [pytest.mark.integration]


def _cap_bnd(status: str) -> str:
    return next(line.split()[1] for line in status.splitlines() if line.startswith("CapBnd:"))


@pytest.fixture(scope="module")
def debian() -> str:
    return ensure_base_image("python")  # the project images' base: usually cached


def _docker(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *argv], capture_output=True, text=True, check=False)


def test_privileged_container_gets_every_host_capability(debian: str) -> None:
    kind_runtime.install()
    result = _docker("run", "--rm", "--privileged", debian, "cat", "/proc/self/status")
    assert result.returncode == 0, result.stderr
    host = int(_cap_bnd(Path("/proc/self/status").read_text()), 16)
    inside = int(_cap_bnd(result.stdout), 16)
    # everything docker asks for that the host has: only the missing bits are absent
    assert inside & host == inside
    assert inside >> 21 & 1, "CAP_SYS_ADMIN must be granted"
    mounts = _docker("run", "--rm", "--privileged", debian, "grep", "cgroup", "/proc/mounts")
    assert " rw," in mounts.stdout, mounts.stdout


def test_plain_runc_still_refuses_privileged_here(debian: str) -> None:
    if not kind_runtime.missing_capabilities():
        pytest.skip("full bounding set: plain runc runs privileged containers")
    result = _docker("run", "--rm", "--runtime", "runc", "--privileged", debian, "true")
    assert result.returncode != 0
    assert "unable to apply caps" in result.stderr


def test_privileged_exec_works(debian: str) -> None:
    kind_runtime.install()
    name = "airs-kind-runtime-test"
    _docker("rm", "-f", name)
    started = _docker("run", "-d", "--name", name, "--privileged", debian, "sleep", "60")
    assert started.returncode == 0, started.stderr
    try:
        result = _docker("exec", "--privileged", name, "true")
        assert result.returncode == 0, result.stderr
    finally:
        _docker("rm", "-f", name)


def test_unprivileged_containers_are_unchanged(debian: str) -> None:
    kind_runtime.install()
    result = _docker("run", "--rm", debian, "cat", "/proc/self/status")
    assert result.returncode == 0, result.stderr
    assert _cap_bnd(result.stdout) == "00000000a80425fb"  # docker's default set
