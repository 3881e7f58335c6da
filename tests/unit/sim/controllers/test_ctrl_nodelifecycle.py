"""Node lifecycle: missed heartbeats -> Unknown, taints, pods not ready, taint eviction, healing; the
`node_pressure` knob -> pressure conditions, taints, BestEffort evictions."""

from __future__ import annotations

from typing import Any

from prophet_sre.sim.knobs import Knobs

Obj = dict[str, Any]
STOPPED = "sim.prophet.io/stopped"
UNKNOWN = ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")


def _conds(h: Any, node: str) -> dict[str, tuple[str, str, str]]:
    n = h.get("Node", "", node)
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in n["status"]["conditions"]}


def _taints(h: Any, node: str) -> list[tuple[str, str]]:
    return [(t["key"], t["effect"]) for t in h.get("Node", "", node)["spec"].get("taints") or ()]


def _stop(h: Any, node: str, stopped: bool = True) -> None:
    def edit(n: Obj) -> None:
        ann = n["metadata"].setdefault("annotations", {})
        if stopped:
            ann[STOPPED] = "true"
        else:
            ann.pop(STOPPED, None)
    h.patch("Node", "", node, edit)


def _web_pods(h: Any) -> list[Obj]:
    return h.list("Pod", "default", {"app": "web"})


