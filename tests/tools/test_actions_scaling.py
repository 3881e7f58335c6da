"""Scaling actions against the simulator: `scale` through `/scale` and `adjust_hpa` on autoscaling/v2.

Covers: the merge patch kubectl scale sends, a dry-run that leaves the resourceVersion alone and diffs
`spec.replicas`, execution with the pods following, the inverse scaling back, "already at N" as a
no-op, Forbidden naming the `deployments/scale` subresource, and the HPA's bounds and CPU target
(also through the workload it scales) with both shapes of inverse: another adjust_hpa, or a JSON Patch
when the CPU target did not exist before. Skips: StatefulSet/ReplicaSet scale (the same subresource).
"""

from __future__ import annotations

from collections.abc import Iterator

import actions_world as aw
import pytest

from prophet_sre.domain import AdjustHPAAction, PatchAction, ResourceRef, ScaleAction
from prophet_sre.tools.actions import blast_radius, prepare

NS = "act-scaling"


@pytest.fixture(scope="module")
def world() -> Iterator[aw.World]:
    w = aw.shared()
    aw.namespace(w.kube, NS)
    aw.create(w.kube, aw.deployment("web", NS, replicas=2, resources={"requests": {"cpu": "100m"}}))
    aw.wait_for(lambda: aw.rolled_out(w.kube, NS, "web"), "web rolled out")
    yield w


def test_scale_and_back(world: aw.World) -> None:
    kube, target = world.kube, ResourceRef(kind="Deployment", namespace=NS, name="web")
    p = prepare(ScaleAction(target=target, replicas=3), kube)
    [req] = p.requests()
    assert (req.method, req.path, req.content_type, req.body) == (
        "PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/web/scale", "application/merge-patch+json",
        {"spec": {"replicas": 3}})
    assert blast_radius(ScaleAction(target=target, replicas=3), kube).replicas == 1
    rv = kube.get("deployments", "web", NS)["metadata"]["resourceVersion"]
    dry = p.dry_run()
    assert dry.ok and "@@ spec.replicas\n- 2\n+ 3" in dry.diff
    assert kube.get("deployments", "web", NS)["metadata"]["resourceVersion"] == rv
    result = p.execute()
    assert result.ok and result.before == {"replicas": 2} and result.after == {"replicas": 3}
    aw.wait_for(lambda: len(aw.running_pods(kube, NS, "app=web")) == 3, "three pods")
    inverse = p.inverse(result.before)
    assert inverse == ScaleAction(target=target, replicas=2, reason="undo scale: back to 2 replicas")
    assert prepare(inverse, kube).execute().ok
    assert kube.get("deployments", "web", NS)["spec"]["replicas"] == 2
    noop = prepare(ScaleAction(target=target, replicas=2), kube).execute()
    assert noop.ok and noop.changed == {"skipped": "already at 2 replicas"} and noop.before == noop.after


def test_scale_forbidden_names_the_subresource(world: aw.World) -> None:
    viewer = aw.user_client(world, "scale-viewer", view_namespace=NS)
    result = prepare(ScaleAction(target=ResourceRef(kind="Deployment", namespace=NS, name="web"), replicas=5),
                     viewer).execute()
    assert result.error_type == "Forbidden"
    assert "cannot patch deployments.apps/scale" in result.error and "resource=deployments/scale" in result.error


def hpa(world: aw.World, name: str) -> dict:
    return world.kube.get("horizontalpodautoscalers", name, NS)


@pytest.fixture(scope="module")
def hpas(world: aw.World) -> None:
    """Two autoscalers of absent Deployments: nothing rescales, so the tests see only their own writes."""
    for name, metric in (("h-cpu", "cpu"), ("h-mem", "memory")):
        aw.create(world.kube, {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                               "metadata": {"name": name, "namespace": NS},
                               "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                                           "name": f"target-{metric}"},
                                        "minReplicas": 1, "maxReplicas": 4,
                                        "metrics": [{"type": "Resource", "resource": {"name": metric, "target": {
                                            "type": "Utilization", "averageUtilization": 80}}}]}})


def test_adjust_hpa_bounds_and_target(world: aw.World, hpas: None) -> None:
    kube = world.kube
    action = AdjustHPAAction(target=ResourceRef(kind="HorizontalPodAutoscaler", namespace=NS, name="h-cpu"),
                             min_replicas=2, max_replicas=8, target_cpu_percent=60)
    p = prepare(action, kube)
    [req] = p.requests()
    assert req.content_type == "application/merge-patch+json" and req.body["metadata"]["resourceVersion"]
    rv = hpa(world, "h-cpu")["metadata"]["resourceVersion"]
    dry = p.dry_run()
    assert dry.ok, dry.error
    assert "@@ spec.maxReplicas\n- 4\n+ 8" in dry.diff and "resource.target.averageUtilization\n- 80\n+ 60" in dry.diff
    assert hpa(world, "h-cpu")["metadata"]["resourceVersion"] == rv
    result = p.execute()
    assert result.ok, result.error
    spec = hpa(world, "h-cpu")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"], spec["metrics"][0]["resource"]["target"]["averageUtilization"]) \
        == (2, 8, 60)
    inverse = p.inverse(result.before)
    assert isinstance(inverse, AdjustHPAAction)
    assert (inverse.min_replicas, inverse.max_replicas, inverse.target_cpu_percent) == (1, 4, 80)
    assert prepare(inverse, kube).execute().ok
    spec = hpa(world, "h-cpu")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"], spec["metrics"][0]["resource"]["target"]["averageUtilization"]) \
        == (1, 4, 80)


def test_adjust_hpa_through_its_workload_adding_a_cpu_target(world: aw.World, hpas: None) -> None:
    kube = world.kube
    action = AdjustHPAAction(target=ResourceRef(kind="Deployment", namespace=NS, name="target-memory"),
                             target_cpu_percent=50)
    p = prepare(action, kube)
    result = p.execute()
    assert result.ok and result.before["hpa"] == "h-mem"
    assert [m["resource"]["name"] for m in hpa(world, "h-mem")["spec"]["metrics"]] == ["memory", "cpu"]
    inverse = p.inverse(result.before)
    assert isinstance(inverse, PatchAction) and inverse.target.name == "h-mem"
    assert prepare(inverse, kube).execute().ok
    assert [m["resource"]["name"] for m in hpa(world, "h-mem")["spec"]["metrics"]] == ["memory"]
