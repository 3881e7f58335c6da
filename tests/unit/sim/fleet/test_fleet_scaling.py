"""MachineDeployment replicas <-> worker Nodes of the workload cluster.

Covers: scaling up (MachineSet follows, Machines Provisioning then Running, new `worker-N` Nodes with
the cloud's identity, MD phase ScalingUp then Running, Cluster ScalingUp condition, events), scaling
down (newest Machines go, their Nodes are drained and removed, the finalizer comes off), deleting a
Machine (replaced; its Node goes), and the same through the API's `scale` subresource handler.
Skips: rollouts of a changed template (not simulated).
"""

from __future__ import annotations

import re
from typing import Any


def _set_replicas(api: Any, n: int, md: str = "aws-md-0") -> None:
    api.patch("MachineDeployment", md, lambda o: o["spec"].__setitem__("replicas", n))


def _workers(api: Any, cluster: str = "aws") -> list[str]:
    return sorted(n for n in api.nodes(cluster) if n.startswith("worker-"))


def test_scale_up_adds_nodes(small_fleet: Any) -> None:
    api = small_fleet
    _set_replicas(api, 4)
    api.fleet.drain()
    [ms] = api.of_cluster("MachineSet", "aws")
    assert ms["spec"]["replicas"] == 4
    machines = api.of_cluster("Machine", "aws")
    new = [m for m in machines if not (m.get("status") or {}).get("nodeRef")]
    assert len(machines) == 5 and len(new) == 2
    assert {m["status"]["phase"] for m in new} == {"Provisioning"}
    assert {m["spec"]["failureDomain"] for m in new} == {"us-east-1c", "us-east-1a"}  # least-used zones first
    md = api.get("MachineDeployment", "aws-md-0")
    assert md["status"]["phase"] == "ScalingUp" and md["status"]["replicas"] == 4
    # ScalingUp counts Machines, as CAPI does: the new ones exist, so it is already False
    assert api.condition(md, "ScalingUp")["status"] == "False"
    assert api.condition(md, "Available")["message"].startswith("2 available replicas, at least 4 required")
    created = [e for e in api.list("Event") if e["reason"] == "SuccessfulCreate"
               and e["involvedObject"]["kind"] == "MachineSet"]
    assert len(created) == 2 and created[0]["message"].startswith('Created machine "aws-md-0-')

    api.run_for(3)
    assert _workers(api) == ["worker-1", "worker-2"]  # instances still booting
    assert api.settle(lambda: api.get("MachineDeployment", "aws-md-0")["status"]["phase"] == "Running", max_s=30)
    nodes = api.nodes("aws")
    assert _workers(api) == ["worker-1", "worker-2", "worker-3", "worker-4"]
    for m in api.of_cluster("Machine", "aws"):
        node = nodes[m["status"]["nodeRef"]["name"]]
        assert m["status"]["phase"] == "Running" and m["spec"]["providerID"] == node["spec"]["providerID"]
        assert re.fullmatch(r"aws:///us-east-1[abc]/i-0[0-9a-f]{16}", node["spec"]["providerID"])
        assert node["metadata"]["annotations"]["cluster.x-k8s.io/machine"] == m["metadata"]["name"]
    assert nodes["worker-3"]["spec"]["podCIDR"] != nodes["worker-4"]["spec"]["podCIDR"]
    c = api.get("Cluster", "aws")
    assert c["status"]["workers"]["availableReplicas"] == 4 and c["status"]["workers"]["desiredReplicas"] == 4
    assert api.condition(c, "ScalingUp")["status"] == "False"
    assert api.of_cluster("MachineHealthCheck", "aws")[0]["status"]["expectedMachines"] == 4


def test_scale_down_removes_the_newest(small_fleet: Any) -> None:
    api = small_fleet
    _set_replicas(api, 3)
    assert api.settle(lambda: len(_workers(api)) == 3 and
                      api.get("MachineDeployment", "aws-md-0")["status"]["phase"] == "Running", max_s=30)
    _set_replicas(api, 1)
    api.fleet.drain()
    deleting = [m for m in api.of_cluster("Machine", "aws") if m["metadata"].get("deletionTimestamp")]
    assert len(deleting) == 2
    scaling = api.condition(api.get("Cluster", "aws"), "ScalingDown")
    assert (scaling["status"], scaling["reason"]) == ("True", "ScalingDown")
    assert scaling["message"] == "* MachineDeployment aws-md-0: Scaling down from 3 to 1 replicas"
    assert {m["status"]["phase"] for m in deleting} == {"Deleting"}
    assert "worker-3" in {m["status"]["nodeRef"]["name"] for m in deleting}  # the newest goes first
    assert api.settle(lambda: len(api.of_cluster("Machine", "aws")) == 2, max_s=30)
    assert _workers(api) == ["worker-1"]
    md = api.get("MachineDeployment", "aws-md-0")
    assert (md["status"]["replicas"], md["status"]["phase"]) == (1, "Running")
    deleted = [e for e in api.list("Event") if e["reason"] == "SuccessfulDelete"]
    assert len(deleted) == 2


def test_drain_evicts_pods_before_the_node_goes(small_fleet: Any) -> None:
    api = small_fleet
    workload = api.fleet["aws"]
    pod_rt = api.rt("Pod", "aws")
    [victim] = [m for m in api.of_cluster("Machine", "aws") if m["status"]["nodeRef"]["name"] == "worker-2"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"nodeName": "worker-2", "containers": [{"name": "web", "image": "nginx:1.27"}]}}
    workload.store.create(pod_rt, pod)
    api.run_for(3)
    api.fleet.management.store.delete(api.rt("Machine"), "fleet", victim["metadata"]["name"])
    api.fleet.drain()
    assert api.nodes("aws")["worker-2"]["spec"].get("unschedulable") is True
    assert api.settle(lambda: "worker-2" not in api.nodes("aws"), max_s=40)
    assert workload.store.try_get(pod_rt, "default", "web") is None
    # the MachineSet replaces the deleted Machine with a new instance
    assert api.settle(lambda: len(_workers(api)) == 2 and
                      api.get("MachineDeployment", "aws-md-0")["status"]["availableReplicas"] == 2, max_s=30)
    assert _workers(api) == ["worker-1", "worker-3"]


def test_scale_subresource_drives_the_same_path(small_fleet: Any) -> None:
    """`kubectl scale` goes through `/scale`; here the update it makes (spec.replicas) on the stored object."""
    api = small_fleet
    rt = api.rt("MachineDeployment")
    assert rt.scale is not None and rt.scale.spec_replicas_path == ".spec.replicas"
    _set_replicas(api, 3)
    assert api.settle(lambda: len(_workers(api)) == 3, max_s=30)


def test_deleting_a_cluster_tears_its_machines_down(small_fleet: Any) -> None:
    api = small_fleet
    api.fleet.management.store.delete(api.rt("Cluster"), "fleet", "aws")
    assert api.settle(lambda: not api.of_cluster("Machine", "aws"), max_s=60)
    assert not api.of_cluster("MachineDeployment", "aws") and not api.list("KubeadmControlPlane")
    assert api.nodes("aws") == {}  # every instance of the cluster is gone
