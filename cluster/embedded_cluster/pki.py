"""The cluster's PKI: certificate authorities, certificates, service-account keys, kubeconfigs.

Laid out like kubeadm's ``/etc/kubernetes/pki`` (``ca.crt``, ``apiserver.crt``,
``front-proxy-ca.crt``, ``etcd/ca.crt``, ``sa.key`` ...). Keys are ECDSA P-256. Files that exist
are kept, so a second ``up`` reuses the same CA; ``down`` removes the whole run directory.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from embedded_cluster.paths import RunPaths
from embedded_cluster.state import ClusterConfig

CA_DAYS = 3650
CERT_DAYS = 365

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key on disk."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """Every file the control plane and the node need."""

    ca: CertPair
    front_proxy_ca: CertPair
    etcd_ca: CertPair
    apiserver: CertPair
    apiserver_kubelet_client: CertPair
    apiserver_etcd_client: CertPair
    front_proxy_client: CertPair
    etcd_server: CertPair
    sa_key: Path
    sa_pub: Path


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load(pair: CertPair) -> tuple[x509.Certificate, Key]:
    cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    key = serialization.load_pem_private_key(pair.key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{pair.key} is not an ECDSA key")
    return cert, key


def _name(common_name: str, orgs: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: Key, *, days: int, ca: bool
) -> x509.CertificateBuilder:
    """The fields every certificate here shares; only a CA may sign certificates."""
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )


def _save(pair: CertPair, cert: x509.Certificate, key: Key) -> None:
    _write_private(pair.key, _key_pem(key))
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def ensure_ca(pair: CertPair, common_name: str) -> CertPair:
    """Create a self-signed CA unless it already exists."""
    if pair.cert.exists() and pair.key.exists():
        return pair
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (
        _builder(name, name, key, days=CA_DAYS, ca=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _save(pair, cert, key)
    return pair


def issue(
    ca: CertPair,
    pair: CertPair,
    common_name: str,
    *,
    orgs: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    ips: Sequence[str] = (),
    server: bool = False,
    client: bool = False,
) -> CertPair:
    """Issue a leaf certificate signed by ``ca`` unless ``pair`` already exists."""
    if pair.cert.exists() and pair.key.exists():
        return pair
    ca_cert, ca_key = _load(ca)
    key = ec.generate_private_key(ec.SECP256R1())
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    if not usages:
        raise ValueError(f"certificate {common_name}: choose server and/or client usage")
    builder = (
        _builder(_name(common_name, orgs), ca_cert.subject, key, days=CERT_DAYS, ca=False)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    _save(pair, builder.sign(ca_key, hashes.SHA256()), key)
    return pair


def _pair(directory: Path, name: str) -> CertPair:
    return CertPair(cert=directory / f"{name}.crt", key=directory / f"{name}.key")


def ensure_service_account_keys(private: Path, public: Path) -> None:
    """The key pair that signs and verifies ServiceAccount tokens."""
    if private.exists() and public.exists():
        return
    key = ec.generate_private_key(ec.SECP256R1())
    _write_private(private, _key_pem(key))
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def apiserver_sans(config: ClusterConfig) -> tuple[list[str], list[str]]:
    """DNS names and IPs the apiserver serving certificate covers."""
    dns = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{config.cluster_domain}",
        "localhost",
        config.node_name,
    ]
    ips = ["127.0.0.1", config.node_ip, config.api_service_ip]
    return dns, ips


def ensure_pki(paths: RunPaths, config: ClusterConfig) -> Pki:
    """Create (or reuse) every certificate and key of the cluster."""
    d = paths.pki
    (d / "etcd").mkdir(parents=True, exist_ok=True)
    ca = ensure_ca(_pair(d, "ca"), "kubernetes-ca")
    front_proxy_ca = ensure_ca(_pair(d, "front-proxy-ca"), "front-proxy-ca")
    etcd_ca = ensure_ca(_pair(d / "etcd", "ca"), "etcd-ca")
    dns, ips = apiserver_sans(config)
    pki = Pki(
        ca=ca,
        front_proxy_ca=front_proxy_ca,
        etcd_ca=etcd_ca,
        apiserver=issue(
            ca, _pair(d, "apiserver"), "kube-apiserver", dns_names=dns, ips=ips, server=True
        ),
        apiserver_kubelet_client=issue(
            ca,
            _pair(d, "apiserver-kubelet-client"),
            "kube-apiserver-kubelet-client",
            orgs=["system:masters"],
            client=True,
        ),
        apiserver_etcd_client=issue(
            etcd_ca, _pair(d, "apiserver-etcd-client"), "kube-apiserver-etcd-client", client=True
        ),
        front_proxy_client=issue(
            front_proxy_ca, _pair(d, "front-proxy-client"), "front-proxy-client", client=True
        ),
        etcd_server=issue(
            etcd_ca,
            _pair(d / "etcd", "server"),
            "etcd-server",
            dns_names=["localhost"],
            ips=["127.0.0.1"],
            server=True,
            client=True,
        ),
        sa_key=d / "sa.key",
        sa_pub=d / "sa.pub",
    )
    ensure_service_account_keys(pki.sa_key, pki.sa_pub)
    return pki


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(
    path: Path,
    ca: CertPair,
    server: str,
    client: CertPair,
    *,
    cluster_name: str = "airs-embedded",
) -> Path:
    """A self-contained kubeconfig (certificates inlined) for one client identity.

    Written as JSON, which every kubeconfig reader accepts since JSON is YAML.
    """
    user = client.cert.stem
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {"server": server, "certificate-authority-data": _b64(ca.cert)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(client.cert),
                    "client-key-data": _b64(client.key),
                },
            }
        ],
        "contexts": [
            {"name": f"{user}@{cluster_name}", "context": {"cluster": cluster_name, "user": user}}
        ],
        "current-context": f"{user}@{cluster_name}",
        "preferences": {},
    }
    _write_private(path, (json.dumps(doc, indent=2) + "\n").encode())
    return path


# Client identities with a kubeconfig each: name -> (common name, organisations).
def client_identities(config: ClusterConfig) -> dict[str, tuple[str, list[str]]]:
    return {
        "admin": ("kubernetes-admin", ["system:masters"]),
        "controller-manager": ("system:kube-controller-manager", []),
        "scheduler": ("system:kube-scheduler", []),
        "kubelet": (f"system:node:{config.node_name}", ["system:nodes"]),
        "kube-proxy": ("system:kube-proxy", []),
        # NetworkPolicy enforcement (netpol.py); its ClusterRole: manifests/kube-router-rbac.yaml
        "kube-router": ("system:airs:kube-router", []),
    }


def ensure_kubeconfigs(paths: RunPaths, config: ClusterConfig, pki: Pki) -> dict[str, Path]:
    """Client certificates and kubeconfigs for admin, controllers, kubelet, kube-proxy and
    kube-router.

    Every kubeconfig points at the apiserver's only address, on the node.
    """
    result: dict[str, Path] = {}
    clients = paths.pki / "clients"
    for name, (cn, orgs) in client_identities(config).items():
        pair = issue(pki.ca, _pair(clients, name), cn, orgs=orgs, client=True)
        kubeconfig = paths.kubeconfig(name)
        result[name] = write_kubeconfig(kubeconfig, pki.ca, config.apiserver_url, pair)
    return result
