"""``imaging.oci``: the single-layer OCI archives the node's images are, without a cluster."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from embedded_cluster.imaging import oci


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def test_oci_archive_is_a_consistent_image_layout(tmp_path: Path) -> None:
    program = tmp_path / "program"
    program.write_bytes(b"\x7fELF not really")
    out = tmp_path / "image.tar"
    digest = oci.write_image(
        out,
        "registry.example.test/team/tool:1.2",
        [oci.FileEntry("/usr/local/bin/tool", program)],
        oci.ImageConfig(entrypoint=["/usr/local/bin/tool"], user="65532:65532"),
    )
    blobs = _members(out)
    index = json.loads(blobs["index.json"])
    entry = index["manifests"][0]
    assert entry["digest"] == digest
    assert entry["annotations"]["io.containerd.image.name"] == "registry.example.test/team/tool:1.2"
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "1.2"
    # Every blob is stored under its own sha256.
    for name, data in blobs.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    manifest = json.loads(blobs[f"blobs/sha256/{digest.split(':')[1]}"])
    config = json.loads(blobs[f"blobs/{manifest['config']['digest'].replace(':', '/')}"])
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/tool"]
    assert config["config"]["User"] == "65532:65532"
    layer_digest = manifest["layers"][0]["digest"]
    assert config["rootfs"]["diff_ids"] == [layer_digest]
    layer = tmp_path / "layer.tar"
    layer.write_bytes(blobs[f"blobs/{layer_digest.replace(':', '/')}"])
    with tarfile.open(layer) as tar:
        tool = tar.getmember("usr/local/bin/tool")
        assert tool.mode == 0o755
        assert tar.extractfile(tool).read() == program.read_bytes()  # type: ignore[union-attr]
        assert tar.getmember("tmp").mode == 0o1777


def test_same_inputs_give_the_same_digest(tmp_path: Path) -> None:
    program = tmp_path / "p"
    program.write_bytes(b"x")
    args = ([oci.FileEntry("/p", program)], oci.ImageConfig(entrypoint=["/p"]))
    first = oci.write_image(tmp_path / "a.tar", "x/y:1", *args)
    second = oci.write_image(tmp_path / "b.tar", "x/y:1", *args)
    assert first == second
