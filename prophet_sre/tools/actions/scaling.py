"""Scaling actions: `scale` (the `/scale` subresource) and `adjust_hpa` (autoscaling/v2 bounds and target).

Scale goes through the subresource, as `kubectl scale` does, because that is the permission a
least-privilege operator gets (`deployments/scale`) and because it works for any kind that declares
one (Deployments, StatefulSets, ReplicaSets, Cluster API MachineDeployments - see `fleet.py`).
"""

from __future__ import annotations

import copy
from typing import Any

from prophet_sre import errors
from prophet_sre.domain import AdjustHPAAction, PatchAction, ScaleAction, ScaleNodesAction
from prophet_sre.tools.actions import base, results
from prophet_sre.tools.actions.base import Obj
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.kinds import BUILTIN, ResourceKind


class Scale(base.SingleWrite):
    """`kubectl scale --replicas=N`: a merge patch of `spec.replicas` on `/scale`."""

    action: ScaleAction | ScaleNodesAction

    def subresource(self) -> str:
        return "scale"

    def describe(self) -> str:
        return f"set the desired replicas to {self.action.replicas} (kubectl scale)"

    def reversibility(self) -> str:
        return "reversible: the previous replica count is set again"

    def build(self, live: Obj) -> base.Request | str:
        if o.num(o.dig(live, "spec", "replicas")) == self.action.replicas:
            return f"already at {self.action.replicas} replicas"
        return self.request_for({"spec": {"replicas": self.action.replicas}}, base.MERGE_PATCH)

    def snapshot(self, obj: Obj) -> dict[str, Any]:
        return {"replicas": o.num(o.dig(obj, "spec", "replicas"))}

    def inverse(self, before: dict[str, Any]) -> ScaleAction | ScaleNodesAction | None:
        a = self.action
        if "replicas" not in before or before["replicas"] == a.replicas:
            return None
        return type(a)(target=a.target, risk=a.risk, replicas=int(before["replicas"]),
                       reason=f"undo {a.type}: back to {before['replicas']} replicas")

    def delta(self) -> int:
        return abs(self.action.replicas - o.num(o.dig(self.read(), "spec", "replicas")))

    def blast_radius(self) -> results.BlastRadius:
        d = self.delta()
        return results.BlastRadius(pods=d, replicas=d, namespaces=[self.namespace],
                                detail=f"{d} pods created or removed")


CPU = "cpu"
HPA_V2 = BUILTIN["horizontalpodautoscalers"]


def _cpu_target(metrics: list[Obj]) -> int | None:
    for m in metrics:
        if o.text(m.get("type")) == "Resource" and o.text(o.dig(m, "resource", "name")) == CPU \
                and o.text(o.dig(m, "resource", "target", "type")) == "Utilization":
            return o.num(o.dig(m, "resource", "target", "averageUtilization")) or None
    return None


