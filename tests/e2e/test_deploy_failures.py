"""Failures on a user's own cluster, tried on the deployed demo: each says what to fix, and a
failed roll-out never breaks the pods that serve.

- A roll-out to an image the nodes cannot pull, together with a change that drops what the old
  pods read (the AIRS CA bundle's ConfigMap, the endpoint key of the API key Secret), fails at
  once naming ``mcp_server_image``; the old pods' snapshots are still there, and an old pod
  deleted then comes back Ready and still scans through AIRS (the double).
- ``verify.yml`` checks AIRS from inside a server pod: the double refusing the key (401) names
  ``mcp_secret_api_key``; the endpoint down names it, ``mcp_secret_api_endpoint`` and the paths
  to check.

The demo is converged first with this checkout's roles (``make deploy`` runs when it is not
deployed), with the image tags and digests, manifests and CA file it was deployed with (read
from the cluster), and put back after each test. The unpullable image sits on a registry address
on loopback where nothing listens, so no pull leaves the host.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.checkout import COLLECTION
from harness.playbooks import PlaybookRun, run_deploy_script, run_playbook
from tests.fixtures.ansible import (
    upstream_manifests_session,  # noqa: F401 - fixture
    vault_password_file,  # noqa: F401 - fixture
    write_vars,
)
from tests.fixtures.cluster import EmbeddedCluster, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NS = "aisecurity"
SERVER = "aisecurity-mcp-server"
DOUBLE_NS = "airs-demo"
DOUBLE = "airs-api-double"
DOUBLE_ENDPOINT = f"https://{DOUBLE}.{DOUBLE_NS}.svc"
SERVER_LABEL = "app.kubernetes.io/name=aisecurity-mcp-server"
SNAPSHOT_LABEL = "airs-mcp-k8s/snapshot=true"
PROBE = (COLLECTION / "roles" / "mcp_server" / "files" / "airs_probe.py").read_text()
UNPULLABLE = "127.0.0.1:9/airs-mcp-k8s/mcp-server"
# deploy.sh's CA file of the HTTPS route (mcp_ingress_tls_ca_file), kept where it left it.
CA_FILE = (
    Path(os.environ.get("AIRS_MCP_CACHE") or Path.home() / ".cache" / "airs-mcp-k8s")
    / "deploy"
    / "airs-mcp-ca.pem"
)
FAULT_401 = (
    "import json, ssl, urllib.request\n"
    "fault = {'path': '/v1/scan', 'status': 401, 'count': -1, 'message': 'Invalid API key'}\n"
    "request = urllib.request.Request('https://127.0.0.1:8443/_double/faults',\n"
    "    data=json.dumps(fault).encode(), headers={'Content-Type': 'application/json'})\n"
    "urllib.request.urlopen(request, context=ssl._create_unverified_context(), timeout=10)\n"
)
CLEAR_FAULTS = (
    "import ssl, urllib.request\n"
    "request = urllib.request.Request('https://127.0.0.1:8443/_double/faults', method='DELETE')\n"
    "urllib.request.urlopen(request, context=ssl._create_unverified_context(), timeout=10)\n"
)


@dataclass
class Demo:
    cluster: EmbeddedCluster
    vars_file: Path
    password: Path
    tmp: Path

    def play(self, name: str, *args: str, **variables: Any) -> PlaybookRun:
        extra = (write_vars(self.tmp / f"extra-{time.monotonic_ns()}.yml", variables),)
        return run_playbook(
            name,
            self.cluster.kubeconfig,
            vault_password_file=self.password,
            vars_files=(self.vars_file, *(extra if variables else ())),
            args=args,
            timeout=1800,
        )

    def verify(self) -> PlaybookRun:
        return self.play("verify.yml", verify_ca_file=str(self.tmp / "verify-ca.pem"))

    def json(self, *args: str) -> Any:
        return json.loads(self.cluster.kubectl(*args, "-o", "json").stdout)

    def server_pods(self) -> list[dict[str, Any]]:
        pods = self.json("get", "pods", "-n", NS, "-l", SERVER_LABEL)["items"]
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    def double_exec(self, script: str) -> None:
        pod = self.cluster.kubectl("get", "pods", "-n", DOUBLE_NS, "-l",
                                   f"app.kubernetes.io/name={DOUBLE}",
                                   "-o", "jsonpath={.items[0].metadata.name}").stdout  # fmt: skip
        self.cluster.kubectl("exec", "-n", DOUBLE_NS, pod, "--", "python3", "-c", script)


def _image(deployment: dict[str, Any], container: int = 0) -> str:
    return deployment["spec"]["template"]["spec"]["containers"][container]["image"]


def _tag_and_digest(image: str) -> tuple[str, str]:
    name, _, digest = image.partition("@")
    return name.rsplit(":", 1)[1], digest


def deployed_variables(cluster: EmbeddedCluster) -> dict[str, Any]:
    """The image tags and digests the demo runs, from its objects: what deploy.sh passed."""

    def deployment(ns: str, name: str) -> dict[str, Any]:
        return json.loads(cluster.kubectl("get", "deployment", name, "-n", ns, "-o", "json").stdout)

    server_tag, server_digest = _tag_and_digest(_image(deployment(NS, SERVER)))
    double_tag, _ = _tag_and_digest(_image(deployment(DOUBLE_NS, DOUBLE)))
    _, traefik_digest = _tag_and_digest(_image(deployment("traefik", "traefik")))
    metallb = {}
    for kind, name in (("deployment", "controller"), ("daemonset", "speaker")):
        obj = json.loads(
            cluster.kubectl("get", kind, name, "-n", "metallb-system", "-o", "json").stdout
        )
        ref = _image(obj)
        metallb[ref.partition("@")[0].rsplit(":", 1)[0]] = ref.partition("@")[2]
    return {
        "mcp_server_image_tag": server_tag,
        "mcp_server_image_digest": server_digest,
        "airs_api_double_image_tag": double_tag,
        "traefik_image_digest": traefik_digest,
        "metallb_image_digests": metallb,
        "mcp_ingress_tls_ca_file": str(CA_FILE),
    }


def _demo_deployed(cluster: EmbeddedCluster) -> bool:
    found = cluster.kubectl("get", "deployment", DOUBLE, "-n", DOUBLE_NS, check=False)
    return found.returncode == 0


@pytest.fixture(scope="module")
def converged(
    embedded_cluster_session: EmbeddedCluster,
    upstream_manifests_session: dict[str, str],  # noqa: F811
    vault_password_file: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Demo:
    cluster = embedded_cluster_session
    if cluster.mode != "full":
        pytest.skip("the embedded cluster has no node yet (control plane only)")
    if not _demo_deployed(cluster):
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "AIRS_INVENTORY")}
        deployed = run_deploy_script(env, timeout=2400, merge_stderr=True)
        assert deployed.returncode == 0, deployed.stdout[-6000:]
    tmp = tmp_path_factory.mktemp("deploy-failures")
    variables = {**upstream_manifests_session, **deployed_variables(cluster)}
    demo = Demo(cluster, write_vars(tmp / "deployed.yml", variables), vault_password_file, tmp)
    demo.play("demo.yml").check()  # this checkout's roles
    return demo


@pytest.fixture
def demo(converged: Demo, embedded_cluster: EmbeddedCluster) -> Iterator[Demo]:
    """The converged demo, put back (and checked) after the test."""
    yield converged
    converged.play("demo.yml").check()


def _ready(pod: dict[str, Any]) -> bool:
    conditions = pod["status"].get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _owner(pod: dict[str, Any]) -> str:
    return pod["metadata"]["ownerReferences"][0]["name"]


def _excerpt(output: str, start: str, lines: int = 16) -> str:
    """The lines of a play's output from the first holding ``start`` (for the report, ``-s``)."""
    at = output.find(start)
    return "\n".join(output[at:].splitlines()[:lines]) if at >= 0 else ""


