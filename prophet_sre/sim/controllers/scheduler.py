"""The default scheduler: binds pending pods to nodes, or says precisely why it cannot.

The filters are the default profile's, in its order (NodeUnschedulable, NodeName, TaintToleration,
NodeAffinity, NodeResourcesFit); a node is rejected by the first filter that fails, and the
`FailedScheduling` message aggregates the reasons per node exactly like `framework.FitError` - the
text an SRE (human or agent) greps for. Scoring is least-requested with a name tie-break, so runs are
reproducible.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.clock import rfc3339
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.binding import bind_pod
from prophet_sre.sim.controllers.cache import ensure_pod_indexes, informers
from prophet_sre.sim.controllers.common import (
    get_condition,
    is_deleting,
    is_terminal,
    node_selector_terms_match,
    obj_key,
    parse_quantity,
    pod_requests,
)
from prophet_sre.sim.controllers.volumebinding import VolumeBinder  # [workloads] VolumeBinding plugin
from prophet_sre.sim.store import WatchEvent

COMPONENT = "default-scheduler"
RETRY_S = 10.0
Obj = dict[str, Any]

# Reasons whose nodes preemption cannot help (UnschedulableAndUnresolvable).
_UNRESOLVABLE = ("node(s) were unschedulable", "node(s) didn't match the requested node name",
                 "node(s) didn't match Pod's node affinity/selector", "node(s) had untolerated taint",
                 "node(s) had volume node affinity conflict")  # [workloads] last entry: VolumeBinding


def _tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    for t in tolerations:
        effect = t.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        op = t.get("operator") or "Equal"
        key = t.get("key") or ""
        if op == "Exists":
            if not key or key == taint.get("key"):
                return True
        elif key == taint.get("key") and (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def node_taints(node: Obj) -> list[Obj]:
    """The node's taints plus those the node lifecycle controller would add for a not-ready node."""
    taints = list((node.get("spec") or {}).get("taints") or ())
    ready = get_condition(node, "Ready")
    status = ready.get("status") if ready else "Unknown"
    extra = None
    if status == "False":
        extra = "node.kubernetes.io/not-ready"
    elif status != "True":
        extra = "node.kubernetes.io/unreachable"
    if extra and not any(t.get("key") == extra for t in taints):
        taints.append({"key": extra, "effect": "NoSchedule"})
    return taints


def node_matches_affinity(pod: Obj, node: Obj) -> bool:
    """nodeSelector AND required node affinity (terms ORed, expressions ANDed)."""
    spec = pod.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    req = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
           .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if not req:
        return True
    return node_selector_terms_match(req.get("nodeSelectorTerms") or [], node)


_UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
_STANDARD = frozenset({"cpu", "memory", "ephemeral-storage", "pods"})


@dataclass
class _NodeInfo:
    """What filtering needs from a node, parsed once per node resourceVersion."""

    name: str
    rv: str
    node: Obj
    unschedulable: bool
    taints: list[Obj]
    alloc: dict[str, float]

    @classmethod
    def of(cls, node: Obj) -> _NodeInfo:
        alloc = {k: parse_quantity(v) for k, v in ((node.get("status") or {}).get("allocatable") or {}).items()}
        taints = [t for t in node_taints(node) if t.get("effect") in ("NoSchedule", "NoExecute")]
        return cls(name=node["metadata"]["name"], rv=node["metadata"].get("resourceVersion", ""), node=node,
                   unschedulable=bool((node.get("spec") or {}).get("unschedulable")), taints=taints, alloc=alloc)


