"""Claims and volumes: default class, Immediate and WaitForFirstConsumer binding, missing classes,
the scheduler's volume checks, protection finalizers, reclaim, and expansion."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from prophet_sre.sim import status as st

Obj = dict[str, Any]
PREEMPT = "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."


def pvc(name: str = "data", cls: str | None = None, size: str = "1Gi") -> Obj:
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "default"},
            "spec": spec}


def storage_class(name: str, provisioner: str = "ebs.csi.aws.com", mode: str = "Immediate", **extra: Any) -> Obj:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
            "provisioner": provisioner, "volumeBindingMode": mode, **extra}


def pod_with(h: Any, name: str, claim: str) -> Obj:
    p = h.pod(name)
    p["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    return p


def _claim(h: Any, name: str = "data") -> Obj:
    return h.get("PersistentVolumeClaim", "default", name)


def _sched_msg(h: Any, pod: str) -> str:
    p = h.get("Pod", "default", pod)
    return next(c["message"] for c in p["status"]["conditions"] if c["type"] == "PodScheduled")


def test_wait_for_first_consumer_binds_on_the_scheduled_node(cluster: Any) -> None:
    h = cluster
    h.create(pvc())
    c = _claim(h)
    assert c["spec"]["storageClassName"] == "standard" and c["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    h.run_for(20)
    assert _claim(h)["status"] == {"phase": "Pending"} and not h.list("PersistentVolume")
    [ev] = h.events_for("data", "WaitForFirstConsumer")
    assert (ev["message"], ev["count"], ev["source"]) == ("waiting for first consumer to be created before binding",
                                                          2, {"component": "persistentvolume-controller"})
    h.create(pod_with(h, "app", "data"))
    assert h.settle(lambda: h.running_ready(h.get("Pod", "default", "app")), max_s=30)
    c = _claim(h)
    node = h.get("Pod", "default", "app")["spec"]["nodeName"]
    [pv] = h.list("PersistentVolume")
    uid = c["metadata"]["uid"]
    assert pv["metadata"]["name"] == f"pvc-{uid}" == c["spec"]["volumeName"]
    assert c["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}
    assert c["metadata"]["annotations"] == {
        "volume.kubernetes.io/selected-node": node, "volume.kubernetes.io/storage-provisioner": "rancher.io/local-path",
        "volume.beta.kubernetes.io/storage-provisioner": "rancher.io/local-path",
        "pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes"}
    assert pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == "rancher.io/local-path"
    assert pv["metadata"]["finalizers"] == ["kubernetes.io/pv-protection"]
    assert pv["spec"]["claimRef"]["uid"] == uid and pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    assert pv["spec"]["hostPath"]["path"] == f"/var/local-path-provisioner/pvc-{uid}_default_data"
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == [node]
    assert pv["status"]["phase"] == "Bound"
    reasons = [e["reason"] for e in sorted(h.events_for("data"), key=lambda e: int(e["metadata"]["resourceVersion"]))]
    assert reasons[-3:] == ["ExternalProvisioning", "Provisioning", "ProvisioningSucceeded"]
    [ok] = h.events_for("data", "ProvisioningSucceeded")
    assert ok["message"] == f"Successfully provisioned volume pvc-{uid}"
    assert ok["source"]["component"].startswith("rancher.io/local-path_")


def test_immediate_class_provisions_without_a_pod(cluster: Any) -> None:
    h = cluster
    h.create(storage_class("gp3"))
    h.create(pvc(cls="gp3", size="5Gi"))
    h.run_for(2)
    c = _claim(h)
    assert c["status"]["phase"] == "Bound" and c["status"]["capacity"] == {"storage": "5Gi"}
    [pv] = h.list("PersistentVolume")
    assert pv["spec"]["csi"]["driver"] == "ebs.csi.aws.com" and "nodeAffinity" not in pv["spec"]


def test_missing_class_stays_pending_with_a_growing_warning(cluster: Any) -> None:
    h = cluster
    h.create(pvc(cls="fast"))
    h.create(pod_with(h, "app", "data"))
    h.run_for(31)
    assert _claim(h)["status"]["phase"] == "Pending"
    [ev] = h.events_for("data", "ProvisioningFailed")
    assert (ev["type"], ev["message"], ev["count"]) == ("Warning", 'storageclass.storage.k8s.io "fast" not found', 3)
    assert _sched_msg(h, "app") == ("0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
                                    + PREEMPT)
    # creating the class lets the claim bind on its next sync
    h.create(storage_class("fast"))
    assert h.settle(lambda: _claim(h)["status"]["phase"] == "Bound", max_s=20)
    assert h.settle(lambda: h.running_ready(h.get("Pod", "default", "app")), max_s=30)


def test_scheduler_messages_for_missing_and_deleted_claims(cluster: Any) -> None:
    h = cluster
    h.create(pod_with(h, "app", "nope"))
    h.run_for(1)
    assert _sched_msg(h, "app") == f'0/3 nodes are available: persistentvolumeclaim "nope" not found. {PREEMPT}'
    h.create(pvc("nope"))
    assert h.settle(lambda: h.running_ready(h.get("Pod", "default", "app")), max_s=40)


def test_static_volume_binding_and_node_affinity_conflict(cluster: Any) -> None:
    h = cluster
    h.create({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "local-1"},
              "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "manual",
                       "hostPath": {"path": "/data"}, "nodeAffinity": {"required": {"nodeSelectorTerms": [
                           {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                                                  "values": ["control-plane"]}]}]}}}})
    h.create(pvc(cls="manual"))
    h.run_for(2)
    assert _claim(h)["spec"]["volumeName"] == "local-1" and _claim(h)["status"]["phase"] == "Bound"
    assert h.get("PersistentVolume", "", "local-1")["status"]["phase"] == "Bound"
    h.create(pod_with(h, "app", "data"))
    h.run_for(2)
    assert _sched_msg(h, "app") == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "2 node(s) had volume node affinity conflict. " + PREEMPT)


def test_claim_in_use_is_protected_and_released_volumes_are_deleted(cluster: Any) -> None:
    h = cluster
    h.create(pvc())
    h.create(pod_with(h, "app", "data"))
    assert h.settle(lambda: h.running_ready(h.get("Pod", "default", "app")), max_s=30)
    h.delete("PersistentVolumeClaim", "default", "data")
    h.run_for(5)
    c = _claim(h)
    assert c is not None and c["metadata"]["deletionTimestamp"] and c["metadata"]["finalizers"] == [
        "kubernetes.io/pvc-protection"]
    h.delete("Pod", "default", "app")
    assert h.settle(lambda: _claim(h) is None and not h.list("PersistentVolume"), max_s=30)


def test_retain_policy_leaves_a_released_volume(cluster: Any) -> None:
    h = cluster
    h.create(storage_class("keep", reclaimPolicy="Retain"))
    h.create(pvc(cls="keep"))
    h.run_for(2)
    h.delete("PersistentVolumeClaim", "default", "data")
    h.run_for(2)
    [pv] = h.list("PersistentVolume")
    assert pv["status"]["phase"] == "Released"


def test_expansion_needs_a_class_that_allows_it(cluster: Any) -> None:
    h = cluster
    h.create(storage_class("gp3"))
    h.create(pvc(cls="gp3"))
    h.run_for(2)
    grown = copy.deepcopy(_claim(h))
    grown["spec"]["resources"]["requests"]["storage"] = "2Gi"
    with pytest.raises(st.ApiError) as e:
        h.store.update(h.rt("PersistentVolumeClaim"), grown)
    assert e.value.code == 403
    assert e.value.message == ('persistentvolumeclaims "data" is forbidden: only dynamically provisioned pvc can be '
                               "resized and the storageclass that provisions the pvc must support resize")


def test_expansion_with_and_without_a_running_pod(cluster: Any) -> None:
    h = cluster
    h.create(storage_class("gp3", allowVolumeExpansion=True))
    h.create(pvc(cls="gp3"))
    h.run_for(2)
    grown = copy.deepcopy(_claim(h))
    grown["spec"]["resources"]["requests"]["storage"] = "2Gi"
    h.store.update(h.rt("PersistentVolumeClaim"), grown)
    h.run_for(2)
    c = _claim(h)
    [pv] = h.list("PersistentVolume")
    assert pv["spec"]["capacity"] == {"storage": "2Gi"} and c["status"]["capacity"] == {"storage": "1Gi"}
    [cond] = c["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["message"]) == (
        "FileSystemResizePending", "True",
        "Waiting for user to (re-)start a pod to finish file system resize of volume on node.")
    assert [e["message"] for e in h.events_for("data", "ExternalExpanding")] == [
        "waiting for an external controller to expand this PVC"]
    h.create(pod_with(h, "app", "data"))
    assert h.settle(lambda: _claim(h)["status"]["capacity"] == {"storage": "2Gi"}, max_s=30)
    assert "conditions" not in _claim(h)["status"]
    [ev] = h.events_for("data", "FileSystemResizeSuccessful")
    node = h.get("Pod", "default", "app")["spec"]["nodeName"]
    assert ev["message"] == f'MountVolume.NodeExpandVolume succeeded for volume "{pv["metadata"]["name"]}" {node}'
