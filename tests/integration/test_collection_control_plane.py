"""The Ansible collection against a real kube-apiserver (the embedded control plane, no node).

Without a node no pod runs, so the waits are off and the MetalLB pool (which needs the
controller's webhook) is skipped; everything else is applied for real and validated by the API
server. The steps build on each other, in file order: check mode on a fresh cluster, the first
run (with ``--diff -vvv``), the idempotent second run, check/diff of a change, a key rotation,
and uninstall.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from pathlib import Path

import pytest
from cryptography import x509

from harness.checkout import COLLECTION
from harness.playbooks import PlaybookRun, run_playbook
from tests.fixtures.ansible import (
    EXAMPLE_API_KEY,
    EXAMPLE_PROFILE_NAME,
    EXAMPLE_TOKENS,
    collection_tool,
    service_monitor_crd,
    upstream_manifests_session,  # noqa: F401 - fixture
    vault_password_file,  # noqa: F401 - fixture
    write_vars,
)
from tests.fixtures.cluster import EmbeddedCluster
from tests.fixtures.role_objects import role_objects, still_there, upstream_objects

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NS = "aisecurity"
TRAEFIK_NS = "traefik"
TRAEFIK_SA = f"system:serviceaccount:{TRAEFIK_NS}:traefik-ingress-controller"
SERVER = "aisecurity-mcp-server"
SECRET = "aisecurity-mcp-server-airs"
CHECKSUM = "airs-mcp-k8s/secret-checksum"
ROTATED_KEY = "rotated-placeholder-key-9c41aa07"
CONTROL_PLANE_VARS = {
    "metallb_wait_for_controller": False,
    "metallb_configure_pool": False,
    "traefik_wait": False,
    "mcp_server_wait": False,
}


class Scenario:
    """Playbook runs shared by the tests of this module, each run once."""

    def __init__(self, cluster: EmbeddedCluster, vars_file: Path, password: Path) -> None:
        self.cluster = cluster
        self.vars_file = vars_file
        self.password = password
        self.runs: dict[str, PlaybookRun] = {}
        self.snapshots: dict[str, set[str]] = {}

    def play(
        self,
        name: str,
        *args: str,
        vars_files: tuple[Path, ...] = (),
        collections_path: Path | None = None,
    ) -> PlaybookRun:
        return run_playbook(
            name,
            self.cluster.kubeconfig,
            vault_password_file=self.password,
            vars_files=(self.vars_file, *vars_files),
            args=args,
            collections_path=collections_path,
        )

    def once(self, key: str, name: str, *args: str, vars_files: tuple[Path, ...] = ()):
        if key not in self.runs:
            self.runs[key] = self.play(name, *args, vars_files=vars_files)
        return self.runs[key]

    def kubectl_json(self, *args: str) -> dict:
        return json.loads(self.cluster.kubectl(*args, "-o", "json").stdout)

    def installed(self) -> set[str]:
        """Every cluster-scoped object site.yml may create, plus everything in its namespaces."""
        out = self.cluster.kubectl(
            "get",
            "namespaces,customresourcedefinitions,clusterroles,clusterrolebindings,"
            "validatingwebhookconfigurations",
            "-o",
            "name",
        ).stdout.split()
        ours = {n for n in out if any(w in n for w in ("traefik", "metallb", NS))}
        for ns in (NS, TRAEFIK_NS, "metallb-system"):
            listed = self.cluster.kubectl(
                "get",
                "all,secrets,serviceaccounts,configmaps,roles,rolebindings,poddisruptionbudgets,"
                "networkpolicies",
                "-n",
                ns,
                "-o",
                "name",
                check=False,
            )
            ours |= {f"{ns}/{n}" for n in listed.stdout.split() if "kube-root-ca" not in n}
        return ours


@pytest.fixture(scope="module")
def scenario(
    embedded_control_plane_session: EmbeddedCluster,
    upstream_manifests_session: dict[str, str],  # noqa: F811
    vault_password_file: Path,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Scenario:
    variables = {**upstream_manifests_session, **CONTROL_PLANE_VARS}
    vars_file = write_vars(tmp_path_factory.mktemp("collection") / "vars.yml", variables)
    sc = Scenario(embedded_control_plane_session, vars_file, vault_password_file)
    if sc.installed():
        # A kept cluster from an earlier session: start from a fresh state.
        sc.play("uninstall.yml").check()
    return sc


@pytest.fixture
def sc(scenario: Scenario, embedded_control_plane: EmbeddedCluster) -> Scenario:
    """The module's scenario, with the cluster logs dumped when the test fails."""
    return scenario