class AdjustHPA(base.SingleWrite):
    """A merge patch of minReplicas / maxReplicas / the CPU utilization target of an autoscaling/v2 HPA.

    `spec.metrics` is a list, which a merge patch replaces whole: the body carries the full list with
    only the CPU target changed, pinned to the resourceVersion it was read at, so a concurrent edit of
    another metric is a 409 (re-read and retry) rather than lost. A workload target means the HPA that
    scales it.
    """

    action: AdjustHPAAction
    _hpa_name = ""
    """The HPA's name once read (the target may be the workload it scales)."""

    def kind(self) -> ResourceKind:
        return HPA_V2  # not discovery's preferred version: min/max/metrics are autoscaling/v2's shape

    def read(self) -> Obj:
        t = self.action.target
        if t.kind == "HorizontalPodAutoscaler":
            return self.kube.get(self.kind(), t.name, t.namespace)
        for hpa in self.kube.list(self.kind(), t.namespace):
            ref = o.mapping(o.dig(hpa, "spec", "scaleTargetRef"))
            if o.text(ref.get("kind")) == t.kind and o.text(ref.get("name")) == t.name:
                return hpa
        raise errors.NotFound(f"no HorizontalPodAutoscaler in namespace {t.namespace} scales {t.kind} {t.name}")

    def request_for(self, body: Any, content_type: str) -> base.Request:
        hpa = self._hpa_name
        return base.write_request("PATCH", self.kind(), self.namespace, hpa, body=body, content_type=content_type)

    def title(self) -> str:
        return f"HorizontalPodAutoscaler {self.namespace}/{self._hpa_name or self.action.target.name}"

    def describe(self) -> str:
        a = self.action
        parts = [f"{k}={v}" for k, v in (("minReplicas", a.min_replicas), ("maxReplicas", a.max_replicas),
                                          ("cpu averageUtilization", a.target_cpu_percent)) if v is not None]
        return f"set {', '.join(parts) or 'nothing'} on the autoscaler"

    def reversibility(self) -> str:
        return "reversible: the previous bounds and target are set again"

    def build(self, live: Obj) -> base.Request | str:
        a = self.action
        self._hpa_name = o.name(live)
        spec: Obj = {}
        if a.min_replicas is not None and a.min_replicas != o.num(o.dig(live, "spec", "minReplicas"), 1):
            spec["minReplicas"] = a.min_replicas
        if a.max_replicas is not None and a.max_replicas != o.num(o.dig(live, "spec", "maxReplicas")):
            spec["maxReplicas"] = a.max_replicas
        metrics = copy.deepcopy(o.items(o.dig(live, "spec", "metrics")))
        if a.target_cpu_percent is not None and a.target_cpu_percent != _cpu_target(metrics):
            for m in metrics:
                if o.text(m.get("type")) == "Resource" and o.text(o.dig(m, "resource", "name")) == CPU:
                    m["resource"]["target"] = {"type": "Utilization", "averageUtilization": a.target_cpu_percent}
                    break
            else:
                metrics.append({"type": "Resource", "resource": {"name": CPU, "target": {
                    "type": "Utilization", "averageUtilization": a.target_cpu_percent}}})
            spec["metrics"] = metrics
        if not spec:
            return "the autoscaler already has these values"
        rv = o.text(o.dig(live, "metadata", "resourceVersion"))
        return self.request_for({"metadata": {"resourceVersion": rv}, "spec": spec}, base.MERGE_PATCH)

    def snapshot(self, obj: Obj) -> dict[str, Any]:
        metrics = o.items(o.dig(obj, "spec", "metrics"))
        return {"hpa": o.name(obj), "minReplicas": o.num(o.dig(obj, "spec", "minReplicas"), 1),
                "maxReplicas": o.num(o.dig(obj, "spec", "maxReplicas")), "targetCPU": _cpu_target(metrics),
                "metrics": metrics}

    def inverse(self, before: dict[str, Any]) -> AdjustHPAAction | PatchAction | None:
        a = self.action
        if not {"hpa", "minReplicas", "maxReplicas"} <= set(before):
            return None  # not a snapshot of this action
        if a.target_cpu_percent is not None and before.get("targetCPU") is None:
            # the CPU target did not exist: only a replace of the metrics list takes it away again
            ops = [{"op": "replace", "path": "/spec/metrics", "value": before.get("metrics") or []},
                   {"op": "replace", "path": "/spec/minReplicas", "value": before["minReplicas"]},
                   {"op": "replace", "path": "/spec/maxReplicas", "value": before["maxReplicas"]}]
            target = a.target.model_copy(update={"kind": "HorizontalPodAutoscaler", "name": before["hpa"]})
            return PatchAction(target=target, risk=a.risk, patch=ops, reason="undo adjust_hpa")
        prev = {"min_replicas": before["minReplicas"] if a.min_replicas is not None else None,
                "max_replicas": before["maxReplicas"] if a.max_replicas is not None else None,
                "target_cpu_percent": before.get("targetCPU") if a.target_cpu_percent is not None else None}
        if all(v is None or v == getattr(a, k) for k, v in prev.items()):
            return None  # nothing was changed
        return AdjustHPAAction(target=a.target, risk=a.risk, reason="undo adjust_hpa: previous values", **prev)

    def blast_radius(self) -> results.BlastRadius:
        """Replicas the new bounds force at once (current outside [min, max]); the target's effect is later."""
        hpa, a = self.read(), self.action
        current = o.num(o.dig(hpa, "status", "currentReplicas"))
        lo = a.min_replicas if a.min_replicas is not None else o.num(o.dig(hpa, "spec", "minReplicas"), 1)
        hi = a.max_replicas if a.max_replicas is not None else o.num(o.dig(hpa, "spec", "maxReplicas"))
        forced = max(lo - current, 0) + max(current - hi, 0)
        return results.BlastRadius(pods=forced, replicas=forced, namespaces=[self.namespace],
                                detail=f"{current} replicas now; bounds [{lo}, {hi}]")


__all__ = ["AdjustHPA", "Scale"]
