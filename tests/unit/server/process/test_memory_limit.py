"""The memory limit read from cgroup files, and the cached threshold check."""

from __future__ import annotations

from pathlib import Path

from airs_mcp.process.memory_limit import MemoryMonitor, cgroup_memory_limit, resident_bytes


def _cgroup(tmp_path: Path, proc: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "sys"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    proc_file = tmp_path / "cgroup"
    proc_file.write_text(proc)
    return proc_file, root


def test_v2_limit_of_the_process_own_group(tmp_path: Path) -> None:
    proc, root = _cgroup(
        tmp_path, "0::/kubepods/pod1\n", {"kubepods/pod1/memory.max": "536870912\n"}
    )
    assert cgroup_memory_limit(proc, root) == 512 << 20


def test_v1_limit_and_fallback_to_the_mount_root(tmp_path: Path) -> None:
    proc, root = _cgroup(
        tmp_path,
        "4:memory:/docker/abc\n0::/\n",
        {"memory/memory.limit_in_bytes": "268435456\n"},
    )
    assert cgroup_memory_limit(proc, root) == 256 << 20


def test_no_limit(tmp_path: Path) -> None:
    proc, root = _cgroup(tmp_path, "0::/\n", {"memory.max": "max\n"})
    assert cgroup_memory_limit(proc, root) is None
    proc, root = _cgroup(
        tmp_path / "v1", "4:memory:/\n", {"memory/memory.limit_in_bytes": "9223372036854771712"}
    )
    assert cgroup_memory_limit(proc, root) is None


def test_threshold_and_cached_reading() -> None:
    now = [0.0]
    readings = iter([80, 90, 90])
    monitor = MemoryMonitor(100, 0.85, reading=lambda: next(readings), clock=lambda: now[0])
    assert monitor.threshold == 85
    assert not monitor.over()  # 80
    now[0] = 0.1
    assert not monitor.over()  # still the cached 80
    now[0] = 1.0
    assert monitor.over()  # 90


def test_off_without_limit_or_fraction() -> None:
    assert not MemoryMonitor(None, 0.85, reading=lambda: 1 << 40).over()
    assert not MemoryMonitor(100, 0, reading=lambda: 1 << 40).over()


def test_resident_bytes_is_this_process() -> None:
    assert 1 << 20 < resident_bytes() < 1 << 40
