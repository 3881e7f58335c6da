"""ResourceQuota: admission texts, status.hard/used, scopes, object counts, and the ReplicaSet story."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from prophet_sre.sim import status as st

Obj = dict[str, Any]


def quota(name: str = "compute-quota", ns: str = "default", **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def _used(h: Any, name: str = "compute-quota") -> dict[str, str]:
    return (h.get("ResourceQuota", "default", name).get("status") or {}).get("used") or {}


def _web(h: Any, replicas: int, cpu: str = "500m") -> Obj:
    d = h.deployment("web", replicas=replicas)
    d["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": cpu, "memory": "64Mi"}}
    return d


def test_status_tracks_usage(cluster: Any) -> None:
    h = cluster
    h.create(quota(hard={"requests.cpu": "2", "requests.memory": "1Gi", "pods": "10", "count/deployments.apps": "5",
                         "configmaps": "4"}))
    h.run_for(1)
    q = h.get("ResourceQuota", "default", "compute-quota")
    assert q["status"] == {"hard": {"configmaps": "4", "count/deployments.apps": "5", "pods": "10",
                                    "requests.cpu": "2", "requests.memory": "1Gi"},
                           "used": {"configmaps": "1", "count/deployments.apps": "0", "pods": "0", "requests.cpu": "0",
                                    "requests.memory": "0"}}  # kube-root-ca.crt is in every namespace
    h.create(_web(h, 3))
    assert h.settle(lambda: _used(h)["pods"] == "3", max_s=20)
    assert _used(h) == {"configmaps": "1", "count/deployments.apps": "1", "pods": "3", "requests.cpu": "1500m",
                        "requests.memory": "192Mi"}
    h.patch("Deployment", "default", "web", lambda d: d["spec"].update(replicas=1))
    assert h.settle(lambda: _used(h)["pods"] == "1", max_s=30)
    assert _used(h)["requests.cpu"] == "500m"


def test_exceeding_the_quota_is_refused_with_the_real_text(cluster: Any) -> None:
    h = cluster
    h.create(quota(hard={"requests.cpu": "1", "pods": "5"}))
    h.create(h.pod("a", requests={"cpu": "600m", "memory": "64Mi"}))
    with pytest.raises(st.ApiError) as e:
        h.create(h.pod("b", requests={"cpu": "500m", "memory": "64Mi"}))
    assert e.value.code == 403 and e.value.reason == "Forbidden"
    assert e.value.message == ('pods "b" is forbidden: exceeded quota: compute-quota, requested: requests.cpu=500m, '
                               "used: requests.cpu=600m, limited: requests.cpu=1")


def test_a_constrained_resource_must_be_declared(cluster: Any) -> None:
    h = cluster
    h.create(quota(hard={"limits.cpu": "4", "limits.memory": "4Gi"}))
    with pytest.raises(st.ApiError) as e:
        h.create(h.pod("x"))
    assert e.value.message == ('pods "x" is forbidden: failed quota: compute-quota: must specify limits.cpu for: web; '
                               "limits.memory for: web")


def test_object_counts_and_storage(cluster: Any) -> None:
    h = cluster
    h.create(quota(hard={"configmaps": "2", "requests.storage": "3Gi"}))  # kube-root-ca.crt counts too
    h.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"}})
    with pytest.raises(st.ApiError) as e:
        h.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": "default"}})
    assert e.value.message == ('configmaps "b" is forbidden: exceeded quota: compute-quota, requested: configmaps=1, '
                               "used: configmaps=2, limited: configmaps=2")
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "big", "namespace": "default"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}}
    with pytest.raises(st.ApiError) as e:
        h.create(claim)
    assert e.value.message == ('persistentvolumeclaims "big" is forbidden: exceeded quota: compute-quota, requested: '
                               "requests.storage=5Gi, used: requests.storage=0, limited: requests.storage=3Gi")


def test_scopes_select_pods(cluster: Any) -> None:
    h = cluster
    h.create(quota("best-effort", hard={"pods": "1"}, scopes=["BestEffort"]))
    be = h.pod("be1")
    be["spec"]["containers"][0]["resources"] = {}
    h.create(be)
    h.create(h.pod("burstable"))  # has requests: not in the BestEffort scope
    be2 = copy.deepcopy(be)
    be2["metadata"]["name"] = "be2"
    with pytest.raises(st.ApiError) as e:
        h.create(be2)
    assert "exceeded quota: best-effort, requested: pods=1, used: pods=1, limited: pods=1" in e.value.message


def test_quota_blocks_a_replicaset_and_raising_it_heals(cluster: Any) -> None:
    h = cluster
    h.create(quota(hard={"requests.cpu": "2"}))
    h.create(_web(h, 5))
    h.run_for(10)
    [rs] = h.list("ReplicaSet", "default")
    prefix = rs["metadata"]["name"] + "-"
    text = (f'pods "{prefix}" is forbidden: exceeded quota: compute-quota, requested: requests.cpu=500m, '
            "used: requests.cpu=2, limited: requests.cpu=2")
    assert len(h.list("Pod", "default")) == 4
    cond = next(c for c in rs["status"]["conditions"] if c["type"] == "ReplicaFailure")
    assert (cond["reason"], cond["message"]) == ("FailedCreate", text)
    [ev] = h.events_for(rs["metadata"]["name"], "FailedCreate")
    assert ev["message"] == f"Error creating: {text}" and ev["type"] == "Warning"
    h.patch("ResourceQuota", "default", "compute-quota", lambda q: q["spec"]["hard"].update({"requests.cpu": "4"}))
    assert h.settle(lambda: (h.get("Deployment", "default", "web").get("status") or {}).get("readyReplicas") == 5,
                    max_s=90)
    rs = h.get("ReplicaSet", "default", rs["metadata"]["name"])
    assert not any(c["type"] == "ReplicaFailure" for c in rs["status"].get("conditions") or ())
    assert _used(h) == {"requests.cpu": "2500m"}
