"""Defaults for the controllers: Deployment, ReplicaSet, ReplicationController, StatefulSet, DaemonSet,
Job, CronJob, HorizontalPodAutoscaler and PodDisruptionBudget.

Each follows its SetDefaults_* in k8s.io/kubernetes/pkg/apis/*/v1 plus what the create strategy adds: a
Job gets its generated selector and controller labels (and copies them to its own labels, as reading it
back from a real server shows), and a just-created controller reads back with its zero status.
"""

from __future__ import annotations

from prophet_sre.sim.defaults_pods import (
    child_map,
    default_pod_template,
    default_pvc_spec,
    items,
    setdefault,
    sub,
)

JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_JOB_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"


def status_if_absent(obj: dict, status: dict) -> None:
    """A just-created controller object reads back with its zero status (`status: {}` or zeros)."""
    if obj.get("status") is None:
        obj["status"] = status


def _template_labels(spec: dict) -> dict | None:
    return child_map(child_map(child_map(spec, "template"), "metadata"), "labels")


# --- apps ----------------------------------------------------------------------------------------------
def default_deployment(obj: dict, old: dict | None, now: str) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    setdefault(spec, "replicas", 1)
    strategy = sub(spec, "strategy")
    if strategy is not None:
        setdefault(strategy, "type", "RollingUpdate")
        if strategy.get("type") == "RollingUpdate":
            ru = sub(strategy, "rollingUpdate")
            if ru is not None:
                setdefault(ru, "maxUnavailable", "25%")
                setdefault(ru, "maxSurge", "25%")
    setdefault(spec, "revisionHistoryLimit", 10)
    setdefault(spec, "progressDeadlineSeconds", 600)
    default_pod_template(sub(spec, "template"))
    status_if_absent(obj, {})


def default_replicaset(obj: dict, old: dict | None, now: str) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    setdefault(spec, "replicas", 1)
    default_pod_template(sub(spec, "template"))
    status_if_absent(obj, {"replicas": 0})


def default_replication_controller(obj: dict, old: dict | None, now: str) -> None:
    """SetDefaults_ReplicationController: selector and labels default to the template's labels."""
    spec = sub(obj, "spec")
    if spec is None:
        return
    setdefault(spec, "replicas", 1)
    labels = _template_labels(spec)
    if labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = sub(obj, "metadata")
        if meta is not None and not meta.get("labels"):
            meta["labels"] = dict(labels)
    default_pod_template(spec.get("template"))
    status_if_absent(obj, {"replicas": 0})


def default_statefulset(obj: dict, old: dict | None, now: str) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    setdefault(spec, "replicas", 1)
    setdefault(spec, "podManagementPolicy", "OrderedReady")
    strategy = sub(spec, "updateStrategy")
    if strategy is not None:
        if strategy.get("type") is None:
            strategy["type"] = "RollingUpdate"
            setdefault(strategy, "rollingUpdate", {})
        ru = child_map(strategy, "rollingUpdate")
        if strategy.get("type") == "RollingUpdate" and ru is not None:
            setdefault(ru, "partition", 0)
    setdefault(spec, "revisionHistoryLimit", 10)
    retention = sub(spec, "persistentVolumeClaimRetentionPolicy")
    if retention is not None:
        setdefault(retention, "whenDeleted", "Retain")
        setdefault(retention, "whenScaled", "Retain")
    for claim in items(spec, "volumeClaimTemplates"):
        setdefault(claim, "apiVersion", "v1")
        setdefault(claim, "kind", "PersistentVolumeClaim")
        claim_spec = sub(claim, "spec")
        if claim_spec is not None:
            default_pvc_spec(claim_spec)
        status = sub(claim, "status")
        if status is not None:
            setdefault(status, "phase", "Pending")
    default_pod_template(sub(spec, "template"))
    status_if_absent(obj, {"availableReplicas": 0, "replicas": 0})


def default_daemonset(obj: dict, old: dict | None, now: str) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    strategy = sub(spec, "updateStrategy")
    if strategy is not None:
        setdefault(strategy, "type", "RollingUpdate")
        if strategy.get("type") == "RollingUpdate":
            ru = sub(strategy, "rollingUpdate")
            if ru is not None:
                setdefault(ru, "maxUnavailable", 1)
                setdefault(ru, "maxSurge", 0)
    setdefault(spec, "revisionHistoryLimit", 10)
    default_pod_template(sub(spec, "template"))
    status_if_absent(obj, {"currentNumberScheduled": 0, "desiredNumberScheduled": 0, "numberMisscheduled": 0,
                            "numberReady": 0})