def first_run(sc: Scenario) -> PlaybookRun:
    check_on_fresh(sc)
    return sc.once("first", "site.yml", "--diff", "-vvv").check()


def second_run(sc: Scenario) -> PlaybookRun:
    first_run(sc)
    return sc.once("second", "site.yml").check()


def check_on_fresh(sc: Scenario) -> PlaybookRun:
    if "check" not in sc.runs:
        sc.snapshots["before-check"] = sc.installed()
        sc.once("check", "site.yml", "--check", "--diff")
        sc.snapshots["after-check"] = sc.installed()
    return sc.runs["check"]


def test_check_mode_on_a_fresh_cluster_changes_nothing(sc: Scenario) -> None:
    run = check_on_fresh(sc).check()
    assert sc.snapshots["before-check"] == set()
    assert sc.snapshots["after-check"] == set()
    # It did report what a real run would change, custom resources skipped with a note.
    assert run.recap["changed"] > 0
    assert "Note the skipped IngressRoute" in run.output
    assert "do not exist yet (check mode)" in run.output


def test_site_applies_every_object(sc: Scenario) -> None:
    run = first_run(sc)
    assert run.recap["failed"] == 0
    assert run.recap["changed"] > 0

    dep = sc.kubectl_json("get", "deployment", SERVER, "-n", NS)
    assert dep["spec"]["replicas"] == 3
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["image"] == "airs-mcp-k8s/mcp-server:0.1.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    checksum = dep["spec"]["template"]["metadata"]["annotations"][CHECKSUM]
    # The pods read an immutable snapshot of the Secret, named by its content.
    assert container["envFrom"] == [{"secretRef": {"name": f"{SECRET}-{checksum[:10]}"}}]
    snapshot = sc.kubectl_json("get", "secret", f"{SECRET}-{checksum[:10]}", "-n", NS)
    assert snapshot["immutable"] is True
    assert snapshot["data"] == sc.kubectl_json("get", "secret", SECRET, "-n", NS)["data"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert "10.234.17.200" in env["AIRS_MCP_ALLOWED_HOSTS"].split(",")
    assert "http://10.234.17.200" in env["AIRS_MCP_ALLOWED_ORIGINS"].split(",")
    assert env["AIRS_MCP_AUTH"] == "token"
    assert (env["AIRS_MCP_MAX_SSE_SESSIONS"], env["AIRS_MCP_LIMIT_CONCURRENCY"]) == ("1000", "2000")
    assert env["AIRS_MCP_MAX_BODY_BYTES"] == "4194304"
    assert len(checksum) == 64
    assert int(checksum, 16) >= 0

    svc = sc.kubectl_json("get", "service", SERVER, "-n", NS)
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [
        (8000, "http"),
        (9090, "metrics"),
    ]

    hpa = sc.kubectl_json("get", "hpa.v2.autoscaling", SERVER, "-n", NS)
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["spec"]["metrics"]}
    assert targets["cpu"]["averageUtilization"] == 70
    assert targets["memory"]["averageUtilization"] == 80

    limits = [f"{SERVER}-rate-limit", f"{SERVER}-in-flight"]
    route = sc.kubectl_json("get", "ingressroutes.traefik.io", SERVER, "-n", NS)["spec"]
    assert route["entryPoints"] == ["web"]
    # The example inventory routes /mcp beside /sse/: stateless, so no cookie, same limits.
    assert [r["match"] for r in route["routes"]] == ["PathPrefix(`/sse/`)", "Path(`/mcp`)"]
    assert [[m["name"] for m in r["middlewares"]] for r in route["routes"]] == [limits, limits]
    assert "sticky" not in route["routes"][1]["services"][0]
    cookie = route["routes"][0]["services"][0]["sticky"]["cookie"]
    assert cookie["secure"] is False
    assert cookie["sameSite"] == "lax"
    tls_route = sc.kubectl_json("get", "ingressroutes.traefik.io", f"{SERVER}-tls", "-n", NS)
    assert tls_route["spec"]["entryPoints"] == ["websecure"]
    assert tls_route["spec"]["tls"] == {"secretName": f"{SERVER}-tls"}
    assert tls_route["spec"]["routes"][0]["services"][0]["sticky"]["cookie"]["secure"] is True
    # Clients connecting by IP address send no SNI: they get the default certificate.
    store = sc.kubectl_json("get", "tlsstores.traefik.io", "default", "-n", NS)["spec"]
    assert store["defaultCertificate"] == {"secretName": f"{SERVER}-tls"}
    rate = sc.kubectl_json("get", "middlewares.traefik.io", limits[0], "-n", NS)["spec"]
    assert rate["rateLimit"]["average"] == 50
    assert rate["rateLimit"]["burst"] == 200
    in_flight = sc.kubectl_json("get", "middlewares.traefik.io", limits[1], "-n", NS)["spec"]
    assert in_flight["inFlightReq"]["amount"] == 200

    traefik = sc.kubectl_json("get", "deployment", "traefik", "-n", TRAEFIK_NS)
    args = traefik["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--entryPoints.web.address=:8080" in args
    # Slow clients are cut after 60 s of sending one request (SSE streams are not).
    assert "--entryPoints.web.transport.respondingTimeouts.readTimeout=60s" in args
    assert "--entryPoints.websecure.transport.respondingTimeouts.readTimeout=60s" in args
    assert "--entryPoints.websecure.address=:8443" in args
    assert "--entryPoints.traefik.address=:9000" in args
    assert "--providers.kubernetescrd.namespaces=aisecurity" in args
    assert "--providers.kubernetescrd.disableClusterScopeResources=true" in args
    assert "--accesslog.fields.names.RequestPath=drop" in args
    # Trace ids for every request (access log TraceId, traceparent upstream), nothing exported.
    assert {"--tracing=true", "--tracing.sampleRate=0.0"} <= set(args)
    assert not [a for a in args if a.startswith("--tracing.otlp")], args
    assert not [a for a in args if a.startswith("--api")], args  # dashboard off, never insecure
    # The example inventory keeps plain HTTP for the seed's clients (demo choice).
    assert not [a for a in args if "redirections" in a], args
    tsvc = sc.kubectl_json("get", "service", "traefik", "-n", TRAEFIK_NS)
    assert tsvc["spec"]["type"] == "LoadBalancer"
    assert tsvc["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] == "10.234.17.200"
    assert {p["name"]: p["port"] for p in tsvc["spec"]["ports"]} == {"web": 8080, "websecure": 8443}
    for pdb_ns, pdb in ((NS, SERVER), (TRAEFIK_NS, "traefik")):
        budget = sc.kubectl_json("get", "poddisruptionbudget", pdb, "-n", pdb_ns)
        # a drain takes one pod at a time, whatever the replica count
        assert budget["spec"]["maxUnavailable"] == 1
        assert "minAvailable" not in budget["spec"]
    for ns in (NS, TRAEFIK_NS):
        labels = sc.kubectl_json("get", "namespace", ns)["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    policy = sc.kubectl_json("get", "networkpolicy", SERVER, "-n", NS)["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": TRAEFIK_NS
    }


def test_operations_settings_are_applied(sc: Scenario) -> None:
    """Rolling updates keep capacity, a stopping pod leaves the endpoints before SIGTERM and then
    drains, and the metrics port is on the Service for Prometheus only, never on the route."""
    first_run(sc)
    dep = sc.kubectl_json("get", "deployment", SERVER, "-n", NS)["spec"]
    assert dep["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    pod = dep["template"]["spec"]
    container = pod["containers"][0]
    assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["AIRS_MCP_GRACEFUL_SHUTDOWN_SECONDS"] == "10"
    # SIGTERM comes after the preStop sleep; the drain must end before the kubelet's SIGKILL.
    assert pod["terminationGracePeriodSeconds"] > 5 + 10
    assert env["AIRS_MCP_METRICS_PORT"] == "9090"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": 8000,
        "metrics": 9090,
    }
    svc = sc.kubectl_json("get", "service", SERVER, "-n", NS)
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"http": 8000, "metrics": 9090}
    for route in ("aisecurity-mcp-server", "aisecurity-mcp-server-tls"):
        spec = sc.kubectl_json("get", "ingressroutes.traefik.io", route, "-n", NS)["spec"]
        ports = {s["port"] for r in spec["routes"] for s in r["services"]}
        assert ports == {8000}, (route, ports)
    rules = sc.kubectl_json("get", "networkpolicy", SERVER, "-n", NS)["spec"]["ingress"]
    metrics_rules = [r for r in rules if {"port": 9090, "protocol": "TCP"} in r["ports"]]
    assert metrics_rules == [
        {
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                    }
                }
            ],
            "ports": [{"port": 9090, "protocol": "TCP"}],
        }
    ]
    # No other rule opens the metrics port.
    assert all(
        {"port": 9090, "protocol": "TCP"} not in r["ports"] for r in rules if r not in metrics_rules
    )


