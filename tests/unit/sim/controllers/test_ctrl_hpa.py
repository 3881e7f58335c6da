"""HorizontalPodAutoscalers (autoscaling/v2) driven by a stub `usage` provider (the behaviour model's
seam), plus the zero-usage fallback when no provider is registered."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
CPU_NAME = "cpu resource utilization (percentage of request)"


def hpa(name: str = "web", *, lo: int = 1, hi: int = 5, target: int = 50, metrics: list[Obj] | None = None,
        **spec: Any) -> Obj:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                     "minReplicas": lo, "maxReplicas": hi, "metrics": metrics or [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}], **spec}}


class Load:
    """A stub usage provider: every container of a `web` pod uses `cpu` cores and `memory` bytes."""

    def __init__(self, cpu: float, memory: float = 50 * 2 ** 20) -> None:
        self.cpu, self.memory = cpu, memory

    def __call__(self, pod: Obj) -> dict[str, tuple[float, float]]:
        return {c["name"]: (self.cpu, self.memory) for c in pod["spec"]["containers"]}


def _ready_web(h: Any, n: int) -> None:
    h.create(h.deployment("web", replicas=n))
    assert h.settle(lambda: (h.get("Deployment", "default", "web").get("status") or {}).get("readyReplicas") == n,
                    max_s=30)


def _status(h: Any, name: str = "web") -> Obj:
    return h.get("HorizontalPodAutoscaler", "default", name).get("status") or {}


def _conds(h: Any, name: str = "web") -> list[tuple[str, str, str, str]]:
    return [(c["type"], c["status"], c["reason"], c["message"]) for c in _status(h, name).get("conditions") or ()]


def _replicas(h: Any) -> int:
    return int(h.get("Deployment", "default", "web")["spec"]["replicas"])


def test_scale_up_with_rate_limit_then_max(cluster: Any) -> None:
    h = cluster
    _ready_web(h, 2)
    h.ctx.extras["usage"] = Load(cpu=0.18)  # 180% of the 100m request
    h.create(hpa())
    h.run_for(1)
    assert _replicas(h) == 4  # ceil(3.6 x 2) = 8, limited to max(2 x 2, 4)
    s = _status(h)
    assert s["currentReplicas"] == 2 and s["desiredReplicas"] == 4 and s["lastScaleTime"]
    assert s["currentMetrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageUtilization": 180, "averageValue": "180m"}}}]
    assert _conds(h) == [
        ("AbleToScale", "True", "SucceededRescale", "the HPA controller was able to update the target scale to 4"),
        ("ScalingActive", "True", "ValidMetricFound",
         f"the HPA was able to successfully calculate a replica count from {CPU_NAME}"),
        ("ScalingLimited", "True", "ScaleUpLimit",
         "the desired replica count is increasing faster than the maximum scale rate")]
    assert h.settle(lambda: _replicas(h) == 5, max_s=40)
    h.run_for(20)
    assert _conds(h)[0][2:] == ("ReadyForNewScale", "recommended size matches current size")
    assert _conds(h)[2] == ("ScalingLimited", "True", "TooManyReplicas",
                            "the desired replica count is more than the maximum replica count")
    msgs = [e["message"] for e in sorted(h.events_for("web", "SuccessfulRescale"),
                                         key=lambda e: e["metadata"]["creationTimestamp"])]
    assert msgs == [f"New size: 4; reason: {CPU_NAME} above target", f"New size: 5; reason: {CPU_NAME} above target"]
    assert all(e["source"] == {"component": "horizontal-pod-autoscaler"}
               for e in h.events_for("web", "SuccessfulRescale"))


def test_within_tolerance_nothing_changes(cluster: Any) -> None:
    h = cluster
    _ready_web(h, 3)
    h.ctx.extras["usage"] = Load(cpu=0.054)  # 54% vs 50%: within the 10% tolerance
    h.create(hpa())
    h.run_for(31)
    assert _replicas(h) == 3 and _status(h)["desiredReplicas"] == 3 and "lastScaleTime" not in _status(h)
    assert _conds(h) == [
        ("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"),
        ("ScalingActive", "True", "ValidMetricFound",
         f"the HPA was able to successfully calculate a replica count from {CPU_NAME}"),
        ("ScalingLimited", "False", "DesiredWithinRange", "the desired count is within the acceptable range")]


def test_scale_down_waits_for_the_stabilization_window(cluster: Any) -> None:
    h = cluster
    _ready_web(h, 4)
    h.ctx.extras["usage"] = Load(cpu=0.05)
    h.create(hpa())
    h.run_for(1)
    h.ctx.extras["usage"] = Load(cpu=0.01)  # 10%: wants 1 replica
    h.run_for(60)
    assert _replicas(h) == 4
    assert _conds(h)[0][2:] == ("ScaleDownStabilized", "recent recommendations were higher than current one, "
                                                       "applying the highest recent recommendation")
    assert h.settle(lambda: _replicas(h) == 1, max_s=300)
    assert [e["message"] for e in h.events_for("web", "SuccessfulRescale")] == [
        "New size: 1; reason: All metrics below target"]


def test_without_a_usage_provider_usage_counts_as_zero(cluster: Any) -> None:
    h = cluster
    _ready_web(h, 2)
    h.ctx.extras.pop("usage", None)
    h.create(hpa())
    h.run_for(1)
    assert _status(h)["currentMetrics"][0]["resource"]["current"] == {"averageUtilization": 0, "averageValue": "0"}
    assert h.settle(lambda: _replicas(h) == 1, max_s=330)


def test_missing_request_is_reported_verbatim(cluster: Any) -> None:
    h = cluster
    d = h.deployment("web", replicas=1)
    d["spec"]["template"]["spec"]["containers"][0]["resources"] = {}
    h.create(d)
    h.run_for(5)
    [pod] = h.list("Pod", "default")
    h.ctx.extras["usage"] = Load(cpu=0.2)
    h.create(hpa())
    h.run_for(1)
    err = f"failed to get cpu utilization: missing request for cpu in container web of Pod {pod['metadata']['name']}"
    assert _conds(h) == [
        ("AbleToScale", "True", "SucceededGetScale", "the HPA controller was able to get the target's current scale"),
        ("ScalingActive", "False", "FailedGetResourceMetric", f"the HPA was unable to compute the replica count: {err}")]
    assert _status(h)["currentMetrics"] == [{"type": ""}]
    [ev] = h.events_for("web", "FailedGetResourceMetric")
    assert (ev["type"], ev["message"]) == ("Warning", err)
    [ev] = h.events_for("web", "FailedComputeMetricsReplicas")
    assert ev["message"] == ("invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric "
                             f"value: {err}")
    h.run_for(30)
    assert h.events_for("web", "FailedGetResourceMetric")[0]["count"] >= 3


def test_missing_target(cluster: Any) -> None:
    h = cluster
    h.create(hpa())
    h.run_for(1)
    assert _conds(h) == [("AbleToScale", "False", "FailedGetScale",
                          "the HPA controller was unable to get the target's current scale: deployments.apps \"web\" "
                          "not found")]
    [ev] = h.events_for("web", "FailedGetScale")
    assert ev["message"] == 'deployments.apps "web" not found'


def test_below_min_scales_to_min_and_memory_average_value(cluster: Any) -> None:
    h = cluster
    _ready_web(h, 1)
    h.ctx.extras["usage"] = Load(cpu=0.01, memory=100 * 2 ** 20)
    h.create(hpa(lo=2, metrics=[{"type": "Resource", "resource": {
        "name": "memory", "target": {"type": "AverageValue", "averageValue": "200Mi"}}}]))
    h.run_for(1)
    assert _replicas(h) == 2
    [ev] = h.events_for("web", "SuccessfulRescale")
    assert ev["message"] == "New size: 2; reason: Current number of replicas below Spec.MinReplicas"
    h.run_for(30)
    assert _status(h)["currentMetrics"] == [{"type": "Resource", "resource": {
        "name": "memory", "current": {"averageValue": "100Mi"}}}]
    assert _conds(h)[1][3] == "the HPA was able to successfully calculate a replica count from memory resource"
    assert _conds(h)[2][:3] == ("ScalingLimited", "True", "TooFewReplicas")


def test_behavior_policies_limit_the_rate(cluster: Any) -> None:
    h = cluster
    _ready_web(h, 1)
    h.ctx.extras["usage"] = Load(cpu=0.5)
    h.create(hpa(hi=10, behavior={"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}))
    h.run_for(1)
    assert _replicas(h) == 2
    assert _conds(h)[2][:3] == ("ScalingLimited", "True", "ScaleUpLimit")
    h.run_for(40)
    assert _replicas(h) == 2  # one pod per 60 s
    h.run_for(30)
    assert _replicas(h) == 3


def test_zero_replicas_disables_scaling(cluster: Any) -> None:
    h = cluster
    _ready_web(h, 1)
    h.patch("Deployment", "default", "web", lambda d: d["spec"].update(replicas=0))
    h.create(hpa())
    h.run_for(1)
    assert ("ScalingActive", "False", "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero") in _conds(h)
    assert _replicas(h) == 0
