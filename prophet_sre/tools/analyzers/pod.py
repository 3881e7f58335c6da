"""The Pod analyzer (K8sGPT `Pod`): scheduling failures, evictions, and broken containers.

Texts are K8sGPT's, so a finding reads the same whichever tool produced it: the scheduler's condition
message verbatim for Unschedulable, the kubelet's waiting message verbatim for the error reasons
(`Back-off pulling image "nginx:nope"`), `the last termination reason is <Reason> container=<c> pod=<p>`
for a crash loop, `the termination reason is ...` for a container that exited non-zero, and for a pod
stuck in ContainerCreating or running but not ready, the message of its latest warning event when that
is a FailedCreatePodSandBox/FailedMount or Unhealthy event. Init containers are checked the same way.

One deliberate difference: K8sGPT takes the latest event of any type and requires it to have the right
reason; we take the latest non-Normal event, so an interleaved Normal event (a pull, a scheduling
message) does not hide the FailedMount or probe failure that explains the pod.
"""

from __future__ import annotations

from prophet_sre.domain import Finding
from prophet_sre.tools.analyzers.base import Analyzer, Obj, Snapshot, finding, latest_warning
from prophet_sre.tools.kube import objects as o

ERROR_REASONS = frozenset({
    "CrashLoopBackOff", "ImagePullBackOff", "CreateContainerConfigError", "PreCreateHookError",
    "CreateContainerError", "PreStartHookError", "RunContainerError", "ImageInspectError", "ErrImagePull",
    "ErrImageNeverPull", "InvalidImageName",
})
CREATING_EVENT_REASONS = frozenset({"FailedCreatePodSandBox", "FailedMount"})


def _scheduling(pod: Obj) -> list[str]:
    out: list[str] = []
    for c in o.conditions(pod):
        if c.get("type") != "PodScheduled":
            continue
        reason, message = o.text(c.get("reason")), o.text(c.get("message"))
        if reason == "Unschedulable" and message:
            out.append(message)
        elif reason == "SchedulingGated":
            out.append(message or f"Pod {o.namespace(pod)}/{o.name(pod)} is in a SchedulingGated state and is "
                                  "blocked from scheduling due to non-empty scheduling gates")
    return out


def _containers(snap: Snapshot, pod: Obj, statuses: list[Obj], phase: str) -> list[str]:
    out: list[str] = []
    pod_name = o.name(pod)
    for cs in statuses:
        cname = o.text(cs.get("name"))
        waiting = o.dig(cs, "state", "waiting")
        if isinstance(waiting, dict):
            reason, message = o.text(waiting.get("reason")), o.text(waiting.get("message"))
            if reason in ERROR_REASONS and message:
                out.append(message)
            if reason == "ContainerCreating" and phase == "Pending":
                ev = latest_warning(snap, "Pod", pod)
                if ev and o.text(ev.get("reason")) in CREATING_EVENT_REASONS and o.text(ev.get("message")):
                    out.append(o.text(ev.get("message")))
            last = o.dig(cs, "lastState", "terminated")
            if reason == "CrashLoopBackOff" and isinstance(last, dict):
                out.append(f"the last termination reason is {o.text(last.get('reason'))} "
                           f"container={cname} pod={pod_name}")
            continue
        term = o.dig(cs, "state", "terminated")
        if isinstance(term, dict) and o.num(term.get("exitCode")) != 0:
            out.append(f"the termination reason is {o.text(term.get('reason')) or 'Unknown'} "
                       f"exitCode={o.num(term.get('exitCode'))} container={cname} pod={pod_name}")
        elif cs.get("ready") is not True and phase == "Running":
            ev = latest_warning(snap, "Pod", pod)
            if ev and o.text(ev.get("reason")) == "Unhealthy" and o.text(ev.get("message")):
                out.append(o.text(ev.get("message")))
    return out


def analyze(snap: Snapshot) -> list[Finding]:
    findings = []
    for pod in snap.objects("pods"):
        phase = o.text(o.dig(pod, "status", "phase"))
        errors = _scheduling(pod) if phase == "Pending" else []
        if o.text(o.dig(pod, "status", "reason")) == "Evicted":
            errors.append(o.text(o.dig(pod, "status", "message")) or f"Pod {o.name(pod)} has been evicted")
        errors += _containers(snap, pod, o.container_statuses(pod, init=True), phase)
        errors += _containers(snap, pod, o.container_statuses(pod), phase)
        if errors:
            findings.append(finding(snap, "Pod", "Pod", pod, errors, evidence={
                "phase": phase, "status": o.pod_status(pod), "restarts": o.restarts(pod),
                "node": o.text(o.dig(pod, "spec", "nodeName"))}))
    return findings


ANALYZER = Analyzer("Pod", "Pod", analyze, needs=("pods", "replicasets", "jobs"))
"""ReplicaSets and Jobs are listed so findings name their Deployment or CronJob as the parent."""

__all__ = ["ANALYZER", "ERROR_REASONS", "analyze"]
