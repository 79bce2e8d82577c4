"""The embedded cluster's PKI: what each certificate and kubeconfig must contain."""

from __future__ import annotations

import base64
import ipaddress
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from embedded_cluster import pki
from embedded_cluster.paths import RunPaths
from embedded_cluster.state import ClusterConfig

CONFIG = ClusterConfig(node_name="airs-node", node_ip="192.0.2.77")


@pytest.fixture
def made(tmp_path: Path) -> tuple[RunPaths, pki.Pki, dict[str, Path]]:
    paths = RunPaths(root=tmp_path / "run")
    certs = pki.ensure_pki(paths, CONFIG)
    return paths, certs, pki.ensure_kubeconfigs(paths, CONFIG, certs)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_apiserver_certificate_covers_every_name_clients_use(made) -> None:
    _, certs, _ = made
    cert = _cert(certs.apiserver.cert)
    cert.verify_directly_issued_by(_cert(certs.ca.cert))
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = set(sans.get_values_for_type(x509.DNSName))
    ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    assert {"kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"} <= dns
    assert ips == {"127.0.0.1", "192.0.2.77", "10.96.0.1"}
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage
    assert ExtendedKeyUsageOID.CLIENT_AUTH not in usage


def test_each_chain_has_its_own_authority(made) -> None:
    _, certs, _ = made
    _cert(certs.etcd_server.cert).verify_directly_issued_by(_cert(certs.etcd_ca.cert))
    _cert(certs.apiserver_etcd_client.cert).verify_directly_issued_by(_cert(certs.etcd_ca.cert))
    front = _cert(certs.front_proxy_client.cert)
    front.verify_directly_issued_by(_cert(certs.front_proxy_ca.cert))
    assert front.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "front-proxy-client"
    )
    with pytest.raises(ValueError, match=r"[Ii]ssuer"):  # signed by another CA
        front.verify_directly_issued_by(_cert(certs.ca.cert))


def test_private_keys_are_owner_only_and_reused(made, tmp_path: Path) -> None:
    paths, certs, _ = made
    for key in (certs.ca.key, certs.apiserver.key, certs.sa_key, certs.etcd_ca.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    before = certs.ca.cert.read_bytes()
    again = pki.ensure_pki(paths, CONFIG)
    assert again.ca.cert.read_bytes() == before


def test_kubeconfigs_carry_the_right_identities(made) -> None:
    _, certs, kubeconfigs = made
    ca_pem = certs.ca.cert.read_bytes()
    # One server for every client: the apiserver listens on the node address only.
    node = "https://192.0.2.77:6443"
    expected = {
        "admin": ("kubernetes-admin", ["system:masters"], node),
        "kubelet": ("system:node:airs-node", ["system:nodes"], node),
        "kube-proxy": ("system:kube-proxy", [], node),
        "kube-router": ("system:airs:kube-router", [], node),
        "scheduler": ("system:kube-scheduler", [], node),
        "controller-manager": ("system:kube-controller-manager", [], node),
    }
    assert set(kubeconfigs) == set(expected)
    for name, (cn, orgs, server) in expected.items():
        doc = json.loads(kubeconfigs[name].read_text())
        cluster = doc["clusters"][0]["cluster"]
        assert cluster["server"] == server
        assert base64.b64decode(cluster["certificate-authority-data"]) == ca_pem
        user = doc["users"][0]["user"]
        cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
        cert.verify_directly_issued_by(_cert(certs.ca.cert))
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cn
        got_orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        assert got_orgs == orgs
        assert doc["current-context"] == doc["contexts"][0]["name"]


def test_service_ips_come_from_the_service_range() -> None:
    net = ipaddress.ip_network(CONFIG.service_cidr)
    assert ipaddress.ip_address(CONFIG.api_service_ip) == net[1]
    assert ipaddress.ip_address(CONFIG.cluster_dns_ip) in net
    assert not net.overlaps(ipaddress.ip_network(CONFIG.pod_cidr))
