"""Write single-layer OCI image archives from local files, without a registry or a daemon.

Every image the node needs that comes from a static Go binary (pause, CoreDNS, metrics-server,
MetalLB, Traefik, the smoke-test probe) is one layer of files on an empty root. The archive is an
OCI image layout in a tar, which ``ctr images import`` reads; the image name is carried in the
index annotations (``io.containerd.image.name`` and ``org.opencontainers.image.ref.name``).

API::

    write_image(out: Path, ref: str, files: Sequence[FileEntry], config: ImageConfig) -> str

returns the manifest digest. The layer is uncompressed and its timestamps fixed, so the same
inputs give the same digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
EPOCH = 0


@dataclass(frozen=True)
class FileEntry:
    """One file of the layer: ``source`` on the host copied to absolute ``path`` in the image."""

    path: str
    source: Path
    mode: int = 0o755


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: Sequence[str]
    cmd: Sequence[str] = ()
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    user: str = ""
    workdir: str = "/"
    # Directories created empty in the image (``/tmp`` is world-writable with the sticky bit).
    directories: Sequence[str] = ("/tmp",)  # noqa: S108 - a path inside the image
    labels: dict[str, str] = field(default_factory=dict)


def _dir_info(name: str, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name.strip("/"))
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.mtime = EPOCH
    return info


def _parents(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _layer(out: Path, files: Sequence[FileEntry], directories: Sequence[str]) -> None:
    seen: set[str] = set()
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for directory in directories:
            for parent in [*_parents(directory), directory.strip("/")]:
                if parent and parent not in seen:
                    seen.add(parent)
                    mode = 0o1777 if parent == "tmp" else 0o755
                    tar.addfile(_dir_info(parent, mode))
        for entry in files:
            for parent in _parents(entry.path):
                if parent not in seen:
                    seen.add(parent)
                    tar.addfile(_dir_info(parent, 0o755))
            info = tarfile.TarInfo(entry.path.strip("/"))
            info.size = entry.source.stat().st_size
            info.mode = entry.mode
            info.mtime = EPOCH
            with entry.source.open("rb") as handle:
                tar.addfile(info, handle)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = EPOCH
    tar.addfile(info, io.BytesIO(data))


def _json(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def write_image(out: Path, ref: str, files: Sequence[FileEntry], config: ImageConfig) -> str:
    """Write an OCI archive holding image ``ref`` to ``out``; return the manifest digest."""
    out.parent.mkdir(parents=True, exist_ok=True)
    layer_path = out.with_name(out.name + ".layer")
    try:
        _layer(layer_path, files, config.directories)
        layer_digest = _sha256_file(layer_path)
        layer_size = layer_path.stat().st_size
        image_config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Entrypoint": list(config.entrypoint),
                "Cmd": list(config.cmd) or None,
                "Env": list(config.env),
                "User": config.user,
                "WorkingDir": config.workdir,
                "Labels": dict(config.labels) or None,
            },
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
            # The module's name before it moved to imaging/: kept, so digests stay the same.
            "history": [{"created_by": "airs-mcp-k8s embedded_cluster.oci"}],
        }
        config_bytes = _json(image_config)
        config_digest = hashlib.sha256(config_bytes).hexdigest()
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": CONFIG_MEDIA_TYPE,
                "digest": f"sha256:{config_digest}",
                "size": len(config_bytes),
            },
            "layers": [
                {
                    "mediaType": LAYER_MEDIA_TYPE,
                    "digest": f"sha256:{layer_digest}",
                    "size": layer_size,
                }
            ],
        }
        manifest_bytes = _json(manifest)
        manifest_digest = hashlib.sha256(manifest_bytes).hexdigest()
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": [
                {
                    "mediaType": MANIFEST_MEDIA_TYPE,
                    "digest": f"sha256:{manifest_digest}",
                    "size": len(manifest_bytes),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": ref,
                        "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[-1],
                    },
                }
            ],
        }
        tmp = out.with_name(out.name + ".tmp")
        with tarfile.open(tmp, "w") as tar:
            _add_bytes(tar, "oci-layout", _json({"imageLayoutVersion": "1.0.0"}))
            _add_bytes(tar, "index.json", _json(index))
            _add_bytes(tar, f"blobs/sha256/{config_digest}", config_bytes)
            _add_bytes(tar, f"blobs/sha256/{manifest_digest}", manifest_bytes)
            info = tarfile.TarInfo(f"blobs/sha256/{layer_digest}")
            info.size = layer_size
            info.mode = 0o644
            info.mtime = EPOCH
            with layer_path.open("rb") as handle:
                tar.addfile(info, handle)
        tmp.rename(out)
        return f"sha256:{manifest_digest}"
    finally:
        layer_path.unlink(missing_ok=True)
