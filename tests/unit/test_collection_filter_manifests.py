"""The collection's manifest parser (plugins/filter/manifests.py), on small manifests and on the
MetalLB and Traefik release files the roles apply (from the Go module cache; skipped only when a
module cannot be downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible.plugins.filter.core import from_yaml_all
from embedded_cluster import upstream

from tests.fixtures.ansible import load_module

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "collections/ansible_collections/airs/mcp_k8s/plugins/filter/manifests.py"

manifests = load_module(PLUGIN)

TWO_OBJECTS = """\
---
# a comment-only document and an empty one are dropped
---
apiVersion: v1
kind: Namespace
metadata:
  name: metallb-system
  annotations:
    created: 2024-01-02T03:04:05Z
---
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: metallb-system}
data: {enabled: "true", count: "3"}
"""


def test_the_objects_come_back_in_order_without_empty_documents() -> None:
    objects = manifests.manifest_objects(TWO_OBJECTS)
    assert [o["kind"] for o in objects] == ["Namespace", "ConfigMap"]
    assert objects[1]["data"] == {"enabled": "true", "count": "3"}


def test_timestamps_stay_strings_as_the_api_server_wants_them() -> None:
    namespace = manifests.manifest_objects(TWO_OBJECTS)[0]
    assert namespace["metadata"]["annotations"]["created"] == "2024-01-02T03:04:05Z"


@pytest.mark.parametrize("text", ["- a list\n", "kind: Pod\n", "apiVersion: v1\n", "just text\n"])
def test_a_document_that_is_no_kubernetes_object_is_refused(text: str) -> None:
    with pytest.raises(AnsibleFilterError, match=r"document 1 .* not a Kubernetes object"):
        manifests.manifest_objects(text)


def test_invalid_yaml_and_non_text_are_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="not valid YAML"):
        manifests.manifest_objects("kind: [unclosed\n")
    with pytest.raises(AnsibleFilterError, match="needs the manifest's text"):
        manifests.manifest_objects([{"kind": "Pod"}])


def test_it_parses_with_libyaml() -> None:
    assert issubclass(manifests._ManifestLoader, yaml.CSafeLoader)


@pytest.mark.parametrize("variable", ["metallb_manifest_src", "traefik_crds_src"])
def test_the_release_manifests_parse_as_ansible_parses_them(variable: str) -> None:
    try:
        path = Path(upstream.upstream_manifests()[variable])
    except upstream.ModuleUnavailable as exc:  # a module there without its manifest fails
        pytest.skip(f"the release module is not in the Go module cache: {exc}")
    text = path.read_text()
    ours = manifests.manifest_objects(text)
    ansible = [doc for doc in from_yaml_all(text) if doc]
    assert len(ours) > 5
    assert ours == ansible
