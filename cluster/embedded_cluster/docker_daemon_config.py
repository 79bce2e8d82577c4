"""Docker's ``daemon.json`` changed for the kind runtime wrapper, and given back exactly.

``DaemonConfig(path)`` (``/etc/docker/daemon.json`` by default; a test passes a temporary one):

- ``write(doc)`` saves the file found there the first time (its bytes and mode, or that there
  was none) and then replaces it atomically with ``doc``;
- ``restore()`` puts back those bytes and that mode, or removes the file when there was none,
  atomically, and forgets what it saved.

Everything this module writes besides ``daemon.json`` itself lives in a private directory
beside it (``.airs-kind-runtime``, ``embedded_cluster.private_files``): the saved original and
the temporary files, so a file or symlink planted at one of those names is refused rather than
written through. Being in the same file system as ``daemon.json``, a temporary file becomes it
by ``os.replace`` after ``fsync``: a crash leaves the old file or the new one, never half.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from embedded_cluster.errors import EmbeddedClusterError
from embedded_cluster.private_files import create, exists, fsync_dir, private_dir, read, replace

__all__ = ["DAEMON_JSON", "DaemonConfig", "DaemonConfigError"]

DAEMON_JSON = Path("/etc/docker/daemon.json")
STATE_DIR = ".airs-kind-runtime"
ORIGINAL = "daemon.json.original"  # the bytes and mode found before the first write
NO_ORIGINAL = "daemon.json.absent"  # marker: there was no daemon.json
DEFAULT_MODE = 0o644
# Where earlier versions kept the original (its text, or this line when there was none).
LEGACY_SUFFIX = ".airs-kind-backup"
LEGACY_NO_ORIGINAL = b"# no daemon.json before airs-runc\n"


class DaemonConfigError(EmbeddedClusterError):
    """daemon.json or the private directory beside it is not as expected; nothing was written."""


@dataclass(frozen=True)
class DaemonConfig:
    path: Path = DAEMON_JSON

    @property
    def state_dir(self) -> Path:
        return self.path.parent / STATE_DIR

    @property
    def legacy_backup(self) -> Path:
        return self.path.with_name(self.path.name + LEGACY_SUFFIX)

    def read(self) -> dict[str, object]:
        if not self.path.is_file():
            return {}
        doc = json.loads(self.path.read_bytes())
        if not isinstance(doc, dict):
            raise DaemonConfigError(f"{self.path} is not a JSON object")
        return doc

    def saved(self) -> bool:
        """Whether an original is kept, i.e. daemon.json is ours until ``restore()``."""
        if self.legacy_backup.exists():
            return True
        if not self.state_dir.is_dir():
            return False
        return any((self.state_dir / name).exists() for name in (ORIGINAL, NO_ORIGINAL))

    def write(self, doc: dict[str, object]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with private_dir(self.state_dir) as directory:
            self._save_original(directory)
            data = (json.dumps(doc, indent=2) + "\n").encode()
            mode = stat.S_IMODE(self.path.stat().st_mode) if self.path.exists() else DEFAULT_MODE
            replace(directory, self.path, data, mode)

    def restore(self) -> bool:
        """Give back the original; False when nothing was saved (nothing to do)."""
        if not self.saved():
            return False
        with private_dir(self.state_dir) as directory:
            self._adopt_legacy(directory)
            if exists(directory, NO_ORIGINAL):
                self.path.unlink(missing_ok=True)
                fsync_dir(self.path.parent)
                os.unlink(NO_ORIGINAL, dir_fd=directory)
            else:
                data, mode = read(directory, ORIGINAL)
                replace(directory, self.path, data, mode)
                os.unlink(ORIGINAL, dir_fd=directory)
        with contextlib.suppress(OSError):  # not empty: something else is there, keep it
            self.state_dir.rmdir()
        return True

    def _save_original(self, directory: int) -> None:
        """Once: later writes must not take our own file for the original."""
        self._adopt_legacy(directory)
        if exists(directory, ORIGINAL) or exists(directory, NO_ORIGINAL):
            return
        if not self.path.exists():
            create(directory, NO_ORIGINAL, b"", 0o600)
            return
        if self.path.is_symlink() or not self.path.is_file():
            raise DaemonConfigError(f"{self.path} is not a regular file: not changing it")
        mode = stat.S_IMODE(self.path.stat().st_mode)
        create(directory, ORIGINAL + ".tmp", self.path.read_bytes(), mode)
        os.rename(ORIGINAL + ".tmp", ORIGINAL, src_dir_fd=directory, dst_dir_fd=directory)
        os.fsync(directory)

    def _adopt_legacy(self, directory: int) -> None:
        """A backup of an earlier version becomes the saved original (its mode was not kept)."""
        if not self.legacy_backup.exists():
            return
        if not (exists(directory, ORIGINAL) or exists(directory, NO_ORIGINAL)):
            data = self.legacy_backup.read_bytes()
            if data == LEGACY_NO_ORIGINAL:
                create(directory, NO_ORIGINAL, b"", 0o600)
            else:
                create(directory, ORIGINAL, data, DEFAULT_MODE)
        self.legacy_backup.unlink()
