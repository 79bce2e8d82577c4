"""``lifecycle.up`` in control-plane mode over state a full cluster left behind.

A stopped full cluster (or a restarted machine) keeps etcd: its Node, the pods bound to it and
metrics-server's APIService. Control-plane mode runs no kubelet and no pods, so those pods would
never finish terminating, discovery of that API would fail, and a namespace could never finish
deleting (what broke ``uninstall.yml`` in CI). This file sorts first in the cluster lane, so on
a fresh run it gets the control plane alone; on a full cluster found running it stops the node
and the control plane itself (etcd's data kept, as a restart leaves it) and brings the full
cluster back afterwards.
"""

from __future__ import annotations

import json

import pytest
from embedded_cluster import containerd, controlplane, lifecycle, node

from tests.fixtures.cluster import EmbeddedCluster, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAMESPACE = "lifecycle-stale-node"
STALE_API = "v1beta1.stale.airs.test"


def _stale_node_objects(cluster: EmbeddedCluster) -> None:
    """What a full run leaves: the Node (made here on the control plane alone), a pod bound to
    it and an APIService served by a pod."""
    name = cluster.config.node_name
    node_object = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(node_object))
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(namespace))  # left by a failed run?
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bound", "namespace": NAMESPACE},
        "spec": {
            "nodeName": name,
            "automountServiceAccountToken": False,
            "containers": [{"name": "main", "image": containerd.PAUSE_IMAGE}],
        },
    }
    api = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": STALE_API},
        "spec": {
            "group": "stale.airs.test",
            "version": "v1beta1",
            "service": {"namespace": NAMESPACE, "name": "stale-api"},
            "insecureSkipTLSVerify": True,
            "groupPriorityMinimum": 100,
            "versionPriority": 10,
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(api))
    # The default ServiceAccount appears shortly after the namespace; admission needs it.
    wait_for(
        lambda: (
            cluster.kubectl("apply", "-f", "-", input=json.dumps(pod), check=False).returncode == 0
        ),
        "the bound pod to be admitted",
    )


def test_control_plane_start_releases_a_stopped_full_clusters_node(
    embedded_control_plane: EmbeddedCluster,
) -> None:
    cluster = embedded_control_plane
    found_full = cluster.mode == "full"
    _stale_node_objects(cluster)

    with lifecycle.exclusive(cluster.run):
        # Stopped as a restart stops it: nothing runs, etcd's data stays.
        if found_full:
            node.down(cluster.run)
        controlplane.stop(cluster.run)
    try:
        result = lifecycle.up(control_plane_only=True, paths=cluster.run)
        assert not result.already_up
        assert result.mode == "control-plane"

        pods = cluster.kubectl("get", "pods", "-n", NAMESPACE, "-o", "name").stdout.split()
        assert pods == []
        stale_node = cluster.kubectl("get", "node", cluster.config.node_name, check=False)
        assert "NotFound" in stale_node.stderr
        api = cluster.kubectl("get", "apiservice", STALE_API, check=False)
        assert "NotFound" in api.stderr
        cluster.kubectl("delete", "namespace", NAMESPACE, "--timeout=60s")
        gone = cluster.kubectl("get", "namespace", NAMESPACE, check=False)
        assert "NotFound" in gone.stderr
        assert "release node" in result.phases
    finally:
        if found_full:  # the cluster as it was found, for the tests after this one
            lifecycle.up(control_plane_only=False, paths=cluster.run)
