"""Filter ``k8s_applied_changes``: did a kubernetes.core.k8s apply really change anything?

kubernetes.core compares the object it read before applying with the object the API server
returned. A controller updating ``status`` (or bumping ``resourceVersion`` and its own
``managedFields`` entry) in between makes an unchanged apply look changed. This filter reads the
module's ``diff`` (run the task with ``diff: true``) and ignores exactly those fields.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: k8s_applied_changes
short_description: Whether a kubernetes.core.k8s apply changed more than status and bookkeeping
description:
  - "Takes the registered result of a C(kubernetes.core.k8s) task run with C(diff=true) and
    returns true when any object was created or deleted, or differs outside C(status),
    C(metadata.resourceVersion), C(metadata.generation) and C(metadata.managedFields)."
  - Results without diff information are trusted as reported.
positional: _input
options:
  _input:
    description: The registered result of the task.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Apply
  kubernetes.core.k8s:
    definition: "{{ docs }}"
    apply: true
  diff: true
  register: _applied
  changed_when: _applied | airs.mcp_k8s.k8s_applied_changes
"""

RETURN = r"""
_value:
  description: True when something besides status and bookkeeping changed.
  type: bool
"""

_IGNORED_METADATA = frozenset({"resourceVersion", "generation", "managedFields"})


def _meaningful(side: object) -> bool:
    if not isinstance(side, dict):
        return bool(side)
    for key, value in side.items():
        if key == "status":
            continue
        if key == "metadata" and isinstance(value, dict):
            if set(value) - _IGNORED_METADATA:
                return True
            continue
        return True
    return False


def _one_changed(result: dict) -> bool:
    if not result.get("changed"):
        return False
    if result.get("method") in ("create", "delete"):
        return True
    diff = result.get("diff")
    if not isinstance(diff, dict):
        return True
    return _meaningful(diff.get("before")) or _meaningful(diff.get("after"))


def k8s_applied_changes(result: dict) -> bool:
    """True when the k8s task's result shows a change beyond status and bookkeeping."""
    if not isinstance(result, dict):
        return False
    nested = result.get("result")
    if isinstance(nested, dict) and isinstance(nested.get("results"), list):
        return any(_one_changed(r) for r in nested["results"] if isinstance(r, dict))
    return _one_changed(result)


class FilterModule:
    """airs.mcp_k8s filters."""

    def filters(self) -> dict:
        return {"k8s_applied_changes": k8s_applied_changes}
