"""StatefulSets: ordered identities, claims from templates, rolling updates, scale-down, status."""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]


def sts(h: Any, name: str = "web", *, replicas: int = 3, claims: bool = True, **spec: Any) -> Obj:
    template = h.deployment(name, replicas=1)["spec"]["template"]
    body: Obj = {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                 "template": template, **spec}
    if claims:
        body["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": "default"},
            "spec": body}


def _status(h: Any, name: str = "web") -> Obj:
    return h.get("StatefulSet", "default", name).get("status") or {}


def _ready(h: Any, n: int, name: str = "web") -> bool:
    s = _status(h, name)
    return s.get("readyReplicas") == n and s.get("replicas") == n and s.get("updatedReplicas") == n


def _messages(h: Any, name: str = "web") -> list[str]:
    evs = sorted(h.events_for(name), key=lambda e: int(e["metadata"]["resourceVersion"]))
    return [e["message"] for e in evs if e["involvedObject"]["kind"] == "StatefulSet"]


def test_ordered_creation_with_bound_claims_and_exact_status(cluster: Any) -> None:
    h = cluster
    h.create(sts(h))
    h.run_for(1)
    # OrderedReady: only web-0 exists until it is Running and Ready
    assert [p["metadata"]["name"] for p in h.list("Pod", "default")] == ["web-0"]
    assert h.settle(lambda: _ready(h, 3), max_s=60)
    s = h.get("StatefulSet", "default", "web")
    [rev] = h.list("ControllerRevision", "default")
    assert rev["metadata"]["name"].startswith("web-") and rev["revision"] == 1
    assert rev["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
    assert rev["metadata"]["labels"]["controller.kubernetes.io/hash"] == rev["metadata"]["name"][len("web-"):]
    assert s["status"] == {"availableReplicas": 3, "collisionCount": 0, "currentReplicas": 3,
                           "currentRevision": rev["metadata"]["name"], "observedGeneration": 1, "readyReplicas": 3,
                           "replicas": 3, "updateRevision": rev["metadata"]["name"], "updatedReplicas": 3}
    pods = h.list("Pod", "default")
    assert [p["metadata"]["name"] for p in pods] == ["web-0", "web-1", "web-2"]
    for i, p in enumerate(pods):
        assert p["metadata"]["labels"] == {"app": "web", "controller-revision-hash": rev["metadata"]["name"],
                                           "statefulset.kubernetes.io/pod-name": f"web-{i}",
                                           "apps.kubernetes.io/pod-index": str(i)}
        assert (p["spec"]["hostname"], p["spec"]["subdomain"]) == (f"web-{i}", "web")
        assert {"name": "data", "persistentVolumeClaim": {"claimName": f"data-web-{i}"}} in p["spec"]["volumes"]
    claims = h.list("PersistentVolumeClaim", "default")
    assert [c["metadata"]["name"] for c in claims] == ["data-web-0", "data-web-1", "data-web-2"]
    assert all(c["status"]["phase"] == "Bound" and c["metadata"]["labels"] == {"app": "web"} for c in claims)
    assert all(c["spec"]["storageClassName"] == "standard" for c in claims)  # DefaultStorageClass admission
    assert _messages(h) == [
        "create Claim data-web-0 Pod web-0 in StatefulSet web success", "create Pod web-0 in StatefulSet web successful",
        "create Claim data-web-1 Pod web-1 in StatefulSet web success", "create Pod web-1 in StatefulSet web successful",
        "create Claim data-web-2 Pod web-2 in StatefulSet web success", "create Pod web-2 in StatefulSet web successful"]
    assert {e["reason"] for e in h.events_for("web") if e["involvedObject"]["kind"] == "StatefulSet"} == {
        "SuccessfulCreate"}


def test_parallel_creates_everything_at_once(cluster: Any) -> None:
    h = cluster
    h.create(sts(h, claims=False, podManagementPolicy="Parallel"))
    h.run_for(0.5)
    assert [p["metadata"]["name"] for p in h.list("Pod", "default")] == ["web-0", "web-1", "web-2"]
    assert h.settle(lambda: _ready(h, 3), max_s=30)


def test_deleted_pod_comes_back_with_the_same_name_and_claim(cluster: Any) -> None:
    h = cluster
    h.create(sts(h, replicas=2))
    assert h.settle(lambda: _ready(h, 2), max_s=60)
    uid = h.get("Pod", "default", "web-1")["metadata"]["uid"]
    volume = h.get("PersistentVolumeClaim", "default", "data-web-1")["spec"]["volumeName"]
    h.delete("Pod", "default", "web-1")
    assert h.settle(lambda: (p := h.get("Pod", "default", "web-1")) is not None and p["metadata"]["uid"] != uid
                    and h.running_ready(p), max_s=60)
    assert h.get("PersistentVolumeClaim", "default", "data-web-1")["spec"]["volumeName"] == volume
    assert len(h.list("PersistentVolume")) == 2


def test_scale_down_is_reverse_ordered_and_keeps_claims(cluster: Any) -> None:
    h = cluster
    h.create(sts(h))
    assert h.settle(lambda: _ready(h, 3), max_s=60)
    h.patch("StatefulSet", "default", "web", lambda s: s["spec"].update(replicas=1))
    assert h.settle(lambda: _ready(h, 1) and len(h.list("Pod", "default")) == 1, max_s=60)
    assert [p["metadata"]["name"] for p in h.list("Pod", "default")] == ["web-0"]
    deletes = [m for m in _messages(h) if m.startswith("delete")]
    assert deletes == ["delete Pod web-2 in StatefulSet web successful", "delete Pod web-1 in StatefulSet web successful"]
    assert len(h.list("PersistentVolumeClaim", "default")) == 3  # whenScaled: Retain


def test_rolling_update_goes_from_the_highest_ordinal_and_respects_partition(cluster: Any) -> None:
    h = cluster
    h.create(sts(h, claims=False))
    assert h.settle(lambda: _ready(h, 3), max_s=60)
    old = _status(h)["currentRevision"]

    def bump(s: Obj) -> None:
        s["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
        s["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}

    h.patch("StatefulSet", "default", "web", bump)
    assert h.settle(lambda: _status(h).get("updatedReplicas") == 2 and _status(h).get("readyReplicas") == 3,
                    max_s=60)
    new = _status(h)["updateRevision"]
    assert new != old and _status(h)["currentRevision"] == old and _status(h)["currentReplicas"] == 1
    images = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in h.list("Pod", "default")}
    assert images == {"web-0": "nginx:1.27", "web-1": "nginx:1.28", "web-2": "nginx:1.28"}
    deletes = [m for m in _messages(h) if m.startswith("delete")]
    assert deletes == ["delete Pod web-2 in StatefulSet web successful", "delete Pod web-1 in StatefulSet web successful"]
    h.patch("StatefulSet", "default", "web", lambda s: s["spec"]["updateStrategy"]["rollingUpdate"].update(partition=0))
    assert h.settle(lambda: _status(h).get("currentRevision") == new and _ready(h, 3), max_s=60)
    assert _status(h)["currentReplicas"] == 3
    assert [r["revision"] for r in h.list("ControllerRevision", "default")] in ([1, 2], [2, 1])


def test_ordered_ready_waits_on_an_unschedulable_first_pod(cluster: Any) -> None:
    h = cluster
    body = sts(h, claims=False)
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "64"}}
    h.create(body)
    h.run_for(20)
    assert [p["metadata"]["name"] for p in h.list("Pod", "default")] == ["web-0"]
    assert _status(h)["replicas"] == 1 and "readyReplicas" not in _status(h)
    # a missing governing Service is no obstacle for the controller (K8sGPT reports it instead)
    assert h.get("Service", "default", "web") is None


