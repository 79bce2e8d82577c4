"""The embedded cluster's hardening flags and files, as rendered (no process started)."""

from __future__ import annotations

import base64
import ipaddress
import json
import stat
from pathlib import Path

import yaml
from embedded_cluster import authn, controlplane, encryption, kubelet, netpol, network, pki
from embedded_cluster.paths import RunPaths
from embedded_cluster.pki import CertPair, Pki
from embedded_cluster.state import ClusterConfig

CONFIG = ClusterConfig(node_name="airs-node", node_ip="192.0.2.77")


def _pki(root: Path) -> Pki:
    pair = CertPair(root / "x.crt", root / "x.key")
    return Pki(pair, pair, pair, pair, pair, pair, pair, pair, root / "sa.key", root / "sa.pub")


def _flags(argv: list[str]) -> dict[str, str]:
    return dict(arg.removeprefix("--").split("=", 1) for arg in argv[1:])


def test_apiserver_binds_the_node_address_only(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path)
    flags = _flags(
        controlplane.apiserver_argv(Path("kube-apiserver"), paths, CONFIG, _pki(tmp_path))
    )
    assert flags["bind-address"] == CONFIG.node_ip
    assert CONFIG.apiserver_url == f"https://{CONFIG.node_ip}:{CONFIG.apiserver_port}"


def test_apiserver_takes_anonymous_requests_from_its_config_file_only(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path)
    flags = _flags(
        controlplane.apiserver_argv(Path("kube-apiserver"), paths, CONFIG, _pki(tmp_path))
    )
    # The apiserver refuses --anonymous-auth beside a file that configures `anonymous`.
    assert "anonymous-auth" not in flags
    assert flags["authentication-config"] == str(paths.authentication_config)
    doc = json.loads(authn.write_authentication_config(paths).read_text())
    assert doc["apiVersion"] == "apiserver.config.k8s.io/v1"
    assert doc["kind"] == "AuthenticationConfiguration"
    assert doc["anonymous"] == {
        "enabled": True,
        "conditions": [{"path": "/livez"}, {"path": "/readyz"}, {"path": "/healthz"}],
    }


def test_encryption_key_is_made_once_owner_only(tmp_path: Path) -> None:
    paths = RunPaths(tmp_path)
    flags = _flags(
        controlplane.apiserver_argv(Path("kube-apiserver"), paths, CONFIG, _pki(tmp_path))
    )
    assert flags["encryption-provider-config"] == str(paths.encryption_config)
    path = encryption.ensure_encryption_config(paths)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_bytes()
    assert encryption.ensure_encryption_config(paths).read_bytes() == first  # kept on restart
    resource = json.loads(first)["resources"][0]
    assert resource["resources"] == ["secrets"]
    (key,) = resource["providers"][0]["secretbox"]["keys"]
    assert len(base64.b64decode(key["secret"])) == 32
    assert resource["providers"][-1] == {"identity": {}}  # reads Secrets stored before
    other = encryption.ensure_encryption_config(RunPaths(tmp_path / "other"))
    assert json.loads(other.read_bytes()) != json.loads(first)  # a key per cluster


def test_kube_proxy_opens_node_ports_on_the_bridge_only() -> None:
    doc = kubelet.kube_proxy_config(CONFIG, Path("kube-proxy.conf"))
    ipv4, ipv6 = (ipaddress.ip_network(cidr) for cidr in doc["nodePortAddresses"])
    assert ipv4 == network.SUBNET
    # A CIDR per family: without one, IPv6 node ports would open on every host IPv6 address.
    assert ipv6.version == 6
    assert ipv6.subnet_of(ipaddress.ip_network("2001:db8::/32"))  # documentation: no host has it


def test_kube_router_runs_its_firewall_only_and_opens_no_port() -> None:
    flags = _flags(netpol.kube_router_argv(Path("kube-router"), CONFIG, Path("kr.conf")))
    assert flags["run-firewall"] == "true"
    for other in ("run-router", "run-service-proxy", "run-loadbalancer", "enable-cni"):
        assert flags[other] == "false", other
    assert flags["health-port"] == "0"
    assert flags["metrics-port"] == "0"
    assert flags["service-cluster-ip-range"] == CONFIG.service_cidr
    assert flags["kubeconfig"] == "kr.conf"


def test_kube_router_rbac_names_its_client_identity() -> None:
    manifest = Path(netpol.__file__).with_name("manifests") / "kube-router-rbac.yaml"
    docs = list(yaml.safe_load_all(manifest.read_text()))
    binding = next(d for d in docs if d["kind"] == "ClusterRoleBinding")
    common_name, _ = pki.client_identities(CONFIG)["kube-router"]
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": common_name}
    ]
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert verbs == {"get", "list", "watch"}  # it reads; it writes nothing
