"""The ``embedded-cluster`` command: ``up [--control-plane-only]``, ``down``, ``status``,
``logs [COMPONENT]``, ``build [COMPONENT...]``, ``manifests``, ``images build|import``.

Results go to stdout (kubeconfig path, role variables, image names); progress and errors to
stderr, one line at a time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from embedded_cluster import (
    build,
    buildplan,
    containerd,
    images,
    jobs,
    lifecycle,
    network,
    upstream,
)
from embedded_cluster.errors import EmbeddedClusterError
from embedded_cluster.paths import run_paths
from embedded_cluster.schedule import IO, Slot


def _cmd_up(args: argparse.Namespace) -> int:
    result = lifecycle.up(control_plane_only=args.control_plane_only)
    if result.already_up:
        print(f"embedded-cluster: already up ({result.mode})", file=sys.stderr)
    else:
        print(f"embedded-cluster: up ({result.mode}) in {result.seconds:.1f} s", file=sys.stderr)
        for phase, seconds in result.phases.items():
            print(f"  {phase}: {seconds:.1f} s", file=sys.stderr)
    print(result.kubeconfig)
    return 0


def _cmd_down(_args: argparse.Namespace) -> int:
    stopped = lifecycle.down()
    print(f"embedded-cluster: down (stopped: {', '.join(stopped) or 'nothing'})", file=sys.stderr)
    return 0


def _cmd_status(_args: argparse.Namespace) -> int:
    paths = run_paths()
    states = lifecycle.status(paths)
    mode = lifecycle.current_mode(paths) or "down"
    print(f"mode: {mode}")
    for name, running in states.items():
        print(f"{name}: {'running' if running else 'stopped'}")
    if mode == "full":
        # The node's L2 segment: the external client netns and the MetalLB pool to use.
        for key, value in network.info().as_dict().items():
            print(f"{key}: {value}")
    if lifecycle.is_up(paths):
        print(f"kubeconfig: {paths.admin_kubeconfig}")
        return 0
    return 1


def _cmd_logs(args: argparse.Namespace) -> int:
    logs = lifecycle.log_files()
    if args.component:
        path = logs.get(args.component)
        if path is None:
            print(f"unknown component {args.component}; known: {', '.join(logs)}", file=sys.stderr)
            return 2
        if path.exists():
            sys.stdout.write(path.read_text(errors="replace"))
        return 0
    for name, path in logs.items():
        print(f"{name}: {path}")
    return 0


def _extra_jobs(args: argparse.Namespace) -> list[jobs.Job]:
    """Docker images and manifest downloads, run beside the compiles (I/O lane)."""
    extra = [
        jobs.Job(
            Slot(f"image {name}", 0.0, group="docker", lane=IO),
            lambda name=name: images.build_project_image_by_name(name),
        )
        for name in dict.fromkeys(args.image or ())
    ]
    if args.manifests:
        slot = Slot("manifests", 0.0, lane=IO)
        extra.append(jobs.Job(slot, upstream.upstream_manifests))
    return extra


def _cmd_build(args: argparse.Namespace) -> int:
    if args.times:
        for name, comp in build.COMPONENTS.items():
            for binary, seconds in build.build_times(name).items():
                print(f"{name} {comp.version} {binary}: {seconds:.0f} s")
        return 0
    started = time.monotonic()
    extra = _extra_jobs(args)
    if not args.component:
        lifecycle.prebuild(control_plane_only=args.control_plane_only, jobs=args.jobs, extra=extra)
    else:
        targets = [
            t for name in dict.fromkeys(args.component) for t in build.component_targets(name)
        ]
        buildplan.build_targets(targets, jobs=args.jobs, extra=extra)
    print(f"build: done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


def _cmd_manifests(args: argparse.Namespace) -> int:
    found = upstream.upstream_manifests()
    if args.format == "json":
        print(json.dumps(found, indent=2, sort_keys=True))
    else:  # JSON strings are valid YAML scalars: no YAML library needed
        print("---")
        for key, value in sorted(found.items()):
            print(f"{key}: {json.dumps(value)}")
    return 0


def _image_names(args: argparse.Namespace) -> list[str]:
    names = list(dict.fromkeys(args.image or images.PROJECT_IMAGES))
    unknown = [n for n in names if n not in images.PROJECT_IMAGES]
    if unknown:
        raise images.ImageError(
            f"unknown image {', '.join(unknown)}; known: {', '.join(images.PROJECT_IMAGES)}"
        )
    return names


def _cmd_images_build(args: argparse.Namespace) -> int:
    for name in _image_names(args):
        print(images.build_project_image_by_name(name))
    return 0


def _cmd_images_import(args: argparse.Namespace) -> int:
    if not containerd.is_serving():
        raise containerd.ContainerdError(
            "the cluster's containerd is not running (run `embedded-cluster up` first)"
        )
    wanted = _image_names(args)
    refs = images.import_built_project_images(wanted)
    for name in wanted:
        tag = images.project_image_tag(name)
        if tag in refs:
            print(refs[tag])
        elif args.image:  # named explicitly: it must be there; by default import what is built
            hint = f"run `embedded-cluster images build {name}`"
            print(f"images: {name}: docker has no {tag} ({hint})", file=sys.stderr)
            return 1
    return 0


def _cmd_images_digests(args: argparse.Namespace) -> int:
    if not containerd.is_serving():
        raise containerd.ContainerdError("the cluster's containerd is not running")
    print("---")  # JSON values are valid YAML
    for key, value in sorted(images.digest_role_variables().items()):
        print(f"{key}: {json.dumps(value, sort_keys=True)}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="embedded-cluster", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="build what is missing, start the cluster, print kubeconfig")
    up.add_argument(
        "--control-plane-only",
        action="store_true",
        help="etcd and the control plane only (no node, no addons)",
    )
    up.set_defaults(func=_cmd_up)
    sub.add_parser("down", help="stop everything and remove its state").set_defaults(func=_cmd_down)
    sub.add_parser("status", help="show which components run (exit 1 if not up)").set_defaults(
        func=_cmd_status
    )
    logs = sub.add_parser("logs", help="list log files, or print one component's log")
    logs.add_argument("component", nargs="?")
    logs.set_defaults(func=_cmd_logs)
    b = sub.add_parser("build", help="build what `up` needs (or the named components), cached")
    b.add_argument("component", nargs="*", help=f"any of: {', '.join(build.COMPONENTS)}")
    b.add_argument(
        "--control-plane-only", action="store_true", help="only what the control plane needs"
    )
    b.add_argument("--times", action="store_true", help="only print recorded build times")
    b.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        help=(
            "parallel compiles (default: one per CPU, at most one per 3 GiB of available "
            f"memory, at most {jobs.MAX_JOBS}; here {jobs.default_jobs()})"
        ),
    )
    b.add_argument(
        "--image",
        action="append",
        choices=images.PROJECT_IMAGES,
        help="also build this project docker image, beside the compiles (repeatable)",
    )
    b.add_argument(
        "--manifests",
        action="store_true",
        help="also download the modules `manifests` reads, beside the compiles",
    )
    b.set_defaults(func=_cmd_build)

    m = sub.add_parser(
        "manifests", help="print role variables pointing at local MetalLB/Traefik manifests"
    )
    m.add_argument("--format", choices=("yaml", "json"), default="yaml")
    m.set_defaults(func=_cmd_manifests)

    img = sub.add_parser("images", help="the project's docker images (MCP server, AIRS double)")
    img_sub = img.add_subparsers(dest="images_command", required=True)
    for name, func, text in (
        ("build", _cmd_images_build, "build with docker, print each tag"),
        ("import", _cmd_images_import, "import built ones into the running cluster, print refs"),
    ):
        cmd = img_sub.add_parser(name, help=f"{text} (default: all)")
        cmd.add_argument("image", nargs="*", help=f"any of: {', '.join(images.PROJECT_IMAGES)}")
        cmd.set_defaults(func=func)
    img_sub.add_parser(
        "digests",
        help="print role variables pinning the roles' images by digest (the cluster must be up)",
    ).set_defaults(func=_cmd_images_digests)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except EmbeddedClusterError as exc:
        print(f"embedded-cluster: error: {exc}", file=sys.stderr)
        return 1
