"""Files written where nobody else can interfere: a private directory and exclusive creation.

``private_dir(path)`` makes ``path`` (mode 0700) if missing and yields a descriptor of it; it
refuses a symlink, a directory of another user or one others may enter. In it, ``create``
makes a new file with ``O_CREAT | O_EXCL | O_NOFOLLOW``, so a file or symlink already at that
name (left by a crash, or planted) is refused instead of written through; ``replace`` writes a
temporary file there, syncs it and moves it onto its target with ``os.replace`` (atomic
when the private directory is on the target's file system, e.g. beside it).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from embedded_cluster.errors import EmbeddedClusterError

__all__ = ["PrivateFileError", "create", "exists", "fsync_dir", "private_dir", "read", "replace"]

NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class PrivateFileError(EmbeddedClusterError):
    """A private directory or a file in it is not as expected; nothing was written."""


@contextmanager
def private_dir(path: Path) -> Iterator[int]:
    """An fd of ``path``, made 0700 if missing; refused if a symlink, another's or not 0700."""
    with suppress(FileExistsError):
        os.mkdir(path, 0o700)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:  # ELOOP for a symlink, ENOTDIR for a file
        raise PrivateFileError(f"{path} is not a private directory: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) != 0o700:
            raise PrivateFileError(
                f"{path} must be a directory of uid {os.geteuid()} with mode 0700 "
                f"(is uid {info.st_uid}, mode {stat.S_IMODE(info.st_mode):04o})"
            )
        yield fd
    finally:
        os.close(fd)


def create(directory: int, name: str, data: bytes, mode: int) -> None:
    """A new file ``name`` in ``directory``, durable before this returns."""
    try:
        fd = os.open(name, NEW_FILE, 0o600, dir_fd=directory)
    except FileExistsError as exc:  # also a symlink there: O_EXCL never follows one
        raise PrivateFileError(
            f"refusing to write {name}: something is already there (left by a crash, or "
            "planted); check and remove it"
        ) from exc
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.unlink(name, dir_fd=directory)  # ours: not left to block the next write
        raise
    finally:
        os.close(fd)


def replace(directory: int, target: Path, data: bytes, mode: int) -> None:
    """``target`` becomes ``data`` (``mode``) at once, through ``<name>.tmp`` in ``directory``."""
    temporary = target.name + ".tmp"
    create(directory, temporary, data, mode)
    os.replace(temporary, target, src_dir_fd=directory)
    fsync_dir(target.parent)


def read(directory: int, name: str) -> tuple[bytes, int]:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory)
    with os.fdopen(fd, "rb") as file:
        return file.read(), stat.S_IMODE(os.fstat(file.fileno()).st_mode)


def exists(directory: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