def can_i(sc: Scenario, *args: str) -> str:
    out = sc.cluster.kubectl("auth", "can-i", "--as", TRAEFIK_SA, *args, check=False)
    return out.stdout.strip()


def test_traefik_reads_only_the_namespaces_it_watches(sc: Scenario) -> None:
    first_run(sc)
    # No ClusterRole, no cluster-wide binding: no Secret outside the watched namespace.
    assert can_i(sc, "list", "secrets", "-A") == "no"
    assert can_i(sc, "get", "secrets", "-n", "kube-system") == "no"
    assert can_i(sc, "list", "nodes") == "no"
    assert can_i(sc, "list", "ingressroutes.traefik.io", "-n", NS) == "yes"
    assert can_i(sc, "list", "endpointslices.discovery.k8s.io", "-n", NS) == "yes"
    assert can_i(sc, "create", "secrets", "-n", NS) == "no"
    bindings = sc.cluster.kubectl("get", "clusterrolebindings", "-o", "name").stdout
    assert "traefik" not in bindings


def test_the_https_certificate_names_the_address_and_chains_to_its_ca(sc: Scenario) -> None:
    first_run(sc)
    data = sc.kubectl_json("get", "secret", f"{SERVER}-tls", "-n", NS)["data"]
    leaf = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    ca = x509.load_pem_x509_certificate(base64.b64decode(data["ca.crt"]))
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("10.234.17.200") in names.get_values_for_type(x509.IPAddress)
    assert leaf.issuer == ca.subject
    leaf.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True

    assert sc.kubectl_json("get", "deployment", "controller", "-n", "metallb-system")
    crds = sc.cluster.kubectl("get", "crd", "-o", "name").stdout
    assert "ingressroutes.traefik.io" in crds
    assert "ipaddresspools.metallb.io" in crds


