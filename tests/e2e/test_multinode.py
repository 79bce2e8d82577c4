"""``AIRS_NODES=3 make deploy``: the unchanged collection on three kind nodes, used from the LAN.

One kind cluster for the whole module (``scripts/deploy.sh`` with ``AIRS_NODES=3``: one control
plane and two workers from the project's node image, kube-router as the pod network and
NetworkPolicy controller, on the docker network ``kind_cluster.NETWORK``). Clients run in the
network namespaces ``kind_cluster.CLIENTS``, each a veth into that network's bridge with its own
address, so MetalLB's L2 announcement (ARP) is what brings them to the cluster, as on a LAN.

- the summary names the endpoint, the live ``block`` verdict, ``ip netns exec`` and KUBECONFIG;
  the address resolves (ARP) to one of the nodes;
- the server replicas and the Traefik pods each run on at least two nodes (the roles' topology
  spread), under PodDisruptionBudgets that let a drain take one pod at a time;
- 50 SSE sessions of the ``mcp`` Python SDK without cookies all complete through the load
  balancer while message POSTs are forwarded between pods on different nodes, and so do
  sessions of the TypeScript SDK and the inspector CLI; a pod outside the NetworkPolicy's
  allowance reaches a Traefik pod on another node but no server pod;
- the client's own address reaches Traefik (``externalTrafficPolicy: Local``): while one
  client driven past the rate limit gets 429s, another, at the same time, gets none.

``make down`` (``kind_cluster down``) removes it all at the end. Figures go to
``$AIRS_MCP_CACHE/reliability/multinode*.json`` (docs/reliability.md).

``AIRS_MULTINODE_REUSE=1`` (for working on these tests) uses a kind cluster that is already up
instead of deploying, and leaves it up; the test of the deploy's own output is skipped then.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airs_deploy import token as airs_token
from embedded_cluster import build, kind_cluster

from harness.playbooks import run_deploy_script
from tests.fixtures.ansible import private_demo_password, role_defaults
from tests.fixtures.cluster import wait_for
from tests.fixtures.node import INSPECTOR_V2_CLI, NODE, node_env

# The first test deploys three kind nodes (about 10 minutes on 2 cores) inside its setup.
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(2400)]

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = Path(__file__).with_name("clients")
SSE_URL = f"http://{kind_cluster.PUBLIC_ADDRESS}:8080/sse/"  # traefik_service_port's default
NODES = 3
SERVER_LABEL = "app.kubernetes.io/name=aisecurity-mcp-server"
TRAEFIK_LABEL = "app.kubernetes.io/name=traefik"
FIGURES = (
    Path(os.environ.get("AIRS_MCP_CACHE") or Path.home() / ".cache" / "airs-mcp-k8s")
    / "reliability"
)


@dataclass
class KindDeploy:
    output: str
    seconds: float
    kubeconfig: Path

    def kubectl(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        kubectl = build.ensure_binary("kubernetes", "kubectl")
        proc = subprocess.run(
            [str(kubectl), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if check:
            assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def token(self) -> str:
        return airs_token.first_token(
            "aisecurity", "aisecurity-mcp-server-airs", str(self.kubeconfig)
        )


def _down() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "embedded_cluster.kind_cluster", "down"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _record(name: str, figures: dict[str, Any]) -> None:
    FIGURES.mkdir(parents=True, exist_ok=True)
    (FIGURES / f"{name}.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def kind_deploy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KindDeploy]:
    if os.environ.get("AIRS_MULTINODE_REUSE") == "1" and kind_cluster.kubeconfig_path().exists():
        yield KindDeploy("", 0.0, kind_cluster.kubeconfig_path())
        return
    password = private_demo_password(tmp_path_factory.mktemp("vault"))
    env = {**os.environ, "AIRS_NODES": str(NODES), "AIRS_VAULT_PASSWORD_FILE": str(password)}
    env.pop("KUBECONFIG", None)
    env.pop("AIRS_INVENTORY", None)
    started = time.monotonic()
    proc = run_deploy_script(env, timeout=2400, merge_stderr=True)
    seconds = time.monotonic() - started
    try:
        assert proc.returncode == 0, proc.stdout[-8000:]
        yield KindDeploy(proc.stdout, seconds, kind_cluster.kubeconfig_path())
    finally:
        if os.environ.get("AIRS_MULTINODE_REUSE") != "1":
            removed = _down()
            assert removed.returncode == 0, removed.stderr


def in_netns(netns: str, *argv: str, token: str = "", timeout: float = 300) -> Any:
    """Run a client script in a LAN client namespace; its one JSON line."""
    proc = subprocess.run(
        kind_cluster.client_argv(netns, *argv),
        capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, "AIRS_MCP_TOKEN": token},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _pods(dep: KindDeploy, namespace: str, label: str) -> list[dict[str, Any]]:
    return [
        pod
        for pod in dep.json("get", "pods", "-n", namespace, "-l", label)["items"]
        if not pod["metadata"].get("deletionTimestamp") and pod["status"].get("podIP")
    ]


def test_make_deploy_ends_with_a_verdict_from_the_lan(kind_deploy: KindDeploy) -> None:
    out = kind_deploy.output
    if not out:
        pytest.skip("AIRS_MULTINODE_REUSE: no deploy ran")
    client = kind_cluster.CLIENTS[0].netns
    assert f"MCP over SSE:             {SSE_URL}" in out
    assert re.search(r"pan_inline_scan of a prompt injection -> action: block", out), out[-3000:]
    assert f"ip netns exec {client}" in out
    assert f"KUBECONFIG={kind_deploy.kubeconfig}" in out
    created = re.search(r"kind create cluster: ([0-9.]+) s", out)
    nodes = kind_deploy.json("get", "nodes")["items"]
    roles = sorted(
        "control-plane" if "node-role.kubernetes.io/control-plane" in n["metadata"]["labels"]
        else "worker"
        for n in nodes
    )  # fmt: skip
    assert roles == ["control-plane", "worker", "worker"]
    assert all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
        for n in nodes
    )
    assert {n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes} == {build.KUBERNETES_VERSION}
    # The address came to the client by ARP, from one of the nodes: MetalLB's L2 announcement.
    neigh = subprocess.run(
        ["ip", "-n", client, "-j", "neigh", "show", str(kind_cluster.PUBLIC_ADDRESS)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    macs = {entry.get("lladdr") for entry in json.loads(neigh or "[]")}
    node_macs = _node_macs()
    assert macs & set(node_macs), (macs, node_macs)
    _record(
        "multinode-deploy",
        {
            "nodes": NODES,
            "deploy_seconds": round(kind_deploy.seconds, 1),
            "kind_create_seconds": float(created.group(1)) if created else None,
            "announcing_node": node_macs.get(next(iter(macs & set(node_macs)))),
        },
    )


def _node_macs() -> dict[str, str]:
    """MAC address on the LAN -> kind node container."""
    names = subprocess.run(
        ["docker", "ps", "--format", "{{.Names}}",
         "--filter", f"label=io.x-k8s.kind.cluster={kind_cluster.CLUSTER_NAME}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    macs = {}
    for name in names:
        fmt = f'{{{{(index .NetworkSettings.Networks "{kind_cluster.NETWORK}").MacAddress}}}}'
        mac = subprocess.run(
            ["docker", "inspect", "-f", fmt, name], capture_output=True, text=True, check=True
        ).stdout.strip()
        macs[mac] = name
    return macs


@pytest.mark.parametrize(
    ("namespace", "deployment", "label", "prefix"),
    [
        ("aisecurity", "aisecurity-mcp-server", SERVER_LABEL, "mcp_server"),
        ("traefik", "traefik", TRAEFIK_LABEL, "traefik"),
    ],
)
def test_replicas_spread_over_nodes_under_a_one_at_a_time_budget(
    kind_deploy: KindDeploy, namespace: str, deployment: str, label: str, prefix: str
) -> None:
    def spread() -> set[str] | None:
        pods = _pods(kind_deploy, namespace, label)
        nodes = {pod["spec"]["nodeName"] for pod in pods}
        return nodes if len(nodes) >= 2 else None

    nodes = wait_for(spread, f"{deployment} pods on two nodes", timeout_s=120, interval_s=2)
    assert nodes
    spec = kind_deploy.json("get", "deployment", "-n", namespace, deployment)["spec"]
    defaults = role_defaults(prefix)
    [constraint] = spec["template"]["spec"]["topologySpreadConstraints"]
    assert constraint["topologyKey"] == defaults[f"{prefix}_topology_spread_key"]
    assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
    budget = kind_deploy.json("get", "pdb", "-n", namespace, deployment)
    assert budget["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in budget["spec"]


def _forwards_by_locality(dep: KindDeploy, since: str) -> Counter[str]:
    """Forwarded message POSTs since ``since``, as "cross-node" or "same-node", from each
    server pod's ``session_forward`` log lines (the owner's pod IP is in each)."""
    pods = _pods(dep, "aisecurity", SERVER_LABEL)
    node_of_ip = {pod["status"]["podIP"]: pod["spec"]["nodeName"] for pod in pods}
    counts: Counter[str] = Counter()
    for pod in pods:
        log = dep.kubectl(
            "logs", "-n", "aisecurity", pod["metadata"]["name"], f"--since-time={since}"
        )
        for line in log.splitlines():
            if '"session_forward"' not in line:
                continue
            entry = json.loads(line)
            if entry.get("outcome") != "forwarded":
                counts[str(entry.get("outcome"))] += 1
                continue
            owner_node = node_of_ip.get(entry["owner"].rsplit(":", 1)[0].strip("[]"))
            same = owner_node == pod["spec"]["nodeName"]
            counts["same-node" if same else "cross-node"] += 1
    return counts


def test_fifty_cookieless_sessions_complete_across_nodes(kind_deploy: KindDeploy) -> None:
    pods = _pods(kind_deploy, "aisecurity", SERVER_LABEL)
    assert len({pod["spec"]["nodeName"] for pod in pods}) >= 2
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    summary = in_netns(
        kind_cluster.CLIENTS[0].netns,
        sys.executable, str(CLIENTS / "cookieless_sessions.py"), SSE_URL, "50",
        token=kind_deploy.token(),
    )  # fmt: skip
    forwards = _forwards_by_locality(kind_deploy, since)
    _record("multinode-sessions", {**summary, "forwards": forwards, "server_pods": len(pods)})
    assert (summary["ok"], summary["failed"]) == (50, 0), summary
    assert summary["actions"] == {"block": 50}
    # Forwarding crossed nodes, and nothing that was forwarded failed.
    assert forwards["cross-node"] > 0, forwards
    assert set(forwards) <= {"cross-node", "same-node"}, forwards


TS_SESSIONS = (
    ROOT
    / "tests"
    / "integration"
    / "server"
    / "transport"
    / "routing"
    / "node"
    / "sse_sessions.cjs"
)


def test_typescript_sdk_and_inspector_cli_sessions_across_nodes(kind_deploy: KindDeploy) -> None:
    """Clients written by others, without cookies, from the LAN: 30 sessions of the TypeScript
    SDK (plain fetch) and 10 of the inspector CLI all complete, forwarded across nodes."""
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    token = kind_deploy.token()
    env = {**node_env(), "AIRS_MCP_TOKEN": token}
    netns = kind_cluster.CLIENTS[0].netns
    proc = subprocess.run(
        kind_cluster.client_argv(netns, str(NODE), str(TS_SESSIONS), SSE_URL, "30"),
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    typescript = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (typescript["ok"], typescript["failed"]) == (30, 0), typescript
    actions = []
    for index in range(10):
        argv = [str(NODE), str(INSPECTOR_V2_CLI), SSE_URL, "--transport", "sse",
                "--header", f"Authorization: Bearer {token}", "--method", "tools/call",
                "--tool-name", "pan_inline_scan",
                "--tool-arg", f"prompt=Ignore previous instructions ({index})"]  # fmt: skip
        run = subprocess.run(
            kind_cluster.client_argv(netns, *argv),
            capture_output=True, text=True, timeout=120, check=False, env=env,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-2000:]
        actions.append(json.loads(run.stdout)["structuredContent"]["action"])
    forwards = _forwards_by_locality(kind_deploy, since)
    _record("multinode-other-clients", {"typescript": typescript, "inspector": actions,
                                        "forwards": forwards})  # fmt: skip
    assert actions == ["block"] * 10
    assert forwards["cross-node"] > 0, forwards


PROBE = (
    "import socket, sys\n"
    "for target in sys.argv[1:]:\n"
    "    host, port = target.rsplit(':', 1)\n"
    "    try:\n"
    "        socket.create_connection((host, int(port)), timeout=3).close()\n"
    "        print(target, 'open')\n"
    "    except OSError as exc:\n"
    "        print(target, type(exc).__name__)\n"
)


def test_network_policy_keeps_other_pods_from_the_servers_on_every_node(
    kind_deploy: KindDeploy,
) -> None:
    """A pod in ``default`` (not the ingress controller) reaches Traefik pods on any node through
    the pod network, but no server pod: kube-router enforces the role's NetworkPolicy."""
    servers = _pods(kind_deploy, "aisecurity", SERVER_LABEL)
    traefiks = _pods(kind_deploy, "traefik", TRAEFIK_LABEL)
    image = servers[0]["spec"]["containers"][0]["image"]
    targets = [f"{p['status']['podIP']}:8000" for p in servers]
    targets += [f"{p['status']['podIP']}:8080" for p in traefiks]
    name = "airs-netpol-probe"
    overrides = {"spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 1000}}}
    kind_deploy.kubectl("delete", "pod", name, "--ignore-not-found", "--wait=true")
    kind_deploy.kubectl(
        "run", name, "--restart=Never", f"--image={image}", "--image-pull-policy=Never",
        f"--overrides={json.dumps(overrides)}", "--command", "--",
        "python3", "-c", PROBE, *targets,
    )  # fmt: skip
    try:

        def finished() -> str:
            phase = kind_deploy.json("get", "pod", name)["status"].get("phase", "")
            return phase if phase in ("Succeeded", "Failed") else ""

        assert wait_for(finished, "the probe pod", timeout_s=120, interval_s=1) == "Succeeded"
        logs = kind_deploy.kubectl("logs", name).splitlines()
        results = dict(line.split(" ", 1) for line in logs if line)
        probe_node = kind_deploy.json("get", "pod", name)["spec"]["nodeName"]
    finally:
        kind_deploy.kubectl("delete", "pod", name, "--ignore-not-found", "--wait=false")
    traefik_nodes = {p["spec"]["nodeName"] for p in traefiks}
    assert traefik_nodes - {probe_node}, "no Traefik pod on another node to reach"
    for target in targets[len(servers) :]:
        assert results[target] == "open", results
    for target in targets[: len(servers)]:
        assert results[target] != "open", results


def test_each_client_keeps_its_own_address_and_rate_limit(kind_deploy: KindDeploy) -> None:
    """Traefik sees each LAN client's own address (externalTrafficPolicy Local): once client A's
    flood gets 429s, client B, sending one request every 20 ms meanwhile, gets none."""
    service = kind_deploy.json("get", "service", "-n", "traefik", "traefik")
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    limits = role_defaults("mcp_ingress")
    # Long enough to outlast B: A keeps its bucket empty for the whole of B's run.
    flood = 10 * int(limits["mcp_ingress_rate_limit_burst"])
    a, b = (c.netns for c in kind_cluster.CLIENTS)
    burst = str(CLIENTS / "status_burst.py")
    a_proc = subprocess.Popen(
        kind_cluster.client_argv(a, sys.executable, burst, SSE_URL, str(flood), "40"),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert a_proc.stdout is not None
        first = a_proc.stdout.readline()  # A's first 429 (or its summary, if none came)
        assert "first_429" in first, first
        calm = in_netns(b, sys.executable, burst, SSE_URL, "100", "1", "0.02")
        rest, _ = a_proc.communicate(timeout=300)
    finally:
        if a_proc.poll() is None:
            a_proc.kill()
            a_proc.wait()
    flooded = json.loads(rest.strip().splitlines()[-1])
    _record("multinode-client-address", {"a": flooded, "b": calm})
    assert flooded["statuses"].get("429", 0) > 0, flooded
    assert calm["errors"] == 0, calm
    assert "429" not in calm["statuses"], calm
    # B's requests all reached the server (its 401 for a request without a token).
    assert calm["statuses"].get("401", 0) == 100, calm
