"""Build the project's images (the MCP server, the AIRS API double) from the top-level Dockerfile
on a machine where nothing can be pulled and containers cannot reach a package index.

Public API::

    build_project_image(target: "server" | "double", base: str | None = None) -> str

- ``base`` defaults to ``ensure_base_image("python")`` (a debootstrap Debian with python3).
- The build context is a temporary directory holding only what the Dockerfile needs
  (``Dockerfile``, ``.dockerignore``, ``pyproject.toml``, ``README.md``, ``requirements.lock``,
  ``server/``) plus ``wheels/``: exactly the files ``requirements.lock`` pins (hash-checked),
  fetched on the host with ``pip download --require-hashes`` for the base image's Python and
  cached under ``$AIRS_MCP_CACHE/wheels/``. With ``wheels/`` present the Dockerfile installs with
  ``--no-index``; either way with ``--require-hashes``.
- Returns the tag, ``airs-mcp-k8s/<target image>:<project version>`` (see ``IMAGE_NAMES``).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Literal, cast

from embedded_cluster.hostfs import file_lock
from embedded_cluster.imaging.base_image import BaseImageError, cache_dir, ensure_base_image
from embedded_cluster.paths import REPO_ROOT
from embedded_cluster.progress import phase

__all__ = [
    "IMAGE_NAMES",
    "build_project_image",
    "image_tag",
    "project_root",
    "target",
    "wheelhouse",
]

Target = Literal["server", "double"]

IMAGE_NAMES: dict[str, str] = {
    "server": "airs-mcp-k8s/mcp-server",
    "double": "airs-mcp-k8s/airs-api-double",
}
# Debian bookworm has glibc 2.36: wheels for any manylinux_2_5 ... 2_36 tag run on it.
GLIBC_MINOR = 36
# ... and Python 3.11: requirements.lock (scripts/lock.sh) is resolved for it.
LOCK_PYTHON = "3.11"
LOCK_FILE = "requirements.lock"
PLATFORMS = tuple(f"manylinux_2_{minor}_x86_64" for minor in range(GLIBC_MINOR, 4, -1))
_CONTEXT_FILES = ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md", LOCK_FILE)
# Cold durations measured on this project's build machine, for the progress lines only.
EXPECTED_S = {"wheels": 20.0, "docker build": 50.0}


def target(name: str) -> Target:
    """``name`` as a :data:`Target`, or ``ValueError`` naming the known ones."""
    if name not in IMAGE_NAMES:
        raise ValueError(f"unknown image {name!r}; known: {', '.join(IMAGE_NAMES)}")
    return cast(Target, name)


def project_root() -> Path:
    """The checkout holding the Dockerfile (``paths.REPO_ROOT``)."""
    return REPO_ROOT


def _pyproject(root: Path) -> dict[str, object]:
    return tomllib.loads((root / "pyproject.toml").read_text())


def image_tag(target: Target, root: Path | None = None) -> str:
    """``airs-mcp-k8s/<name>:<version>-<hash of the build context's sources>``.

    The hash makes the tag name the content: two checkouts (or two edits) never share a tag, so
    a cluster never keeps running an image built from other sources under the same name.
    """
    root = root or project_root()
    project = _pyproject(root)["project"]
    assert isinstance(project, dict)
    return f"{IMAGE_NAMES[target]}:{project['version']}-{source_digest(root)}"


def _context_sources(root: Path) -> list[Path]:
    files = [root / name for name in _CONTEXT_FILES if (root / name).exists()]
    for path in sorted((root / "server").rglob("*")):
        skipped = "__pycache__" in path.parts or path.suffix == ".pyc"
        if path.is_file() and not skipped and not any(p.endswith(".egg-info") for p in path.parts):
            files.append(path)
    return files


def source_digest(root: Path) -> str:
    """12 hex digits of SHA-256 over the relative path and content of every context source."""
    digest = hashlib.sha256()
    for path in _context_sources(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def requirements(root: Path) -> list[str]:
    """What the lock must satisfy: build-system requirements, runtime dependencies and the
    double's extra, from pyproject."""
    data = _pyproject(root)
    build = data["build-system"]
    project = data["project"]
    assert isinstance(build, dict)
    assert isinstance(project, dict)
    extras = project.get("optional-dependencies", {})
    return [*build["requires"], "wheel", *project["dependencies"], *extras.get("double", [])]


