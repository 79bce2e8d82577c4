"""The apiserver's authentication configuration: anonymous requests only on the health paths.

``--anonymous-auth=false`` would also close ``/livez`` and ``/readyz`` to probes without a
certificate; an ``AuthenticationConfiguration`` (``apiserver.config.k8s.io/v1``, GA in 1.34,
given with ``--authentication-config``) keeps the anonymous user for exactly these paths. With
it, ``--anonymous-auth`` must not be passed: the apiserver refuses both at once.
"""

from __future__ import annotations

import json
from pathlib import Path

from embedded_cluster.paths import RunPaths

# What the anonymous user may reach (RBAC's system:public-info-viewer allows no more of them).
ANONYMOUS_PATHS = ("/livez", "/readyz", "/healthz")


def authentication_config() -> dict[str, object]:
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthenticationConfiguration",
        "anonymous": {
            "enabled": True,
            "conditions": [{"path": path} for path in ANONYMOUS_PATHS],
        },
    }


def write_authentication_config(paths: RunPaths) -> Path:
    """Write the file ``--authentication-config`` names (rewritten on every ``up``)."""
    path = paths.authentication_config
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(authentication_config(), indent=2) + "\n")
    return path
