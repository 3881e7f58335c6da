"""Cascading deletion: background, foreground and orphan, as `kubectl delete --cascade=...` does it."""

from __future__ import annotations

from typing import Any


def _ready(h: Any, name: str = "web", n: int = 3) -> None:
    h.create(h.deployment(name, replicas=n))
    assert h.settle(lambda: ((h.get("Deployment", "default", name) or {}).get("status") or {}).get(
        "availableReplicas") == n, max_s=30)


def test_background_delete_removes_replicasets_and_pods(cluster: Any) -> None:
    h = cluster
    _ready(h)
    h.delete("Deployment", "default", "web")
    assert h.get("Deployment", "default", "web") is None  # background: the owner goes at once
    h.manager.drain()
    assert h.list("ReplicaSet", "default") == []
    pods = h.list("Pod", "default", {"app": "web"})
    assert pods and all(p["metadata"].get("deletionTimestamp") for p in pods)  # terminating gracefully
    assert h.settle(lambda: not h.list("Pod", "default", {"app": "web"}), max_s=10)


def test_orphan_delete_keeps_replicaset_and_pods(cluster: Any) -> None:
    h = cluster
    _ready(h)
    h.delete("Deployment", "default", "web", propagation="Orphan")
    h.run_for(3)
    assert h.get("Deployment", "default", "web") is None
    [rs] = h.list("ReplicaSet", "default")
    assert not rs["metadata"].get("ownerReferences")
    pods = h.list("Pod", "default", {"app": "web"})
    assert len(pods) == 3 and not any(p["metadata"].get("deletionTimestamp") for p in pods)
    # and orphaning the ReplicaSet leaves pods without any owner
    h.delete("ReplicaSet", "default", rs["metadata"]["name"], propagation="Orphan")
    h.run_for(3)
    assert h.list("ReplicaSet", "default") == []
    pods = h.list("Pod", "default", {"app": "web"})
    assert len(pods) == 3 and all(not p["metadata"].get("ownerReferences") for p in pods)


def test_recreated_deployment_adopts_orphaned_replicaset(cluster: Any) -> None:
    h = cluster
    _ready(h)
    [rs_before] = h.list("ReplicaSet", "default")
    pods_before = {p["metadata"]["name"] for p in h.list("Pod", "default", {"app": "web"})}
    h.delete("Deployment", "default", "web", propagation="Orphan")
    h.run_for(2)
    _ready(h)
    [rs] = h.list("ReplicaSet", "default")
    assert rs["metadata"]["uid"] == rs_before["metadata"]["uid"]
    assert rs["metadata"]["ownerReferences"][0]["uid"] == h.get("Deployment", "default", "web")["metadata"]["uid"]
    assert {p["metadata"]["name"] for p in h.list("Pod", "default", {"app": "web"})} == pods_before


def test_foreground_delete_waits_for_dependents(cluster: Any) -> None:
    h = cluster
    _ready(h)
    order: list[str] = []

    def record(ev: Any) -> None:
        if ev.type == "DELETED" and ev.storage_key in (("", "pods"), ("apps", "replicasets"), ("apps", "deployments")):
            order.append(ev.obj["kind"])

    h.store.subscribe(record)
    h.delete("Deployment", "default", "web", propagation="Foreground")
    h.manager.drain()
    d = h.get("Deployment", "default", "web")
    assert d is not None and "foregroundDeletion" in d["metadata"]["finalizers"]
    [rs] = h.list("ReplicaSet", "default")
    assert rs["metadata"].get("deletionTimestamp") and "foregroundDeletion" in rs["metadata"]["finalizers"]
    assert h.settle(lambda: h.get("Deployment", "default", "web") is None, max_s=20)
    assert order == ["Pod", "Pod", "Pod", "ReplicaSet", "Deployment"]
    assert h.list("Pod", "default", {"app": "web"}) == []


def test_dependent_with_a_missing_owner_is_collected(cluster: Any) -> None:
    h = cluster
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "child", "namespace": "default", "ownerReferences": [
              {"apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": "0000-gone"}]}, "data": {}}
    h.create(cm)
    h.manager.drain()
    assert h.get("ConfigMap", "default", "child") is None


def test_dependent_with_one_live_owner_only_loses_the_dangling_reference(cluster: Any) -> None:
    h = cluster
    parent = h.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "parent", "namespace": "default"},
                       "data": {}})
    refs = [{"apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": parent["metadata"]["uid"]},
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "0000-gone"}]
    h.create({"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "child", "namespace": "default", "ownerReferences": refs}, "data": {}})
    h.manager.drain()
    child = h.get("ConfigMap", "default", "child")
    assert [r["name"] for r in child["metadata"]["ownerReferences"]] == ["parent"]
    h.delete("ConfigMap", "default", "parent")
    h.manager.drain()
    assert h.get("ConfigMap", "default", "child") is None


def test_deleting_a_service_removes_its_endpointslices(cluster: Any) -> None:
    h = cluster
    _ready(h)
    h.create(h.service("web"))
    h.manager.drain()
    assert any(s["metadata"]["labels"].get("kubernetes.io/service-name") == "web" for s in h.list("EndpointSlice"))
    h.delete("Service", "default", "web")
    h.manager.drain()
    assert not any(s["metadata"]["labels"].get("kubernetes.io/service-name") == "web"
                   for s in h.list("EndpointSlice"))
    assert h.get("Endpoints", "default", "web") is None
