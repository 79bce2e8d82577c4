"""Which server code the benchmarks run: this checkout's, or the tree of another commit.

Importing this module puts this checkout's ``server/`` and root first on ``sys.path`` and on
``PYTHONPATH``, for this process and every server it starts: a benchmark measures the code
beside it, not whatever ``airs_mcp`` the environment has installed. ``server_code_at(rev,
directory)`` extracts ``server/`` of commit ``rev``, to run a "before" server from.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _code_first_on_path() -> None:
    """This checkout's server code first, for this process and every server it starts."""
    paths = [str(ROOT / "server"), str(ROOT)]
    old = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in paths]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + old)
    for path in reversed(paths):
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)


_code_first_on_path()


def tree_at(rev: str, folder: str, directory: Path) -> Path:
    """``folder`` of commit ``rev`` (``git archive``), extracted under ``directory``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, folder],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(directory, filter="data")
    return directory / folder


def server_code_at(rev: str, directory: Path) -> Path:
    """``server/`` of commit ``rev``, to run a "before" server from."""
    return tree_at(rev, "server", directory)