def test_stopped_node_goes_unknown_then_its_pods_move(cluster: Any) -> None:
    h = cluster
    h.create(h.deployment("web", replicas=4))
    assert h.settle(lambda: sum(h.running_ready(p) for p in _web_pods(h)) == 4, max_s=30)
    on_w1 = {p["metadata"]["name"] for p in _web_pods(h) if p["spec"]["nodeName"] == "worker-1"}
    assert on_w1
    _stop(h, "worker-1")
    h.run_for(30)
    assert _conds(h, "worker-1")["Ready"][0] == "True"  # within the 40 s grace period
    h.run_for(20)
    assert _conds(h, "worker-1") == {t: UNKNOWN for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")}
    assert _taints(h, "worker-1") == [("node.kubernetes.io/unreachable", "NoSchedule"),
                                      ("node.kubernetes.io/unreachable", "NoExecute")]
    for p in _web_pods(h):
        ready = next(c["status"] for c in p["status"]["conditions"] if c["type"] == "Ready")
        assert ready == ("False" if p["metadata"]["name"] in on_w1 else "True")
    [ev] = h.events_for("worker-1", "NodeNotReady")
    assert (ev["message"], ev["source"]) == ("Node worker-1 status is now: NodeNotReady",
                                             {"component": "node-controller"})
    assert all(h.events_for(n, "NodeNotReady")[0]["message"] == "Node is not ready" for n in on_w1)
    # the default 300 s toleration of unreachable:NoExecute runs out: evicted, recreated elsewhere
    assert h.settle(lambda: sum(h.running_ready(p) and p["spec"]["nodeName"] == "worker-2" for p in _web_pods(h)) == 4,
                    max_s=320, step=2)
    for name in on_w1:
        p = h.get("Pod", "default", name)
        assert p is not None and p["metadata"]["deletionTimestamp"]  # Terminating on the dead node
        dt = next(c for c in p["status"]["conditions"] if c["type"] == "DisruptionTarget")
        assert (dt["reason"], dt["message"]) == ("DeletionByTaintManager",
                                                 "Taint manager: deleting due to NoExecute taint")
        [ev] = h.events_for(name, "TaintManagerEviction")
        assert ev["message"] == f"Marking for deletion Pod default/{name}"
        assert ev["source"] == {"component": "taint-eviction-controller"}
    # heartbeats come back: the node heals and the stuck pods finish terminating
    _stop(h, "worker-1", stopped=False)
    assert h.settle(lambda: _conds(h, "worker-1")["Ready"][0] == "True", max_s=20)
    assert _conds(h, "worker-1")["Ready"] == ("True", "KubeletReady", "kubelet is posting ready status")
    assert _taints(h, "worker-1") == []
    assert h.settle(lambda: all(h.get("Pod", "default", n) is None for n in on_w1), max_s=20)
    assert h.events_for("worker-1", "NodeReady")[0]["message"] == "Node worker-1 status is now: NodeReady"


def test_cordon_adds_the_unschedulable_taint(cluster: Any) -> None:
    h = cluster
    h.patch("Node", "", "worker-2", lambda n: n["spec"].update(unschedulable=True))
    h.run_for(1)
    assert _taints(h, "worker-2") == [("node.kubernetes.io/unschedulable", "NoSchedule")]
    h.patch("Node", "", "worker-2", lambda n: n["spec"].pop("unschedulable"))
    h.run_for(1)
    assert _taints(h, "worker-2") == []


def test_memory_pressure_evicts_best_effort_pods(cluster: Any) -> None:
    h = cluster
    knobs = h.ctx.extras["knobs"] = Knobs()
    for name, req in (("be", None), ("burst", {"cpu": "100m"})):
        p = h.pod(name, nodeName="worker-2")
        if req is None:
            p["spec"]["containers"][0]["resources"] = {}
        h.create(p)
    h.run_for(3)
    effect = knobs.add("node_pressure", "worker-2", {"type": "memory"})
    h.run_for(6)
    assert _conds(h, "worker-2")["MemoryPressure"] == ("True", "KubeletHasInsufficientMemory",
                                                       "kubelet has insufficient memory available")
    assert ("node.kubernetes.io/memory-pressure", "NoSchedule") in _taints(h, "worker-2")
    msg = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. "
    be = h.get("Pod", "default", "be")
    assert (be["status"]["phase"], be["status"]["reason"], be["status"]["message"]) == ("Failed", "Evicted", msg)
    assert be["status"]["conditions"][0]["type"] == "DisruptionTarget"
    [ev] = h.events_for("be", "Evicted")
    assert (ev["type"], ev["message"], ev["source"]) == ("Warning", msg, {"component": "kubelet", "host": "worker-2"})
    assert h.events_for("worker-2", "EvictionThresholdMet")[0]["message"] == "Attempting to reclaim memory"
    assert h.events_for("worker-2", "NodeHasInsufficientMemory")
    assert h.get("Pod", "default", "burst")["status"]["phase"] == "Running"  # only BestEffort pods go
    h.run_for(10)
    assert h.get("Pod", "default", "be")["status"]["phase"] == "Failed"  # the kubelet does not revive it
    # new pods avoid the node while the taint is on
    h.create(h.pod("late"))
    h.run_for(3)
    assert h.get("Pod", "default", "late")["spec"]["nodeName"] == "worker-1"
    knobs.remove(effect.id)
    h.run_for(200)
    assert _conds(h, "worker-2")["MemoryPressure"][0] == "True"  # eviction-pressure-transition-period
    h.run_for(120)
    assert _conds(h, "worker-2")["MemoryPressure"] == ("False", "KubeletHasSufficientMemory",
                                                       "kubelet has sufficient memory available")
    assert _taints(h, "worker-2") == []


def test_disk_pressure_message_uses_the_node_capacity(cluster: Any) -> None:
    h = cluster
    knobs = h.ctx.extras["knobs"] = Knobs()
    p = h.pod("be", nodeName="worker-1")
    p["spec"]["containers"][0]["resources"] = {}
    h.create(p)
    h.run_for(2)
    knobs.add("node_pressure", "worker-1", {"type": "disk", "available": "1Gi"})
    h.run_for(6)
    assert _conds(h, "worker-1")["DiskPressure"] == ("True", "KubeletHasDiskPressure", "kubelet has disk pressure")
    msg = h.get("Pod", "default", "be")["status"]["message"]
    assert msg.startswith("The node was low on resource: ephemeral-storage. Threshold quantity: ")
    assert msg.endswith(", available: 1Gi. ")
