"""Workload actions against the simulator over HTTPS: restart, rollback, set_resources, delete_pod.

Covers, per variant: the exact request `render()` shows, a dry-run that changes nothing (same
resourceVersion) and whose diff names the changed field, execution with its visible effect (new pods,
the previous image back and the Deployment available), and the inverse restoring the previous state or
being None with the reason. Also kubectl's refusals (paused, no history, unknown revision, skipped
rollback) and a non-admin user getting Forbidden naming the missing permission. Skips: StatefulSet and
DaemonSet restarts (the same patch on another path).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import actions_world as aw
import pytest

from prophet_sre.domain import (
    DeletePodAction,
    PatchAction,
    ResourceRef,
    RestartAction,
    RollbackAction,
    SetResourcesAction,
)
from prophet_sre.errors import Forbidden
from prophet_sre.tools.actions import prepare
from prophet_sre.tools.kube import KubeClient, Op

NS = "act-workload"


@pytest.fixture(scope="module")
def world() -> Iterator[aw.World]:
    w = aw.shared()
    aw.namespace(w.kube, NS)
    for name, image in (("web", "nginx:1.27"), ("api", "nginx:1.27"), ("paused", "nginx:1.27"), ("res", "nginx:1.27")):
        aw.create(w.kube, aw.deployment(name, NS, image=image, resources={"requests": {"cpu": "100m", "memory": "64Mi"},
                                                                    "limits": {"memory": "128Mi"}}))
    for name in ("web", "api", "paused", "res"):
        aw.wait_for(lambda n=name: aw.rolled_out(w.kube, NS, n), f"{name} rolled out")
    yield w


def ref(name: str, kind: str = "Deployment") -> ResourceRef:
    return ResourceRef(kind=kind, namespace=NS, name=name)


def rv(kube: KubeClient, name: str, kind: str = "deployments") -> str:
    return str(kube.get(kind, name, NS)["metadata"]["resourceVersion"])


def patch(kube: KubeClient, name: str, body: Any) -> None:
    kube.request("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/{name}", op=Op("patch", "deployments", "apps"),
                 body=body, headers={"Content-Type": "application/strategic-merge-patch+json"})


def test_restart_render_dry_run_execute(world: aw.World) -> None:
    kube = world.kube
    p = prepare(RestartAction(target=ref("web")), kube)
    text = p.render()
    assert f"PATCH /apis/apps/v1/namespaces/{NS}/deployments/web?fieldManager=prophet" in text
    assert "[application/strategic-merge-patch+json]" in text
    assert '{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"' in text
    assert "not reversible" in text
    before_rv, old_pods = rv(kube, "web"), {p["metadata"]["name"] for p in aw.running_pods(kube, NS, "app=web")}
    dry = p.dry_run()
    assert dry.ok and "kubectl.kubernetes.io/restartedAt" in dry.diff and "spec.template.metadata" in dry.diff
    assert rv(kube, "web") == before_rv
    result = p.execute()
    assert result.ok, result.error
    assert result.changed[f"Deployment {NS}/web"] != before_rv
    dep = kube.get("deployments", "web", NS)
    assert "kubectl.kubernetes.io/restartedAt" in dep["spec"]["template"]["metadata"]["annotations"]
    aw.wait_for(lambda: aw.rolled_out(kube, NS, "web") and not old_pods & {
        p["metadata"]["name"] for p in aw.running_pods(kube, NS, "app=web")}, "every pod replaced")
    assert p.inverse(result.before) is None
    assert p.blast_radius().pods == 2


def test_restart_refuses_a_paused_deployment(world: aw.World) -> None:
    patch(world.kube, "paused", {"spec": {"paused": True}})
    dry = prepare(RestartAction(target=ref("paused")), world.kube).dry_run()
    assert not dry.ok and dry.error == "can't restart paused deployment (run rollout resume first)"


def test_rollback_brings_the_previous_image_back(world: aw.World) -> None:
    kube = world.kube
    patch(kube, "api", {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:nope"}]}}}})
    aw.wait_for(lambda: kube.get("deployments", "api", NS)["metadata"]["annotations"].get(
        "deployment.kubernetes.io/revision") == "2", "revision 2")
    p = prepare(RollbackAction(target=ref("api")), kube)
    [req] = p.requests()
    assert (req.method, req.content_type) == ("PATCH", "application/json-patch+json")
    assert [op["path"] for op in req.body] == ["/spec/template", "/metadata/annotations"]
    assert "pod-template-hash" not in req.body[0]["value"]["metadata"]["labels"]
    before_rv = rv(kube, "api")
    dry = p.dry_run()
    assert dry.ok and "spec.template.spec.containers[main].image" in dry.diff
    assert "- nginx:nope" in dry.diff and "+ nginx:1.27" in dry.diff
    assert rv(kube, "api") == before_rv
    result = p.execute()
    assert result.ok, result.error
    assert result.before["revision"] == 2 and result.changed["revision"] == 3
    assert result.after["images"] == ["nginx:1.27"]
    dep = aw.wait_for(lambda: aw.rolled_out(kube, NS, "api"), "api available again on nginx:1.27")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert {p["spec"]["containers"][0]["image"] for p in aw.running_pods(kube, NS, "app=api")} == {"nginx:1.27"}
    inverse = p.inverse(result.before)
    assert isinstance(inverse, RollbackAction) and inverse.to_revision == 2
    undo = prepare(inverse, kube).execute()
    assert undo.ok and undo.after["images"] == ["nginx:nope"]
    # rolling back to the revision that is current is kubectl's "skipped rollback"
    skipped = prepare(RollbackAction(target=ref("api"), to_revision=undo.changed["revision"]), kube).execute()
    assert skipped.ok and skipped.changed["skipped"].startswith("skipped rollback (current template already matches")


def test_rollback_errors_are_kubectls(world: aw.World) -> None:
    dry = prepare(RollbackAction(target=ref("res")), world.kube).dry_run()
    assert (dry.ok, dry.error_type, dry.error) == (False, "NotFound", 'no rollout history found for deployment "res"')
    dry = prepare(RollbackAction(target=ref("api"), to_revision=9), world.kube).dry_run()
    assert dry.error == "unable to find specified revision 9 in history"


def test_set_resources_and_its_inverse(world: aw.World) -> None:
    kube = world.kube
    action = SetResourcesAction(target=ref("res"), container="main", limits={"memory": "256Mi", "cpu": "500m"})
    p = prepare(action, kube)
    before_rv = rv(kube, "res")
    dry = p.dry_run()
    assert dry.ok and "containers[main].resources.limits.memory" in dry.diff and "+ 256Mi" in dry.diff
    assert rv(kube, "res") == before_rv
    result = p.execute()
    assert result.ok, result.error
    limits = kube.get("deployments", "res", NS)["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"memory": "256Mi", "cpu": "500m"}
    inverse = p.inverse(result.before)
    assert isinstance(inverse, PatchAction)  # cpu had no limit before: only a replace can take it away
    assert prepare(inverse, kube).execute().ok
    resources = kube.get("deployments", "res", NS)["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}
    # changing only existing keys inverts to another set_resources
    again = prepare(SetResourcesAction(target=ref("res"), requests={"cpu": "200m"}), kube)
    back = again.inverse(again.execute().before)
    assert isinstance(back, SetResourcesAction) and back.requests == {"cpu": "100m"}


def test_delete_pod(world: aw.World) -> None:
    kube = world.kube
    pod = aw.running_pods(kube, NS, "app=res")[0]["metadata"]["name"]
    p = prepare(DeletePodAction(target=ref(pod, "Pod"), grace_period_s=0), kube)
    assert '"gracePeriodSeconds":0' in p.render() and f"DELETE /api/v1/namespaces/{NS}/pods/{pod}" in p.render()
    before_rv = rv(kube, pod, "pods")
    dry = p.dry_run()
    assert dry.ok and f"--- Pod {NS}/{pod} (deleted)" in dry.diff
    assert rv(kube, pod, "pods") == before_rv and kube.get("pods", pod, NS)["metadata"].get("deletionTimestamp") is None
    result = p.execute()
    assert result.ok and result.changed == {f"Pod {NS}/{pod}": "deleted"}
    assert result.before["owner"].startswith("ReplicaSet/") or result.before["owner"].startswith("Deployment/")
    aw.wait_for(lambda: len([q for q in aw.running_pods(kube, NS, "app=res") if q["metadata"]["name"] != pod]) == 2,
             "a replacement pod")
    assert p.inverse(result.before) is None and "not reversible" in p.reversibility()


def test_a_user_without_write_permission_gets_forbidden(world: aw.World) -> None:
    viewer = aw.user_client(world, "viewer", view_namespace=NS)
    result = prepare(RestartAction(target=ref("res")), viewer).execute()
    assert (result.ok, result.error_type) == (False, "Forbidden"), result.error
    assert result.error == (f"cannot patch deployments.apps in namespace {NS} (verb=patch, resource=deployments, "
                            'group=apps) (user "viewer")')
    with pytest.raises(Forbidden):
        result.raise_for_error()
    nobody = aw.user_client(world, "nobody")
    dry = prepare(RestartAction(target=ref("res")), nobody).dry_run()
    assert dry.error_type == "Forbidden" and "verb=get, resource=deployments, group=apps" in dry.error


def test_a_missing_target_is_not_found(world: aw.World) -> None:
    dry = prepare(RestartAction(target=ref("nope")), world.kube).dry_run()
    assert (dry.ok, dry.error_type) == (False, "NotFound") and "nope" in dry.error
