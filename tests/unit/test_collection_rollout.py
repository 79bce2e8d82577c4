"""The reading of a Deployment's roll-out behind ``airs.mcp_k8s.rollout_wait``
(plugins/module_utils/rollout.py): when it is done, and which pod states stop the wait at once.
The same states on real pods of the embedded cluster: tests/e2e/test_rollout_diagnosis.py."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.ansible import load_module

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "collections" / "ansible_collections" / "airs" / "mcp_k8s"
rollout = load_module(COLLECTION / "plugins" / "module_utils" / "rollout.py")

DEPLOYMENT_UID = "d-1"
NEW_RS_UID = "rs-2"


def deployment(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "uid": DEPLOYMENT_UID,
            "generation": 2,
            "annotations": {rollout.REVISION: "2"},
        },
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 2, **status},
    }


def replicaset(uid: str, revision: str) -> dict[str, Any]:
    return {
        "metadata": {
            "uid": uid,
            "annotations": {rollout.REVISION: revision},
            "ownerReferences": [{"uid": DEPLOYMENT_UID}],
        }
    }


REPLICASETS = [replicaset("rs-1", "1"), replicaset(NEW_RS_UID, "2")]


def pod(name: str = "web-2-a", owner: str = NEW_RS_UID, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "ownerReferences": [{"uid": owner}]},
        "status": {"phase": "Pending", **status},
    }


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"containerStatuses": [
        {"name": "app", "ready": False, "restartCount": 0,
         "state": {"waiting": {"reason": reason, "message": message}}},
    ]}  # fmt: skip


def event(pod_name: str, reason: str, message: str, count: int = 1, at: str = "") -> dict:
    return {
        "involvedObject": {"kind": "Pod", "name": pod_name, "uid": f"uid-{pod_name}"},
        "type": "Warning",
        "reason": reason,
        "message": message,
        "count": count,
        "lastTimestamp": at or "2026-12-07T19:00:00Z",
    }


MOVING = {"replicas": 3, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2}


def test_a_rolled_out_deployment_is_done() -> None:
    done = deployment(replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2)
    progress = rollout.assess(done, REPLICASETS, [], [])
    assert progress.done
    assert progress.summary == "2 of 2 replicas updated, 2 ready, 2 available"


@pytest.mark.parametrize(
    ("status", "left"),
    [
        ({"replicas": 3, "updatedReplicas": 1, "availableReplicas": 2}, "1 of 2 replicas updated"),
        ({"replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}, "1 old replicas still"),
        ({"replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}, "1 available"),
    ],
)
def test_a_moving_roll_out_is_not_done_and_says_what_is_left(
    status: dict[str, int], left: str
) -> None:
    progress = rollout.assess(deployment(**status), REPLICASETS, [pod(status=None)], [])
    assert not progress.done
    assert left in progress.summary
    assert progress.problems == ()


def test_a_spec_the_controller_has_not_seen_is_not_judged_by_old_conditions() -> None:
    stale = deployment(**MOVING)
    stale["status"]["observedGeneration"] = 1
    stale["status"]["conditions"] = [{"type": "ReplicaFailure", "status": "True"}]
    crashing = pod(**waiting("CrashLoopBackOff"))
    progress = rollout.assess(stale, REPLICASETS, [crashing], [])
    assert (progress.done, progress.problems) == (False, ())
    assert "not seen the new spec" in progress.summary


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("ImagePullBackOff", "image"),
        ("ErrImagePull", "image"),
        ("InvalidImageName", "image"),
        ("CrashLoopBackOff", "crash"),
        ("CreateContainerConfigError", "config"),
    ],
)
def test_a_stuck_container_of_a_new_pod_is_a_problem(reason: str, kind: str) -> None:
    stuck = pod(**waiting(reason, "why"))
    (problem,) = rollout.assess(deployment(**MOVING), REPLICASETS, [stuck], []).problems
    assert (problem.kind, problem.reason, problem.message) == (kind, reason, "why")
    assert (problem.pod, problem.container) == ("web-2-a", "app")


def test_an_old_pod_or_a_starting_container_is_not_a_problem() -> None:
    old = pod("web-1-a", owner="rs-1", **waiting("CrashLoopBackOff"))
    starting = pod(**waiting("ContainerCreating"))
    progress = rollout.assess(deployment(**MOVING), REPLICASETS, [old, starting], [])
    assert progress.problems == ()
    assert [p["metadata"]["name"] for p in progress.pods] == ["web-2-a"]


def test_an_init_container_in_backoff_is_a_problem() -> None:
    stuck = pod(initContainerStatuses=waiting("ImagePullBackOff")["containerStatuses"])
    (problem,) = rollout.assess(deployment(**MOVING), REPLICASETS, [stuck], []).problems
    assert problem.kind == "image"


def unschedulable(message: str) -> dict[str, Any]:
    return pod(
        conditions=[
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": message},
        ]
    )  # fmt: skip


def test_an_unschedulable_pod_is_a_problem_unless_the_node_is_only_starting() -> None:
    selector = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
    (problem,) = rollout.assess(
        deployment(**MOVING), REPLICASETS, [unschedulable(selector)], []
    ).problems
    assert (problem.kind, problem.reason) == ("schedule", "Unschedulable")
    assert problem.message == selector
    starting = (
        "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }."
    )
    progress = rollout.assess(deployment(**MOVING), REPLICASETS, [unschedulable(starting)], [])
    assert progress.problems == ()


def test_a_failed_mount_of_a_missing_object_is_a_problem_a_passing_one_is_not() -> None:
    missing = 'MountVolume.SetUp failed for volume "ca" : configmap "web-ca" not found'
    cache = 'MountVolume.SetUp failed for volume "ca" : failed to sync configmap cache: timed out'
    mounting = pod(**waiting("ContainerCreating"))
    events = [event("web-2-a", "FailedMount", cache)]
    assert rollout.assess(deployment(**MOVING), REPLICASETS, [mounting], events).problems == ()
    repeated = [event("web-2-a", "FailedMount", cache, count=rollout.MOUNT_REPEATS)]
    (problem,) = rollout.assess(deployment(**MOVING), REPLICASETS, [mounting], repeated).problems
    assert problem.kind == "mount"
    other_pod = [event("web-9-z", "FailedMount", missing)]
    assert rollout.assess(deployment(**MOVING), REPLICASETS, [mounting], other_pod).problems == ()
    (problem,) = rollout.assess(
        deployment(**MOVING), REPLICASETS, [mounting], [event("web-2-a", "FailedMount", missing)]
    ).problems
    assert (problem.kind, problem.reason, problem.message) == ("mount", "FailedMount", missing)


def test_refused_pods_and_a_passed_progress_deadline_are_problems() -> None:
    refused = deployment(
        **MOVING,
        conditions=[
            {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
             "message": 'pods "web-2-x" is forbidden: violates PodSecurity "restricted:latest"'},
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": 'ReplicaSet "web-2" has timed out progressing.'},
        ],
    )  # fmt: skip
    problems = rollout.assess(refused, REPLICASETS, [], []).problems
    assert [(p.kind, p.reason) for p in problems] == [
        ("create", "FailedCreate"),
        ("timeout", "ProgressDeadlineExceeded"),
    ]
    assert "violates PodSecurity" in problems[0].message


def test_events_of_a_pod_come_oldest_first_whatever_their_time_field() -> None:
    later = event("web-2-a", "BackOff", "second", at="2026-12-07T19:00:09Z")
    earlier = event("web-2-a", "Failed", "first")
    del earlier["lastTimestamp"]
    earlier["eventTime"] = "2026-12-07T19:00:01.123456Z"
    ordered = rollout.events_of(pod(), [later, earlier])
    assert [e["message"] for e in ordered] == ["first", "second"]


def test_the_report_names_the_reason_the_fix_and_the_evidence() -> None:
    pulling = 'Back-off pulling image "x:1"'
    problem = rollout.Problem("image", "ImagePullBackOff", pulling, "p", "app")
    text = rollout.report(
        "Deployment ns/web", problem, "set web_image", summary="0 of 2 replicas updated",
        events=["Warning Failed: pull access denied"], log_lines=[], seconds=4.2, timeout=600,
    )  # fmt: skip
    assert text.splitlines()[0] == (
        "Deployment ns/web will not roll out: pod p, container app: ImagePullBackOff: "
        'Back-off pulling image "x:1"'
    )
    assert "Found after 4 s of the 600 s wait" in text
    assert "Fix: set web_image" in text
    assert "  Warning Failed: pull access denied" in text


def test_the_timeout_report_lists_the_pods_states() -> None:
    running = copy.deepcopy(pod(phase="Running"))
    running["status"]["containerStatuses"] = [
        {"name": "app", "ready": False, "restartCount": 1, "state": {"running": {}}}
    ]
    text = rollout.report(
        "Deployment ns/web", None, "raise web_wait_timeout", summary="1 of 2 replicas updated",
        events=["Warning Unhealthy: Readiness probe failed"], log_lines=["booting"], seconds=600,
        timeout=600, pods=[rollout.pod_line(running)],
    )  # fmt: skip
    assert text.startswith("Deployment ns/web was not rolled out within 600 s: 1 of 2")
    assert "  web-2-a: Running; app: running, not ready, 1 restarts" in text
    assert "Readiness probe failed" in text
    assert "  booting" in text


POD_KINDS = ("Deployment", "DaemonSet", "StatefulSet", "Pod")


def test_every_roll_out_wait_of_the_roles_is_rollout_wait_with_the_roles_own_fixes() -> None:
    waits = []
    for path in sorted(COLLECTION.glob("roles/*/tasks/*.yml")):
        role = path.parts[-3]
        for task in yaml.safe_load(path.read_text()) or []:
            info = task.get("kubernetes.core.k8s_info") or {}
            assert not (info.get("wait") and info.get("kind") in POD_KINDS), (path, task["name"])
            if "airs.mcp_k8s.rollout_wait" in task:
                args = task["airs.mcp_k8s.rollout_wait"]
                assert args["fixes"] == f"{{{{ _{role}_wait_fixes }}}}", (path, args)
                fixes = yaml.safe_load((path.parents[1] / "vars" / "main.yml").read_text())
                own = fixes[f"_{role}_wait_fixes"]
                assert set(own) == set(rollout.FIX_KINDS), (role, sorted(own))
                assert f"{role}_image" in own["image"] or f"{role}_version" in own["image"], role
                assert f"{role}_wait_timeout" in own["timeout"], role
                waits.append(role)
    assert sorted(waits) == ["airs_api_double", "mcp_server", "metallb", "traefik"]
