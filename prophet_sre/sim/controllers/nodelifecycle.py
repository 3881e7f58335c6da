"""Node lifecycle: NotReady after missed heartbeats, condition taints, taint eviction, node pressure.

The node lifecycle controller marks a node whose kubelet has not renewed its Lease or status for 40
sim seconds (node-monitor-grace-period) `Unknown` on all four conditions (`NodeStatusUnknown`,
`Kubelet stopped posting node status.`), taints it `node.kubernetes.io/unreachable` (NoSchedule and
NoExecute), marks its pods not Ready and, once their toleration runs out (300 s by default),
deletes them (`TaintManagerEviction`) so their controllers recreate them elsewhere; they stay
Terminating on the dead node, as on a real cluster. Heartbeats coming back heal the node.

It also stands in for the kubelet's eviction manager under the `node_pressure` fault knob: the
pressure condition (`KubeletHasInsufficientMemory`, ...), its NoSchedule taint, and the eviction of
BestEffort pods (phase Failed, reason Evicted) one per 10 s; a condition clears 5 minutes after the
pressure ends (the kubelet's eviction-pressure-transition-period).
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.clock import parse_time, rfc3339
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.cache import ensure_pod_indexes, informers
from prophet_sre.sim.controllers.common import get_condition, is_deleting, is_terminal, obj_key
from prophet_sre.sim.controllers.history import Timers, tolerates
from prophet_sre.sim.controllers.nodepressure import PRESSURE, evicted_status, eviction_message
from prophet_sre.sim.controllers.podstatus import qos_class
from prophet_sre.sim.store import WatchEvent

COMPONENT = "node-controller"
TAINT_COMPONENT = "taint-eviction-controller"
MONITOR_S = 5.0
GRACE_S = 40.0
PRESSURE_TRANSITION_S = 300.0
EVICTION_INTERVAL_S = 10.0
UNKNOWN_MSG = "Kubelet stopped posting node status."
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
MANAGED = (UNREACHABLE, NOT_READY, "node.kubernetes.io/unschedulable",
           *(f"node.kubernetes.io/{p.taint}" for p in PRESSURE.values()))
Obj = dict[str, Any]


class NodeLifecycleController(Controller):
    name = "node-lifecycle-controller"
    watches = (("", "nodes"),)
    resync_s = 30.0

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.hub = informers(ctx)
        ensure_pod_indexes(self.hub)
        self.node_rt = ctx.rt("", "nodes")
        self.pod_rt = ctx.rt("", "pods")
        self.lease_rt = ctx.rt("coordination.k8s.io", "leases")
        self.timers = Timers()
        self._first_seen: dict[str, float] = {}
        self._pressure_seen: dict[tuple[str, str], float] = {}
        self._last_eviction: dict[str, float] = {}

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        name = ev.obj["metadata"]["name"]
        if ev.type == "DELETED":
            self._first_seen.pop(name, None)
            self.timers.forget(name)
            return ()
        if ev.old is not None and ev.old.get("spec") == ev.obj.get("spec") and \
                ev.old["metadata"].get("annotations") == ev.obj["metadata"].get("annotations"):
            return ()  # a heartbeat or our own condition write: the monitor timer is running
        return [name]

    def resync(self) -> Iterable[Hashable]:
        return [n["metadata"]["name"] for n in self.ctx.store.objects(self.node_rt)]

    # -- health ----------------------------------------------------------------------------------------
    def _sim_s(self, ts: str | None) -> float | None:
        t = parse_time(ts)
        if t is None:
            return None
        return self.ctx.clock.elapsed() - (self.ctx.clock.now() - t).total_seconds()

    def _last_heartbeat(self, node: Obj) -> float:
        name = node["metadata"]["name"]
        seen = [self._first_seen.setdefault(name, self.ctx.clock.elapsed())]
        lease = self.ctx.store.try_get(self.lease_rt, "kube-node-lease", name)
        seen.append(self._sim_s(((lease or {}).get("spec") or {}).get("renewTime")) or 0.0)
        ready = get_condition(node, "Ready") or {}
        seen.append(self._sim_s(ready.get("lastHeartbeatTime")) or 0.0)
        return max(seen)

    def _pressures(self, name: str, now: float) -> set[str]:
        """Pressure types active on the node (from the knobs), held for the transition period."""
        knobs = self.ctx.extras.get("knobs")
        if knobs is not None:
            for eff in knobs.active("node_pressure", now):
                if eff.target == name or eff.target.endswith("/" + name):
                    kind = str(eff.params.get("type") or "memory")
                    if kind in PRESSURE:
                        self._pressure_seen[(name, kind)] = now
        return {k for (n, k), t in self._pressure_seen.items() if n == name and now - t < PRESSURE_TRANSITION_S}

    def reconcile(self, key: Hashable) -> float | None:
        name = str(key)
        node = self.ctx.store.try_get(self.node_rt, "", name)
        if node is None:
            return None
        now = self.ctx.clock.elapsed()
        stale = now - self._last_heartbeat(node) > GRACE_S
        pressures = set() if stale else self._pressures(name, now)
        was_ready = (get_condition(node, "Ready") or {}).get("status")
        node = self._set_conditions(node, stale, pressures)
        node = self._set_taints(node)
        ready = (get_condition(node, "Ready") or {}).get("status")
        if was_ready == "True" and ready != "True":
            self._mark_pods_not_ready(node)
        waits = [self._taint_evictions(node)]
        if pressures:
            waits.append(self._pressure_eviction(node, pressures, now))
        due = [w for w in waits if w is not None]
        if due and min(due) < MONITOR_S:
            return self.timers.at(name, now, now + min(due))
        return self.timers.next(name, now, MONITOR_S)

    def _set_conditions(self, node: Obj, stale: bool, pressures: set[str]) -> Obj:
        ts = rfc3339(self.ctx.clock.now())
        name = node["metadata"]["name"]
        conds = [dict(c) for c in (node.get("status") or {}).get("conditions") or ()]
        want = self._wanted(conds, stale, pressures)
        changed = []
        modified = False
        for c in conds:
            w = want.get(c.get("type", ""))
            if w is None or (c.get("status"), c.get("reason"), c.get("message")) == w:
                continue
            modified = True
            if c.get("status") != w[0]:
                c["lastTransitionTime"] = ts
                changed.append((c["type"], w))
            c["status"], c["reason"], c["message"] = w
            if not stale:
                c["lastHeartbeatTime"] = ts
        if not modified:
            return node
        try:
            node = self.ctx.store.update(self.node_rt, {**node, "status": {**(node.get("status") or {}),
                                                                           "conditions": conds}},
                                         subresource="status", check_rv=False)
        except st.ApiError:
            return node
        ev = self.ctx.events
        for type_, (value, _reason, _msg) in changed:
            if type_ == "Ready" and value == "Unknown":
                ev.normal(node, "NodeNotReady", f"Node {name} status is now: NodeNotReady", component=COMPONENT)
            elif type_ == "Ready" and value == "True":
                ev.normal(node, "NodeReady", f"Node {name} status is now: NodeReady", component="kubelet", host=name)
            elif value in ("True", "False"):
                kind = next(k for k, p in PRESSURE.items() if p.condition == type_)
                label = PRESSURE[kind].event_on if value == "True" else PRESSURE[kind].event_off
                ev.normal(node, label, f"Node {name} status is now: {label}", component="kubelet", host=name)
        return node

    @staticmethod
    def _wanted(conds: list[Obj], stale: bool, pressures: set[str]) -> dict[str, tuple[str, str, str]]:
        """The (status, reason, message) each condition should have. A live kubelet's conditions are only
        touched where this controller (or the pressure it simulates) put them, so a fault that sets
        Ready=False some other way keeps it."""
        if stale:
            return {t: ("Unknown", "NodeStatusUnknown", UNKNOWN_MSG)
                    for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")}
        reasons = {c.get("type"): c.get("reason") for c in conds}
        want: dict[str, tuple[str, str, str]] = {}
        for kind, p in PRESSURE.items():
            if kind in pressures:
                want[p.condition] = ("True", *p.on)
            elif reasons.get(p.condition) in ("NodeStatusUnknown", p.on[0]):
                want[p.condition] = ("False", *p.off)
        if reasons.get("Ready") == "NodeStatusUnknown":
            want["Ready"] = ("True", "KubeletReady", "kubelet is posting ready status")
        return want

    def _set_taints(self, node: Obj) -> Obj:
        """TaintNodesByCondition plus the NoExecute taints of taint-based eviction."""
        spec = node.get("spec") or {}
        ready = (get_condition(node, "Ready") or {}).get("status")
        want: list[tuple[str, str]] = []
        if ready == "Unknown":
            want += [(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")]
        elif ready == "False":
            want += [(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")]
        for p in PRESSURE.values():
            if (get_condition(node, p.condition) or {}).get("status") == "True":
                want.append((f"node.kubernetes.io/{p.taint}", "NoSchedule"))
        if spec.get("unschedulable"):
            want.append(("node.kubernetes.io/unschedulable", "NoSchedule"))
        old = list(spec.get("taints") or ())
        kept = [t for t in old if t.get("key") not in MANAGED or (t.get("key"), t.get("effect")) in want]
        have = {(t.get("key"), t.get("effect")) for t in kept}
        ts = rfc3339(self.ctx.clock.now())
        for k, e in want:
            if (k, e) not in have:
                kept.append({"key": k, "effect": e, **({"timeAdded": ts} if e == "NoExecute" else {})})
        if kept == old:
            return node
        upd = copy.deepcopy(node)
        if kept:
            upd["spec"]["taints"] = kept
        else:
            upd.setdefault("spec", {}).pop("taints", None)
        try:
            return self.ctx.store.update(self.node_rt, upd, check_rv=False)
        except st.ApiError:
            return node

    # -- pods ------------------------------------------------------------------------------------------
    def _pods_on(self, node: Obj) -> list[Obj]:
        out = []
        for k in self.hub.get("", "pods", "node", node["metadata"]["name"]):
            p = self.ctx.store.try_get(self.pod_rt, *k)
            if p is not None and not is_terminal(p):
                out.append(p)
        return sorted(out, key=lambda p: obj_key(p))

    def _mark_pods_not_ready(self, node: Obj) -> None:
        """`MarkPodsNotReady`: Ready=False on every pod of the node, with a `NodeNotReady` warning."""
        ts = rfc3339(self.ctx.clock.now())
        for p in self._pods_on(node):
            if is_deleting(p):
                continue
            status = copy.deepcopy(p.get("status") or {})
            conds = status.get("conditions") or []
            for c in conds:
                if c.get("type") == "Ready" and c.get("status") != "False":
                    c["status"], c["lastTransitionTime"] = "False", ts
            self._write_pod_status(p, status)
            self.ctx.events.warning(p, "NodeNotReady", "Node is not ready", component=COMPONENT)

    def _taint_evictions(self, node: Obj) -> float | None:
        """Delete pods that do not tolerate the node's NoExecute taints (after tolerationSeconds)."""
        taints = [t for t in (node.get("spec") or {}).get("taints") or () if t.get("effect") == "NoExecute"]
        if not taints:
            return None
        waits = []
        for p in self._pods_on(node):
            if is_deleting(p):
                continue
            tols = (p.get("spec") or {}).get("tolerations") or []
            left = 0.0
            for taint in taints:
                matching = [t for t in tols if tolerates([t], taint)]
                if not matching:
                    left = 0.0
                    break
                secs = [t.get("tolerationSeconds") for t in matching]
                if any(s is None for s in secs):
                    left = max(left, float("inf"))
                    continue
                added = self._sim_s(taint.get("timeAdded")) or self.ctx.clock.elapsed()
                left = max(left, added + max(0, min(int(s) for s in secs)) - self.ctx.clock.elapsed())
            if left == float("inf"):
                continue
            if left > 0:
                waits.append(left)
                continue
            self._evict_by_taint(p)
        return min(waits) if waits else None

    def _evict_by_taint(self, pod: Obj) -> None:
        ns, name = obj_key(pod)
        status = copy.deepcopy(pod.get("status") or {})
        status["conditions"] = [c for c in status.get("conditions") or () if c.get("type") != "DisruptionTarget"] + [
            {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
             "lastTransitionTime": rfc3339(self.ctx.clock.now()), "reason": "DeletionByTaintManager",
             "message": "Taint manager: deleting due to NoExecute taint"}]
        pod = self._write_pod_status(pod, status) or pod
        self.ctx.events.normal(pod, "TaintManagerEviction", f"Marking for deletion Pod {ns}/{name}",
                               component=TAINT_COMPONENT)
        try:
            self.ctx.store.delete(self.pod_rt, ns, name, precondition_uid=pod["metadata"].get("uid"))
        except st.ApiError:
            pass

    def _pressure_eviction(self, node: Obj, pressures: set[str], now: float) -> float | None:
        """The kubelet's eviction manager: one BestEffort pod per interval while under pressure."""
        name = node["metadata"]["name"]
        last = self._last_eviction.get(name)
        if last is not None and now - last < EVICTION_INTERVAL_S - 1e-6:
            return last + EVICTION_INTERVAL_S - now
        victims = [p for p in self._pods_on(node) if not is_deleting(p) and qos_class(p) == "BestEffort"
                   and (p.get("status") or {}).get("reason") != "Evicted"]
        if not victims:
            return None
        kind = sorted(pressures)[0]
        params = self._effect_params(name, kind)
        msg = eviction_message(kind, node, params)
        pod = victims[0]
        self.ctx.events.warning(node, "EvictionThresholdMet", f"Attempting to reclaim {PRESSURE[kind].resource}",
                                component="kubelet", host=name)
        self._write_pod_status(pod, evicted_status(pod, msg, rfc3339(self.ctx.clock.now())))
        self.ctx.events.warning(pod, "Evicted", msg, component="kubelet", host=name)
        self._last_eviction[name] = now
        return EVICTION_INTERVAL_S if len(victims) > 1 else None

    def _effect_params(self, node: str, kind: str) -> dict[str, Any]:
        knobs = self.ctx.extras.get("knobs")
        for eff in knobs.active("node_pressure") if knobs is not None else ():
            if (eff.target == node or eff.target.endswith("/" + node)) and eff.params.get("type", "memory") == kind:
                return dict(eff.params)
        return {}

    def _write_pod_status(self, pod: Obj, status: Obj) -> Obj | None:
        try:
            return self.ctx.store.update(self.pod_rt, {**pod, "status": status}, subresource="status",
                                         check_rv=False)
        except st.ApiError:
            return None
