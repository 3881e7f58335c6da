"""Kubelet heartbeats: the node's status conditions and its Lease in `kube-node-lease`, every 10 sim s.

Clients judge node health by exactly these two signals (`kubectl describe node` shows the heartbeat
times; the node lifecycle controller watches lease renewals), so a node whose kubelet is "stopped"
(annotation `sim.prophet.io/stopped: "true"`) simply stops renewing both - and whatever decides
NotReady later only needs `last_renewal(node)` and the lease's renewTime.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.clock import rfc3339, rfc3339_micro
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.kubelet import node_images, node_stopped
from prophet_sre.sim.controllers.runtime import image_id
from prophet_sre.sim.store import WatchEvent

HEARTBEAT_S = 10.0
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_S = 40
MAX_IMAGES = 50
Obj = dict[str, Any]


class NodeStatusController(Controller):
    name = "kubelet-node-status"
    watches = (("", "nodes"),)

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.node_rt = ctx.rt("", "nodes")
        self.lease_rt = ctx.rt("coordination.k8s.io", "leases")
        self.images = node_images(ctx)
        self._last: dict[str, float] = {}

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        name = ev.obj["metadata"]["name"]
        if ev.type == "DELETED":
            self._last.pop(name, None)
            return ()
        if ev.old is not None and node_stopped(ev.old) == node_stopped(ev.obj):
            return ()  # our own heartbeat (or an edit that changes nothing for us); the timer is running
        return [name]

    def last_renewal(self, node: str) -> float | None:
        """Sim second of the node's last heartbeat (None: never, or not since the simulator started)."""
        return self._last.get(node)

    def reconcile(self, key: Hashable) -> float | None:
        name = str(key)
        node = self.ctx.store.try_get(self.node_rt, "", name)
        if node is None or node_stopped(node):
            return None
        now = self.ctx.clock.elapsed()
        last = self._last.get(name)
        if last is not None and now - last < HEARTBEAT_S - 1e-6:
            return last + HEARTBEAT_S - now
        self._last[name] = now
        self._post_status(node)
        self._renew_lease(node)
        return HEARTBEAT_S

    def _post_status(self, node: Obj) -> None:
        now = rfc3339(self.ctx.clock.now())
        status = dict(node.get("status") or {})
        status["conditions"] = [{**c, "lastHeartbeatTime": now,
                                 "lastTransitionTime": c.get("lastTransitionTime") or now}
                                for c in status.get("conditions") or ()]
        imgs = self.images.get(node["metadata"]["name"])
        if imgs:
            known = {n for i in status.get("images") or () for n in i.get("names") or ()}
            if any(ref not in known for ref in imgs):
                merged = {i["names"][-1]: i for i in status.get("images") or () if i.get("names")}
                for ref, size in imgs.items():
                    merged[ref] = {"names": [image_id(ref), ref], "sizeBytes": size}
                status["images"] = sorted(merged.values(), key=lambda i: -int(i.get("sizeBytes") or 0))[:MAX_IMAGES]
        try:
            self.ctx.store.update(self.node_rt, {**node, "status": status}, subresource="status", check_rv=False)
        except st.ApiError:
            pass

    def _renew_lease(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        renew = rfc3339_micro(self.ctx.clock.now())
        store = self.ctx.store
        lease = store.try_get(self.lease_rt, LEASE_NAMESPACE, name)
        try:
            if lease is None:
                store.create(self.lease_rt, {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": name, "namespace": LEASE_NAMESPACE, "ownerReferences": [
                        {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node["metadata"]["uid"]}]},
                    "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_S, "renewTime": renew},
                })
            else:
                spec = {**(lease.get("spec") or {}), "holderIdentity": name,
                        "leaseDurationSeconds": LEASE_DURATION_S, "renewTime": renew}
                store.update(self.lease_rt, {**lease, "spec": spec}, check_rv=False)
        except st.ApiError:
            pass
