"""daemon.json saved, changed for airs-runc and restored, on a real file system (a temporary
directory standing in for /etc/docker; no docker needed)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from embedded_cluster.docker_daemon_config import (
    LEGACY_NO_ORIGINAL,
    LEGACY_SUFFIX,
    STATE_DIR,
    DaemonConfig,
)
from embedded_cluster.kind_runtime import RUNTIME_NAME, register
from embedded_cluster.private_files import PrivateFileError

# Not what json.dumps would write: a restore that re-serialises would show.
ORIGINAL = b'{"log-level":  "warn",\n "runtimes": {"crun": {"path": "/usr/bin/crun"}}}\n'
WRAPPER = Path("/opt/airs-runc")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def config(tmp_path: Path) -> DaemonConfig:
    etc_docker = tmp_path / "etc-docker"
    etc_docker.mkdir()
    return DaemonConfig(etc_docker / "daemon.json")


def test_restore_gives_back_the_exact_original_bytes_and_mode(config: DaemonConfig) -> None:
    config.path.write_bytes(ORIGINAL)
    config.path.chmod(0o640)
    assert register(config, WRAPPER)
    changed = json.loads(config.path.read_bytes())
    assert changed["default-runtime"] == RUNTIME_NAME
    assert set(changed["runtimes"]) == {"crun", RUNTIME_NAME}  # the original's runtimes kept
    assert _mode(config.state_dir) == 0o700
    # changed again: the original is saved once, never replaced by our own file
    assert register(config, Path("/opt/elsewhere/airs-runc"))
    assert not register(config, Path("/opt/elsewhere/airs-runc"))  # nothing to change
    assert config.restore()
    assert config.path.read_bytes() == ORIGINAL
    assert _mode(config.path) == 0o640
    assert not config.state_dir.exists()
    assert not config.restore()  # nothing saved any more: nothing to do


def test_restore_removes_ours_when_there_was_none(config: DaemonConfig) -> None:
    assert register(config, WRAPPER)
    assert config.path.is_file()
    assert register(config, Path("/opt/elsewhere/airs-runc"))
    assert config.restore()
    assert not config.path.exists()
    assert sorted(os.listdir(config.path.parent)) == []


@pytest.mark.parametrize("name", ["daemon.json.tmp", "daemon.json.original.tmp"])
def test_symlink_planted_at_a_temporary_path_is_refused(
    config: DaemonConfig, tmp_path: Path, name: str
) -> None:
    config.path.write_bytes(ORIGINAL)
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    config.state_dir.mkdir(mode=0o700)
    (config.state_dir / name).symlink_to(victim)
    with pytest.raises(PrivateFileError, match="refusing to write"):
        register(config, WRAPPER)
    assert victim.read_bytes() == b"untouched"
    assert config.path.read_bytes() == ORIGINAL


def test_symlink_restore_temporary_is_refused_and_the_original_kept(
    config: DaemonConfig, tmp_path: Path
) -> None:
    config.path.write_bytes(ORIGINAL)
    register(config, WRAPPER)
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    (config.state_dir / "daemon.json.tmp").symlink_to(victim)
    with pytest.raises(PrivateFileError, match="refusing to write"):
        config.restore()
    assert victim.read_bytes() == b"untouched"
    (config.state_dir / "daemon.json.tmp").unlink()  # what the message asks for
    assert config.restore()
    assert config.path.read_bytes() == ORIGINAL


def test_private_directory_that_is_a_symlink_or_open_is_refused(
    config: DaemonConfig, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    config.state_dir.symlink_to(elsewhere)
    with pytest.raises(PrivateFileError, match="not a private directory"):
        register(config, WRAPPER)
    assert list(elsewhere.iterdir()) == []
    config.state_dir.unlink()
    config.state_dir.mkdir()
    config.state_dir.chmod(0o755)
    with pytest.raises(PrivateFileError, match="mode 0700"):
        register(config, WRAPPER)
    assert not config.path.exists()


@pytest.mark.parametrize(("legacy", "expected"), [(ORIGINAL, ORIGINAL), (LEGACY_NO_ORIGINAL, None)])
def test_backup_of_an_earlier_version_is_restored(
    config: DaemonConfig, legacy: bytes, expected: bytes | None
) -> None:
    config.path.write_text(json.dumps({"default-runtime": RUNTIME_NAME}))
    config.path.with_name(config.path.name + LEGACY_SUFFIX).write_bytes(legacy)
    assert config.saved()
    assert config.restore()
    assert (config.path.read_bytes() if config.path.exists() else None) == expected
    assert sorted(os.listdir(config.path.parent)) == ([] if expected is None else ["daemon.json"])
    assert STATE_DIR not in os.listdir(config.path.parent)
