"""How far a Deployment's roll-out is, and whether a pod of it is stuck in a state that will not
heal by itself. Pure functions over API objects as plain dicts (the dynamic client's
``to_dict()``), used by the ``rollout_wait`` module; no Ansible or Kubernetes client imports.

Stuck ("will not heal"): a container waiting in ImagePullBackOff, ErrImagePull,
InvalidImageName, ErrImageNeverPull, CrashLoopBackOff or CreateContainerConfigError; a pod the
scheduler marked Unschedulable (except for the taints of a node that is still starting); a
FailedMount event that names a missing object or keeps repeating; the Deployment's
ReplicaFailure condition (pods that cannot even be created: Pod Security Admission, a quota) or
ProgressDeadlineExceeded. Each maps to a kind, the key of the fix the calling role names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Container waiting reasons that only change when the object or the cluster is changed.
STUCK_WAITING = {
    "ImagePullBackOff": "image",
    "ErrImagePull": "image",
    "InvalidImageName": "image",
    "ErrImageNeverPull": "image",
    "CrashLoopBackOff": "crash",
    "CreateContainerConfigError": "config",
}
FIX_KINDS = ("image", "crash", "config", "mount", "schedule", "create", "timeout")
# A FailedMount that repeats this often is not the kubelet's cache catching up.
MOUNT_REPEATS = 3
# Taints of a node that is starting or briefly unreachable: the scheduler retries once it is Ready.
TRANSIENT_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
REVISION = "deployment.kubernetes.io/revision"


@dataclass(frozen=True)
class Problem:
    """Why one pod (or the Deployment itself) will not become ready."""

    kind: str  # one of FIX_KINDS
    reason: str  # the API's word for it: ImagePullBackOff, FailedMount, Unschedulable, ...
    message: str
    pod: str = ""
    container: str = ""


@dataclass(frozen=True)
class Progress:
    """One look at a roll-out: done, stuck (``problems``), or still moving."""

    done: bool
    summary: str
    problems: tuple[Problem, ...] = ()
    pods: tuple[dict, ...] = field(default=(), repr=False)


def _get(obj: object, *path: str, default: object = None) -> object:
    for key in path:
        if not isinstance(obj, dict) or key not in obj or obj[key] is None:
            return default
        obj = obj[key]
    return obj


def _int(obj: object, *path: str) -> int:
    value = _get(obj, *path, default=0)
    return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else 0


def _condition(obj: dict, kind: str) -> dict:
    for cond in _get(obj, "status", "conditions", default=[]) or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return {}


def deployment_problems(deployment: dict) -> list[Problem]:
    """The Deployment's own conditions that stop a roll-out for good."""
    problems = []
    failure = _condition(deployment, "ReplicaFailure")
    if failure.get("status") == "True":
        problems.append(
            Problem("create", failure.get("reason") or "ReplicaFailure", failure.get("message", ""))
        )
    progressing = _condition(deployment, "Progressing")
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        problems.append(
            Problem("timeout", "ProgressDeadlineExceeded", progressing.get("message", ""))
        )
    return problems


def rollout_summary(deployment: dict) -> tuple[bool, str]:
    """(done, what is left), as ``kubectl rollout status`` judges a Deployment."""
    generation = _int(deployment, "metadata", "generation")
    if _int(deployment, "status", "observedGeneration") < generation:
        return False, "the Deployment controller has not seen the new spec yet"
    wanted = _get(deployment, "spec", "replicas", default=1)
    wanted = int(wanted) if isinstance(wanted, int) else 1
    updated = _int(deployment, "status", "updatedReplicas")
    total = _int(deployment, "status", "replicas")
    available = _int(deployment, "status", "availableReplicas")
    ready = _int(deployment, "status", "readyReplicas")
    counts = f"{updated} of {wanted} replicas updated, {ready} ready, {available} available"
    if updated < wanted:
        return False, counts
    if total > updated:
        return False, f"{counts}, {total - updated} old replicas still running"
    if available < updated:
        return False, counts
    return True, counts


def new_replicaset(deployment: dict, replicasets: list[dict]) -> dict | None:
    """The ReplicaSet of the Deployment's current revision (None until the controller made it)."""
    revision = _get(deployment, "metadata", "annotations", REVISION)
    uid = _get(deployment, "metadata", "uid")
    for rs in replicasets:
        owners = _get(rs, "metadata", "ownerReferences", default=[]) or []
        owned = any(isinstance(o, dict) and o.get("uid") == uid for o in owners)
        if owned and revision and _get(rs, "metadata", "annotations", REVISION) == revision:
            return rs
    return None


def pods_of(replicaset: dict, pods: list[dict]) -> list[dict]:
    uid = _get(replicaset, "metadata", "uid")
    return [
        pod
        for pod in pods
        if any(
            isinstance(o, dict) and o.get("uid") == uid
            for o in _get(pod, "metadata", "ownerReferences", default=[]) or []
        )
        and not _get(pod, "metadata", "deletionTimestamp")
    ]


def events_of(pod: dict, events: list[dict]) -> list[dict]:
    """The pod's events, oldest first."""
    name = _get(pod, "metadata", "name")
    uid = _get(pod, "metadata", "uid")
    mine = [
        ev
        for ev in events
        if _get(ev, "involvedObject", "kind") == "Pod"
        and _get(ev, "involvedObject", "name") == name
        and _get(ev, "involvedObject", "uid") in (None, uid)
    ]
    return sorted(mine, key=event_time)


