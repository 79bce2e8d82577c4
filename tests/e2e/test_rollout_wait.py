"""``airs.mcp_k8s.rollout_wait`` against real pods of the embedded cluster: each state that will
not heal by itself stops the wait at once with the pod, the reason and the caller's fix.

Every stuck Deployment gets a 600 s timeout: a failure whose message is the diagnosis ("will not
roll out", not "was not rolled out within") came before that timeout could elapse. The measured
seconds are printed (``-s``), not asserted. An unpullable image is one on a registry address on
loopback where nothing listens, so no pull leaves the host.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from embedded_cluster import images

from tests.fixtures.cluster import EmbeddedCluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LONG_TIMEOUT = 600
UNPULLABLE = "127.0.0.1:9/airs-mcp-k8s/not-there:0"
# Each kind's fix, as a role would pass its own variable.
FIXES = {
    kind: f"set test_{kind}_variable"
    for kind in ("image", "crash", "config", "mount", "schedule", "create", "timeout")
}


@dataclass(frozen=True)
class Waited:
    returncode: int
    output: str
    seconds: float


@pytest.fixture
def cluster(embedded_cluster: EmbeddedCluster) -> EmbeddedCluster:
    assert embedded_cluster.mode == "full", "these checks need the node (full mode)"
    return embedded_cluster


@pytest.fixture
def namespace(cluster: EmbeddedCluster) -> Iterator[str]:
    name = f"rollout-wait-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def local_image(embedded_cluster_session: EmbeddedCluster) -> str:
    """An image with python3 the node holds (a server image, imported by ``up``): no pull."""
    held = sorted(images.present_images())
    server = [ref for ref in held if "/airs-mcp-k8s/mcp-server:" in ref and "@" not in ref]
    assert server, f"containerd holds no server image: {held}"
    return server[-1]


def deployment(name: str, container: dict[str, Any], **pod_spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "app", "imagePullPolicy": "IfNotPresent", **container}],
                    **pod_spec,
                },
            },
        },
    }


def sleeper(image: str, **extra: Any) -> dict[str, Any]:
    return {"image": image, "command": ["python3", "-c", "import time; time.sleep(3600)"], **extra}


def wait(
    cluster: EmbeddedCluster, namespace: str, name: str, tmp_path: Path, timeout: int
) -> Waited:
    """``airs.mcp_k8s.rollout_wait`` on the Deployment, in a play of its own."""
    play = [
        {
            "name": "Wait",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Wait for the roll-out",
                    "airs.mcp_k8s.rollout_wait": {
                        "namespace": namespace,
                        "name": name,
                        "timeout": timeout,
                        "fixes": FIXES,
                    },
                }
            ],
        }
    ]
    playbook = tmp_path / f"wait-{name}.yml"
    playbook.write_text(yaml.safe_dump(play))
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
    }
    start = time.monotonic()
    proc = subprocess.run(
        # -v: an ok result's msg (the roll-out's counts) is printed only verbose
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-v", "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter={{ ansible_playbook_python }}", str(playbook)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout + 120, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - start
    print(f"\nrollout_wait on {name}: rc={proc.returncode} after {seconds:.1f} s")
    message = proc.stdout[proc.stdout.find("msg: |-") :].split("PLAY RECAP")[0]
    print(message if proc.returncode else "")
    return Waited(proc.returncode, proc.stdout + proc.stderr, seconds)


def apply(cluster: EmbeddedCluster, namespace: str, *objects: dict[str, Any]) -> None:
    for obj in objects:
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))


def assert_stuck(waited: Waited, reasons: tuple[str, ...], kind: str) -> None:
    out = waited.output
    assert waited.returncode != 0, out[-3000:]
    assert "will not roll out" in out, out[-3000:]
    assert "was not rolled out within" not in out, out[-3000:]
    assert any(reason in out for reason in reasons), out[-3000:]
    assert f"Fix: set test_{kind}_variable" in out, out[-3000:]


def test_a_ready_deployment_passes(
    cluster: EmbeddedCluster, namespace: str, local_image: str, tmp_path: Path
) -> None:
    apply(cluster, namespace, deployment("ready", sleeper(local_image)))
    waited = wait(cluster, namespace, "ready", tmp_path, LONG_TIMEOUT)
    assert waited.returncode == 0, waited.output[-3000:]
    assert "1 of 1 replicas updated, 1 ready, 1 available" in waited.output


def test_an_image_the_node_cannot_pull(
    cluster: EmbeddedCluster, namespace: str, tmp_path: Path
) -> None:
    apply(cluster, namespace, deployment("unpullable", {"image": UNPULLABLE}))
    waited = wait(cluster, namespace, "unpullable", tmp_path, LONG_TIMEOUT)
    assert_stuck(waited, ("ImagePullBackOff", "ErrImagePull"), "image")
    assert UNPULLABLE in waited.output  # the events name the image


def test_a_container_that_exits_1(
    cluster: EmbeddedCluster, namespace: str, local_image: str, tmp_path: Path
) -> None:
    crash = "import sys; print('refusing to start: SOME_SETTING is wrong'); sys.exit(1)"
    container = {"image": local_image, "command": ["python3", "-c", crash]}
    apply(cluster, namespace, deployment("crashing", container))
    waited = wait(cluster, namespace, "crashing", tmp_path, LONG_TIMEOUT)
    assert_stuck(waited, ("CrashLoopBackOff",), "crash")
    assert "refusing to start: SOME_SETTING is wrong" in waited.output  # its last log lines


def test_a_secret_key_that_does_not_exist(
    cluster: EmbeddedCluster, namespace: str, local_image: str, tmp_path: Path
) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "settings"},
        "stringData": {"PRESENT": "x"},
    }
    env = [{"name": "WANTED", "valueFrom": {"secretKeyRef": {"name": "settings", "key": "ABSENT"}}}]
    apply(cluster, namespace, secret, deployment("keyless", sleeper(local_image, env=env)))
    waited = wait(cluster, namespace, "keyless", tmp_path, LONG_TIMEOUT)
    assert_stuck(waited, ("CreateContainerConfigError",), "config")
    assert "ABSENT" in waited.output  # the kubelet's message names the key


def test_a_configmap_volume_that_does_not_exist(
    cluster: EmbeddedCluster, namespace: str, local_image: str, tmp_path: Path
) -> None:
    mounts = [{"name": "ca", "mountPath": "/etc/ca"}]
    volumes = [{"name": "ca", "configMap": {"name": "no-such-bundle"}}]
    apply(
        cluster,
        namespace,
        deployment("mountless", sleeper(local_image, volumeMounts=mounts), volumes=volumes),
    )
    waited = wait(cluster, namespace, "mountless", tmp_path, LONG_TIMEOUT)
    assert_stuck(waited, ("FailedMount",), "mount")
    assert 'configmap "no-such-bundle" not found' in waited.output


def test_a_node_selector_no_node_has(
    cluster: EmbeddedCluster, namespace: str, local_image: str, tmp_path: Path
) -> None:
    selector = {"airs-mcp-k8s.test/no-such-node": "true"}
    apply(
        cluster,
        namespace,
        deployment("nowhere", sleeper(local_image), nodeSelector=selector),
    )
    waited = wait(cluster, namespace, "nowhere", tmp_path, LONG_TIMEOUT)
    assert_stuck(waited, ("Unschedulable",), "schedule")
    assert "node affinity/selector" in waited.output  # the scheduler's message


def test_a_pod_never_ready_fails_at_the_timeout_with_its_state_and_events(
    cluster: EmbeddedCluster, namespace: str, local_image: str, tmp_path: Path
) -> None:
    """Not a state the wait can call final (a probe may yet pass): it waits the whole timeout,
    then names the pod's state and the probe failures, not the timeout alone."""
    probe = {"exec": {"command": ["python3", "-c", "raise SystemExit(1)"]}, "periodSeconds": 2}
    apply(cluster, namespace, deployment("unready", sleeper(local_image, readinessProbe=probe)))
    waited = wait(cluster, namespace, "unready", tmp_path, 20)
    out = waited.output
    assert waited.returncode != 0, out[-3000:]
    assert "was not rolled out within 20 s: 1 of 1 replicas updated, 0 ready" in out, out[-3000:]
    assert "Running; app: running, not ready" in out, out[-3000:]
    assert "Readiness probe failed" in out, out[-3000:]
    assert "Fix: set test_timeout_variable" in out, out[-3000:]
