"""The loss of the node that announces the MetalLB address, under load, on the kind cluster of
``AIRS_NODES=3 make deploy`` (docs/multi-node.md, "Failures under load").

    python -m bench.l2_failover stop|pause|drain [--sessions 20] [--rate 10]

20 SSE sessions of ``tests/e2e/clients/load_sessions.py`` (``rate`` calls per second together)
run from the LAN client namespace ``airs-lan-a``. The announcing node is the one whose
``airs-lan`` MAC address the namespace's ARP entry for the address holds. Then:

- ``stop``: ``docker stop`` of that node (a dead node), ``pause``: ``docker pause`` (a hung
  node): the seconds until a TCP connection to the address succeeds with the ARP entry pointing
  at another node; the node is started or unpaused afterwards;
- ``drain``: ``kubectl drain`` of that node (its seconds), uncordoned afterwards.

Ten seconds later the sessions stop, and their summary (calls, failures by kind, reconnects,
the longest reconnect, each session's last call) is printed with the figures as one JSON line.
Every wait is bounded. Only the kind cluster's own addresses are contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from embedded_cluster import build, kind_cluster

ROOT = Path(__file__).resolve().parents[1]
LOAD = ROOT / "tests" / "e2e" / "clients" / "load_sessions.py"
NETNS = kind_cluster.CLIENTS[0].netns
ADDRESS = str(kind_cluster.PUBLIC_ADDRESS)
URL = f"http://{ADDRESS}:8080/sse/"  # traefik_service_port's default
MOVE_TIMEOUT_S = 180
AFTER_S = 10


def _kubectl(*args: str) -> subprocess.CompletedProcess[str]:
    kubectl = build.ensure_binary("kubernetes", "kubectl")
    argv = [str(kubectl), f"--kubeconfig={kind_cluster.kubeconfig_path()}", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)


def node_by_mac() -> dict[str, str]:
    """MAC address on the kind LAN -> node container."""
    names = subprocess.run(
        ["docker", "ps", "--format", "{{.Names}}",
         "--filter", f"label=io.x-k8s.kind.cluster={kind_cluster.CLUSTER_NAME}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    fmt = f'{{{{(index .NetworkSettings.Networks "{kind_cluster.NETWORK}").MacAddress}}}}'
    macs = {}
    for name in names:
        inspect = ["docker", "inspect", "-f", fmt, name]
        macs[subprocess.run(inspect, capture_output=True, text=True).stdout.strip()] = name
    return macs


def address_mac() -> str:
    """The MAC the client namespace's ARP entry for the address holds ("" when none)."""
    argv = ["ip", "-n", NETNS, "-j", "neigh", "show", ADDRESS]
    entries = json.loads(subprocess.run(argv, capture_output=True, text=True).stdout or "[]")
    return str(entries[0].get("lladdr", "")) if entries else ""


def address_answers() -> bool:
    """A TCP connection to the address from the client namespace, bounded by 1 s."""
    probe = f"import socket; socket.create_connection(({ADDRESS!r}, 8080), timeout=1).close()"
    argv = kind_cluster.client_argv(NETNS, sys.executable, "-c", probe)
    return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0


def wait_moved(before: str) -> float | None:
    """Seconds until the address answers from a node other than ``before``'s MAC."""
    started = time.monotonic()
    while time.monotonic() - started < MOVE_TIMEOUT_S:
        if address_answers() and address_mac() not in ("", before):
            return round(time.monotonic() - started, 1)
        time.sleep(0.2)
    return None


def run(mode: str, sessions: int, rate: float) -> dict[str, object]:
    load = subprocess.Popen(
        kind_cluster.client_argv(NETNS, sys.executable, str(LOAD), URL, str(sessions), str(rate)),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=dict(os.environ),
    )  # fmt: skip
    assert load.stdin is not None
    assert load.stdout is not None
    figures: dict[str, object] = {"mode": mode, "sessions": sessions, "rate": rate}
    try:
        figures["ready"] = json.loads(load.stdout.readline())["ready"]
        if not address_answers():
            raise RuntimeError(f"{ADDRESS} does not answer from {NETNS}")
        macs = node_by_mac()
        before = address_mac()
        node = macs[before]
        figures["announcing_node"] = node
        started = time.monotonic()
        if mode == "drain":
            drained = _kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
                               "--timeout=400s")  # fmt: skip
            figures["drain_seconds"] = round(time.monotonic() - started, 1)
            figures["drain_ok"] = drained.returncode == 0
            figures["evictions_tried"] = drained.stdout.count("evicting pod")
        else:
            subprocess.run(["docker", mode, node], check=True, capture_output=True)
            figures["seconds_until_answer_from_another_node"] = wait_moved(before)
        figures["new_announcing_node"] = macs.get(address_mac())
        time.sleep(AFTER_S)  # the sessions keep running on the moved address for a while
        load.stdin.write("stop\n")
        load.stdin.flush()
        figures["load"] = json.loads(load.stdout.readline())
        load.wait(timeout=300)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
        if "announcing_node" in figures:
            node = str(figures["announcing_node"])
            if mode == "drain":
                _kubectl("uncordon", node)
            else:
                undo = "start" if mode == "stop" else "unpause"
                subprocess.run(["docker", undo, node], capture_output=True, check=False)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.l2_failover")
    parser.add_argument("mode", choices=["stop", "pause", "drain"])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10.0, help="calls per second, together")
    args = parser.parse_args(argv)
    if "AIRS_MCP_TOKEN" not in os.environ:
        print("set AIRS_MCP_TOKEN (python -m airs_deploy.token ...)", file=sys.stderr)
        return 2
    print(json.dumps(run(args.mode, args.sessions, args.rate)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
