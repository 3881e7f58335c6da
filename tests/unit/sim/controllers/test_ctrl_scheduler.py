"""The scheduler: placement, the exact FailedScheduling texts, cordon, taints, affinity, retries."""

from __future__ import annotations

from typing import Any

from prophet_sre.sim.controllers.scheduler import fit_error

CP_TOLERATION = {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}


def _sched_cond(p: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in p["status"]["conditions"] if c["type"] == "PodScheduled")


def test_pod_too_big_stays_pending_with_the_real_message(cluster: Any) -> None:
    h = cluster
    h.create(h.pod("big", requests={"cpu": "100m", "memory": "100Gi"}))
    h.run_for(2)
    p = h.get("Pod", "default", "big")
    msg = ("0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
           "2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for "
           "scheduling, 2 No preemption victims found for incoming pod.")
    assert p["status"]["phase"] == "Pending" and not p["spec"].get("nodeName")
    cond = _sched_cond(p)
    assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", msg)
    [ev] = h.events_for("big", "FailedScheduling")
    assert ev["type"] == "Warning" and ev["message"] == msg and ev["source"] == {"component": "default-scheduler"}
    h.run_for(25)  # retried about every 10 sim seconds: same event, counted
    [ev] = h.events_for("big", "FailedScheduling")
    assert 2 <= ev["count"] <= 4


def test_node_selector_mismatch_message(cluster: Any) -> None:
    h = cluster
    h.create(h.pod("picky", nodeSelector={"disktype": "ssd"}, tolerations=[CP_TOLERATION]))
    h.run_for(1)
    assert _sched_cond(h.get("Pod", "default", "picky"))["message"] == (
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are "
        "available: 3 Preemption is not helpful for scheduling.")
    h.create(h.pod("picky2", nodeSelector={"disktype": "ssd"}))
    h.run_for(1)
    assert _sched_cond(h.get("Pod", "default", "picky2"))["message"] == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption "
        "is not helpful for scheduling.")


def test_pending_pod_schedules_when_a_node_starts_to_match(cluster: Any) -> None:
    h = cluster
    h.create(h.pod("picky", nodeSelector={"disktype": "ssd"}))
    h.run_for(1)
    assert not h.get("Pod", "default", "picky")["spec"].get("nodeName")
    h.patch("Node", "", "worker-2", lambda n: n["metadata"]["labels"].update(disktype="ssd"))
    h.run_for(4)
    p = h.get("Pod", "default", "picky")
    assert p["spec"]["nodeName"] == "worker-2" and p["status"]["phase"] == "Running"
    assert _sched_cond(p)["status"] == "True"
    [ev] = h.events_for("picky", "Scheduled")
    assert ev["message"] == "Successfully assigned default/picky to worker-2"


def test_cordoned_node_gets_no_new_pods(cluster: Any) -> None:
    h = cluster
    h.patch("Node", "", "worker-1", lambda n: n["spec"].update(unschedulable=True))
    for i in range(4):
        h.create(h.pod(f"p{i}"))
    h.run_for(4)
    nodes = {h.get("Pod", "default", f"p{i}")["spec"].get("nodeName") for i in range(4)}
    assert nodes == {"worker-2"}
    h.patch("Node", "", "worker-2", lambda n: n["spec"].update(unschedulable=True))
    h.create(h.pod("late"))
    h.run_for(1)
    assert _sched_cond(h.get("Pod", "default", "late"))["message"] == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "2 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for "
        "scheduling.")


def test_tolerations_taints_and_required_affinity(cluster: Any) -> None:
    h = cluster
    h.patch("Node", "", "worker-1", lambda n: n["spec"].update(taints=[
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]))
    h.create(h.pod("plain"))
    h.create(h.pod("gpu", tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu",
                                         "effect": "NoSchedule"}], affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["worker-1"]}]}]}}}))
    h.create(h.pod("zone", tolerations=[CP_TOLERATION], affinity={"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["us-east-1a"]},
                                  {"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"}]}]}}}))
    h.run_for(1)
    assert h.get("Pod", "default", "plain")["spec"]["nodeName"] == "worker-2"
    assert h.get("Pod", "default", "gpu")["spec"]["nodeName"] == "worker-1"
    zone = h.get("Pod", "default", "zone")
    assert not zone["spec"].get("nodeName")  # worker-1 is zone a but tainted; the control plane is excluded
    assert "1 node(s) had untolerated taint {dedicated: gpu}" in _sched_cond(zone)["message"]


def test_requests_are_accounted_per_node(cluster: Any) -> None:
    h = cluster
    # allocatable cpu is 4 per worker; the coredns pods request 100m each
    for i in range(3):
        h.create(h.pod(f"big{i}", requests={"cpu": "3", "memory": "1Gi"}))
    h.run_for(2)
    bound = [h.get("Pod", "default", f"big{i}")["spec"].get("nodeName") for i in range(3)]
    assert sorted(b for b in bound if b) == ["worker-1", "worker-2"]
    pending = [f"big{i}" for i, b in enumerate(bound) if not b]
    assert _sched_cond(h.get("Pod", "default", pending[0]))["message"].startswith(
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
        "2 Insufficient cpu.")
    # freeing a node lets the pending pod in without waiting for the periodic retry
    h.delete("Pod", "default", next(f"big{i}" for i, b in enumerate(bound) if b), grace_period_s=0)
    h.manager.drain()
    assert h.get("Pod", "default", pending[0])["spec"].get("nodeName")


def test_deleted_pod_goes_terminating_then_disappears(cluster: Any) -> None:
    h = cluster
    h.create(h.pod("bye"))
    h.run_for(4)
    assert h.get("Pod", "default", "bye")["status"]["phase"] == "Running"
    h.delete("Pod", "default", "bye")
    h.manager.drain()
    p = h.get("Pod", "default", "bye")
    assert p is not None and p["metadata"]["deletionTimestamp"] and p["metadata"]["deletionGracePeriodSeconds"] == 30
    [kill] = h.events_for("bye", "Killing")
    assert kill["message"] == "Stopping container web"
    assert kill["involvedObject"]["fieldPath"] == "spec.containers{web}"
    assert kill["source"] == {"component": "kubelet", "host": p["spec"]["nodeName"]}
    h.run_for(1)
    assert h.get("Pod", "default", "bye") is not None
    h.run_for(1.5)
    assert h.get("Pod", "default", "bye") is None


def test_fit_error_sorting_is_lexicographic_like_the_real_one() -> None:
    msg = fit_error(12, {"Insufficient cpu": 10, "node(s) were unschedulable": 2}, 10)
    assert msg == ("0/12 nodes are available: 10 Insufficient cpu, 2 node(s) were unschedulable. preemption: 0/12 "
                   "nodes are available: 10 No preemption victims found for incoming pod, 2 Preemption is not "
                   "helpful for scheduling.")
    assert fit_error(0, {}, 0) == "no nodes available to schedule pods"