# --- batch ---------------------------------------------------------------------------------------------
def _generate_job_selector(obj: dict, spec: dict) -> None:
    """The Job strategy's generateSelector: the uid selector and the four controller labels."""
    meta = child_map(obj, "metadata") or {}
    uid, name = meta.get("uid"), meta.get("name")
    if not isinstance(uid, str) or not uid or not isinstance(name, str):
        return
    template = sub(spec, "template")
    tmeta = sub(template, "metadata") if template is not None else None
    labels = sub(tmeta, "labels") if tmeta is not None else None
    if labels is None:
        return
    for key in (LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL):
        labels.setdefault(key, name)
    for key in (LEGACY_JOB_UID_LABEL, JOB_UID_LABEL):
        labels.setdefault(key, uid)
    selector = sub(spec, "selector")
    if selector is None:
        return
    match = sub(selector, "matchLabels")
    if match is not None:
        match.setdefault(JOB_UID_LABEL, uid)


def default_job(obj: dict, old: dict | None, now: str) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    setdefault(spec, "parallelism", 1)
    setdefault(spec, "backoffLimit", 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6)
    setdefault(spec, "completionMode", "NonIndexed")
    setdefault(spec, "suspend", False)
    setdefault(spec, "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") is not None
               else "TerminatingOrFailed")
    policy = child_map(spec, "podFailurePolicy")
    for rule in items(policy, "rules"):
        for pattern in items(rule, "onPodConditions"):
            setdefault(pattern, "status", "True")
    if old is None and spec.get("manualSelector") is not True:
        _generate_job_selector(obj, spec)
    default_pod_template(sub(spec, "template"))
    # A real server copies the template's labels to the Job when it reads it back from storage, i.e.
    # after validation; skip labels that will fail it (a job-name over 63 characters) so the error is
    # reported once, at spec.template.labels, as there.
    labels = _template_labels(spec)
    meta = sub(obj, "metadata")
    if labels and meta is not None and not meta.get("labels") and all(
            isinstance(v, str) and len(v) <= 63 for v in labels.values()):
        meta["labels"] = dict(labels)
    status_if_absent(obj, {})


def default_cronjob(obj: dict, old: dict | None, now: str) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    setdefault(spec, "concurrencyPolicy", "Allow")
    setdefault(spec, "suspend", False)
    setdefault(spec, "successfulJobsHistoryLimit", 3)
    setdefault(spec, "failedJobsHistoryLimit", 1)
    job_template = sub(spec, "jobTemplate")
    if job_template is not None:
        setdefault(job_template, "metadata", {})
        job_spec = child_map(job_template, "spec")
        if job_spec is not None:
            default_pod_template(sub(job_spec, "template"))
    status_if_absent(obj, {})


_HPA_SCALE_UP = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                 "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                              {"type": "Percent", "value": 100, "periodSeconds": 15}]}
_HPA_SCALE_DOWN = {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def default_hpa(obj: dict, old: dict | None, now: str, *, v2: bool) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    setdefault(spec, "minReplicas", 1)
    if v2:
        if spec.get("metrics") in (None, []):
            spec["metrics"] = [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
        behavior = child_map(spec, "behavior")
        if behavior is not None:
            for key, defaults in (("scaleUp", _HPA_SCALE_UP), ("scaleDown", _HPA_SCALE_DOWN)):
                rules = sub(behavior, key)
                if rules is None:
                    continue
                for field, value in defaults.items():
                    if field == "policies" and rules.get("policies"):
                        continue
                    setdefault(rules, field, [dict(p) for p in value] if isinstance(value, list) else value)
        status_if_absent(obj, {"currentMetrics": None, "desiredReplicas": 0})
    else:
        status_if_absent(obj, {"currentReplicas": 0, "desiredReplicas": 0})


def default_pdb(obj: dict, old: dict | None, now: str) -> None:
    status_if_absent(obj, {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0})
