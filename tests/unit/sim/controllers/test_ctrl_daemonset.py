"""DaemonSets: one pod per eligible node, tolerations, node selection, rolling update, status."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
CP_TOLERATION = {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}


def ds(h: Any, name: str = "agent", **pod_spec: Any) -> Obj:
    template = h.deployment(name, replicas=1)["spec"]["template"]
    template["spec"].update(pod_spec)
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": template}}


def _status(h: Any, name: str = "agent") -> Obj:
    return h.get("DaemonSet", "default", name).get("status") or {}


def _nodes_of(h: Any) -> dict[str, str]:
    return {p["spec"].get("nodeName") or "": p["metadata"]["name"] for p in h.list("Pod", "default")}


def test_one_pod_per_worker_and_not_on_the_tainted_control_plane(cluster: Any) -> None:
    h = cluster
    h.create(ds(h))
    assert h.settle(lambda: _status(h).get("numberReady") == 2, max_s=30)
    d = h.get("DaemonSet", "default", "agent")
    assert d["status"] == {"currentNumberScheduled": 2, "desiredNumberScheduled": 2, "numberAvailable": 2,
                           "numberMisscheduled": 0, "numberReady": 2, "observedGeneration": 1,
                           "updatedNumberScheduled": 2}
    pods = h.list("Pod", "default")
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["worker-1", "worker-2"]
    [rev] = h.list("ControllerRevision", "default")
    hash_ = rev["metadata"]["labels"]["controller-revision-hash"]
    assert rev["metadata"]["name"] == f"agent-{hash_}"
    for p in pods:
        name = p["metadata"]["name"]
        assert name.startswith("agent-") and len(name) == len("agent-") + 5
        assert p["metadata"]["labels"] == {"app": "agent", "controller-revision-hash": hash_,
                                           "pod-template-generation": "1"}
        term = p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term == {"nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [p["spec"]["nodeName"]]}]}]}
        keys = {(t.get("key"), t.get("effect")) for t in p["spec"]["tolerations"]}
        assert {("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
                ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure",
                "NoSchedule"), ("node.kubernetes.io/pid-pressure", "NoSchedule"),
                ("node.kubernetes.io/unschedulable", "NoSchedule")} <= keys
    msgs = sorted(e["message"] for e in h.events_for("agent", "SuccessfulCreate"))
    assert msgs == sorted(f"Created pod: {p['metadata']['name']}" for p in pods)


def test_tolerating_the_control_plane_taint_runs_everywhere(cluster: Any) -> None:
    h = cluster
    h.create(ds(h, tolerations=[CP_TOLERATION]))
    assert h.settle(lambda: _status(h).get("numberReady") == 3, max_s=30)
    assert set(_nodes_of(h)) == {"control-plane", "worker-1", "worker-2"}


def test_node_selector_and_label_changes(cluster: Any) -> None:
    h = cluster
    h.create(ds(h, nodeSelector={"disk": "ssd"}))
    h.run_for(3)
    assert _status(h)["desiredNumberScheduled"] == 0 and not h.list("Pod", "default")
    h.patch("Node", "", "worker-2", lambda n: n["metadata"]["labels"].update(disk="ssd"))
    assert h.settle(lambda: _status(h).get("numberReady") == 1, max_s=30)
    assert set(_nodes_of(h)) == {"worker-2"}
    h.patch("Node", "", "worker-2", lambda n: n["metadata"]["labels"].pop("disk"))
    assert h.settle(lambda: not h.list("Pod", "default"), max_s=30)
    assert [e["message"].split(": ")[0] for e in h.events_for("agent", "SuccessfulDelete")] == ["Deleted pod"]


def test_cordoned_nodes_keep_daemon_pods_and_untolerated_taints_remove_them(cluster: Any) -> None:
    h = cluster
    h.create(ds(h))
    assert h.settle(lambda: _status(h).get("numberReady") == 2, max_s=30)
    h.patch("Node", "", "worker-1", lambda n: n["spec"].update(unschedulable=True))
    h.run_for(10)
    assert _status(h)["desiredNumberScheduled"] == 2 and len(h.list("Pod", "default")) == 2
    h.patch("Node", "", "worker-2", lambda n: n["spec"].setdefault("taints", []).append(
        {"key": "dedicated", "value": "db", "effect": "NoExecute"}))
    assert h.settle(lambda: set(_nodes_of(h)) == {"worker-1"}, max_s=30)
    assert _status(h)["desiredNumberScheduled"] == 1


def test_rolling_update_replaces_pods_one_at_a_time(cluster: Any) -> None:
    h = cluster
    h.create(ds(h))
    assert h.settle(lambda: _status(h).get("numberReady") == 2, max_s=30)
    seen_unavailable: list[int] = []

    def bump(d: Obj) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"

    h.patch("DaemonSet", "default", "agent", bump)

    def done() -> bool:
        s = _status(h)
        seen_unavailable.append(s.get("numberUnavailable", 0))
        return s.get("updatedNumberScheduled") == 2 and s.get("numberAvailable") == 2 and \
            s.get("observedGeneration") == 2 and len(h.list("Pod", "default")) == 2  # old ones terminated
    assert h.settle(done, max_s=60)
    assert max(seen_unavailable) <= 1  # maxUnavailable: 1
    assert {p["spec"]["containers"][0]["image"] for p in h.list("Pod", "default")} == {"nginx:1.28"}
    assert all(p["metadata"]["labels"]["pod-template-generation"] == "2" for p in h.list("Pod", "default"))
    assert sorted(r["revision"] for r in h.list("ControllerRevision", "default")) == [1, 2]


def test_a_deleted_daemon_pod_is_replaced(cluster: Any) -> None:
    h = cluster
    h.create(ds(h))
    assert h.settle(lambda: _status(h).get("numberReady") == 2, max_s=30)
    victim = _nodes_of(h)["worker-1"]
    h.delete("Pod", "default", victim)
    assert h.settle(lambda: _nodes_of(h).get("worker-1") not in (None, victim)
                    and _status(h).get("numberReady") == 2, max_s=30)