def test_vaulted_key_lands_in_the_secret(sc: Scenario) -> None:
    first_run(sc)
    data = sc.kubectl_json("get", "secret", SECRET, "-n", NS)["data"]
    decoded = {k: base64.b64decode(v).decode() for k, v in data.items()}
    routing_key = decoded.pop("AIRS_MCP_SESSION_ROUTING_KEY")
    assert re.fullmatch(r"[0-9a-f]{64}", routing_key)  # generated once, kept (see second run)
    assert decoded == {
        "PANW_AI_SEC_API_KEY": EXAMPLE_API_KEY,
        "PANW_AI_PROFILE_NAME": EXAMPLE_PROFILE_NAME,
        "AIRS_MCP_AUTH_TOKENS": ",".join(EXAMPLE_TOKENS),
    }


def test_key_appears_nowhere_in_the_output(sc: Scenario) -> None:
    run = first_run(sc)
    # -vvv really was verbose: module invocations are printed.
    assert "ESTABLISH LOCAL CONNECTION" in run.output
    assert "--- before" in run.output or "+++ after" in run.output
    for key in ("check", "first"):
        sc.runs[key].assert_secrets_absent(EXAMPLE_API_KEY, *EXAMPLE_TOKENS)
    assert "the output has been hidden" in run.output


def test_second_run_changes_nothing(sc: Scenario) -> None:
    run = second_run(sc)
    assert run.recap["changed"] == 0, run.output[-6000:]
    run.assert_secrets_absent(EXAMPLE_API_KEY)


def test_site_from_the_installed_tarball_changes_nothing(sc: Scenario, tmp_path: Path) -> None:
    """What users install (galaxy build + install of the tarball) is what was tested: site.yml
    run from that copy finds the checkout's deployment exactly as it would have made it."""
    second_run(sc)
    installed = collection_tool("sanity").build_and_install(tmp_path / "installed")
    run = sc.play("site.yml", "-vv", collections_path=tmp_path / "installed").check()
    assert run.recap["changed"] == 0, run.output[-6000:]
    assert f"task path: {installed}/roles/mcp_server/" in run.output
    assert f"task path: {COLLECTION}/" not in run.output


def test_check_and_diff_report_a_change_without_making_it(sc: Scenario, tmp_path: Path) -> None:
    second_run(sc)
    change = write_vars(tmp_path / "change.yml", {"traefik_replicas": 3})
    run = sc.play("site.yml", "--check", "--diff", vars_files=(change,)).check()
    assert run.recap["changed"] == 1, run.output[-6000:]
    assert re.search(r"^-\s+replicas: 2$", run.output, re.MULTILINE), run.output[-6000:]
    assert re.search(r"^\+\s+replicas: 3$", run.output, re.MULTILINE), run.output[-6000:]
    traefik = sc.kubectl_json("get", "deployment", "traefik", "-n", TRAEFIK_NS)
    assert traefik["spec"]["replicas"] == 2


