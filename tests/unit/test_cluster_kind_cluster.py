"""The multi-node kind cluster's layout: its configuration and the LAN's address plan."""

from __future__ import annotations

import ipaddress

import pytest
import yaml
from embedded_cluster import kind_cluster
from embedded_cluster.imaging import kind_base, kind_cni


def test_kind_config_has_one_control_plane_and_the_rest_workers() -> None:
    config = kind_cluster.kind_config(3)
    assert [node["role"] for node in config["nodes"]] == ["control-plane", "worker", "worker"]
    assert kind_cluster.kind_config(1)["nodes"] == [{"role": "control-plane"}]
    with pytest.raises(kind_cluster.KindClusterError):
        kind_cluster.kind_config(0)


def test_lan_addresses_do_not_overlap() -> None:
    """Nodes (docker's range), MetalLB's pool and the clients each have their own addresses."""
    first, last = (ipaddress.ip_address(a) for a in kind_cluster.METALLB_POOL.split("-"))
    pool = {ipaddress.ip_address(n) for n in range(int(first), int(last) + 1)}
    nodes = set(kind_cluster.NODE_RANGE)
    clients = {client.address for client in kind_cluster.CLIENTS}
    assert pool
    assert nodes
    assert len(clients) == len(kind_cluster.CLIENTS) == 2
    for group in (pool, nodes, clients):
        assert all(address in kind_cluster.SUBNET for address in group)
    assert not pool & nodes
    assert not pool & clients
    assert not nodes & clients
    assert kind_cluster.PUBLIC_ADDRESS in pool
    assert kind_cluster.GATEWAY in nodes  # docker puts the host's address inside the range


def test_client_link_names_fit_the_kernel_limit() -> None:
    names = [kind_cluster.BRIDGE]
    for client in kind_cluster.CLIENTS:
        names += [client.veth_host, client.veth_peer]
    assert all(len(name) <= 15 for name in names), names  # IFNAMSIZ - 1
    assert len(set(names)) == len(names)


def test_deploy_vars_point_metallb_at_the_lan() -> None:
    tags = {"server": "airs-mcp-k8s/mcp-server:0.1.0-abc", "double": "x/double:0.1.0-def"}
    values = kind_cluster.deploy_vars(tags)
    assert values["metallb_address_pool"] == [kind_cluster.METALLB_POOL]
    assert values["airs_public_address"] == str(kind_cluster.PUBLIC_ADDRESS)
    assert values["metallb_l2_interfaces"] == []
    assert values["mcp_server_image_tag"] == "0.1.0-abc"
    assert values["airs_api_double_image_tag"] == "0.1.0-def"


def test_default_cni_manifest_runs_kube_router_as_network_and_policy_controller() -> None:
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all(kind_cni.DEFAULT_CNI_MANIFEST)}
    pod = docs["DaemonSet"]["spec"]["template"]["spec"]
    [router] = pod["containers"]
    assert router["image"] == kind_cni.KUBE_ROUTER_IMAGE
    assert {"--run-router=true", "--run-firewall=true", "--enable-cni=true"} <= set(router["args"])
    assert "--run-service-proxy=false" in router["args"]  # kube-proxy stays
    assert pod["hostNetwork"] is True
    conflist = yaml.safe_load(docs["ConfigMap"]["data"]["cni-conf.json"])
    assert {plugin["type"] for plugin in conflist["plugins"]} <= set(kind_cni.CNI_PLUGINS)
    # ... and the kind base image ships every one of them
    assert set(kind_cni.CNI_PLUGINS) <= set(kind_base.CNI_PLUGINS)