class SchedulerController(Controller):
    name = COMPONENT
    watches = (("", "pods"), ("", "nodes"))

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.hub = informers(ctx)
        ensure_pod_indexes(self.hub)
        self.pod_rt = ctx.rt("", "pods")
        self.node_rt = ctx.rt("", "nodes")
        self.unschedulable: dict[tuple[str, str], None] = {}
        self._retry_at: dict[tuple[str, str], float] = {}
        # node -> pod key -> requests; kept from events so fitting is O(nodes), not O(pods)
        self.usage: dict[str, dict[tuple[str, str], dict[str, float]]] = {}
        self._node_of: dict[tuple[str, str], str] = {}
        self._totals: dict[str, dict[str, float]] = {}  # node -> summed requests (kept incrementally)
        self._infos: dict[str, _NodeInfo] = {}
        self.volumes = VolumeBinder(ctx)  # [workloads] claims: PreFilter, node affinity, selected-node
        for pod in ctx.store.objects(self.pod_rt):
            self._account(obj_key(pod), pod)

    @staticmethod
    def _wants_us(pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return (not spec.get("nodeName") and (spec.get("schedulerName") or COMPONENT) == COMPONENT
                and not is_deleting(pod) and not is_terminal(pod))

    def _account(self, key: tuple[str, str], pod: Obj | None) -> bool:
        """Track requests of bound, non-terminal pods per node; True when a node lost a pod."""
        node = (pod.get("spec") or {}).get("nodeName") if pod is not None and not is_terminal(pod) else None
        cur = self._node_of.get(key)
        if cur == node:
            return False
        if cur is not None:
            req = self.usage.get(cur, {}).pop(key, None)
            del self._node_of[key]
            if req is not None:
                totals = self._totals.setdefault(cur, {})
                for k, v in _with_scoring_defaults(req).items():
                    totals[k] = totals.get(k, 0.0) - v
        if node and pod is not None:
            req = pod_requests(pod)
            self.usage.setdefault(node, {})[key] = req
            self._node_of[key] = node
            totals = self._totals.setdefault(node, {})
            for k, v in _with_scoring_defaults(req).items():
                totals[k] = totals.get(k, 0.0) + v
        return cur is not None

    @staticmethod
    def _node_changed(ev: WatchEvent) -> bool:
        """Heartbeats do not make a pod schedulable; spec, labels, capacity and readiness may."""
        if ev.type != "MODIFIED" or ev.old is None:
            return True
        old, new = ev.old, ev.obj
        if old.get("spec") != new.get("spec") or old["metadata"].get("labels") != new["metadata"].get("labels"):
            return True
        os_, ns_ = old.get("status") or {}, new.get("status") or {}
        if os_.get("allocatable") != ns_.get("allocatable"):
            return True
        return [(c.get("type"), c.get("status")) for c in os_.get("conditions") or ()] != [
            (c.get("type"), c.get("status")) for c in ns_.get("conditions") or ()]

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.storage_key == ("", "nodes"):
            return list(self.unschedulable) if self._node_changed(ev) else ()
        key = obj_key(ev.obj)
        if ev.type == "DELETED":
            freed = self._account(key, None)
            self.unschedulable.pop(key, None)
        else:
            freed = self._account(key, ev.obj)
            if self._wants_us(ev.obj):
                if key in self.unschedulable and ev.old is not None and ev.old.get("spec") == ev.obj.get("spec") \
                        and ev.old["metadata"].get("labels") == ev.obj["metadata"].get("labels"):
                    return ()  # our own status write (or a status-only change): the retry timer handles it
                return [key]
        return list(self.unschedulable) if freed else ()

    # -- scheduling cycle ------------------------------------------------------------------------------
    def _nodes(self) -> list[_NodeInfo]:
        """Node views by name, rebuilt only for nodes whose resourceVersion moved."""
        out = []
        seen = set()
        for node in self.ctx.store.objects(self.node_rt):
            name = node["metadata"]["name"]
            seen.add(name)
            info = self._infos.get(name)
            if info is None or info.rv != node["metadata"].get("resourceVersion"):
                info = self._infos[name] = _NodeInfo.of(node)
            out.append(info)
        for gone in set(self._infos) - seen:
            del self._infos[gone]
        out.sort(key=lambda i: i.name)
        return out

    def reconcile(self, key: Hashable) -> float | None:
        pod = self.ctx.store.try_get(self.pod_rt, *key)  # type: ignore[misc]
        if pod is None or not self._wants_us(pod):
            self.unschedulable.pop(key, None)  # type: ignore[arg-type]
            self._retry_at.pop(key, None)  # type: ignore[arg-type]
            return None
        nodes = self._nodes()
        feasible: list[tuple[float, str]] = []
        reasons: dict[str, int] = {}
        resolvable = 0
        req = pod_requests(pod)
        vols = self.volumes.check(pod)  # [workloads] VolumeBinding
        if vols.waiting:  # [workloads] a node was chosen; the provisioner is binding its claims
            return 1.0
        for info in [] if vols.error else nodes:  # [workloads] a PreFilter rejection skips the filters
            why = self._filter(pod, info, req) or vols.node_reasons(info.node)  # [workloads] VolumeBinding filter
            if not why:
                feasible.append((self._score(info, req), info.name))
                continue
            for r in why:
                reasons[r] = reasons.get(r, 0) + 1
            if not any(why[0].startswith(u) for u in _UNRESOLVABLE):
                resolvable += 1
        if feasible:
            best = min(feasible, key=lambda t: (-t[0], t[1]))[1]
            self.unschedulable.pop(key, None)  # type: ignore[arg-type]
            self._retry_at.pop(key, None)  # type: ignore[arg-type]
            if self.volumes.prebind(vols, best):  # [workloads] wait for the claims to bind on `best`
                return 1.0
            return self._bind(pod, best)
        self.unschedulable[key] = None  # type: ignore[index]
        self._fail(pod, vols.message(len(nodes)) if vols.error else  # [workloads] PreFilter message
                   fit_error(len(nodes), reasons, resolvable))
        now = self.ctx.clock.elapsed()
        due = self._retry_at.get(key)  # type: ignore[arg-type]
        if due is not None and due > now + 1e-6:
            return None  # a retry is already pending; do not start a second timer chain
        self._retry_at[key] = now + RETRY_S  # type: ignore[index]
        return RETRY_S

    def _filter(self, pod: Obj, info: _NodeInfo, req: dict[str, float]) -> list[str]:
        spec = pod.get("spec") or {}
        tolerations = spec.get("tolerations") or []
        if info.unschedulable and not _tolerates(tolerations, _UNSCHEDULABLE_TAINT):
            return ["node(s) were unschedulable"]
        if spec.get("nodeName") and spec["nodeName"] != info.name:
            return ["node(s) didn't match the requested node name"]
        for taint in info.taints:
            if not tolerations or not _tolerates(tolerations, taint):
                return [f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"]
        if (spec.get("nodeSelector") or spec.get("affinity")) and not node_matches_affinity(pod, info.node):
            return ["node(s) didn't match Pod's node affinity/selector"]
        return self._fit(info, req)

    def _fit(self, info: _NodeInfo, req: dict[str, float]) -> list[str]:
        used = self._totals.get(info.name, {})
        out = []
        if len(self.usage.get(info.name, ())) + 1 > info.alloc.get("pods", 110.0):
            out.append("Too many pods")
        for name in ("cpu", "memory", "ephemeral-storage"):
            want = req.get(name, 0.0)
            if want > 0 and want + used.get(name, 0.0) > info.alloc.get(name, 0.0) + 1e-9:
                out.append(f"Insufficient {name}")
        for name in sorted(k for k in req if k not in _STANDARD):  # extended resources (nvidia.com/gpu, ...)
            want = req[name]
            if want > 0 and want + used.get(name, 0.0) > info.alloc.get(name, 0.0) + 1e-9:
                out.append(f"Insufficient {name}")
        return out

    def _score(self, info: _NodeInfo, req: dict[str, float]) -> float:
        """LeastAllocated over cpu and memory (unset requests count as 100m / 200Mi, like the real one)."""
        used = self._totals.get(info.name, {})
        score = 0.0
        for name, default in (("cpu", 0.1), ("memory", 200 * 2 ** 20)):
            cap = info.alloc.get(name, 0.0)
            if cap <= 0:
                continue
            want = used.get(name, 0.0) + used.get(f"{name}_scoring_extra", 0.0) + (req.get(name) or default)
            score += max(0.0, (cap - want) / cap)
        return score

    # -- outcomes ----------------------------------------------------------------------------------------
    def _bind(self, pod: Obj, node: str) -> float | None:
        ns, name = obj_key(pod)
        try:
            bind_pod(self.ctx.store, self.pod_rt, ns, name, node, uid=pod["metadata"].get("uid"))
        except st.ApiError as e:
            return None if e.code == 404 else 0.5
        self.ctx.events.normal(pod, "Scheduled", f"Successfully assigned {ns}/{name} to {node}", component=COMPONENT)
        return None

    def _fail(self, pod: Obj, message: str) -> None:
        cur = get_condition(pod, "PodScheduled")
        if not (cur and cur.get("status") == "False" and cur.get("message") == message):
            status = dict(pod.get("status") or {})
            status.setdefault("phase", "Pending")
            c = {"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                 "lastTransitionTime": rfc3339(self.ctx.clock.now()), "reason": "Unschedulable", "message": message}
            status["conditions"] = [x for x in status.get("conditions") or () if x.get("type") != "PodScheduled"] + [c]
            try:
                self.ctx.store.update(self.pod_rt, {**pod, "status": status}, subresource="status", check_rv=False)
            except st.ApiError:
                return
        self.ctx.events.warning(pod, "FailedScheduling", message, component=COMPONENT)


def fit_error(n_nodes: int, reasons: dict[str, int], resolvable: int) -> str:
    """`framework.FitError.Error()` plus DefaultPreemption's post-filter message."""
    if n_nodes == 0:
        return "no nodes available to schedule pods"
    hist = sorted(f"{count} {reason}" for reason, count in reasons.items())
    msg = f"0/{n_nodes} nodes are available: {', '.join(hist)}."
    pre: dict[str, int] = {}
    if n_nodes - resolvable:
        pre["Preemption is not helpful for scheduling"] = n_nodes - resolvable
    if resolvable:
        pre["No preemption victims found for incoming pod"] = resolvable
    pre_hist = sorted(f"{count} {reason}" for reason, count in pre.items())
    return f"{msg} preemption: 0/{n_nodes} nodes are available: {', '.join(pre_hist)}."


def _with_scoring_defaults(req: dict[str, float]) -> dict[str, float]:
    """Requests as the scorer counts them: unset cpu/memory count as 100m / 200Mi (the real "non-zero"
    requests), so pods without requests still spread instead of piling onto one node."""
    out = dict(req)
    if not out.get("cpu"):
        out["cpu_scoring_extra"] = 0.1
    if not out.get("memory"):
        out["memory_scoring_extra"] = 200 * 2 ** 20
    return out
