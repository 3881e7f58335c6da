"""Real kubectl against the simulator: `cordon`, `uncordon` and `drain` of a worker, with evictions and a
PodDisruptionBudget that blocks them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from kubectl_support import apply, get_json, namespace, pods, table, wait_for, wait_ready

NS = "kt-nodes"
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


@pytest.fixture(scope="module")
def ns(kubectl: Any) -> Iterator[str]:
    with namespace(kubectl, NS) as name:
        yield name


@pytest.fixture()
def uncordon_all(kubectl: Any) -> Iterator[None]:
    yield
    for node in ("worker-1", "worker-2"):
        kubectl.run("uncordon", node, check=False)


def workload(name: str, replicas: int, *, node: str | None = None, empty_dir: bool = False) -> str:
    selector = f"\n      nodeSelector: {{kubernetes.io/hostname: {node}}}" if node else ""
    volumes = ("\n      volumes:\n      - name: scratch\n        emptyDir: {}" if empty_dir else "")
    mounts = ("\n        volumeMounts:\n        - {name: scratch, mountPath: /scratch}" if empty_dir else "")
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {NS}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:{selector}
      containers:
      - name: c
        image: nginx:1.27{mounts}{volumes}
"""


def node_row(kubectl: Any, node: str) -> list[str]:
    _, rows = table(kubectl("get", "node", node))
    return rows[0]


def test_cordon_and_uncordon(kubectl: Any, ns: str, uncordon_all: None) -> None:
    assert kubectl("cordon", "worker-2").strip() == "node/worker-2 cordoned"
    assert node_row(kubectl, "worker-2")[1] == "Ready,SchedulingDisabled"
    assert get_json(kubectl, "node", "worker-2")["spec"]["unschedulable"] is True
    assert kubectl("cordon", "worker-2").strip() == "node/worker-2 already cordoned"
    # the node lifecycle controller taints it (TaintNodesByCondition)
    wait_for(lambda: UNSCHEDULABLE_TAINT in (get_json(kubectl, "node", "worker-2")["spec"].get("taints") or []),
             what="unschedulable taint")
    assert re.search(r"^Taints:\s+node.kubernetes.io/unschedulable:NoSchedule$", kubectl("describe", "node", "worker-2"),
                     re.M)
    # new pods avoid the cordoned node (the control plane is tainted, so all land on worker-1)
    apply(kubectl, workload("avoid", 3))
    placed = wait_ready(kubectl, ns, "app=avoid", 3)
    assert {p["spec"]["nodeName"] for p in placed} == {"worker-1"}
    assert kubectl("uncordon", "worker-2").strip() == "node/worker-2 uncordoned"
    assert node_row(kubectl, "worker-2")[1] == "Ready"
    assert "unschedulable" not in get_json(kubectl, "node", "worker-2")["spec"]
    wait_for(lambda: UNSCHEDULABLE_TAINT not in (get_json(kubectl, "node", "worker-2")["spec"].get("taints") or []),
             what="unschedulable taint removed")
    kubectl("delete", "deployment", "avoid", "-n", ns, "--wait=false")


