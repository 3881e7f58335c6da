"""Node actions against the simulator: cordon, uncordon, and drain through the Eviction API.

Covers: cordon/uncordon as merge patches of `spec.unschedulable` with dry-run, execution, inverse and
the already-in-that-state no-op; a drain that evicts what it may (pods re-created on other nodes), stops
at a PodDisruptionBudget after `timeout_s` and names the pod and the budget; its inverse uncordons; a
drain refused before any write because a pod has no controller (kubectl's `--force` case). Skips:
emptyDir and DaemonSet refusals (the same pre-flight check with other predicates).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import actions_world as aw
import pytest

from prophet_sre.domain import CordonAction, DrainAction, ResourceRef, UncordonAction
from prophet_sre.tools.actions import blast_radius, prepare

NS = "act-node"


@pytest.fixture(scope="module")
def world() -> Iterator[aw.World]:
    w = aw.shared()
    aw.namespace(w.kube, NS)
    aw.create(w.kube, aw.deployment("mover", NS, replicas=6))
    aw.create(w.kube, aw.deployment("guarded", NS, replicas=3))
    aw.create(w.kube, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                       "metadata": {"name": "guarded", "namespace": NS},
                       "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "guarded"}}}})
    for name in ("mover", "guarded"):
        aw.wait_for(lambda n=name: aw.rolled_out(w.kube, NS, n), f"{name} rolled out")
    aw.wait_for(lambda: (w.kube.get("poddisruptionbudgets", "guarded", NS).get("status") or {}).get(
        "currentHealthy") == 3, "the PDB's status")
    yield w


def node_ref(name: str) -> ResourceRef:
    return ResourceRef(kind="Node", name=name)


def nodes_of(world: aw.World, app: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in aw.running_pods(world.kube, NS, f"app={app}"):
        out.setdefault(p["spec"]["nodeName"], []).append(p["metadata"]["name"])
    return out


def unschedulable(world: aw.World, node: str) -> Any:
    return world.kube.get("nodes", node)["spec"].get("unschedulable")


def test_cordon_and_uncordon(world: aw.World) -> None:
    kube = world.kube
    p = prepare(CordonAction(target=node_ref("worker-3")), kube)
    [req] = p.requests()
    assert (req.path, req.content_type, req.body) == ("/api/v1/nodes/worker-3", "application/merge-patch+json",
                                                      {"spec": {"unschedulable": True}})
    spec = kube.get("nodes", "worker-3")["spec"]
    dry = p.dry_run()
    assert dry.ok and "@@ spec.unschedulable\n+ true" in dry.diff
    assert kube.get("nodes", "worker-3")["spec"] == spec  # (a Node's resourceVersion moves with its heartbeats)
    result = p.execute()
    assert result.ok and unschedulable(world, "worker-3") is True
    assert blast_radius(CordonAction(target=node_ref("worker-3")), kube).nodes == 1
    again = prepare(CordonAction(target=node_ref("worker-3")), kube).execute()
    assert again.changed == {"skipped": "node worker-3 is already cordoned"}
    assert prepare(CordonAction(target=node_ref("worker-3")), kube).inverse(again.before) is None
    inverse = p.inverse(result.before)
    assert isinstance(inverse, UncordonAction)
    undo = prepare(inverse, kube)
    dry = undo.dry_run()
    assert dry.ok and "@@ spec.unschedulable\n- true\n+ false" in dry.diff and unschedulable(world, "worker-3") is True
    result = undo.execute()
    assert result.ok and unschedulable(world, "worker-3") is False
    assert undo.inverse(result.before) == CordonAction(target=node_ref("worker-3"), reason="undo uncordon")


def test_drain_refuses_a_pod_without_controller(world: aw.World) -> None:
    aw.create(world.kube, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lonely", "namespace": NS},
                           "spec": {"nodeName": "worker-3", "containers": [{"name": "main", "image": "nginx:1.27"}]}})
    p = prepare(DrainAction(target=node_ref("worker-3")), world.kube)
    dry = p.dry_run()
    assert not dry.ok and f"{NS}/lonely: cannot delete Pods that declare no controller" in dry.error
    result = p.execute()
    assert not result.ok and unschedulable(world, "worker-3") is False  # refused before cordoning


def test_drain_moves_pods_and_stops_at_a_pdb(world: aw.World) -> None:
    kube = world.kube
    guarded, movers = nodes_of(world, "guarded"), nodes_of(world, "mover")
    candidates = [n for n in sorted(guarded) if n in movers and n != "worker-3"]
    assert candidates, f"no node runs both a guarded and a mover pod: {guarded} {movers}"
    node = candidates[0]
    on_node = movers[node]
    action = DrainAction(target=node_ref(node), timeout_s=2)
    p = prepare(action, kube)
    radius = p.blast_radius()
    assert radius.nodes == 1 and NS in radius.namespaces and radius.pods >= len(on_node) + 1
    spec = kube.get("nodes", node)["spec"]
    dry = p.dry_run()
    assert dry.ok, dry.error
    assert "@@ spec.unschedulable" in dry.diff and f"--- Pod {NS}/{on_node[0]} (evicted)" in dry.diff
    assert f"blocked by PodDisruptionBudget {NS}/guarded" in dry.diff
    assert kube.get("nodes", node)["spec"] == spec and nodes_of(world, "mover")[node] == on_node
    result = p.execute()
    assert not result.ok and result.error_type == ""
    assert unschedulable(world, node) is True
    assert set(on_node) <= {k.split("/")[1] for k in result.changed["evicted"]}
    [blocked] = result.changed["blocked"]
    assert blocked["pod"] == f"{NS}/{guarded[node][0]}"
    assert blocked["reason"] == (f"blocked by PodDisruptionBudget {NS}/guarded (disruptionsAllowed 0, currentHealthy 3, "
                                 "desiredHealthy 3)")
    assert result.error.startswith(f"drain of node {node} incomplete after 2s: 1 pod(s) could not be evicted: ")
    aw.wait_for(lambda: sum(len(v) for v in nodes_of(world, "mover").values()) == 6
                and node not in nodes_of(world, "mover"), "movers re-created on other nodes")
    assert nodes_of(world, "guarded")[node] == guarded[node]  # the budget kept it
    inverse = p.inverse(result.before)
    assert isinstance(inverse, UncordonAction) and "not restored" in inverse.reason
    assert prepare(inverse, kube).execute().ok and unschedulable(world, node) is False
