"""``embedded_cluster.hostfs``: the shared file lock and the mount-table reading."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest
from embedded_cluster import hostfs


def test_mounts_under_reads_unescaped_points_at_or_below_deepest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "run"
    table = tmp_path / "mounts"
    table.write_text(
        f"proc /proc proc rw 0 0\n"
        f"tmpfs {root} tmpfs rw 0 0\n"
        f"overlay {root}/a\\040b/rootfs overlay rw 0 0\n"
        f"nsfs {root}/netns/x nsfs rw 0 0\n"
        f"tmpfs {root}-other tmpfs rw 0 0\n"
        f"nsfs {root}/netns/x nsfs rw 0 0\n"
    )
    monkeypatch.setattr(hostfs, "MOUNTS", table)
    found = hostfs.mounts_under([root])
    assert found[-1] == str(root.resolve())
    assert sorted(found) == sorted(
        {str(root.resolve()), f"{root.resolve()}/a b/rootfs", f"{root.resolve()}/netns/x"}
    )
    assert hostfs.mounts_under([tmp_path / "nothing"]) == []


def test_file_lock_creates_its_folder_and_excludes_others(tmp_path: Path) -> None:
    lock = tmp_path / "deep" / "folder" / ".lock"
    with hostfs.file_lock(lock), lock.open("w") as other, pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with lock.open("w") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released after the block
