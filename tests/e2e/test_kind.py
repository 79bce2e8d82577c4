"""The collection's molecule ``kind`` scenario, run for real: kind v0.33 and an unmodified docker.

``molecule test -s kind``: destroy, syntax, create (host runtime adaptation where needed, kind,
the locally built node image, ``kind create cluster`` of three nodes (the layout of
``AIRS_NODES=3 make deploy``, ``kind_cluster.kind_config``), every node Ready, ``kind load
image-archive`` of MetalLB, Traefik, the server and the AIRS double, CoreDNS without upstream
forwarding, the MetalLB pool inside kind's docker network), converge (``demo.yml``: the AIRS API
double, then ``site.yml``), idempotence, verify (``verify.yml``'s HTTP checks through the MetalLB
address, then one real MCP call: ``pan_inline_scan`` of a prompt injection gets the verdict
``block`` through the route) and destroy (cluster and network removed).

The heavy builds (kind's base and node images) are cached; ``scripts/test.sh`` prebuilds them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.molecule import assert_actions_passed, run_scenario

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLUSTER = "airs-molecule"
NETWORK = "airs-kind"


def _docker_lines(*argv: str) -> list[str]:
    out = subprocess.run(["docker", *argv], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


@pytest.mark.timeout(2400)
def test_kind_scenario_passes(tmp_path: Path) -> None:
    returncode, out = run_scenario("kind", tmp_path)
    assert returncode == 0, out[-8000:]
    actions = ("destroy", "syntax", "create", "converge", "idempotence", "verify")
    assert_actions_passed(out, "kind", actions)
    # molecule boxes each playbook's output and wraps its long lines ("│   " continuations)
    flat = re.sub(r"\n\s*│? {2,}", " ", out)
    for task in (
        "Create the cluster from airs-mcp-k8s/kind-node:",
        "Read the kind configuration, nodes = 3",
        "Load the locally built images into the nodes",
        "Wait for every node to be Ready",
        "Expect the server itself to answer an unknown SSE session",
        "Scan a prompt injection with pan_inline_scan through the load balancer",
    ):
        assert task in flat, task
    # The tool call's verdict, through the route to the server and on to the double.
    assert re.search(r"pan_inline_scan via sse http://[^ ]+/sse/: action block, detections ", flat)
    # destroy removed the node container and the scenario's docker network
    label = f"label=io.x-k8s.kind.cluster={CLUSTER}"
    assert _docker_lines("ps", "-aq", "--filter", label) == []
    assert NETWORK not in _docker_lines("network", "ls", "--format", "{{.Name}}")