def event_time(event: dict) -> str:
    stamp = (
        _get(event, "lastTimestamp")
        or _get(event, "series", "lastObservedTime")
        or _get(event, "eventTime")
        or _get(event, "metadata", "creationTimestamp")
        or ""
    )
    # Seconds precision for all: eventTime carries microseconds, lastTimestamp does not.
    return str(stamp)[:19]


def _unschedulable(pod: dict) -> Problem | None:
    scheduled = _condition(pod, "PodScheduled")
    if scheduled.get("status") != "False" or scheduled.get("reason") != "Unschedulable":
        return None
    message = scheduled.get("message", "")
    if any(taint in message for taint in TRANSIENT_TAINTS):
        return None
    return Problem("schedule", "Unschedulable", message, pod=_get(pod, "metadata", "name"))


def pod_problems(pod: dict, events: list[dict]) -> list[Problem]:
    """Why this pod will not become ready without a change, if it will not."""
    name = str(_get(pod, "metadata", "name", default=""))
    problems = []
    unschedulable = _unschedulable(pod)
    if unschedulable:
        problems.append(unschedulable)
    statuses = [
        *(_get(pod, "status", "initContainerStatuses", default=[]) or []),
        *(_get(pod, "status", "containerStatuses", default=[]) or []),
    ]
    for status in statuses:
        waiting = _get(status, "state", "waiting", default={}) or {}
        kind = STUCK_WAITING.get(str(waiting.get("reason", "")))
        if kind:
            problems.append(
                Problem(kind, waiting["reason"], waiting.get("message", ""), name, status["name"])
            )
    for event in events_of(pod, events):
        if event.get("reason") != "FailedMount":
            continue
        message = str(event.get("message", ""))
        repeats = max(_int(event, "count"), _int(event, "series", "count"))
        if "not found" in message or repeats >= MOUNT_REPEATS:
            problems.append(Problem("mount", "FailedMount", message, name))
            break
    return problems


def assess(
    deployment: dict, replicasets: list[dict], pods: list[dict], events: list[dict]
) -> Progress:
    """One look at the roll-out: done, stuck with the problems found, or still moving."""
    done, summary = rollout_summary(deployment)
    if done:
        return Progress(True, summary)
    observed = _int(deployment, "status", "observedGeneration")
    if observed < _int(deployment, "metadata", "generation"):
        return Progress(False, summary)  # its conditions and pods are not the new spec's yet
    problems = deployment_problems(deployment)
    current = new_replicaset(deployment, replicasets)
    new_pods = pods_of(current, pods) if current else []
    for pod in new_pods:
        problems.extend(pod_problems(pod, events))
    return Progress(False, summary, tuple(problems), tuple(new_pods))


def container_line(status: dict) -> str:
    state = _get(status, "state", default={}) or {}
    word, detail = next(iter(state.items()), ("unknown", {}))  # one of waiting, running, terminated
    reason = _get(detail, "reason", default="")
    restarts = _int(status, "restartCount")
    ready = "ready" if status.get("ready") else "not ready"
    why = f" ({reason})" if reason else ""
    return f"{status.get('name')}: {word}{why}, {ready}, {restarts} restarts"


def pod_line(pod: dict) -> str:
    """``name: Phase; container: state (reason), ready, N restarts; ...`` for a report."""
    parts = [f"{_get(pod, 'metadata', 'name')}: {_get(pod, 'status', 'phase', default='?')}"]
    statuses = _get(pod, "status", "containerStatuses", default=[]) or []
    parts.extend(container_line(s) for s in statuses)
    return "; ".join(parts)


def event_line(event: dict) -> str:
    repeats = max(_int(event, "count"), _int(event, "series", "count"))
    times = f" (x{repeats})" if repeats > 1 else ""
    return f"{event.get('type', '')} {event.get('reason', '')}: {event.get('message', '')}{times}"


def report(
    where: str,
    problem: Problem | None,
    fix: str,
    *,
    summary: str,
    events: list[str],
    log_lines: list[str],
    seconds: float,
    timeout: int,
    others: int = 0,
    pods: list[str] | tuple[str, ...] = (),
) -> str:
    """The failure message: what is stuck and why, what to change, then the evidence."""
    lines = []
    if problem is None:
        lines.append(f"{where} was not rolled out within {timeout} s: {summary}.")
    else:
        subject = f"pod {problem.pod}" if problem.pod else where
        if problem.container:
            subject += f", container {problem.container}"
        lines.append(
            f"{where} will not roll out: {subject}: {problem.reason}"
            + (f": {problem.message}" if problem.message else "")
        )
        if others:
            lines.append(f"({others} more problem(s) of the new pods not shown.)")
        lines.append(f"Found after {seconds:.0f} s of the {timeout} s wait; roll-out: {summary}.")
    if fix:
        lines.append(f"Fix: {fix}")
    if pods:
        lines.append("Pods of the new revision:")
        lines.extend(f"  {line}" for line in pods)
    if events:
        lines.append("Last events of the pod:" if problem is None or problem.pod else "Events:")
        lines.extend(f"  {line}" for line in events)
    if log_lines:
        lines.append("Last log lines:")
        lines.extend(f"  {line}" for line in log_lines)
    return "\n".join(lines)
