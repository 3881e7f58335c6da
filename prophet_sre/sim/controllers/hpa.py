"""The HorizontalPodAutoscaler controller (autoscaling/v2): every 15 sim s, from resource usage.

Usage comes from `ctx.extras["usage"]` - the behaviour model's `usage(pod) -> {container: (cpu cores,
memory bytes)}`, standing in for metrics-server - and counts 0 for running pods when no model is
registered. The arithmetic is the replica calculator's: utilization against the requests of the
pods that have metrics (pending and unready pods left out; missing ones assumed at 100% when
scaling down and 0% when scaling up), the 10% tolerance, `ceil(ratio x ready pods)`, the scale-up
limit, the min/max clamp and the 300 s scale-down stabilization (or `spec.behavior` when set). The
conditions, their reasons and messages and the `SuccessfulRescale` events are the ones
`kubectl describe hpa` and K8sGPT print. The new size goes to the target's `spec.replicas`, which is
what a write to its `/scale` subresource does.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Hashable, Iterable
from decimal import Decimal
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.clock import rfc3339
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.cache import ensure_pod_indexes, informers, pods_selected
from prophet_sre.sim.controllers.common import (
    is_deleting,
    is_ready,
    labels_of,
    parse_quantity,
    pod_phase,
    selector,
)
from prophet_sre.sim.controllers.history import Timers
from prophet_sre.sim.controllers.hpa_policy import Recommendations, limit_replicas
from prophet_sre.sim.store import WatchEvent
from prophet_sre.sim.validation_quantity import BINARY_SI, DECIMAL_SI, format_quantity

COMPONENT = "horizontal-pod-autoscaler"
SYNC_S = 15.0
TOLERANCE = 0.1
Obj = dict[str, Any]
Usage = Callable[[Obj], dict[str, tuple[float, float]]]
_TARGETS = {"Deployment": ("apps", "deployments"), "StatefulSet": ("apps", "statefulsets"),
            "ReplicaSet": ("apps", "replicasets"), "ReplicationController": ("", "replicationcontrollers")}
_CONDITION_ORDER = ("AbleToScale", "ScalingActive", "ScalingLimited")


class MetricError(Exception):
    """A metric that could not be computed: the condition reason, the error text, and the text it is
    wrapped in for `FailedComputeMetricsReplicas` (`failed to get cpu resource metric value: ...`)."""

    def __init__(self, reason: str, message: str, outer: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.outer = f"{outer}: {message}"


def _milli(value: float) -> int:
    return int(round(value * 1000))


def average_value(resource: str, milli: int) -> str:
    """The `averageValue` quantity the controller writes (`resource.NewMilliQuantity`, DecimalSI)."""
    return format_quantity(Decimal(milli) / 1000, DECIMAL_SI if resource == "cpu" else BINARY_SI)


def _average_ratio(goal: int) -> Callable[[dict[str, int]], float]:
    """usage ratio for an AverageValue target: the mean over the pods against the target."""
    return lambda ms: (sum(ms.values()) / len(ms)) / goal if goal and ms else 0.0


def _utilization_ratio(requests: dict[str, int], goal_pct: int) -> Callable[[dict[str, int]], float]:
    """`GetResourceUtilizationRatio`: integer percent of the requests of the pods measured, against the target."""
    def ratio(ms: dict[str, int]) -> float:
        req = sum(requests.get(n, 0) for n in ms)
        return (int(sum(ms.values()) * 100 / req) if req else 0) / goal_pct
    return ratio


class HorizontalPodAutoscalerController(Controller):
    name = COMPONENT
    watches = (("autoscaling", "horizontalpodautoscalers"),)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.hub = informers(ctx)
        ensure_pod_indexes(self.hub)
        self.hpa_rt = ctx.rt("autoscaling", "horizontalpodautoscalers")
        self.pod_rt = ctx.rt("", "pods")
        self.timers = Timers()
        self.recs = Recommendations()

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        m = ev.obj["metadata"]
        key = (m.get("namespace", ""), m["name"])
        if ev.type == "DELETED":
            self.recs.forget(key)
            self.timers.forget(key)
            return ()
        if ev.old is not None and ev.old.get("spec") == ev.obj.get("spec"):
            return ()  # our own status write; the 15 s timer is running
        return [key]

    @property
    def usage(self) -> Usage | None:
        return self.ctx.extras.get("usage")  # type: ignore[no-any-return]

    # -- reconcile -------------------------------------------------------------------------------------
    def reconcile(self, key: Hashable) -> float | None:
        ns, name = key  # type: ignore[misc]
        hpa = self.ctx.store.try_get(self.hpa_rt, ns, name)
        if hpa is None:
            return None
        now = self.ctx.clock.elapsed()
        status = copy.deepcopy(hpa.get("status") or {})
        status["conditions"] = list(status.get("conditions") or ())
        self._sync(hpa, status)
        order = {t: i for i, t in enumerate(_CONDITION_ORDER)}
        status["conditions"].sort(key=lambda c: order.get(c["type"], 9))
        if status != (hpa.get("status") or {}):
            try:
                self.ctx.store.update(self.hpa_rt, {**hpa, "status": status}, subresource="status", check_rv=False)
            except st.ApiError:
                pass
        return self.timers.next(key, now, SYNC_S)

    def _condition(self, status: Obj, type_: str, value: str, reason: str, message: str) -> None:
        """`setCondition`: replace in place; the transition time moves only when the status changes."""
        ts = rfc3339(self.ctx.clock.now())
        conds = status["conditions"]
        for i, c in enumerate(conds):
            if c.get("type") == type_:
                if c.get("status") == value:
                    ts = c.get("lastTransitionTime") or ts
                conds[i] = {"type": type_, "status": value, "lastTransitionTime": ts, "reason": reason,
                            "message": message}
                return
        conds.append({"type": type_, "status": value, "lastTransitionTime": ts, "reason": reason, "message": message})

    def _sync(self, hpa: Obj, status: Obj) -> None:
        spec = hpa.get("spec") or {}
        ns = hpa["metadata"]["namespace"]
        ref = spec.get("scaleTargetRef") or {}
        kind, target_name = ref.get("kind", ""), ref.get("name", "")
        events = self.ctx.events
        skey = _TARGETS.get(kind)
        target = self.ctx.store.try_get(self.ctx.rt(*skey), ns, target_name) if skey else None
        if target is None:
            plural = f"{skey[1]}.{skey[0]}" if skey and skey[0] else (skey[1] if skey else kind.lower())
            err = (f'{plural} "{target_name}" not found' if skey else
                   f'no matches for kind "{kind}" in group "{ref.get("apiVersion", "").rpartition("/")[0]}"')
            self._condition(status, "AbleToScale", "False", "FailedGetScale",
                            f"the HPA controller was unable to get the target's current scale: {err}")
            events.warning(hpa, "FailedGetScale", err, component=COMPONENT)
            return
        self._condition(status, "AbleToScale", "True", "SucceededGetScale",
                        "the HPA controller was able to get the target's current scale")
        current = (target.get("spec") or {}).get("replicas")
        current = 1 if current is None else int(current)
        lo = int(spec.get("minReplicas") or 1)
        hi = int(spec.get("maxReplicas") or 1)
        status["currentReplicas"] = current
        reason = ""
        if current == 0 and lo != 0:
            desired = 0
            self._condition(status, "ScalingActive", "False", "ScalingDisabled",
                            "scaling is disabled since the replica count of the target is zero")
        elif current > hi:
            desired, reason = hi, "Current number of replicas above Spec.MaxReplicas"
        elif current < lo:
            desired, reason = lo, "Current number of replicas below Spec.MinReplicas"
        else:
            metrics = spec.get("metrics") or [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
            proposal, metric_name, statuses, error = self._compute(hpa, target, current, metrics, status)
            status["currentMetrics"] = statuses
            if proposal is None:
                events.warning(hpa, "FailedComputeMetricsReplicas", error, component=COMPONENT)
                return
            key = (ns, hpa["metadata"]["name"])
            stabilized, able_reason, able_msg = self.recs.stabilize(key, spec.get("behavior"), current, proposal,
                                                                    self.ctx.clock.elapsed())
            self._condition(status, "AbleToScale", "True", able_reason, able_msg)
            desired, cond = limit_replicas(spec, current, stabilized, lo, hi, recs=self.recs, key=key,
                                           now=self.ctx.clock.elapsed())
            self._condition(status, "ScalingLimited", *cond)
            if desired > current:
                reason = f"{metric_name} above target"
            elif desired < current:
                reason = "All metrics below target"
        if desired != current and desired >= 0 and skey is not None and \
                self._rescale(hpa, target, skey, desired, reason, status):
            self.recs.record_change((ns, hpa["metadata"]["name"]), self.ctx.clock.elapsed(), desired - current)
        status["desiredReplicas"] = desired

    def _rescale(self, hpa: Obj, target: Obj, skey: tuple[str, str], desired: int, reason: str,
                 status: Obj) -> bool:
        upd = copy.deepcopy(target)
        upd.setdefault("spec", {})["replicas"] = desired
        try:
            self.ctx.store.update(self.ctx.rt(*skey), upd, check_rv=False)
        except st.ApiError as e:
            self._condition(status, "AbleToScale", "False", "FailedUpdateScale",
                            f"the HPA controller was unable to update the target scale: {e.message}")
            self.ctx.events.warning(hpa, "FailedRescale", f"New size: {desired}; reason: {reason}; error: "
                                    f"{e.message}", component=COMPONENT)
            return False
        self._condition(status, "AbleToScale", "True", "SucceededRescale",
                        f"the HPA controller was able to update the target scale to {desired}")
        self.ctx.events.normal(hpa, "SuccessfulRescale", f"New size: {desired}; reason: {reason}",
                               component=COMPONENT)
        status["lastScaleTime"] = rfc3339(self.ctx.clock.now())
        return True

    # -- metrics ---------------------------------------------------------------------------------------
    def _compute(self, hpa: Obj, target: Obj, current: int, metrics: list[Obj],
                 status: Obj) -> tuple[int | None, str, list[Obj], str]:
        """`computeReplicasForMetrics`: the largest proposal over the metrics, or the first error."""
        statuses: list[Obj] = []
        best: tuple[int, str] | None = None
        invalid = 0
        first: MetricError | None = None
        for m in metrics:
            try:
                replicas, name, st_ = self._metric(hpa, target, current, m)
            except MetricError as e:
                invalid += 1
                statuses.append({"type": ""})
                if first is None:
                    first = e
                continue
            statuses.append(st_)
            if best is None or replicas > best[0]:
                best = (replicas, name)
        if first is not None and (invalid >= len(metrics) or (best is not None and best[0] < current)):
            self._condition(status, "ScalingActive", "False", first.reason,
                            f"the HPA was unable to compute the replica count: {first}")
            self.ctx.events.warning(hpa, first.reason, str(first), component=COMPONENT)
            err = f"invalid metrics ({invalid} invalid out of {len(metrics)}), first error is: {first.outer}"
            return None, "", statuses, err
        assert best is not None
        self._condition(status, "ScalingActive", "True", "ValidMetricFound",
                        f"the HPA was able to successfully calculate a replica count from {best[1]}")
        return best[0], best[1], statuses, ""

    def _pods(self, hpa: Obj, target: Obj) -> list[Obj]:
        sel = (target.get("spec") or {}).get("selector")
        if isinstance(sel, dict) and "matchLabels" not in sel and "matchExpressions" not in sel:
            sel = {"matchLabels": sel}  # a ReplicationController's map selector
        compiled = selector(sel)
        ns = hpa["metadata"]["namespace"]
        cands = pods_selected(self.hub, ns, (sel or {}).get("matchLabels") or {})
        if cands is None:
            cands = self.hub.get("", "pods", "ns", ns)
        out = []
        for k in cands:
            p = self.ctx.store.try_get(self.pod_rt, *k)
            if p is not None and compiled.matches(labels_of(p)):
                out.append(p)
        return sorted(out, key=lambda p: p["metadata"]["name"])

    def _metric(self, hpa: Obj, target: Obj, current: int, metric: Obj) -> tuple[int, str, Obj]:
        mtype = metric.get("type")
        if mtype not in ("Resource", "ContainerResource"):
            raise self._no_custom_metrics(hpa, metric)
        key = "resource" if mtype == "Resource" else "containerResource"
        src = metric.get(key) or {}
        resource = src.get("name", "cpu")
        container = src.get("container", "") if mtype == "ContainerResource" else ""
        tgt = src.get("target") or {}
        pods = self._pods(hpa, target)
        fail = "FailedGetResourceMetric" if mtype == "Resource" else "FailedGetContainerResourceMetric"
        what = f"failed to get {resource} {'usage' if tgt.get('type') == 'AverageValue' else 'utilization'}"
        outer = f"failed to get {resource} {'resource' if mtype == 'Resource' else 'container'} metric value"
        if not pods:
            raise MetricError(fail, f"{what}: no pods returned by selector while calculating replica count", outer)
        metrics, ready, unready, missing = self._group(pods, resource, container)
        if not metrics:
            raise MetricError(fail, f"{what}: did not receive metrics for targeted pods (pods might be unready)", outer)
        raw = sum(metrics.values()) // len(metrics)
        avg_value = tgt.get("averageValue")
        if tgt.get("type") == "AverageValue" and avg_value is not None:
            goal = _milli(parse_quantity(avg_value))
            ratio_of = _average_ratio(goal)
            fill: dict[str, int] = dict.fromkeys(missing, goal)  # scale-down: missing pods at the target
            name = f"{resource} resource"
            cur: Obj = {"averageValue": average_value(resource, raw)}
        else:
            requests = self._requests(pods, resource, container, fail, what, outer)
            ratio_of = _utilization_ratio(requests, int(tgt.get("averageUtilization") or 80))
            fill = {n: requests.get(n, 0) for n in missing}  # scale-down: missing pods at 100% of request
            req_total = sum(requests.get(n, 0) for n in metrics)
            util = int(sum(metrics.values()) * 100 / req_total) if req_total else 0
            name = f"{resource} resource utilization (percentage of request)"
            cur = {"averageUtilization": util, "averageValue": average_value(resource, raw)}
        replicas = self._replicas(current, metrics, ready, unready, fill, ratio_of)
        block: Obj = {"name": resource, "current": cur}
        if container:
            block = {"container": container, **block}
        return replicas, name, {"type": mtype, key: block}

    @staticmethod
    def _no_custom_metrics(hpa: Obj, metric: Obj) -> MetricError:
        """No custom or external metrics API is served: what the HPA reports for such metrics."""
        mtype = metric.get("type") or ""
        src = metric.get(mtype[:1].lower() + mtype[1:]) or {}
        mname = (src.get("metric") or {}).get("name", "")
        if mtype == "External":
            return MetricError("FailedGetExternalMetric", f"unable to get external metric "
                               f"{hpa['metadata']['namespace']}/{mname}/nil: unable to fetch metrics from external "
                               f"metrics API: the server could not find the requested resource (get "
                               f"{mname}.external.metrics.k8s.io)", "failed to get external metric value")
        kind = "pods" if mtype == "Pods" else f"{((src.get('describedObject') or {}).get('kind') or '').lower()}s"
        reason = "FailedGetPodsMetric" if mtype == "Pods" else "FailedGetObjectMetric"
        return MetricError(reason, f"unable to get metric {mname}: unable to fetch metrics from custom metrics API: "
                           f"the server could not find the requested resource (get {kind}.custom.metrics.k8s.io *)",
                           f"failed to get {'pods' if mtype == 'Pods' else 'object'} metric value")

    def _group(self, pods: list[Obj], resource: str, container: str
               ) -> tuple[dict[str, int], int, set[str], set[str]]:
        """`groupPods`: metrics of counted pods, the ready count, unready and missing pods."""
        usage = self.usage
        idx = 0 if resource == "cpu" else 1
        metrics: dict[str, int] = {}
        unready: set[str] = set()
        missing: set[str] = set()
        for p in pods:
            name = p["metadata"]["name"]
            if is_deleting(p) or pod_phase(p) == "Failed":
                continue
            if pod_phase(p) == "Pending":
                unready.add(name)
                continue
            sample = usage(p) if usage is not None else {c.get("name", ""): (0.0, 0.0)
                                                          for c in (p.get("spec") or {}).get("containers") or ()}
            if not sample:
                missing.add(name)
                continue
            if resource == "cpu" and not is_ready(p):
                unready.add(name)
                continue
            metrics[name] = sum(_milli(v[idx]) for c, v in sample.items() if not container or c == container)
        return metrics, len(metrics), unready, missing

    @staticmethod
    def _requests(pods: list[Obj], resource: str, container: str, fail: str, what: str,
                  outer: str) -> dict[str, int]:
        """`calculateRequests`: every container must request the resource (milli-units per pod)."""
        requests: dict[str, int] = {}
        for p in pods:
            total = 0
            for c in (p.get("spec") or {}).get("containers") or ():
                if container and c.get("name") != container:
                    continue
                req = ((c.get("resources") or {}).get("requests") or {}).get(resource)
                if req is None:
                    raise MetricError(fail, f"{what}: missing request for {resource} in container {c.get('name')} of "
                                            f"Pod {p['metadata']['name']}", outer)
                total += _milli(parse_quantity(req))
            requests[p["metadata"]["name"]] = total
        return requests

    @staticmethod
    def _replicas(current: int, metrics: dict[str, int], ready: int, unready: set[str], fill: dict[str, int],
                  ratio_of: Callable[[dict[str, int]], float]) -> int:
        """`GetResourceReplicas` after the metrics are in: tolerance, missing and unready pods."""
        ratio = ratio_of(metrics)
        up_with_unready = bool(unready) and ratio > 1.0
        if not up_with_unready and not fill:
            return current if abs(1.0 - ratio) <= TOLERANCE else math.ceil(ratio * ready)
        filled = dict(metrics)
        for n, v in fill.items():
            filled[n] = v if ratio < 1.0 else 0
        if up_with_unready:
            for n in unready:
                filled[n] = 0
        new_ratio = ratio_of(filled)
        if abs(1.0 - new_ratio) <= TOLERANCE or (ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < ratio):
            return current
        replicas = math.ceil(new_ratio * len(filled))
        if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
            return current
        return replicas
