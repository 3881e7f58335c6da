"""What happens to Nodes inside a workload cluster: cloud instances joining and leaving, and kubelets dying.

These functions change one workload cluster's store directly, the way the cloud and the kubelet would: a
new instance registers its Node (with the cloud's providerID, zone and the CAPI annotations); a deleted
Machine's Node is cordoned, drained and removed; a `cluster_degraded` fault stops the kubelets (the
`sim.prophet.io/stopped` annotation the kubelet and heartbeat controllers honour). Turning a silent Node
`Unknown` - and Ready again when heartbeats resume - is the workload cluster's node lifecycle
controller's job, not ours. The caller (the fleet controller) runs these on that cluster's own thread.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.bootstrap import NodeSpec, node_object
from prophet_sre.sim.controllers.kubelet import STOPPED_ANNOTATION
from prophet_sre.sim.fleet import objects as o
from prophet_sre.sim.fleet.providers import Provider
from prophet_sre.sim.store import Store

Obj = dict[str, Any]
WORKER_NAME = re.compile(r"^worker-(\d+)$")


@dataclass(frozen=True)
class NodeView:
    """What the management side reads from one workload Node."""

    name: str
    ready: str
    ready_reason: str
    ready_message: str
    ready_since: str
    problems: tuple[str, ...]
    machine: str
    control_plane: bool
    provider_id: str
    addresses: list[Obj] = field(default_factory=list, compare=False)
    node_info: Obj = field(default_factory=dict, compare=False)


def view(node: Obj) -> NodeView:
    meta, status = node.get("metadata") or {}, node.get("status") or {}
    conds = {c.get("type"): c for c in status.get("conditions") or ()}
    ready = conds.get("Ready") or {}
    problems = tuple(t for t in ("MemoryPressure", "DiskPressure", "PIDPressure")
                     if (conds.get(t) or {}).get("status") == "True")
    return NodeView(
        name=meta.get("name", ""), ready=ready.get("status", "Unknown"), ready_reason=ready.get("reason", ""),
        ready_message=ready.get("message", ""), ready_since=ready.get("lastTransitionTime") or "",
        problems=problems, machine=(meta.get("annotations") or {}).get(o.MACHINE_ANNOTATION, ""),
        control_plane="node-role.kubernetes.io/control-plane" in (meta.get("labels") or {}),
        provider_id=(node.get("spec") or {}).get("providerID", ""),
        addresses=list(status.get("addresses") or ()), node_info=dict(status.get("nodeInfo") or {}))


def _rt(store: Store, group: str, plural: str) -> Any:
    rt = store.registry.storage_type(group, plural)
    assert rt is not None, plural
    return rt


def get(store: Store, name: str) -> Obj | None:
    return store.try_get(_rt(store, "", "nodes"), "", name)


def nodes(store: Store) -> list[Obj]:
    return sorted(store.objects(_rt(store, "", "nodes")), key=lambda n: n["metadata"]["name"])


def annotate_for_machine(node: Obj, machine: Obj) -> None:
    """The annotations Cluster API writes on the Node a Machine hosts."""
    owner = (machine["metadata"].get("ownerReferences") or [{}])[0]
    node["metadata"].setdefault("annotations", {}).update({
        o.MACHINE_ANNOTATION: machine["metadata"]["name"],
        f"{o.CAPI}/cluster-name": machine["spec"]["clusterName"],
        f"{o.CAPI}/cluster-namespace": o.NAMESPACE,
        f"{o.CAPI}/owner-kind": owner.get("kind", ""),
        f"{o.CAPI}/owner-name": owner.get("name", ""),
    })


def for_provider(node: Obj, cluster: str, p: Provider, zone: str) -> Obj:
    """A copy of `node` as it looks on `p`: providerID, region/zone/instance labels, kernel."""
    out = copy.deepcopy(node)
    for key in ("uid", "resourceVersion", "creationTimestamp"):
        out["metadata"].pop(key, None)
    labels = out["metadata"].setdefault("labels", {})
    labels.update({"topology.kubernetes.io/region": p.region, "topology.kubernetes.io/zone": zone,
                   "node.kubernetes.io/instance-type": p.instance_type})
    out["spec"]["providerID"] = p.provider_id(cluster, out["metadata"]["name"], zone)
    out["status"].setdefault("nodeInfo", {})["kernelVersion"] = p.kernel
    return out


def replace(store: Store, node: Obj) -> None:
    """Swap a node for `node` (same name): how setup gives bootstrap nodes their cloud identity.

    A providerID cannot change on a live Node, so the bootstrap node is deleted and created again - before
    the cluster's controllers start, when nothing has been scheduled yet.
    """
    rt = _rt(store, "", "nodes")
    store.delete(rt, "", node["metadata"]["name"])
    store.create(rt, node)


def next_worker(store: Store, issued: int = 0) -> tuple[str, int]:
    """Name and pod-CIDR index of the next worker: `worker-N`, one past the highest in use or ever
    `issued` (a replacement instance gets a new name, as a new cloud hostname would)."""
    highest, index = issued, 0
    for n in nodes(store):
        m = WORKER_NAME.match(n["metadata"]["name"])
        if m:
            highest = max(highest, int(m.group(1)))
        cidr = (n.get("spec") or {}).get("podCIDR") or ""
        parts = cidr.split(".")
        if len(parts) == 4 and parts[2].isdigit():
            index = max(index, int(parts[2]))
    return f"worker-{highest + 1}", index + 1


def join(store: Store, cluster: str, p: Provider, machine: Obj, now: datetime, issued: int = 0) -> Obj:
    """Register the Node of a freshly provisioned instance as the next `worker-N`."""
    name, index = next_worker(store, issued)
    zone = machine["spec"].get("failureDomain") or p.zone(index)
    spec = NodeSpec(name=name, zone=zone, instance_type=p.instance_type)
    node = for_provider(node_object(spec, index, cluster, now), cluster, p, zone)
    annotate_for_machine(node, machine)
    return store.create(_rt(store, "", "nodes"), node)


def stopped(node: Obj) -> bool:
    return (node["metadata"].get("annotations") or {}).get(STOPPED_ANNOTATION) == "true"


def set_stopped(store: Store, name: str, value: bool) -> bool:
    """Kill (or restart) a node's kubelet; True if that changed anything."""
    rt = _rt(store, "", "nodes")
    node = store.try_get(rt, "", name)
    if node is None or stopped(node) == value:
        return False
    meta = copy.deepcopy(node["metadata"])
    annotations = meta.setdefault("annotations", {})
    if value:
        annotations[STOPPED_ANNOTATION] = "true"
    else:
        annotations.pop(STOPPED_ANNOTATION, None)
    store.update(rt, {**node, "metadata": meta}, check_rv=False)
    return True


