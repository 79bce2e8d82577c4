"""The node's own L2 segment and an "external client" host on it.

Bare-metal users reach a MetalLB L2 address from another machine on the node's segment. Here
that segment is a Linux bridge the project creates (:data:`BRIDGE`, :data:`SUBNET`) with the
node address on it, and the other machine is a network namespace (:data:`CLIENT_NETNS`) wired
into the bridge by a veth pair. MetalLB address pools should come from :data:`METALLB_POOL`
(same /24, not used by anything else); an ``L2Advertisement`` should name
``interfaces: [airsbr0]`` so announcements never leave this bridge.

API::

    setup() -> NetworkInfo      idempotent; creates bridge, netns, veth pair
    teardown() -> list[str]     removes whatever of them exists; returns what it removed
    info() -> NetworkInfo       the fixed addresses (no side effects)
    client_argv(*argv) -> list  run a command inside the client namespace

Only these names and addresses are touched; nothing else on the host is.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from embedded_cluster.errors import EmbeddedClusterError

BRIDGE = "airsbr0"
SUBNET = ipaddress.ip_network("10.234.17.0/24")
NODE_ADDRESS = SUBNET[1]  # on the bridge; kubelet's --node-ip
CLIENT_NETNS = "airs-client"
CLIENT_ADDRESS = SUBNET[254]
CLIENT_VETH_HOST = "airscl0"  # host end, enslaved to the bridge
CLIENT_VETH_NS = "airscl1"  # client end, renamed eth0 inside the namespace
METALLB_POOL = f"{SUBNET[200]}-{SUBNET[239]}"


@dataclass(frozen=True)
class NetworkInfo:
    bridge: str
    subnet: str
    node_ip: str
    client_netns: str
    client_ip: str
    metallb_pool: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def info() -> NetworkInfo:
    return NetworkInfo(
        bridge=BRIDGE,
        subnet=str(SUBNET),
        node_ip=str(NODE_ADDRESS),
        client_netns=CLIENT_NETNS,
        client_ip=str(CLIENT_ADDRESS),
        metallb_pool=METALLB_POOL,
    )


def _ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise EmbeddedClusterError(f"{' '.join(cmd)}: {result.stderr.strip()}")
    return result.stdout


def link_exists(name: str, netns: str | None = None) -> bool:
    return bool(_ip("-j", "link", "show", "dev", name, netns=netns, check=False).strip())


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def _has_address(dev: str, cidr: str, netns: str | None = None) -> bool:
    out = _ip("-j", "addr", "show", "dev", dev, netns=netns)
    for link in json.loads(out or "[]"):
        for addr in link.get("addr_info", []):
            if f"{addr.get('local')}/{addr.get('prefixlen')}" == cidr:
                return True
    return False


def _ensure_address(dev: str, cidr: str, netns: str | None = None) -> None:
    if not _has_address(dev, cidr, netns):
        _ip("addr", "add", cidr, "dev", dev, netns=netns)


def setup() -> NetworkInfo:
    """Create the bridge with the node address and the client namespace (idempotent)."""
    prefix = SUBNET.prefixlen
    if not link_exists(BRIDGE):
        _ip("link", "add", BRIDGE, "type", "bridge")
    _ensure_address(BRIDGE, f"{NODE_ADDRESS}/{prefix}", None)
    _ip("link", "set", BRIDGE, "up")

    if not netns_exists(CLIENT_NETNS):
        _ip("netns", "add", CLIENT_NETNS)
    if not link_exists(CLIENT_VETH_HOST):
        if link_exists(CLIENT_VETH_NS):
            _ip("link", "del", CLIENT_VETH_NS)
        _ip("link", "add", CLIENT_VETH_HOST, "type", "veth", "peer", "name", CLIENT_VETH_NS)
        _ip("link", "set", CLIENT_VETH_NS, "netns", CLIENT_NETNS)
        _ip("link", "set", CLIENT_VETH_NS, "name", "eth0", netns=CLIENT_NETNS)
    _ip("link", "set", CLIENT_VETH_HOST, "master", BRIDGE)
    _ip("link", "set", CLIENT_VETH_HOST, "up")
    _ip("link", "set", "lo", "up", netns=CLIENT_NETNS)
    _ensure_address("eth0", f"{CLIENT_ADDRESS}/{prefix}", CLIENT_NETNS)
    _ip("link", "set", "eth0", "up", netns=CLIENT_NETNS)
    # The client only knows its own /24: no default route, so nothing it sends can leave
    # the bridge.
    return info()


def teardown() -> list[str]:
    """Remove the client namespace, the veth pair and the bridge, whichever exist."""
    removed = []
    if netns_exists(CLIENT_NETNS):
        _ip("netns", "del", CLIENT_NETNS)  # takes the client end of the veth pair with it
        removed.append(f"netns {CLIENT_NETNS}")
    for dev in (CLIENT_VETH_HOST, BRIDGE):
        # The host end of the veth pair vanishes with the namespace, possibly a moment later.
        if link_exists(dev):
            _ip("link", "del", dev, check=False)
            if link_exists(dev):
                raise EmbeddedClusterError(f"could not remove link {dev}")
            removed.append(f"link {dev}")
    return removed


def client_argv(*argv: str) -> list[str]:
    """``argv`` wrapped to run inside the external client namespace."""
    return ["ip", "netns", "exec", CLIENT_NETNS, *argv]
