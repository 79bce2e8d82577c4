"""Filter ``manifest_objects``: the objects of a Kubernetes manifest, parsed at C speed.

Ansible's ``from_yaml_all`` (ansible-core 2.19) builds every node with its own constructor and
tags it with its origin: seconds for a release manifest such as MetalLB's (its CRDs are most of
its ~700 kB), on every run. Release manifests are plain data, so libyaml's safe loader is enough.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: manifest_objects
short_description: The Kubernetes objects of a multi-document YAML manifest
description:
  - Parses the text with libyaml's safe loader (the pure-Python safe loader without libyaml)
    and returns its non-empty documents, in order.
  - Timestamps stay strings, as the API server wants them.
  - A document that is not a mapping with C(apiVersion) and C(kind) is an error.
positional: _input
options:
  _input:
    description: The manifest's text (for example from the C(airs.mcp_k8s.pinned_manifest) lookup).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Read the MetalLB manifest
  ansible.builtin.set_fact:
    objects: >-
      {{ lookup('airs.mcp_k8s.pinned_manifest', src, sha256=pin)
         | airs.mcp_k8s.manifest_objects }}
"""

RETURN = r"""
_value:
  description: The objects, as dictionaries.
  type: list
  elements: dict
"""

from typing import Any, ClassVar

import yaml
from ansible.errors import AnsibleFilterError

_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _ManifestLoader(_BASE_LOADER):  # type: ignore[misc, valid-type]
    """The safe loader without implicit timestamps."""

    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, Any]]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in _BASE_LOADER.yaml_implicit_resolvers.items()
    }


def manifest_objects(text: str) -> list[dict[str, Any]]:
    if not isinstance(text, str):
        kind = type(text).__name__
        raise AnsibleFilterError(f"manifest_objects needs the manifest's text, got {kind}")
    try:
        documents = list(yaml.load_all(str(text), Loader=_ManifestLoader))
    except yaml.YAMLError as error:
        raise AnsibleFilterError(f"the manifest is not valid YAML: {error}") from error
    objects = [d for d in documents if d]
    for number, obj in enumerate(objects, start=1):
        if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
            raise AnsibleFilterError(
                f"document {number} of the manifest is not a Kubernetes object"
            )
    return objects


class FilterModule:
    """airs.mcp_k8s filters."""

    def filters(self) -> dict[str, Any]:
        return {"manifest_objects": manifest_objects}
