"""``imaging.base_image``'s pure parts: cache keys and the Debian mirror discovery."""

from __future__ import annotations

from pathlib import Path

import pytest
from embedded_cluster.imaging import base_image


def test_tag_is_keyed_by_package_set_not_order() -> None:
    one = base_image.image_tag("python", ["curl", "jq"])
    two = base_image.image_tag("python", ["jq", "curl", "jq"])
    assert one == two
    assert one.startswith("airs-mcp-k8s/base-python:bookworm-")
    assert base_image.image_tag("python") != one
    assert base_image.image_tag("debian") != base_image.image_tag("python")


def test_kind_packages_are_always_included() -> None:
    assert base_image.image_tag("python", ["python3"]) == base_image.image_tag("python")


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown base image kind"):
        base_image.image_tag("alpine")  # type: ignore[arg-type]


def test_cache_dir_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRS_MCP_CACHE", str(tmp_path))
    assert base_image.cache_dir() == tmp_path / "images"


def test_mirror_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm\n"
    )
    assert base_image.host_debian_mirror(tmp_path) == "http://mirror.invalid/debian"


def test_mirror_from_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://mirror.invalid/debian/ bookworm main\n"
    )
    assert base_image.host_debian_mirror(tmp_path) == "http://mirror.invalid/debian/"


def test_no_mirror_lets_debootstrap_choose(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "other.list.disabled").write_text(
        "deb http://x.invalid/debian b m\n"
    )
    assert base_image.host_debian_mirror(tmp_path) is None
