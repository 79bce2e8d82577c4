"""A real Go build through the embedded cluster's build path, into an empty cache folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from embedded_cluster import build

pytestmark = pytest.mark.integration


def test_missing_binary_is_built_once_into_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The CNI loopback plugin: the smallest program in the version table.
    monkeypatch.setenv("AIRS_MCP_CACHE", str(tmp_path))
    built = build.ensure_binary("cni-plugins", "loopback", quiet=True)
    version = build.component("cni-plugins").version
    assert built == tmp_path / "bin" / f"cni-plugins-{version}" / "loopback"
    assert built.stat().st_size > 1_000_000
    assert "loopback" in build.build_times("cni-plugins")
    mtime = built.stat().st_mtime_ns
    assert build.ensure_binary("cni-plugins", "loopback", quiet=True) == built
    assert built.stat().st_mtime_ns == mtime  # served from the cache, not rebuilt
