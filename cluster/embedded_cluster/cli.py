"""The ``embedded-cluster`` command: ``up [--control-plane-only]``, ``down``, ``status``,
``logs [COMPONENT]``, ``build [COMPONENT...]``."""

from __future__ import annotations

import argparse
import sys

from embedded_cluster import build, lifecycle, network
from embedded_cluster.paths import run_paths


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


def _cmd_build(args: argparse.Namespace) -> int:
    if args.times:
        for name, comp in build.COMPONENTS.items():
            for binary, seconds in build.build_times(name).items():
                print(f"{name} {comp.version} {binary}: {seconds:.0f} s")
        return 0
    if not args.component:
        lifecycle.prebuild(control_plane_only=args.control_plane_only)
        return 0
    for name in dict.fromkeys(args.component):
        build.ensure_component(name)
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
    b.set_defaults(func=_cmd_build)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (lifecycle.ClusterError, build.BuildError) as exc:
        print(f"embedded-cluster: error: {exc}", file=sys.stderr)
        return 1