def test_module_defaults_group_carries_the_kubeconfig(sc: Scenario, tmp_path: Path) -> None:
    """The play's ``group/airs.mcp_k8s.k8s`` module defaults reach every k8s module call."""
    second_run(sc)
    target = write_vars(tmp_path / "target.yml", {"airs_kubeconfig": str(sc.cluster.kubeconfig)})
    run = run_playbook(
        "site.yml",
        tmp_path / "missing-kubeconfig",  # what $KUBECONFIG points at: does not exist
        vault_password_file=sc.password,
        vars_files=(sc.vars_file, target),
        args=("--check",),
    ).check()
    assert run.recap["changed"] == 0, run.output[-6000:]
    # And the other way round: a wrong airs_kubeconfig wins over a good $KUBECONFIG.
    wrong = write_vars(tmp_path / "wrong.yml", {"airs_kubeconfig": str(tmp_path / "nothing-here")})
    broken = sc.play("site.yml", "--check", vars_files=(wrong,))
    assert broken.returncode != 0
    assert "nothing-here" in broken.output


def test_key_change_rolls_the_deployment_without_leaking(sc: Scenario, tmp_path: Path) -> None:
    second_run(sc)
    before = sc.kubectl_json("get", "deployment", SERVER, "-n", NS)
    rotated = write_vars(tmp_path / "rotated.yml", {"mcp_secret_api_key": ROTATED_KEY})
    run = sc.play("site.yml", "--diff", "-vvv", vars_files=(rotated,)).check()
    run.assert_secrets_absent(ROTATED_KEY, EXAMPLE_API_KEY)
    after = sc.kubectl_json("get", "deployment", SERVER, "-n", NS)
    old = before["spec"]["template"]["metadata"]["annotations"][CHECKSUM]
    new = after["spec"]["template"]["metadata"]["annotations"][CHECKSUM]
    assert old != new
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    data = sc.kubectl_json("get", "secret", SECRET, "-n", NS)["data"]
    assert base64.b64decode(data["PANW_AI_SEC_API_KEY"]).decode() == ROTATED_KEY
    snapshot = sc.kubectl_json("get", "secret", f"{SECRET}-{new[:10]}", "-n", NS)["data"]
    assert snapshot == data
    # The old pods' snapshot stays: without the wait no roll-out was seen to finish.
    sc.kubectl_json("get", "secret", f"{SECRET}-{old[:10]}", "-n", NS)
    # Changed on this run: exactly the Secret, its snapshot and the Deployment's pod template.
    assert run.recap["changed"] == 3, run.output[-6000:]


def test_bad_pool_is_refused_before_anything_is_applied(sc: Scenario, tmp_path: Path) -> None:
    second_run(sc)
    bad = write_vars(
        tmp_path / "bad.yml",
        {"metallb_configure_pool": True, "metallb_address_pool": ["192.0.2.1"]},
    )
    run = sc.play("site.yml", vars_files=(bad,))
    assert run.returncode != 0
    assert "metallb_address_pool must list at least one range" in run.output
    assert run.recap["changed"] == 0


def test_api_server_rejects_an_invalid_object(sc: Scenario, tmp_path: Path) -> None:
    second_run(sc)
    bad = write_vars(
        tmp_path / "bad.yml",
        {
            "mcp_server_resources": {
                "requests": {"cpu": "a-lot", "memory": "128Mi"},
                "limits": {"cpu": "500m", "memory": "512Mi"},
            }
        },
    )
    run = sc.play("site.yml", "--tags", "mcp_server", vars_files=(bad,))
    assert run.returncode != 0
    assert "quantities must match the regular expression" in run.output, run.output[-4000:]
    dep = sc.kubectl_json("get", "deployment", SERVER, "-n", NS)
    assert dep["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == (
        "100m"
    )


