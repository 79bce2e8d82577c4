"""kind's default CNI in the project's node image: kube-router, for any number of nodes.

Upstream kind installs kindnetd, whose source is not available offline. The node image instead
carries kube-router (``build.COMPONENTS["kube-router"]``, the same binary that enforces
NetworkPolicy on the embedded cluster, see ``netpol.py``) and ``/kind/manifests/default-cni.yaml``
is its DaemonSet, which kind applies at "Installing CNI":

- an init container writes the bridge conflist below to each node's ``/etc/cni/net.d``;
  kube-router fills in the node's ``spec.podCIDR`` (``--enable-cni``), so every node hands out
  pod addresses from its own range;
- its routing controller peers the nodes over iBGP and installs a route to every other node's
  pod range (the nodes share kind's docker network: no overlay);
- its firewall controller enforces NetworkPolicy (iptables and ipset, like on the embedded
  cluster); kube-proxy stays the service proxy.

kube-router runs from ``KUBE_ROUTER_IMAGE``, built on the Debian base that has iptables, ipset,
iproute2 and conntrack (``kind_node``), preloaded into the node image. It reaches the API through
its in-cluster configuration (the ``kubernetes`` Service, which kube-proxy serves before any pod
network exists).

API::

    KUBE_ROUTER_IMAGE       the image reference the DaemonSet runs
    DEFAULT_CNI_MANIFEST    the text of /kind/manifests/default-cni.yaml
    CNI_PLUGINS             the plugins the conflist uses (the kind base image ships them)
"""

from __future__ import annotations

import json

from embedded_cluster import build

KUBE_ROUTER_VERSION = build.component("kube-router").version
KUBE_ROUTER_IMAGE = f"airs-mcp-k8s/kube-router:{KUBE_ROUTER_VERSION}"
CONFLIST_PATH = "/etc/cni/net.d/10-kuberouter.conflist"
# kind's default serviceSubnet.
SERVICE_CIDR = "10.96.0.0/16"

CONFLIST = {
    "cniVersion": "0.3.0",
    "name": "kubernetes",
    "plugins": [
        {
            "name": "kubernetes",
            "type": "bridge",
            "bridge": "kube-bridge",
            "isDefaultGateway": True,
            "hairpinMode": True,
            # kube-router writes the node's podCIDR into this block.
            "ipam": {"type": "host-local"},
        },
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")

KUBE_ROUTER_ARGS = (
    "--run-router=true",
    "--run-firewall=true",
    "--run-service-proxy=false",
    "--run-loadbalancer=false",
    "--enable-cni=true",
    "--enable-ipv6=false",
    # Every node is on the same docker network: plain routes, no IP-in-IP tunnels.
    "--enable-overlay=false",
    "--bgp-graceful-restart=true",
    f"--service-cluster-ip-range={SERVICE_CIDR}",
    "--metrics-port=0",
    "--v=1",
)


def _args_yaml(indent: str) -> str:
    return "\n".join(f"{indent}- {arg}" for arg in KUBE_ROUTER_ARGS)


DEFAULT_CNI_MANIFEST = f"""\
# kind applies this file at "Installing CNI": kube-router as the pod network (routes between the
# nodes' pod ranges) and NetworkPolicy controller (embedded_cluster/imaging/kind_cni.py).
apiVersion: v1
kind: ServiceAccount
metadata:
  name: kube-router
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: kube-router
rules:
  - apiGroups: [""]
    resources: [namespaces, pods, services, nodes, endpoints]
    verbs: [get, list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [networkpolicies]
    verbs: [get, list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [get, list, watch]
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [get, create, update]
  - apiGroups: [""]
    resources: [services/status]
    verbs: [update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: kube-router
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: kube-router
subjects:
  - kind: ServiceAccount
    name: kube-router
    namespace: kube-system
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: kube-router-cfg
  namespace: kube-system
data:
  cni-conf.json: '{json.dumps(CONFLIST)}'
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kube-router
  namespace: kube-system
  labels:
    k8s-app: kube-router
spec:
  selector:
    matchLabels:
      k8s-app: kube-router
  template:
    metadata:
      labels:
        k8s-app: kube-router
    spec:
      priorityClassName: system-node-critical
      serviceAccountName: kube-router
      hostNetwork: true
      hostPID: true
      tolerations:
        - operator: Exists
      initContainers:
        - name: install-cni
          image: {KUBE_ROUTER_IMAGE}
          imagePullPolicy: Never
          command:
            - /bin/sh
            - -c
            - cp /etc/kube-router/cni-conf.json /etc/cni/net.d/.kuberouter.tmp &&
              mv /etc/cni/net.d/.kuberouter.tmp {CONFLIST_PATH}
          volumeMounts:
            - {{name: cni-conf-dir, mountPath: /etc/cni/net.d}}
            - {{name: kube-router-cfg, mountPath: /etc/kube-router}}
      containers:
        - name: kube-router
          image: {KUBE_ROUTER_IMAGE}
          imagePullPolicy: Never
          args:
{_args_yaml("            ")}
          env:
            - name: NODE_NAME
              valueFrom:
                fieldRef: {{fieldPath: spec.nodeName}}
            - name: KUBE_ROUTER_CNI_CONF_FILE
              value: {CONFLIST_PATH}
          livenessProbe:
            httpGet: {{path: /healthz, port: 20244}}
            initialDelaySeconds: 10
            periodSeconds: 3
          securityContext:
            privileged: true
          volumeMounts:
            - {{name: lib-modules, mountPath: /lib/modules, readOnly: true}}
            - {{name: cni-conf-dir, mountPath: /etc/cni/net.d}}
            - {{name: xtables-lock, mountPath: /run/xtables.lock}}
      volumes:
        - {{name: lib-modules, hostPath: {{path: /lib/modules}}}}
        - {{name: cni-conf-dir, hostPath: {{path: /etc/cni/net.d}}}}
        - {{name: kube-router-cfg, configMap: {{name: kube-router-cfg}}}}
        - {{name: xtables-lock, hostPath: {{path: /run/xtables.lock, type: FileOrCreate}}}}
"""