def test_drain_moves_pods_away(kubectl: Any, ns: str, uncordon_all: None) -> None:
    apply(kubectl, workload("movers", 4, empty_dir=True))
    placed = wait_ready(kubectl, ns, "app=movers", 4)
    by_node: dict[str, list[str]] = {"worker-1": [], "worker-2": []}
    for p in placed:
        by_node[p["spec"]["nodeName"]].append(p["metadata"]["name"])
    target = "worker-1" if by_node["worker-1"] else "worker-2"
    other = "worker-2" if target == "worker-1" else "worker-1"
    victims = sorted(by_node[target])

    # emptyDir data is lost on eviction, so kubectl insists on the flag
    proc = kubectl.run("drain", target, "--ignore-daemonsets", "--timeout=10s", check=False)
    assert proc.returncode == 1
    assert "cannot delete Pods with local storage (use --delete-emptydir-data to override)" in proc.stderr
    assert f"{NS}/{victims[0]}" in proc.stderr

    proc = kubectl.run("drain", target, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=30s",
                       check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert f"node/{target} drained" in proc.stdout
    for name in victims:
        assert f"evicting pod {NS}/{name}" in out
        assert f"pod/{name} evicted" in out
    assert node_row(kubectl, target)[1] == "Ready,SchedulingDisabled"
    # the evicted pods are replaced on the other worker; nothing evictable is left on the drained one
    moved = wait_ready(kubectl, ns, "app=movers", 4)
    assert {p["spec"]["nodeName"] for p in moved} == {other}
    assert not set(victims) & {p["metadata"]["name"] for p in moved}
    left = get_json(kubectl, "pods", "-A", "--field-selector", f"spec.nodeName={target}")["items"]
    def evictable(p: dict[str, Any]) -> bool:  # --ignore-daemonsets leaves DaemonSet pods in place
        owners = p["metadata"].get("ownerReferences") or []
        return not p["metadata"].get("deletionTimestamp") and not any(o["kind"] == "DaemonSet" for o in owners)

    assert [p["metadata"]["name"] for p in left if evictable(p)] == []
    kubectl("uncordon", target)
    kubectl("delete", "deployment", "movers", "-n", ns, "--wait=false")


PDB = f"""\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: guarded
  namespace: {NS}
spec:
  maxUnavailable: 0
  selector:
    matchLabels: {{app: guarded}}
"""


def test_drain_blocked_by_pdb(kubectl: Any, ns: str, uncordon_all: None) -> None:
    apply(kubectl, workload("guarded", 2, node="worker-2") + "---\n" + PDB)
    placed = wait_ready(kubectl, ns, "app=guarded", 2)
    names = sorted(p["metadata"]["name"] for p in placed)

    def pdb_settled() -> dict[str, Any] | None:
        status = get_json(kubectl, "pdb", "guarded", "-n", ns).get("status", {})
        return status if status.get("expectedPods") == 2 and status.get("currentHealthy") == 2 else None

    status = wait_for(pdb_settled, what="PDB status")
    assert status["disruptionsAllowed"] == 0 and status["desiredHealthy"] == 2
    header, rows = table(kubectl("get", "pdb", "-n", ns))
    assert header == ["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"]
    assert rows[0][:4] == ["guarded", "N/A", "0", "0"]

    # only our pods are selected, so the session's other workloads are left alone
    proc = kubectl.run("drain", "worker-2", "--ignore-daemonsets", "--delete-emptydir-data",
                       "--pod-selector=app=guarded", "--timeout=2s", check=False, timeout=30)
    assert proc.returncode == 1
    for name in names:
        assert (f'error when evicting pods/"{name}" -n "{NS}" (will retry after 5s): Cannot evict pod as it would '
                "violate the pod's disruption budget.") in proc.stderr
        assert f'error when evicting pods/"{name}" -n "{NS}": global timeout reached: 2s' in proc.stderr
    assert 'error: unable to drain node "worker-2"' in proc.stderr
    # nothing was evicted
    still = pods(kubectl, ns, "app=guarded")
    assert sorted(p["metadata"]["name"] for p in still) == names
    assert all(not p["metadata"].get("deletionTimestamp") and p["spec"]["nodeName"] == "worker-2" for p in still)

    # without the budget the same drain goes through; the replacements, pinned to the cordoned node, stay
    # Pending with the scheduler's reasons
    kubectl("delete", "pdb", "guarded", "-n", ns)
    proc = kubectl.run("drain", "worker-2", "--ignore-daemonsets", "--pod-selector=app=guarded", "--timeout=30s",
                       check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "node/worker-2 drained" in proc.stdout

    def pending() -> list[dict[str, Any]]:
        items = [p for p in pods(kubectl, ns, "app=guarded") if not p["metadata"].get("deletionTimestamp")]
        return items if len(items) == 2 and all(p["status"].get("phase") == "Pending" for p in items) else []

    for p in wait_for(pending, what="replacements pending"):
        assert not set(names) & {p["metadata"]["name"]}
        (cond,) = [c for c in p["status"].get("conditions", []) if c["type"] == "PodScheduled"]
        assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
        assert cond["message"].startswith("0/3 nodes are available:")
        assert "1 node(s) were unschedulable" in cond["message"]
        assert "1 node(s) didn't match Pod's node affinity/selector" in cond["message"]
    kubectl("delete", "deployment", "guarded", "-n", ns, "--wait=false")
