"""Local Debian base images for docker, built with debootstrap because nothing can be pulled.

Public API (kept small on purpose, other modules build every image on top of it)::

    ensure_base_image(kind: "debian" | "python", packages: Sequence[str] = ()) -> str

returns the tag of a local docker image holding a minimal Debian root filesystem
(``debootstrap --variant=minbase``) with the kind's packages plus ``packages``:

- ``debian``: ``ca-certificates``;
- ``python``: ``python3``, ``python3-venv``, ``ca-certificates`` (Debian's Python, 3.11 on
  bookworm, at ``/usr/bin/python3``).

The root filesystem is cached as a tarball under ``$AIRS_MCP_CACHE/images/`` keyed by suite,
variant and package list, so a lost docker image is re-imported in seconds, and the docker tag
carries the same key (``airs-mcp-k8s/base-<kind>:<suite>-<key>``). Concurrent callers are
serialised with a file lock. The Debian mirror is the one the host's apt sources use; without one
debootstrap falls back to its own default.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from embedded_cluster.errors import EmbeddedClusterError
from embedded_cluster.hostfs import file_lock, mounts_under
from embedded_cluster.paths import cache_root
from embedded_cluster.progress import phase

__all__ = ["BaseImageError", "ensure_base_image", "image_exists"]

Kind = Literal["debian", "python"]

SUITE = "bookworm"
VARIANT = "minbase"
# Bump when the build recipe below changes, so old caches are not reused.
RECIPE_VERSION = 1
# Cold durations measured on this project's build machine, for the progress lines only.
EXPECTED_S = {"debootstrap": 80.0, "docker import": 5.0}

KIND_PACKAGES: dict[str, tuple[str, ...]] = {
    "debian": ("ca-certificates",),
    "python": ("ca-certificates", "python3", "python3-venv"),
}

# Removed from the root filesystem after debootstrap: nothing in a container needs them.
_PRUNE = (
    "var/lib/apt/lists",
    "var/cache/apt",
    "var/cache/debconf/templates.dat-old",
    "var/log",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
)

_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["/bin/bash"]',
)


class BaseImageError(EmbeddedClusterError):
    """Building or importing a base image failed; the message says which step."""


def cache_dir() -> Path:
    """``$AIRS_MCP_CACHE/images`` (default ``~/.cache/airs-mcp-k8s/images``)."""
    return cache_root() / "images"


def _package_list(kind: Kind, packages: Sequence[str]) -> list[str]:
    if kind not in KIND_PACKAGES:
        raise ValueError(f"unknown base image kind {kind!r}; use one of {sorted(KIND_PACKAGES)}")
    return sorted({*KIND_PACKAGES[kind], *packages})


def _key(packages: Sequence[str]) -> str:
    spec = {"suite": SUITE, "variant": VARIANT, "packages": list(packages), "v": RECIPE_VERSION}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def image_tag(kind: Kind, packages: Sequence[str] = ()) -> str:
    """The tag ``ensure_base_image`` returns for these arguments, without building anything."""
    return f"airs-mcp-k8s/base-{kind}:{SUITE}-{_key(_package_list(kind, packages))}"


def image_exists(tag: str) -> bool:
    """Whether the local docker daemon has an image called ``tag``."""
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", tag],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def host_debian_mirror(sources_dir: Path = Path("/etc/apt")) -> str | None:
    """The first Debian archive URI of the host's apt sources, or None to use debootstrap's."""
    candidates = [sources_dir / "sources.list", *sorted(sources_dir.glob("sources.list.d/*"))]
    for path in candidates:
        if not path.is_file() or not path.name.endswith((".list", ".sources")):
            continue
        text = path.read_text(errors="replace")
        for uri in re.findall(r"^\s*URIs:\s*(\S+)", text, re.MULTILINE):
            if uri.rstrip("/").endswith("/debian"):
                return uri
        for uri in re.findall(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+", text, re.MULTILINE):
            if uri.rstrip("/").endswith("/debian"):
                return uri
    return None


def _run(step: str, argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise BaseImageError(f"{step} failed (exit {result.returncode}):\n{tail}")


def _remove_tree(root: Path) -> None:
    """Delete a build tree, but only after nothing (proc, sys, dev) is mounted inside it."""
    for point in mounts_under([root]):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    left = mounts_under([root])
    if left:
        raise BaseImageError(f"not deleting {root}: still mounted: {', '.join(left)}")
    shutil.rmtree(root, ignore_errors=True)


def _build_rootfs_tarball(packages: Sequence[str], tarball: Path) -> None:
    if shutil.which("debootstrap") is None:
        raise BaseImageError("debootstrap is not installed (scripts/setup.sh installs it)")
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=tarball.parent))
    root = work / "root"
    try:
        argv = [
            "debootstrap",
            f"--variant={VARIANT}",
            f"--include={','.join(packages)}",
            SUITE,
            str(root),
        ]
        mirror = host_debian_mirror()
        if mirror:
            argv.append(mirror)
        with phase(
            "image", f"debootstrap {SUITE} ({', '.join(packages)})", EXPECTED_S["debootstrap"]
        ):
            _run("debootstrap", argv)
        if mounts_under([root]):
            raise BaseImageError(f"debootstrap left mounts under {root}")
        for rel in _PRUNE:
            target = root / rel
            if target.is_dir():
                shutil.rmtree(target)
                target.mkdir(mode=0o755)
        partial = tarball.with_suffix(".partial")
        _run(
            "tar",
            [
                "tar",
                "--numeric-owner",
                "--exclude=./dev/*",
                "--exclude=./proc/*",
                "--exclude=./sys/*",
                "-C",
                str(root),
                "-czf",
                str(partial),
                ".",
            ],
        )
        partial.replace(tarball)
    finally:
        _remove_tree(work)


def _import(tarball: Path, tag: str) -> None:
    argv = ["docker", "import"]
    for change in _CHANGES:
        argv += ["--change", change]
    _run("docker import", [*argv, str(tarball), tag])


def ensure_base_image(kind: Kind, packages: Sequence[str] = ()) -> str:
    """Return the tag of a local base image of ``kind`` with ``packages``, building it if needed.

    Cold: debootstrap (a few minutes, needs root and the Debian mirror) then ``docker import``.
    Warm: a ``docker image inspect``, or a ``docker import`` of the cached tarball.
    Raises ``BaseImageError`` naming the failed step.
    """
    pkgs = _package_list(kind, packages)
    tag = image_tag(kind, packages)
    if image_exists(tag):
        return tag
    directory = cache_dir()
    tarball = directory / f"base-{kind}-{SUITE}-{_key(pkgs)}.tar.gz"
    with file_lock(directory / f".base-{kind}-{_key(pkgs)}.lock"):
        if image_exists(tag):
            return tag
        if not tarball.is_file():
            _build_rootfs_tarball(pkgs, tarball)
        with phase("image", f"docker import {tag}", EXPECTED_S["docker import"]):
            _import(tarball, tag)
    return tag