def test_claim_with_missing_class_blocks_pod_zero(cluster: Any) -> None:
    h = cluster
    body = sts(h, replicas=2)
    body["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] = "fast"
    h.create(body)
    h.run_for(20)
    assert [p["metadata"]["name"] for p in h.list("Pod", "default")] == ["web-0"]
    pod = h.get("Pod", "default", "web-0")
    cond = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert cond["message"] == ("0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
                               "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")
    [ev] = h.events_for("data-web-0", "ProvisioningFailed")
    assert ev["message"] == 'storageclass.storage.k8s.io "fast" not found' and ev["count"] >= 2


def test_deleting_the_set_removes_pods_but_not_claims(cluster: Any) -> None:
    h = cluster
    h.create(sts(h, replicas=2))
    assert h.settle(lambda: _ready(h, 2), max_s=60)
    h.delete("StatefulSet", "default", "web")
    assert h.settle(lambda: not h.list("Pod", "default"), max_s=30)
    assert not h.list("ControllerRevision", "default")
    assert len(h.list("PersistentVolumeClaim", "default")) == 2


def test_retention_policy_delete_gives_claims_an_owner(cluster: Any) -> None:
    h = cluster
    body = copy.deepcopy(sts(h, replicas=1))
    body["spec"]["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": "Delete", "whenScaled": "Retain"}
    h.create(body)
    assert h.settle(lambda: _ready(h, 1), max_s=60)
    h.delete("StatefulSet", "default", "web")
    assert h.settle(lambda: not h.list("PersistentVolumeClaim", "default") and not h.list("Pod", "default"),
                    max_s=30)
