"""Availability-policy analyzers (K8sGPT `HorizontalPodAutoscaler`, `PodDisruptionBudget`).

- HorizontalPodAutoscaler (autoscaling/v2): a condition that says it cannot scale (any condition False,
  or ScalingLimited=True other than being held at its minimum), a scale target of a kind an HPA cannot
  scale or that does not exist, and a target whose containers have no requests and limits (resource
  metrics then have nothing to be a percentage of).
- PodDisruptionBudget: DisruptionAllowed=False - no voluntary eviction can proceed, so node drains and
  upgrades stall; one error per selector label so the pods to look at are named.
"""

from __future__ import annotations

from prophet_sre.domain import Finding, Severity
from prophet_sre.tools.analyzers.base import Analyzer, Snapshot, finding
from prophet_sre.tools.kube import objects as o

SCALABLE = {"Deployment": "deployments", "ReplicationController": "replicationcontrollers",
            "ReplicaSet": "replicasets", "StatefulSet": "statefulsets"}


def hpa(snap: Snapshot) -> list[Finding]:
    out = []
    for h in snap.objects("horizontalpodautoscalers"):
        ns = o.namespace(h)
        errors: list[str] = []
        for c in o.conditions(h):
            typ, status, reason, message = (o.text(c.get(k)) for k in ("type", "status", "reason", "message"))
            limited = typ == "ScalingLimited" and status == "True" and reason != "TooFewReplicas"
            if message and (limited or (typ != "ScalingLimited" and status == "False")):
                errors.append(message)
        kind, name = (o.text(o.dig(h, "spec", "scaleTargetRef", k)) for k in ("kind", "name"))
        resource = SCALABLE.get(kind)
        if resource is None:
            errors.append(f"HorizontalPodAutoscaler uses {kind} as ScaleTargetRef which is not an option.")
        target = snap.find(resource, ns, name) if resource is not None and name else None
        if target is None:
            errors.append(f"HorizontalPodAutoscaler uses {kind}/{name} as ScaleTargetRef which does not exist.")
        else:
            containers = o.items(o.dig(target, "spec", "template", "spec", "containers"))
            configured = [c for c in containers if isinstance(o.dig(c, "resources", "requests"), dict)
                          and isinstance(o.dig(c, "resources", "limits"), dict)]
            if not configured:
                errors.append(f"{kind} {ns}/{name} does not have resource configured.")
        if errors:
            out.append(finding(snap, "HorizontalPodAutoscaler", "HorizontalPodAutoscaler", h, errors,
                               severity=Severity.WARNING, evidence={"target": f"{kind}/{name}"}))
    return out


def pdb(snap: Snapshot) -> list[Finding]:
    out = []
    for p in snap.objects("poddisruptionbudgets"):
        conds = o.conditions(p)
        first = conds[0] if conds else {}
        if first.get("type") != "DisruptionAllowed" or first.get("status") != "False":
            continue
        reason = o.text(first.get("reason"))
        labels = o.str_map(o.dig(p, "spec", "selector", "matchLabels"))
        errors = [f"{reason}, expected pdb pod label {k}={v}" for k, v in sorted(labels.items())]
        if errors:
            out.append(finding(snap, "PodDisruptionBudget", "PodDisruptionBudget", p, errors,
                               severity=Severity.WARNING,
                               evidence={"disruptionsAllowed": o.num(o.dig(p, "status", "disruptionsAllowed"))}))
    return out


ANALYZERS = (
    Analyzer("HorizontalPodAutoscaler", "HorizontalPodAutoscaler", hpa,
             needs=("horizontalpodautoscalers", "deployments", "replicasets", "statefulsets"), core=False),
    Analyzer("PodDisruptionBudget", "PodDisruptionBudget", pdb, needs=("poddisruptionbudgets",), core=False),
)

__all__ = ["ANALYZERS", "SCALABLE", "hpa", "pdb"]
