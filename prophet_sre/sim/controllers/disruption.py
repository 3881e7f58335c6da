"""The disruption controller: PodDisruptionBudget status (how many pods may be disrupted right now).

`kubectl drain` and the eviction API decide from `status.disruptionsAllowed`, so the numbers follow
the real controller: expectedPods from the owning controllers' scale for maxUnavailable and
percentage minAvailable, currentHealthy from ready pods not being deleted and not recently evicted
(`disruptedPods`, kept two minutes), desiredHealthy from the budget.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from datetime import timedelta
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.clock import parse_time
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.cache import by_namespace, ensure_pod_indexes, informers, pods_selected
from prophet_sre.sim.controllers.common import (
    controller_ref,
    is_deleting,
    is_ready,
    labels_of,
    obj_key,
    scaled_value,
    selector,
)
from prophet_sre.sim.store import WatchEvent

Obj = dict[str, Any]
DELETION_TIMEOUT_S = 120.0
_SCALABLE = {"ReplicaSet": ("apps", "replicasets"), "StatefulSet": ("apps", "statefulsets"),
             "ReplicationController": ("", "replicationcontrollers"), "Deployment": ("apps", "deployments")}


class DisruptionController(Controller):
    name = "disruption-controller"
    watches = (("policy", "poddisruptionbudgets"), ("", "pods"))

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.hub = informers(ctx)
        ensure_pod_indexes(self.hub)
        self.pdb_by_ns = self.hub.index("policy", "poddisruptionbudgets", "ns", by_namespace)
        self.pdb_rt = ctx.rt("policy", "poddisruptionbudgets")
        self.pod_rt = ctx.rt("", "pods")

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.storage_key == ("policy", "poddisruptionbudgets"):
            return [obj_key(ev.obj)]
        ns = obj_key(ev.obj)[0]
        if not self.pdb_by_ns.count(ns):
            return ()
        if ev.type == "MODIFIED" and ev.old is not None and labels_of(ev.old) == labels_of(ev.obj) and \
                is_ready(ev.old) == is_ready(ev.obj) and is_deleting(ev.old) == is_deleting(ev.obj):
            return ()
        out = []
        for k in self.pdb_by_ns.get(ns):
            pdb = self.ctx.store.try_get(self.pdb_rt, *k)
            sel = selector((pdb or {}).get("spec", {}).get("selector"))
            if any(p is not None and sel.matches(labels_of(p)) for p in (ev.obj, ev.old)):
                out.append(k)
        return out

    def _pods(self, pdb: Obj) -> list[Obj]:
        sel_d = (pdb.get("spec") or {}).get("selector")
        sel = selector(sel_d)
        ns = pdb["metadata"]["namespace"]
        cands = pods_selected(self.hub, ns, (sel_d or {}).get("matchLabels") or {})
        if cands is None:
            cands = self.hub.get("", "pods", "ns", ns)
        pods = [p for k in cands if (p := self.ctx.store.try_get(self.pod_rt, *k)) is not None]
        return [p for p in pods if sel.matches(labels_of(p))]

    def _expected_scale(self, pods: list[Obj]) -> int:
        """Sum of the scale of each distinct controller of the pods (a Deployment through its RS)."""
        seen: dict[str, int] = {}
        for p in pods:
            ref = controller_ref(p)
            if ref is None or ref.get("kind") not in _SCALABLE:
                continue
            owner = self._get(ref, p["metadata"]["namespace"])
            if owner is None:
                continue
            up = controller_ref(owner)
            if ref.get("kind") == "ReplicaSet" and up is not None and up.get("kind") == "Deployment":
                owner = self._get(up, p["metadata"]["namespace"]) or owner
            r = (owner.get("spec") or {}).get("replicas")
            seen[owner["metadata"]["uid"]] = 1 if r is None else int(r)
        return sum(seen.values())

    def _get(self, ref: Obj, ns: str) -> Obj | None:
        rt = self.ctx.registry.storage_type(*_SCALABLE[ref["kind"]])
        obj = self.ctx.store.try_get(rt, ns, ref.get("name", "")) if rt else None
        return obj if obj is not None and obj["metadata"].get("uid") == ref.get("uid") else None

    def reconcile(self, key: Hashable) -> float | None:
        pdb = self.ctx.store.try_get(self.pdb_rt, *key)  # type: ignore[misc]
        if pdb is None:
            return None
        spec = pdb.get("spec") or {}
        pods = self._pods(pdb)
        if spec.get("maxUnavailable") is not None:
            expected = self._expected_scale(pods)
            desired = max(0, expected - scaled_value(spec["maxUnavailable"], expected, True))
        elif isinstance(spec.get("minAvailable"), str) and str(spec["minAvailable"]).endswith("%"):
            expected = self._expected_scale(pods)
            desired = scaled_value(spec["minAvailable"], expected, True)
        else:
            expected = len(pods)
            desired = int(spec.get("minAvailable") or 0)
        now = self.ctx.clock.now()
        old = pdb.get("status") or {}
        disrupted: dict[str, str] = {}
        recheck: float | None = None
        by_name = {p["metadata"]["name"]: p for p in pods}
        for name, when in (old.get("disruptedPods") or {}).items():
            p = by_name.get(name)
            t = parse_time(when)
            if p is None or is_deleting(p) or t is None:
                continue
            left = (t + timedelta(seconds=DELETION_TIMEOUT_S) - now).total_seconds()
            if left > 0:
                disrupted[name] = when
                recheck = left if recheck is None else min(recheck, left)
        healthy = sum(1 for p in pods if is_ready(p) and not is_deleting(p) and p["metadata"]["name"] not in disrupted)
        allowed = max(0, healthy - desired)
        status: Obj = {"observedGeneration": pdb["metadata"].get("generation", 1)}
        if disrupted:
            status["disruptedPods"] = disrupted
        status.update(disruptionsAllowed=allowed, currentHealthy=healthy, desiredHealthy=desired,
                      expectedPods=expected)
        ok = allowed > 0
        prev = next((c for c in old.get("conditions") or () if c.get("type") == "DisruptionAllowed"), None)
        cstatus = "True" if ok else "False"
        ltt = prev["lastTransitionTime"] if prev and prev.get("status") == cstatus else now.strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        status["conditions"] = [{"type": "DisruptionAllowed", "status": cstatus,
                                 "observedGeneration": status["observedGeneration"], "lastTransitionTime": ltt,
                                 "reason": "SufficientPods" if ok else "InsufficientPods", "message": ""}]
        if status != old:
            try:
                self.ctx.store.update(self.pdb_rt, {**pdb, "status": status}, subresource="status", check_rv=False)
            except st.ApiError:
                return 1.0
        return recheck
