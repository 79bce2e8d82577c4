#!/usr/bin/python
"""``rollout_wait``: wait for a Deployment's roll-out, and stop with the cause as soon as a pod
of it is stuck (the reading of the pods is plugins/module_utils/rollout.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: rollout_wait
author: airs-mcp-k8s maintainers (!UNKNOWN)
short_description: Wait for a Deployment's roll-out; fail at once, with the cause, when it is stuck
description:
  - Polls the Deployment until every replica is updated and available, as C(kubectl rollout
    status) judges it.
  - Stops as soon as a pod of the new revision is in a state that will not heal by itself, and
    fails naming the pod, the reason, the fix the calling role gives for it, the pod's last
    events and its last log lines. Stuck states are a container waiting in C(ImagePullBackOff),
    C(ErrImagePull), C(InvalidImageName), C(ErrImageNeverPull), C(CrashLoopBackOff) or
    C(CreateContainerConfigError);
    a pod marked C(Unschedulable) (not for the taints of a node still starting); a
    C(FailedMount) event that names a missing object or repeats; the Deployment's
    C(ReplicaFailure) condition (pods refused at creation, e.g. by Pod Security Admission or a
    quota) or C(ProgressDeadlineExceeded).
  - At the timeout it fails with the roll-out's counts, every new pod's state and the events
    and log lines of one that is not ready, never with the timeout alone.
  - Reads only; belongs to the C(airs.mcp_k8s.k8s) action group, so C(module_defaults) for
    C(group/airs.mcp_k8s.k8s) set its connection as they do for the kubernetes.core modules.
options:
  namespace:
    description: Namespace of the Deployment.
    type: str
    required: true
  name:
    description: Name of the Deployment.
    type: str
    required: true
  timeout:
    description: Seconds to wait for a roll-out that is still moving.
    type: int
    default: 300
  poll:
    description: Seconds between two looks.
    type: int
    default: 2
  events:
    description: How many of the pod's last events the failure shows.
    type: int
    default: 8
  log_lines:
    description: How many of the container's last log lines the failure shows.
    type: int
    default: 20
  fixes:
    description:
      - What to change, per kind of failure, in the calling role's own terms (its variables).
        Shown after C(Fix:) in the failure message; an empty one shows nothing.
    type: dict
    default: {}
    suboptions:
      image:
        description:
          - For an image the nodes cannot pull (C(ImagePullBackOff), C(ErrImagePull),
            C(InvalidImageName), C(ErrImageNeverPull)).
        type: str
        default: ""
      crash:
        description: For a container that keeps exiting (C(CrashLoopBackOff)).
        type: str
        default: ""
      config:
        description:
          - For a container whose environment cannot be built (C(CreateContainerConfigError)).
        type: str
        default: ""
      mount:
        description: For a volume that cannot be mounted (C(FailedMount)).
        type: str
        default: ""
      schedule:
        description: For a pod no node can take (C(Unschedulable)).
        type: str
        default: ""
      create:
        description: For pods the API server refuses to create (C(ReplicaFailure)).
        type: str
        default: ""
      timeout:
        description: For a roll-out still not done at the timeout.
        type: str
        default: ""
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
requirements:
  - kubernetes >= 24.2.0
attributes:
  check_mode:
    support: full
    description: Only reads.
"""

EXAMPLES = r"""
- name: Wait for the server's roll-out
  airs.mcp_k8s.rollout_wait:
    namespace: aisecurity
    name: aisecurity-mcp-server
    timeout: 300
    fixes:
      image: set mcp_server_image and mcp_server_image_tag to an image the nodes can pull
      timeout: raise mcp_server_wait_timeout if the pods only need longer
"""

RETURN = r"""
summary:
  description: The roll-out's counts at the end.
  type: str
  returned: always
  sample: 3 of 3 replicas updated, 3 ready, 3 available
seconds:
  description: Seconds the wait took.
  type: float
  returned: always
reason:
  description: The stuck state found (C(ImagePullBackOff), C(FailedMount), ...), or C(Timeout).
  type: str
  returned: failure
kind:
  description: Its kind, the key of O(fixes) that was shown.
  type: str
  returned: failure
pod:
  description: The pod it was found in (empty for the Deployment's own conditions).
  type: str
  returned: failure
fix:
  description: The fix shown.
  type: str
  returned: failure
events:
  description: The pod's last events, oldest first.
  type: list
  elements: str
  returned: failure
log_lines:
  description: The container's last log lines (of its previous run after a crash).
  type: list
  elements: str
  returned: failure
"""

import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.airs.mcp_k8s.plugins.module_utils.rollout import (
    FIX_KINDS,
    assess,
    event_line,
    events_of,
    pod_line,
    report,
)
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException

try:
    from kubernetes.client import CoreV1Api
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError
except ImportError:  # AnsibleK8SModule reports the missing library
    CoreV1Api = None
    ApiException = DynamicApiError = Exception


def argument_spec() -> dict:
    spec = dict(AUTH_ARG_SPEC)
    spec.update(
        namespace={"type": "str", "required": True},
        name={"type": "str", "required": True},
        timeout={"type": "int", "default": 300},
        poll={"type": "int", "default": 2},
        events={"type": "int", "default": 8},
        log_lines={"type": "int", "default": 20},
        fixes={
            "type": "dict",
            "default": {},
            "options": {kind: {"type": "str", "default": ""} for kind in FIX_KINDS},
        },
    )
    return spec


def _selector(deployment: dict) -> str:
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