def cordon_and_drain(store: Store, name: str) -> int:
    """Cordon the node and evict (delete) its pods, as `kubectl drain --ignore-daemonsets` would; returns
    how many pods the drain still waits for (DaemonSet pods do not count)."""
    node_rt, pod_rt = _rt(store, "", "nodes"), _rt(store, "", "pods")
    node = store.try_get(node_rt, "", name)
    if node is None:
        return 0
    if not node["spec"].get("unschedulable"):
        store.update(node_rt, {**node, "spec": {**node["spec"], "unschedulable": True}}, check_rv=False)
    left = 0
    for pod in [p for p in store.objects(pod_rt) if (p.get("spec") or {}).get("nodeName") == name]:
        if any(r.get("kind") == "DaemonSet" for r in pod["metadata"].get("ownerReferences") or ()):
            continue
        left += 1
        if pod["metadata"].get("deletionTimestamp"):
            continue
        try:
            store.delete(pod_rt, pod["metadata"]["namespace"], pod["metadata"]["name"])
        except st.ApiError:
            pass
    return left


def remove(store: Store, name: str) -> None:
    """Delete the Node (the instance is gone); pods still bound to it go with it, as the pod GC does."""
    pod_rt = _rt(store, "", "pods")
    for pod in [p for p in store.objects(pod_rt) if (p.get("spec") or {}).get("nodeName") == name]:
        try:
            store.delete(pod_rt, pod["metadata"]["namespace"], pod["metadata"]["name"], grace_period_s=0)
        except st.ApiError:
            pass
    try:
        store.delete(_rt(store, "", "nodes"), "", name)
    except st.ApiError:
        pass
