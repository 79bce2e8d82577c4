"""The host-filesystem helpers the whole package shares: an exclusive file lock across
processes, and the mount points under a folder (read from ``/proc/self/mounts``)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

MOUNTS = Path("/proc/self/mounts")


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created, with its folder, if missing) for the
    ``with`` block; other processes asking for the same file wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _unescape(field: str) -> str:
    """Undo the octal escapes the kernel writes for space, tab and backslash in mount points."""
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")


def mounts_under(roots: Iterable[Path]) -> list[str]:
    """Mount points at or below any of ``roots``, each once, deepest first."""
    prefixes = [str(Path(r).resolve()) for r in roots]
    found = []
    with MOUNTS.open() as handle:
        for line in handle:
            target = _unescape(line.split()[1])
            if any(target == p or target.startswith(p + "/") for p in prefixes):
                found.append(target)
    return sorted(set(found), key=lambda t: t.count("/"), reverse=True)
