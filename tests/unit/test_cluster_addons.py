"""``addons``: the addon manifests as rendered, without a cluster."""

from __future__ import annotations

import re

import pytest
from embedded_cluster import addons
from embedded_cluster.state import ClusterConfig


@pytest.mark.parametrize("name", addons.ADDONS)
def test_addon_manifests_render_completely(name: str) -> None:
    config = ClusterConfig(node_name="n", node_ip="10.0.0.1", service_cidr="10.100.0.0/16")
    text = addons.render(name, config)
    assert not re.search(r"\$\{?\w", text), "placeholder left in the manifest"
    if name == "coredns":
        assert "clusterIP: 10.100.0.10" in text
        corefile = text.split("Corefile: |", 1)[1].split("---", 1)[0]
        assert "kubernetes cluster.local" in corefile
        assert not re.search(r"^\s*(forward|proxy)\b", corefile, re.MULTILINE), (
            "CoreDNS must not forward queries off the machine"
        )