def python_version(image: str) -> str:
    """``major.minor`` of ``python3`` inside ``image``."""
    script = "import sys; print('%d.%d' % sys.version_info[:2])"
    result = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", image, "python3", "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BaseImageError(f"cannot run python3 in {image}: {result.stderr.strip()}")
    return result.stdout.strip()


def _pip(step: str, args: list[str]) -> None:
    argv = [sys.executable, "-m", "pip", *args]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BaseImageError(f"pip {step} failed:\n{result.stderr[-3000:]}")


def wheelhouse(root: Path, py_version: str) -> Path:
    """A directory of wheels covering every requirement for CPython ``py_version`` (cached).

    Two passes on the host: ``pip wheel`` turns source-only distributions (pure Python) into
    wheels with the host's Python, then ``pip download --only-binary`` completes the set with
    binary wheels for the target Python and platform, finding the built ones locally.
    """
    if py_version != LOCK_PYTHON:
        raise BaseImageError(
            f"the base image has Python {py_version}, {LOCK_FILE} is resolved for {LOCK_PYTHON}: "
            "change LOCK_PYTHON and run scripts/lock.sh"
        )
    lock = (root / LOCK_FILE).read_bytes()
    key = hashlib.sha256(b"\n".join([py_version.encode(), *map(str.encode, PLATFORMS), lock]))
    key = key.hexdigest()[:12]
    base = cache_dir().parent / "wheels"
    dest = base / f"cp{py_version.replace('.', '')}-{key}"
    if (dest / ".complete").exists():
        return dest
    base.mkdir(parents=True, exist_ok=True)
    with file_lock(base / f".{dest.name}.lock"):
        if (dest / ".complete").exists():
            return dest
        shutil.rmtree(dest, ignore_errors=True)  # an interrupted earlier attempt
        partial = Path(tempfile.mkdtemp(prefix="wheels-", dir=base))
        try:
            with phase("image", f"wheels for Python {py_version}", EXPECTED_S["wheels"]):
                _fetch_wheels(partial, py_version, root / LOCK_FILE)
        except BaseImageError:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        (partial / ".complete").touch()
        partial.replace(dest)
    return dest


def _fetch_wheels(partial: Path, py_version: str, lock: Path) -> None:
    """Exactly the pinned files: a wheel for the target where one exists, else the source
    distribution (the image builds it); pip refuses any file whose sha256 is not in the lock."""
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    spec = ["--implementation", "cp", "--python-version", py_version, *platforms]
    pinned = ["--no-deps", "--require-hashes", "--requirement", str(lock)]
    _pip("download", ["download", "--quiet", *spec, *pinned, "--dest", str(partial)])


def _context(root: Path, wheels: Path, directory: Path) -> None:
    for name in _CONTEXT_FILES:
        shutil.copy2(root / name, directory / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(root / "server", directory / "server", ignore=ignore)
    shutil.copytree(wheels, directory / "wheels", ignore=shutil.ignore_patterns(".complete"))


def build_project_image(target: Target, base: str | None = None, tag: str | None = None) -> str:
    """Build ``target`` of the top-level Dockerfile offline on ``base``; return its tag.

    Docker's layer cache makes a rebuild of unchanged sources take seconds.
    Raises ``BaseImageError`` with the build output's tail when the build fails.
    """
    root = project_root()
    base = base or ensure_base_image("python")
    tag = tag or image_tag(target, root)
    wheels = wheelhouse(root, python_version(base))
    with tempfile.TemporaryDirectory(prefix="image-context-") as tmp:
        context = Path(tmp)
        _context(root, wheels, context)
        argv = [
            "docker",
            "build",
            "--build-arg",
            f"BASE_IMAGE={base}",
            "--target",
            target,
            "--tag",
            tag,
            str(context),
        ]
        with phase("image", f"{target}: docker build {tag}", EXPECTED_S["docker build"]):
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-4000:]
        raise BaseImageError(f"docker build --target {target} failed:\n{tail}")
    return tag
