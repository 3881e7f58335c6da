"""Workload analyzers (K8sGPT `Deployment`, `ReplicaSet`, `StatefulSet`, `DaemonSet`).

- Deployment: ready replicas differ from spec (two K8sGPT wordings, depending on whether status still
  shows more replicas than spec after a scale-down), and Progressing=False with its reason and message.
- ReplicaSet: no replicas and a ReplicaFailure/FailedCreate condition - the controller's message verbatim
  (quota, admission, missing service account: the reason pods are not even created).
- StatefulSet: a missing governing Service or StorageClass, and, when fewer replicas are available than
  wanted, each ordinal pod that is not Running (pod-0 missing: the set's latest warning event).
- DaemonSet: fewer ready than scheduled, and image pull secrets that do not exist.
"""

from __future__ import annotations

from prophet_sre.domain import Finding, Severity
from prophet_sre.tools.analyzers.base import Analyzer, Snapshot, finding, latest_warning
from prophet_sre.tools.kube import objects as o


def deployment(snap: Snapshot) -> list[Finding]:
    out = []
    for d in snap.objects("deployments"):
        ns, name = o.namespace(d), o.name(d)
        spec = o.num(o.dig(d, "spec", "replicas"), 1)
        status = o.num(o.dig(d, "status", "replicas"))
        ready = o.num(o.dig(d, "status", "readyReplicas"))
        errors = []
        if spec != ready:
            if status > spec:
                errors.append(f"Deployment {ns}/{name} has {spec} replicas in spec but {status} replicas in status "
                              f"because status field is not updated yet after scaling and {ready} replicas are "
                              "available with status running")
            else:
                errors.append(f"Deployment {ns}/{name} has {spec} replicas but {ready} are available with status "
                              "running")
        progressing = o.condition(d, "Progressing")
        if progressing is not None and progressing.get("status") == "False":
            errors.append(f"Deployment {ns}/{name} has condition Progressing=False, reason "
                          f"{o.text(progressing.get('reason'))}: {o.text(progressing.get('message'))}")
        if errors:
            out.append(finding(snap, "Deployment", "Deployment", d, errors,
                               severity=Severity.ERROR if ready == 0 and spec > 0 else Severity.WARNING,
                               evidence={"replicas": spec, "ready": ready, "status_replicas": status}))
    return out


def replicaset(snap: Snapshot) -> list[Finding]:
    out = []
    for rs in snap.objects("replicasets"):
        if o.num(o.dig(rs, "status", "replicas")) != 0:
            continue
        errors = [o.text(c.get("message")) for c in o.conditions(rs)
                  if c.get("type") == "ReplicaFailure" and c.get("reason") == "FailedCreate" and o.text(c.get("message"))]
        if errors:
            out.append(finding(snap, "ReplicaSet", "ReplicaSet", rs, errors,
                               evidence={"replicas": o.num(o.dig(rs, "spec", "replicas"), 1)}))
    return out


def statefulset(snap: Snapshot) -> list[Finding]:
    out = []
    for sts in snap.objects("statefulsets"):
        ns, name = o.namespace(sts), o.name(sts)
        errors = []
        svc = o.text(o.dig(sts, "spec", "serviceName"))
        if svc and snap.find("services", ns, svc) is None:
            errors.append(f"StatefulSet uses the service {ns}/{svc} which does not exist.")
        for tpl in o.items(o.dig(sts, "spec", "volumeClaimTemplates")):
            sc = o.text(o.dig(tpl, "spec", "storageClassName"))
            if sc and snap.find("storageclasses", "", sc) is None:
                errors.append(f"StatefulSet uses the storage class {sc} which does not exist.")
        want = o.num(o.dig(sts, "spec", "replicas"), 1)
        if want != o.num(o.dig(sts, "status", "availableReplicas")):
            for i in range(min(want, 1000)):
                pod_name = f"{name}-{i}"
                pod = snap.find("pods", ns, pod_name)
                if pod is None:
                    ev = latest_warning(snap, "StatefulSet", sts) if i == 0 else None
                    if ev is not None and o.text(ev.get("message")):
                        errors.append(o.text(ev.get("message")))
                elif o.text(o.dig(pod, "status", "phase")) != "Running":
                    errors.append(f"Statefulset pod {pod_name} in the namespace {ns} is not in running state.")
        if errors:
            out.append(finding(snap, "StatefulSet", "StatefulSet", sts, errors,
                               evidence={"replicas": want, "available": o.num(o.dig(sts, "status", "availableReplicas"))}))
    return out


def daemonset(snap: Snapshot) -> list[Finding]:
    out = []
    for ds in snap.objects("daemonsets"):
        ns, name = o.namespace(ds), o.name(ds)
        ready = o.num(o.dig(ds, "status", "numberReady"))
        desired = o.num(o.dig(ds, "status", "desiredNumberScheduled"))
        errors = []
        if ready < desired:
            errors.append(f"DaemonSet {ns}/{name} has {ready} ready replicas out of {desired} scheduled")
        for ref in o.items(o.dig(ds, "spec", "template", "spec", "imagePullSecrets")):
            secret = o.text(ref.get("name"))
            if secret and snap.find("secrets", ns, secret) is None:
                errors.append(f"DaemonSet {ns}/{name} references non-existent ImagePullSecret {secret}")
        if errors:
            out.append(finding(snap, "DaemonSet", "DaemonSet", ds, errors, severity=Severity.WARNING,
                               evidence={"ready": ready, "desired": desired}))
    return out


ANALYZERS = (
    Analyzer("Deployment", "Deployment", deployment, needs=("deployments",)),
    Analyzer("ReplicaSet", "ReplicaSet", replicaset, needs=("replicasets", "deployments")),
    Analyzer("StatefulSet", "StatefulSet", statefulset, needs=("statefulsets", "services", "storageclasses", "pods")),
    Analyzer("DaemonSet", "DaemonSet", daemonset, needs=("daemonsets",)),
)

__all__ = ["ANALYZERS", "daemonset", "deployment", "replicaset", "statefulset"]
