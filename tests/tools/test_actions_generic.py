"""The long tail against the simulator: `patch` (JSON Patch on one object) and `recreate`.

Covers: a Service selector fixed by a JSON Patch (dry-run leaves the resourceVersion alone and diffs
`spec.selector`; the Service gets endpoints after execution; the computed reverse patch restores the
old selector), a reverse patch that also removes what the server defaulted (a readiness probe), and a
PVC recreated with another storage class (the old one is gone before the new one is created; the new
one binds; the inverse recreates the previous manifest). Skips: recreate blocked by finalizers (the
timeout path) - it needs a PVC held by a running pod for settle_timeout_s.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import actions_world as aw
import pytest

from prophet_sre.domain import PatchAction, RecreateAction, ResourceRef
from prophet_sre.tools.actions import prepare

NS = "act-generic"


@pytest.fixture(scope="module")
def world() -> Iterator[aw.World]:
    w = aw.shared()
    aw.namespace(w.kube, NS)
    aw.create(w.kube, aw.deployment("web", NS, replicas=1))
    aw.create(w.kube, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
                       "spec": {"selector": {"app": "wbe"}, "ports": [{"port": 80}]}})
    aw.create(w.kube, pvc("fast"))
    aw.wait_for(lambda: aw.rolled_out(w.kube, NS, "web"), "web rolled out")
    yield w


def pvc(storage_class: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": NS},
            "spec": {"storageClassName": storage_class, "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}}


def endpoints(world: aw.World) -> list[Any]:
    return world.kube.get("endpoints", "web", NS).get("subsets") or []


def test_patch_a_service_selector_and_undo_it(world: aw.World) -> None:
    kube = world.kube
    target = ResourceRef(kind="Service", namespace=NS, name="web")
    p = prepare(PatchAction(target=target, patch=[{"op": "replace", "path": "/spec/selector/app", "value": "web"}]),
                kube)
    assert "JSON Patch: replace /spec/selector/app" in p.render()
    rv = kube.get("services", "web", NS)["metadata"]["resourceVersion"]
    dry = p.dry_run()
    assert dry.ok and "@@ spec.selector.app\n- wbe\n+ web" in dry.diff
    assert kube.get("services", "web", NS)["metadata"]["resourceVersion"] == rv and not endpoints(world)
    result = p.execute()
    assert result.ok, result.error
    aw.wait_for(lambda: endpoints(world), "endpoints for the fixed selector")
    inverse = p.inverse(result.before)
    assert inverse is not None and inverse.patch == [{"op": "replace", "path": "/spec/selector/app", "value": "wbe"}]
    assert prepare(inverse, kube).execute().ok
    assert kube.get("services", "web", NS)["spec"]["selector"] == {"app": "wbe"}


def test_reverse_patch_removes_server_defaults_too(world: aw.World) -> None:
    kube = world.kube
    probe = {"httpGet": {"path": "/", "port": 80}}
    action = PatchAction(target=ResourceRef(kind="Deployment", namespace=NS, name="web"),
                         patch=[{"op": "add", "path": "/spec/template/spec/containers/0/readinessProbe", "value": probe}])
    p = prepare(action, kube)
    assert p.blast_radius().pods == 1
    result = p.execute()
    stored = kube.get("deployments", "web", NS)["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert stored["periodSeconds"] == 10  # defaulted by the server, not in our patch
    inverse = p.inverse(result.before)
    assert inverse is not None and prepare(inverse, kube).execute().ok
    assert "readinessProbe" not in kube.get("deployments", "web", NS)["spec"]["template"]["spec"]["containers"][0]


def test_recreate_a_pvc_with_another_storage_class(world: aw.World) -> None:
    kube = world.kube
    target = ResourceRef(kind="PersistentVolumeClaim", namespace=NS, name="data")
    old = kube.get("persistentvolumeclaims", "data", NS)
    assert old["status"]["phase"] == "Pending"
    p = prepare(RecreateAction(target=target, manifest=pvc("standard")), kube)
    [delete, post] = p.requests()
    assert (delete.method, post.method) == ("DELETE", "POST") and post.body["spec"]["storageClassName"] == "standard"
    dry = p.dry_run()
    assert dry.ok, dry.error
    assert "@@ spec.storageClassName\n- fast\n+ standard" in dry.diff
    assert kube.get("persistentvolumeclaims", "data", NS)["metadata"]["uid"] == old["metadata"]["uid"]
    assert [c["metadata"]["name"] for c in kube.list("persistentvolumeclaims", NS)] == ["data"]
    result = p.execute()
    assert result.ok, result.error
    new = kube.get("persistentvolumeclaims", "data", NS)
    assert new["metadata"]["uid"] != old["metadata"]["uid"] and new["spec"]["storageClassName"] == "standard"
    inverse = p.inverse(result.before)
    assert isinstance(inverse, RecreateAction) and inverse.manifest["spec"]["storageClassName"] == "fast"
    assert "uid" not in inverse.manifest["metadata"] and "status" not in inverse.manifest
    undo = prepare(inverse, kube).execute()
    assert undo.ok, undo.error
    assert kube.get("persistentvolumeclaims", "data", NS)["spec"]["storageClassName"] == "fast"


def test_recreate_refuses_a_manifest_for_another_object(world: aw.World) -> None:
    target = ResourceRef(kind="PersistentVolumeClaim", namespace=NS, name="other")
    dry = prepare(RecreateAction(target=target, manifest=pvc("standard")), world.kube).dry_run()
    assert not dry.ok and "the target is PersistentVolumeClaim other" in dry.error