def _scan_from_inside(demo: Demo, pod: str) -> dict[str, Any]:
    """One pan_inline_scan through the pod's own server (the role's probe, as verify runs it)."""
    out = demo.cluster.kubectl("exec", "-n", NS, pod, "-c", "server", "--", "python3", "-c",
                               PROBE, "http://127.0.0.1:8000/sse/", "127.0.0.1", "60",
                               timeout=120).stdout  # fmt: skip
    return json.loads(out)


def test_a_failed_roll_out_names_the_image_and_old_pods_still_restart(demo: Demo) -> None:
    before = demo.json("get", "deployment", SERVER, "-n", NS)
    volumes = before["spec"]["template"]["spec"]["volumes"]
    (ca_volume,) = [v for v in volumes if v["name"] == "airs-ca"]
    old_ca = ca_volume["configMap"]["name"]
    old_secret = before["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["secretRef"]
    old_pods = [p for p in demo.server_pods() if _ready(p)]
    assert old_pods, "no ready server pod before the change"
    old_rs = _owner(old_pods[0])

    start = time.monotonic()
    broken = demo.play(
        "demo.yml",
        mcp_server_image=UNPULLABLE,
        mcp_server_image_digest="",
        mcp_server_wait_timeout=1800,
        # What the old pods read, dropped by the same change: the AIRS CA bundle (its
        # ConfigMap) and the endpoint key of the API key Secret.
        mcp_server_airs_ca_bundle="",
        mcp_secret_api_endpoint="",
    )
    seconds = time.monotonic() - start
    print(f"\nthe broken roll-out's play failed after {seconds:.0f} s (wait timeout 1800 s)")
    out = broken.output
    print(_excerpt(out, "will not roll out", 24))
    assert broken.returncode != 0, out[-6000:]
    assert f"Deployment {NS}/{SERVER} will not roll out: pod" in out, out[-6000:]
    assert "was not rolled out within" not in out, out[-6000:]
    assert "ImagePullBackOff" in out or "ErrImagePull" in out, out[-6000:]
    assert "Fix: set mcp_server_image and mcp_server_image_tag" in out, out[-6000:]
    assert UNPULLABLE in out  # the pull events name the image

    victim = old_pods[0]["metadata"]["name"]
    demo.cluster.kubectl("delete", "pod", victim, "-n", NS, "--wait=false")

    def replacement() -> dict[str, Any] | None:
        for pod in demo.server_pods():
            name = pod["metadata"]["name"]
            if name not in {p["metadata"]["name"] for p in old_pods} and _owner(pod) == old_rs:
                return pod
        return None

    def events(pod: str) -> list[str]:
        listed = demo.json("get", "events", "-n", NS, "--field-selector",
                           f"involvedObject.name={pod}")["items"]  # fmt: skip
        return [f"{e['reason']}: {e['message']}" for e in listed]

    try:
        back = wait_for(lambda: (p := replacement()) and _ready(p) and p, "a Ready pod", 240, 2)
    except AssertionError as timed_out:
        stuck = replacement()
        name = stuck["metadata"]["name"] if stuck else "(none)"
        message = f"the old pod's replacement {name} is not Ready: {events(name)}"
        raise AssertionError(message) from timed_out
    assert isinstance(back, dict)
    name = back["metadata"]["name"]
    assert not [e for e in events(name) if e.startswith("FailedMount")], events(name)
    # It still scans through AIRS, with the endpoint and CA bundle it was started with.
    scan = _scan_from_inside(demo, name)
    assert scan["endpoint"] == DOUBLE_ENDPOINT, scan
    assert scan["check"]["ok"], scan
    assert scan["check"]["action"] == "block", scan
    # Nothing the old pods read is gone: their snapshots, the CA bundle's among them, while the
    # change did reach the Secret the mcp_secret role writes.
    demo.cluster.kubectl("get", "configmap", old_ca, "-n", NS)
    demo.cluster.kubectl("get", "secret", old_secret["name"], "-n", NS)
    source = demo.json("get", "secret", "aisecurity-mcp-server-airs", "-n", NS)["data"]
    assert "PANW_AI_SEC_API_ENDPOINT" not in source


def test_verify_names_the_key_when_airs_refuses_it(demo: Demo) -> None:
    healthy = demo.verify().check()
    assert "AIRS answered from inside pod" in healthy.output
    assert f"via {DOUBLE_ENDPOINT}" in healthy.output
    demo.double_exec(FAULT_401)
    try:
        refused = demo.verify()
    finally:
        demo.double_exec(CLEAR_FAULTS)
    out = refused.output
    print("\n" + _excerpt(out, "AIRS does not answer", 6))
    assert refused.returncode != 0, out[-6000:]
    assert "AIRS does not answer the server" in out, out[-6000:]
    assert "HTTP 401" in out, out[-6000:]
    assert "set mcp_secret_api_key" in out, out[-6000:]
    assert f"Endpoint tried: {DOUBLE_ENDPOINT} (set by mcp_secret_api_endpoint)" in out


def test_verify_names_the_endpoint_and_the_paths_when_airs_is_unreachable(demo: Demo) -> None:
    demo.cluster.kubectl("scale", "deployment", DOUBLE, "-n", DOUBLE_NS, "--replicas=0")
    try:

        def double_gone() -> bool:
            pods = demo.json("get", "pods", "-n", DOUBLE_NS)["items"]
            return not pods

        wait_for(double_gone, "the double's pods to be gone", 120, 1)
        unreachable = demo.verify()
    finally:
        demo.cluster.kubectl("scale", "deployment", DOUBLE, "-n", DOUBLE_NS, "--replicas=1")
        demo.cluster.kubectl("rollout", "status", "deployment", DOUBLE, "-n", DOUBLE_NS,
                             "--timeout=180s", timeout=200)  # fmt: skip
    out = unreachable.output
    print("\n" + _excerpt(out, "AIRS does not answer", 6))
    assert unreachable.returncode != 0, out[-6000:]
    assert "AIRS does not answer the server" in out, out[-6000:]
    assert "cannot connect to the AIRS API" in out or "AIRS did not answer within" in out
    assert f"Endpoint tried: {DOUBLE_ENDPOINT} (set by mcp_secret_api_endpoint)" in out
    for path in ("mcp_secret_api_endpoint", "NetworkPolicy", "https_proxy",
                 "mcp_server_airs_ca_bundle"):  # fmt: skip
        assert path in out, (path, out[-6000:])
