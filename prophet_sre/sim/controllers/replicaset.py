"""The ReplicaSet controller: keeps `spec.replicas` active pods per ReplicaSet and reports on them.

Creation failures (quota, admission) surface exactly as on a real cluster - a `FailedCreate` warning
event and a `ReplicaFailure` condition carrying the apiserver's message - because "my deployment has
no pods" is one of the most common questions an SRE agent gets, and the answer lives there.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.clock import parse_time
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.cache import (
    by_controller_uid,
    by_match_labels,
    ensure_pod_indexes,
    informers,
    pods_selected,
)
from prophet_sre.sim.controllers.common import (
    condition,
    controller_ref,
    get_condition,
    is_active,
    is_available,
    is_deleting,
    is_ready,
    labels_of,
    obj_key,
    owner_reference,
    prune_zero,
    remove_condition,
    seconds_until_available,
    selector,
    set_condition,
)
from prophet_sre.sim.store import WatchEvent

COMPONENT = "replicaset-controller"
BURST_REPLICAS = 500
Obj = dict[str, Any]
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def pod_from_template(owner: Obj) -> Obj:
    """`controller.GetPodFromTemplate`: labels, annotations, finalizers and spec of the template."""
    template = (owner.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    meta: Obj = {"generateName": owner["metadata"]["name"] + "-", "namespace": owner["metadata"]["namespace"],
                 "labels": dict(tmeta.get("labels") or {}), "ownerReferences": [owner_reference(owner)]}
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy.deepcopy(template.get("spec") or {})}


def _deletion_order(pods: list[Obj], related: Iterable[Obj] = ()) -> list[Obj]:
    """`controller.ActivePodsWithRanks`: the pods to delete first come first.

    A pod's rank is the number of active `related` pods on its node (`getPodsRankedByRelatedPodsOnSameNode`):
    the pods of every ReplicaSet with the same controller - during a rollout, the new ReplicaSet's pods
    count too, so an old pod sharing a node with new ones goes first and frees room where it is needed.
    """
    per_node: dict[str, int] = {}
    for p in related:
        if is_active(p):
            node = (p.get("spec") or {}).get("nodeName") or ""
            per_node[node] = per_node.get(node, 0) + 1

    def key(p: Obj) -> tuple[Any, ...]:
        spec, status = p.get("spec") or {}, p.get("status") or {}
        node = spec.get("nodeName") or ""
        ready = is_ready(p)
        cost = (p["metadata"].get("annotations") or {}).get("controller.kubernetes.io/pod-deletion-cost", "0")
        try:
            cost_i = int(cost)
        except ValueError:
            cost_i = 0
        ready_since = ""
        if ready:
            c = get_condition(p, "Ready") or {}
            ready_since = c.get("lastTransitionTime") or ""
        restarts = sum(int(cs.get("restartCount") or 0) for cs in status.get("containerStatuses") or ())
        created = p["metadata"].get("creationTimestamp") or ""
        return (bool(node), _PHASE_RANK.get(status.get("phase") or "Pending", 3), ready, cost_i,
                -per_node.get(node, 0) if node else 0, _neg(ready_since), -restarts, _neg(created))

    return sorted(pods, key=key)


def _neg(ts: str) -> tuple[int, ...]:
    """Sort key putting later timestamps first."""
    t = parse_time(ts)
    return (0,) if t is None else (1, -int(t.timestamp()))


class ReplicaSetController(Controller):
    name = COMPONENT
    watches = (("apps", "replicasets"), ("", "pods"))

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.hub = informers(ctx)
        ensure_pod_indexes(self.hub)
        self.rs_by_selector = self.hub.index("apps", "replicasets", "selector", by_match_labels)
        self.rs_by_owner = self.hub.index("apps", "replicasets", "owner", by_controller_uid)
        self.rs_rt = ctx.rt("apps", "replicasets")
        self.pod_rt = ctx.rt("", "pods")
        self._backoff: dict[tuple[str, str], float] = {}

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.storage_key == ("apps", "replicasets"):
            return [obj_key(ev.obj)]
        keys: list[Hashable] = []
        ns = obj_key(ev.obj)[0]
        for o in (ev.obj, ev.old):
            ref = controller_ref(o) if o is not None else None
            if ref is not None and ref.get("kind") == "ReplicaSet":
                keys.append((ns, ref["name"]))
        if not keys and ev.type != "DELETED" and not is_deleting(ev.obj) and (
                ev.old is None or labels_of(ev.old) != labels_of(ev.obj) or controller_ref(ev.old)):
            keys.extend(self._rss_selecting(ev.obj))  # an orphan pod someone may adopt
        return keys

    def _rss_selecting(self, pod: Obj) -> list[tuple[str, str]]:
        """ReplicaSets whose selector matches an orphan pod: candidates via the selector index."""
        ns = obj_key(pod)[0]
        labels = labels_of(pod)
        cands: dict[tuple[str, str], None] = dict.fromkeys(self.rs_by_selector.get((ns, None, None)))
        for kv in labels.items():
            cands.update(dict.fromkeys(self.rs_by_selector.get((ns, *kv))))
        out = []
        for k in cands:
            rs = self.ctx.store.try_get(self.rs_rt, *k)
            if rs is not None and selector((rs.get("spec") or {}).get("selector")).matches(labels):
                out.append(k)
        return out

    # -- reconcile ---------------------------------------------------------------------------------
    def reconcile(self, key: Hashable) -> float | None:
        ns, name = key  # type: ignore[misc]
        rs = self.ctx.store.try_get(self.rs_rt, ns, name)
        if rs is None:
            self._backoff.pop((ns, name), None)
            return None
        pods = self._claim(rs)
        active = [p for p in pods if is_active(p)]
        failure: str | None = None
        again: float | None = None
        if not is_deleting(rs):
            failure = self._manage(rs, active)
            if failure is not None:
                delay = min(self._backoff.get((ns, name), 0.5) * 2, 60.0)
                self._backoff[(ns, name)] = delay
                again = delay
            else:
                self._backoff.pop((ns, name), None)
            pods = self._claim(rs)
            active = [p for p in pods if is_active(p)]
        avail_in = self._update_status(rs, active, failure)
        if avail_in is not None:
            again = avail_in if again is None else min(again, avail_in)
        return again

    def _claim(self, rs: Obj) -> list[Obj]:
        """Owned pods; matching orphans are adopted, owned pods that stopped matching released."""
        store = self.ctx.store
        uid = rs["metadata"]["uid"]
        sel = selector((rs.get("spec") or {}).get("selector"))
        out: list[Obj] = []
        for k in self.hub.get("", "pods", "owner", uid):
            p = store.try_get(self.pod_rt, *k)
            if p is None:
                continue
            if not sel.matches(labels_of(p)):
                upd = copy.deepcopy(p)
                upd["metadata"]["ownerReferences"] = [r for r in p["metadata"].get("ownerReferences") or ()
                                                      if r.get("uid") != uid]
                self._try_update(upd)
                continue
            out.append(p)
        if is_deleting(rs):
            return out
        ns = rs["metadata"]["namespace"]
        match_labels = ((rs.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        cands = pods_selected(self.hub, ns, match_labels)
        if cands is None:
            cands = self.hub.get("", "pods", "orphans", ns)
        for k in cands:
            p = store.try_get(self.pod_rt, *k)
            if p is None or controller_ref(p) is not None or is_deleting(p) or not sel.matches(labels_of(p)):
                continue
            upd = copy.deepcopy(p)
            upd["metadata"]["ownerReferences"] = list(p["metadata"].get("ownerReferences") or ()) + [
                owner_reference(rs)]
            adopted = self._try_update(upd)
            if adopted is not None:
                out.append(adopted)
        return out

    def _try_update(self, pod: Obj) -> Obj | None:
        try:
            return self.ctx.store.update(self.pod_rt, pod)
        except st.ApiError:
            return None

    def _manage(self, rs: Obj, active: list[Obj]) -> str | None:
        """Create or delete pods towards spec.replicas; the apiserver's error text on a failed create."""
        want = (rs.get("spec") or {}).get("replicas")
        want = 1 if want is None else int(want)
        diff = len(active) - want
        events = self.ctx.events
        if diff < 0:
            self._scale_down_siblings(rs)
            for _ in range(min(-diff, BURST_REPLICAS)):
                try:
                    pod = self.ctx.store.create(self.pod_rt, pod_from_template(rs))
                except st.ApiError as e:
                    events.warning(rs, "FailedCreate", f"Error creating: {e.message}", component=COMPONENT)
                    return e.message
                events.normal(rs, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}", component=COMPONENT)
        elif diff > 0:
            ranked = active if diff >= len(active) else _deletion_order(active, self._related_pods(rs))
            for p in ranked[:min(diff, BURST_REPLICAS)]:
                try:
                    self.ctx.store.delete(self.pod_rt, *obj_key(p))
                except st.ApiError as e:
                    if e.code != 404:
                        events.warning(rs, "FailedDelete", f"Error deleting: {e.message}", component=COMPONENT)
                        return e.message
                    continue
                events.normal(rs, "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}", component=COMPONENT)
        return None

    def _related_pods(self, rs: Obj) -> list[Obj]:
        """`getIndirectlyRelatedPods`: the pods of every ReplicaSet with the same controller (none without one)."""
        ref = controller_ref(rs)
        if ref is None:
            return []
        out: list[Obj] = []
        for k in self.rs_by_owner.get(ref.get("uid", "")):
            sib = self.ctx.store.try_get(self.rs_rt, *k)
            if sib is None:
                continue
            for pk in self.hub.get("", "pods", "owner", sib["metadata"]["uid"]):
                p = self.ctx.store.try_get(self.pod_rt, *pk)
                if p is not None:
                    out.append(p)
        return out

    def _scale_down_siblings(self, rs: Obj) -> None:
        """Before adding pods, remove the ones an older sibling (same Deployment) was just told to drop.

        The deployment controller sizes ReplicaSets so that their *sum* stays within maxSurge; doing
        the scale-downs first keeps the live pod count within it at every instant, too.
        """
        ref = controller_ref(rs)
        if ref is None:
            return
        for k in self.rs_by_owner.get(ref.get("uid", "")):
            if k == obj_key(rs):
                continue
            sib = self.ctx.store.try_get(self.rs_rt, *k)
            if sib is None or is_deleting(sib):
                continue
            want = (sib.get("spec") or {}).get("replicas")
            want = 1 if want is None else int(want)
            if self.hub.count("", "pods", "owner", sib["metadata"]["uid"]) > want:
                active = [p for p in self._claim(sib) if is_active(p)]
                if len(active) > want:
                    self._manage(sib, active)

    def _update_status(self, rs: Obj, active: list[Obj], failure: str | None) -> float | None:
        now = self.ctx.clock.now()
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        tlabels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        ready = [p for p in active if is_ready(p)]
        available = [p for p in ready if is_available(p, min_ready, now)]
        fully = sum(1 for p in active if all(labels_of(p).get(k) == v for k, v in tlabels.items()))
        old = rs.get("status") or {}
        status: Obj = prune_zero({
            "replicas": len(active), "fullyLabeledReplicas": fully, "readyReplicas": len(ready),
            "availableReplicas": len(available), "observedGeneration": rs["metadata"].get("generation", 1),
        }, keep=("replicas",))
        conds = list(old.get("conditions") or ())
        if failure is not None:
            conds = set_condition(conds, condition("ReplicaFailure", "True", "FailedCreate", failure, now))
            conds = [c if c["type"] != "ReplicaFailure" else {**c, "message": failure} for c in conds]
        elif get_condition(rs, "ReplicaFailure") is not None:
            conds = remove_condition(conds, "ReplicaFailure")
        if conds:
            status["conditions"] = conds
        if status != old:
            try:
                self.ctx.store.update(self.rs_rt, {**rs, "status": status}, subresource="status", check_rv=False)
            except st.ApiError:
                return 0.5
        waits = [w for p in ready if (w := seconds_until_available(p, min_ready, now)) is not None]
        return min(waits) + 0.01 if waits else None