def test_service_monitor_follows_the_prometheus_operator_crd(sc: Scenario, tmp_path: Path) -> None:
    """With the Prometheus Operator's real ServiceMonitor CRD installed, site.yml adds a
    ServiceMonitor the API server validates against that schema; "never" removes it again."""
    second_run(sc)
    assert "servicemonitor" not in sc.cluster.kubectl("get", "crd", "-o", "name").stdout
    crd = service_monitor_crd()
    sc.cluster.kubectl("apply", "--server-side", "-f", str(crd))
    try:
        sc.cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                           "crd/servicemonitors.monitoring.coreos.com")  # fmt: skip
        sc.play("site.yml", "--tags", "mcp_server").check()
        monitor = sc.kubectl_json("get", "servicemonitors.monitoring.coreos.com", SERVER, "-n", NS)
        assert monitor["spec"]["endpoints"] == [
            {"port": "metrics", "path": "/metrics", "interval": "30s"}
        ]
        service_labels = sc.kubectl_json("get", "service", SERVER, "-n", NS)["metadata"]["labels"]
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert selector.items() <= service_labels.items()
        never = write_vars(tmp_path / "never.yml", {"mcp_server_service_monitor": "never"})
        sc.play("site.yml", "--tags", "mcp_server", vars_files=(never,)).check()
        gone = sc.cluster.kubectl(
            "get", "servicemonitors.monitoring.coreos.com", "-n", NS, "-o", "name"
        ).stdout
        assert gone.strip() == ""
    finally:
        sc.cluster.kubectl("delete", "-f", str(crd), "--wait=true", check=False)
    always = write_vars(tmp_path / "always.yml", {"mcp_server_service_monitor": "always"})
    refused = sc.play("site.yml", "--tags", "mcp_server", vars_files=(always,))
    assert refused.returncode != 0
    assert "no servicemonitors.monitoring.coreos.com CRD" in refused.output


def test_roles_stand_alone_without_metallb_and_traefik_uninstalls_alone(
    sc: Scenario, tmp_path: Path
) -> None:
    """No role reads another's variables: site.yml without the metallb role works on a NodePort
    inventory, and removing Traefik alone leaves the server and its namespace in place."""
    second_run(sc)
    nodeport = write_vars(
        tmp_path / "nodeport.yml", {"metallb_install": False, "metallb_configure_pool": False}
    )
    run = sc.play("site.yml", "--skip-tags", "metallb", vars_files=(nodeport,)).check()
    # Only the role's argument validation (tagged "always") may run.
    tasks = re.findall(r"^TASK \[(.*)\]", run.output, re.MULTILINE)
    ran = [task for task in tasks if "metallb" in task and "Validating arguments" not in task]
    assert ran == [], ran
    tsvc = sc.kubectl_json("get", "service", "traefik", "-n", TRAEFIK_NS)
    assert tsvc["spec"]["type"] == "NodePort"

    sc.play("uninstall.yml", "--tags", "traefik", vars_files=(nodeport,)).check()
    names = sc.cluster.kubectl("get", "namespaces", "-o", "name").stdout.split()
    assert f"namespace/{TRAEFIK_NS}" not in names
    assert f"namespace/{NS}" in names
    assert sc.kubectl_json("get", "deployment", SERVER, "-n", NS)
    assert sc.kubectl_json("get", "secret", SECRET, "-n", NS)
    # And back, for the tests after this one.
    sc.play("site.yml").check()


def test_uninstall_removes_everything(
    sc: Scenario,
    upstream_manifests_session: dict[str, str],  # noqa: F811
) -> None:
    """Every object a role created (found by the roles' field manager, any kind, any namespace)
    is gone: MetalLB's whole release manifest (its CRDs, ClusterRoles and bindings, webhook
    configuration) and Traefik's CRDs among them."""
    second_run(sc)
    created = role_objects(sc.cluster)
    upstream = upstream_objects(upstream_manifests_session)
    # The namespaced ones are checked after uninstall: one of them, the webhook's certificate
    # Secret, is rewritten by MetalLB's controller and keeps no field of the roles' manager.
    cluster_wide = {ref for ref in upstream if not ref.namespace}
    assert cluster_wide - created == set(), sorted(map(str, cluster_wide - created))
    kinds = {ref.kind for ref in created}
    assert {"ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration"} <= kinds
    assert {ref.name for ref in created if ref.kind == "Namespace"} == {
        NS, TRAEFIK_NS, "metallb-system",
    }  # fmt: skip
    assert sc.installed()
    run = sc.play("uninstall.yml").check()
    assert run.recap["failed"] == 0
    left = role_objects(sc.cluster)
    assert left == set(), sorted(map(str, left))
    assert still_there(sc.cluster, created | upstream) == []
    assert sc.installed() == set()
    # A second uninstall finds nothing to do.
    again = sc.play("uninstall.yml").check()
    assert again.recap["changed"] == 0
