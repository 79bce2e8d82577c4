"""``kubectl`` as the cluster admin: the one way the package's modules call it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from embedded_cluster import build


def run(
    admin: Path, *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the cached kubectl (built when missing) with ``admin``'s kubeconfig; never raises on
    a failing command: the caller reads ``returncode``, ``stdout`` and ``stderr``."""
    return subprocess.run(
        [str(build.ensure_binary("kubernetes", "kubectl")), "--kubeconfig", str(admin), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