class Cluster:
    """The reads the wait needs, as plain dicts."""

    def __init__(self, client, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self.logs = CoreV1Api(client.client.client)

    def _list(self, kind: str, api_version: str, **selectors: str) -> list[dict]:
        resource = self.client.resource(kind, api_version)
        found = self.client.get(resource, namespace=self.namespace, **selectors)
        return [item.to_dict() for item in found.items]

    def deployment(self, name: str) -> dict:
        resource = self.client.resource("Deployment", "apps/v1")
        return self.client.get(resource, name=name, namespace=self.namespace).to_dict()

    def replicasets(self, deployment: dict) -> list[dict]:
        return self._list("ReplicaSet", "apps/v1", label_selector=_selector(deployment))

    def pods(self, deployment: dict) -> list[dict]:
        return self._list("Pod", "v1", label_selector=_selector(deployment))

    def pod_events(self) -> list[dict]:
        return self._list("Event", "v1", field_selector="involvedObject.kind=Pod")

    def log_tail(self, pod: str, container: str, lines: int, previous: bool) -> list[str]:
        try:
            text = self.logs.read_namespaced_pod_log(
                pod, self.namespace, container=container or None, tail_lines=lines,
                previous=previous,
            )  # fmt: skip
        except (ApiException, DynamicApiError):
            return []
        return [line for line in (text or "").splitlines() if line.strip()][-lines:]


def _container_ran(pod: dict, container: str) -> tuple[bool, bool]:
    """(has it run at all, has it restarted) for the named container (or the pod's first)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if container and status.get("name") != container:
            continue
        state = status.get("state") or {}
        restarted = int(status.get("restartCount") or 0) > 0
        return restarted or "running" in state or "terminated" in state, restarted
    return False, False


def _first_not_ready(pods: tuple[dict, ...]) -> dict | None:
    for pod in pods:
        conditions = (pod.get("status") or {}).get("conditions") or []
        if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            return pod
    return None


def wait(module: AnsibleK8SModule, cluster: Cluster) -> None:
    params = module.params
    where = f"Deployment {params['namespace']}/{params['name']}"
    fixes = params["fixes"] or {}
    start = time.monotonic()
    deadline = start + params["timeout"]
    last_error = ""
    while True:
        try:
            deployment = cluster.deployment(params["name"])
            replicasets = cluster.replicasets(deployment)
            pods = cluster.pods(deployment)
            events = cluster.pod_events()
        except (ApiException, DynamicApiError) as exc:
            status = getattr(exc, "status", None)
            if status in (401, 403, 404):
                module.fail_json(msg=f"{where} cannot be read: {status} {exc.reason}")
            last_error = f"{status} {exc.reason}"  # an API server hiccup: look again
        else:
            progress = assess(deployment, replicasets, pods, events)
            seconds = round(time.monotonic() - start, 1)
            if progress.done:
                module.exit_json(changed=False, summary=progress.summary, seconds=seconds)
            if progress.problems:
                fail_stuck(module, cluster, where, progress, events, fixes, seconds)
            if time.monotonic() >= deadline:
                fail_timeout(module, cluster, where, progress, events, fixes, seconds)
        if time.monotonic() >= deadline:
            module.fail_json(
                msg=f"{where} could not be read for {params['timeout']} s: {last_error}",
                seconds=round(time.monotonic() - start, 1),
            )
        time.sleep(max(1, params["poll"]))


def fail_stuck(module, cluster, where, progress, events, fixes, seconds) -> None:
    params = module.params
    problem = progress.problems[0]
    pod = next((p for p in progress.pods if p["metadata"]["name"] == problem.pod), None)
    event_lines = []
    log_lines = []
    if pod is not None:
        event_lines = [event_line(e) for e in events_of(pod, events)][-params["events"] :]
        ran, restarted = _container_ran(pod, problem.container)
        if ran:
            log_lines = cluster.log_tail(
                problem.pod, problem.container, params["log_lines"], previous=restarted
            )
    fix = fixes.get(problem.kind) or ""
    message = report(
        where, problem, fix, summary=progress.summary, events=event_lines, log_lines=log_lines,
        seconds=seconds, timeout=params["timeout"], others=len(progress.problems) - 1,
    )  # fmt: skip
    module.fail_json(
        msg=message, reason=problem.reason, kind=problem.kind, pod=problem.pod, fix=fix,
        events=event_lines, log_lines=log_lines, summary=progress.summary, seconds=seconds,
    )  # fmt: skip


def fail_timeout(module, cluster, where, progress, events, fixes, seconds) -> None:
    params = module.params
    pod = _first_not_ready(progress.pods)
    event_lines = []
    log_lines = []
    if pod is not None:
        name = pod["metadata"]["name"]
        event_lines = [event_line(e) for e in events_of(pod, events)][-params["events"] :]
        if _container_ran(pod, "")[0]:
            log_lines = cluster.log_tail(name, "", params["log_lines"], previous=False)
    fix = fixes.get("timeout") or ""
    message = report(
        where, None, fix, summary=progress.summary, events=event_lines, log_lines=log_lines,
        seconds=seconds, timeout=params["timeout"], pods=[pod_line(p) for p in progress.pods],
    )  # fmt: skip
    module.fail_json(
        msg=message, reason="Timeout", kind="timeout", pod=pod["metadata"]["name"] if pod else "",
        fix=fix, events=event_lines, log_lines=log_lines, summary=progress.summary,
        seconds=seconds,
    )  # fmt: skip


def main() -> None:
    module = AnsibleK8SModule(
        module_class=AnsibleModule, argument_spec=argument_spec(), supports_check_mode=True
    )
    try:
        client = get_api_client(module=module)
        wait(module, Cluster(client, module.params["namespace"]))
    except CoreException as exc:
        module.fail_from_exception(exc)
    except (ApiException, DynamicApiError) as exc:
        module.fail_json(msg=f"Kubernetes API error: {exc}", exception=traceback.format_exc())


if __name__ == "__main__":
    main()
