"""Everything molecule's ``kind`` scenario needs before ``kind create cluster``, in one call.

- the host adaptation (``kind_runtime.install``: only where the bounding set needs it);
- the kind binary (``build.COMPONENTS["kind"]``) and kubectl;
- kind's node image (``kind_node.ensure_node_image``, on ``kind_base``);
- with ``--archives DIR``: image archives for ``kind load image-archive`` of what the roles run
  (MetalLB, Traefik: single-binary OCI archives as in ``images.py``; the MCP server and the
  AIRS API double: ``docker save`` of the project images).

CLI (prints one JSON object: kind, kubectl, node_image, runtime, archives, project_images)::

    python -m embedded_cluster.kind_prepare [--archives DIR] [--no-runtime]
    python -m embedded_cluster.kind_prepare --prebuild     # heavy builds only (scripts/test.sh)
    python -m embedded_cluster.kind_prepare --kind-path    # the kind binary (built when missing)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from embedded_cluster import build, images, kind_runtime
from embedded_cluster.imaging.kind_node import ensure_node_image
from embedded_cluster.imaging.oci import FileEntry, ImageConfig, write_image

PROJECT_IMAGES = ("server", "double")


def _file_name(ref: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", ref) + ".tar"


def role_image_archives(directory: Path) -> list[Path]:
    """OCI archives of MetalLB and Traefik (same files as the embedded cluster imports)."""
    wanted = {spec.ref: spec for spec in images.specs() if spec.ref in images.ROLE_IMAGES}
    missing = set(images.ROLE_IMAGES) - set(wanted)
    if missing:
        raise images.ImageError(f"images.specs() no longer lists {sorted(missing)}")
    paths = []
    for ref in images.ROLE_IMAGES:
        spec = wanted[ref]
        out = directory / _file_name(ref)
        config = ImageConfig(entrypoint=[spec.path], user=spec.user)
        write_image(out, ref, [FileEntry(spec.path, spec.binary())], config)
        paths.append(out)
    return paths


def project_image_archives(directory: Path) -> dict[str, tuple[str, Path]]:
    """``docker save`` of the MCP server and AIRS double images (built when missing);
    name -> (docker tag, archive). The tags name their sources' content, so the scenario
    deploys exactly the images just built."""
    saved = {}
    for name in PROJECT_IMAGES:
        tag = images.build_project_image_by_name(name)
        out = directory / _file_name(tag)
        result = subprocess.run(
            ["docker", "save", "-o", str(out), tag], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise images.ImageError(f"docker save {tag}: {result.stderr.strip()}")
        saved[name] = (tag, out)
    return saved


def prepare(archives: Path | None, runtime: bool = True) -> dict[str, object]:
    report: dict[str, object] = {}
    if runtime:
        report["runtime"] = kind_runtime.install()
    report["kind"] = str(build.ensure_binary("kind", "kind"))
    report["kubectl"] = str(build.ensure_binary("kubernetes", "kubectl"))
    report["node_image"] = ensure_node_image()
    if archives is not None:
        archives.mkdir(parents=True, exist_ok=True)
        project = project_image_archives(archives)
        paths = [*role_image_archives(archives), *(path for _, path in project.values())]
        report["archives"] = [str(p) for p in paths]
        report["project_images"] = {name: tag for name, (tag, _) in project.items()}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m embedded_cluster.kind_prepare")
    parser.add_argument("--archives", type=Path, help="write image archives for kind load here")
    parser.add_argument("--no-runtime", action="store_true", help="leave docker's runtime alone")
    parser.add_argument(
        "--prebuild", action="store_true", help="only the heavy builds (kind, node image)"
    )
    parser.add_argument("--kind-path", action="store_true", help="print the kind binary's path")
    args = parser.parse_args(argv)
    try:
        if args.kind_path:
            print(build.ensure_binary("kind", "kind"))
            return 0
        if args.prebuild:
            report = prepare(None, runtime=False)
        else:
            report = prepare(args.archives, runtime=not args.no_runtime)
    except (RuntimeError, OSError) as exc:
        print(f"kind_prepare: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
