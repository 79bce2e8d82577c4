"""``imaging.project_image``'s pure parts: the wheelhouse's inputs and the content-named tags."""

from __future__ import annotations

from pathlib import Path

import pytest
from embedded_cluster.imaging import base_image, project_image
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version


def _locked(root: Path) -> dict[str, tuple[Version, list[str]]]:
    """``requirements.lock`` as {name: (pinned version, sha256 hashes)}."""
    pins: dict[str, tuple[Version, list[str]]] = {}
    text = (root / project_image.LOCK_FILE).read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line or line.startswith("#") or line.startswith(" "):
            continue
        spec, *rest = line.split()
        name, version = spec.split("==")
        hashes = [part.removeprefix("--hash=sha256:") for part in rest if part.startswith("--hash")]
        pins[canonicalize_name(name)] = (Version(version), hashes)
    return pins


def test_lock_pins_every_requirement_with_a_satisfying_version_and_hashes() -> None:
    root = project_image.project_root()
    pins = _locked(root)
    reqs = [Requirement(text) for text in project_image.requirements(root)]
    assert {"setuptools", "wheel", "mcp", "pan-aisecurity", "uvicorn", "cryptography"} <= {
        canonicalize_name(req.name) for req in reqs
    }
    for req in reqs:
        version, _ = pins[canonicalize_name(req.name)]
        assert req.specifier.contains(version, prereleases=True), (str(req), str(version))
    for name, (_, hashes) in pins.items():
        assert hashes, f"{name} has no hash"
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in hashes), name


def test_lock_is_resolved_for_the_base_images_python() -> None:
    header = (project_image.project_root() / project_image.LOCK_FILE).read_text().splitlines()[0]
    assert f"CPython {project_image.LOCK_PYTHON} " in header
    assert f"manylinux_2_{project_image.GLIBC_MINOR} " in header


def test_wheelhouse_refuses_another_python() -> None:
    with pytest.raises(base_image.BaseImageError, match=r"resolved for 3\.11"):
        project_image.wheelhouse(project_image.project_root(), "3.12")


def test_platforms_cover_every_manylinux_up_to_bookworm_glibc() -> None:
    assert project_image.PLATFORMS[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_17_x86_64" in project_image.PLATFORMS
    assert project_image.PLATFORMS[-1] == "manylinux_2_5_x86_64"


def test_project_image_tags() -> None:
    assert project_image.image_tag("server").startswith("airs-mcp-k8s/mcp-server:")
    assert project_image.image_tag("double").startswith("airs-mcp-k8s/airs-api-double:")


def _checkout(root: Path, server_text: str) -> Path:
    (root / "server" / "airs_mcp").mkdir(parents=True)
    (root / "server" / "airs_mcp" / "app.py").write_text(server_text)
    (root / "server" / "airs_mcp" / "__pycache__").mkdir()
    (root / "server" / "airs_mcp" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"junk")
    (root / "Dockerfile").write_text("FROM scratch\n")
    (root / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0.1.0"\n')
    return root


def test_image_tag_names_the_sources_content(tmp_path: Path) -> None:
    one = _checkout(tmp_path / "one", "print('one')\n")
    same = _checkout(tmp_path / "same", "print('one')\n")
    other = _checkout(tmp_path / "other", "print('other')\n")
    tag = project_image.image_tag("server", one)
    assert tag.startswith("airs-mcp-k8s/mcp-server:0.1.0-")
    assert tag == project_image.image_tag("server", same)
    assert tag != project_image.image_tag("server", other)
    # Byte-code caches are not sources.
    (same / "server" / "airs_mcp" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"other")
    assert tag == project_image.image_tag("server", same)
