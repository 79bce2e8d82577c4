"""Filters pinning container images by digest.

``image_ref``: ``"repo:tag" | airs.mcp_k8s.image_ref("sha256:...")`` gives ``repo:tag@sha256:...``
(the tag stays for people reading the object; the runtime resolves the digest), or the reference
unchanged for an empty digest.

``pin_images``: rewrites the container images of a list of manifest objects (a third-party
release manifest) whose repository is a key of the mapping, e.g.
``{"quay.io/metallb/controller": "sha256:..."}``; other images are left alone.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from ansible.errors import AnsibleFilterError

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# Objects whose pod template lists containers, by kind.
_POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
}


def image_ref(reference: str, digest: str) -> str:
    if not digest:
        return reference
    if not _DIGEST.match(digest):
        raise AnsibleFilterError(f"image digest must be sha256:<64 hex digits>, got {digest!r}")
    if "@" in reference:
        raise AnsibleFilterError(f"{reference} already names a digest; give the tag only")
    return f"{reference}@{digest}"


def repository(reference: str) -> str:
    """``quay.io/metallb/controller:v1.0.0`` -> ``quay.io/metallb/controller``."""
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


def pin_images(objects: list[dict[str, Any]], digests: dict[str, str]) -> list[dict[str, Any]]:
    # Only objects that run containers are copied: the CRDs, most of a release manifest, are not.
    pinned = [copy.deepcopy(o) if o.get("kind") in _POD_SPEC_PATHS else o for o in objects]
    used: set[str] = set()
    for obj in pinned:
        path = _POD_SPEC_PATHS.get(obj.get("kind", ""))
        if path is None:
            continue
        spec: Any = obj
        for key in path:
            spec = spec.get(key, {}) if isinstance(spec, dict) else {}
        for field in ("initContainers", "containers"):
            for container in spec.get(field, []) or []:
                repo = repository(container.get("image", ""))
                if repo in digests:
                    container["image"] = image_ref(container["image"], digests[repo])
                    used.add(repo)
    unused = sorted(set(digests) - used)
    if unused:
        raise AnsibleFilterError(f"no container of the manifest runs {', '.join(unused)}")
    return pinned


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"image_ref": image_ref, "pin_images": pin_images}
