"""Secrets encrypted at rest in etcd: the apiserver's ``EncryptionConfiguration`` and its key.

The key is made once per cluster (32 random bytes, ``secretbox``: XSalsa20-Poly1305, which the
Kubernetes docs prefer to ``aescbc``) and kept in the run directory beside the PKI, readable
by root only. It lives as long as the etcd data it protects: a restart of the same cluster
reuses it, ``down`` removes it with the run directory. ``identity`` stays as the last provider
so that Secrets written before encryption was turned on can still be read (and are encrypted
when next written).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from embedded_cluster.paths import RunPaths

PROVIDER = "secretbox"
KEY_NAME = "key1"
KEY_BYTES = 32
ENCRYPTED_RESOURCES = ("secrets",)
# What etcd values written through this provider start with.
STORED_PREFIX = f"k8s:enc:{PROVIDER}:v1:{KEY_NAME}:".encode()


def encryption_config(key: bytes) -> dict[str, object]:
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": list(ENCRYPTED_RESOURCES),
                "providers": [
                    {
                        PROVIDER: {
                            "keys": [{"name": KEY_NAME, "secret": base64.b64encode(key).decode()}]
                        }
                    },
                    {"identity": {}},
                ],
            }
        ],
    }


def ensure_encryption_config(paths: RunPaths) -> Path:
    """The ``--encryption-provider-config`` file, created (mode 0600) only when missing."""
    path = paths.encryption_config
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(encryption_config(secrets.token_bytes(KEY_BYTES)), indent=2) + "\n"
    # O_EXCL: never overwrite a key another `up` just wrote; the mode is set at creation.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path
