"""Rules for capacity and nodes: resource_exhaustion, quota, node_failure.

- A workload that grabbed the capacity (its own pods Pending on Insufficient cpu/memory, or others' pods
  Pending while it grew) is scaled back: to its size before the scale-up when the Deployment's events
  still say it, else by as many pods as the others need. A workload that is the bottleneck (healthy pods,
  saturated: latency, an exhausted connection pool - pools live in the callers, so more callers means more
  connections) is scaled up by a bounded factor; through its HPA's minimum when an HPA owns the count.
  Nodes are added (`scale_nodes`) only when the cluster's own Cluster API objects are readable here.
- A ResourceQuota that is used up is a budget decision: a human raises it or trims the namespace.
- A failed node is cordoned, so nothing new lands there; it is drained as well only when its kubelet is
  gone (NotReady) and every pod on it has a controller to recreate it elsewhere.
"""

from __future__ import annotations

import math
import re

from prophet_sre.agents.planning import checks as ck
from prophet_sre.agents.planning.context import Obj, Proposal, RuleContext, escalation, selector_string
from prophet_sre.domain import (
    AdjustHPAAction,
    CordonAction,
    DrainAction,
    ResourceRef,
    Risk,
    ScaleAction,
    ScaleNodesAction,
)
from prophet_sre.errors import ToolError
from prophet_sre.tools.capi.inventory import MACHINE_DEPLOYMENT_KIND
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.usage import quantity

SCALE_UP_FACTOR = 2.0
MAX_SCALE_UP = 10
"""At most this many replicas added by one scale-up: beyond that it is a capacity plan, not a fix."""
_SCALED = re.compile(r"Scaled up replica set (\S+) from (\d+) to (\d+)")


def _insufficient(pod: Obj) -> str:
    cond = o.condition(pod, "PodScheduled")
    msg = o.text(cond.get("message")) if cond else ""
    return msg if o.text(o.dig(pod, "status", "phase")) == "Pending" and "Insufficient" in msg else ""


def _requests(template_spec: Obj) -> tuple[float, float]:
    cpu = mem = 0.0
    for c in o.items(template_spec.get("containers")):
        cpu += quantity(o.dig(c, "resources", "requests", "cpu")) or 0.0
        mem += quantity(o.dig(c, "resources", "requests", "memory")) or 0.0
    return cpu, mem


def _hpa_for(ctx: RuleContext, ref: ResourceRef) -> Obj | None:
    for hpa in ctx.list("horizontalpodautoscalers", ref.namespace):
        tgt = o.mapping(o.dig(hpa, "spec", "scaleTargetRef"))
        if o.text(tgt.get("kind")) == ref.kind and o.text(tgt.get("name")) == ref.name:
            return hpa
    return None


def replicas_before_scale_up(ctx: RuleContext, ref: ResourceRef, current: int) -> int | None:
    """The replica count before the latest scale-up to `current`, from the Deployment's events."""
    events = [e for e in ctx.list("events", ref.namespace)
              if o.dig(e, "involvedObject", "kind") == ref.kind and o.dig(e, "involvedObject", "name") == ref.name
              and o.text(e.get("reason")) == "ScalingReplicaSet"]
    events.sort(key=lambda e: o.text(e.get("lastTimestamp") or e.get("eventTime") or ""))
    before = None
    for e in events:
        m = _SCALED.search(o.text(e.get("message")))
        if m and int(m.group(3)) == current and int(m.group(2)) < current:
            before = int(m.group(2))
    return before


def _owner_ref(ctx: RuleContext, pod: Obj) -> ResourceRef | None:
    kind, name = o.workload_of(pod)
    if kind not in ("Deployment", "StatefulSet", "DaemonSet"):
        return None
    return ResourceRef(cluster=ctx.target.cluster, kind=kind, namespace=o.namespace(pod), name=name)


def resource_exhaustion(ctx: RuleContext) -> list[Proposal]:
    wl = ctx.workload()
    if wl is None:
        return [escalation(ctx.target, f"Resources are exhausted around {ctx.target}, which is not a workload "
                                       "Prophet can scale: compare requests with node allocatable "
                                       "(`kubectl describe nodes`) and find what grew.")]
    ref, obj = wl
    pods = ctx.pods_of(obj)
    mine = {o.name(p) for p in pods}
    own_pending = [p for p in pods if _insufficient(p)]
    others = [p for p in ctx.list("pods", ref.namespace) if o.name(p) not in mine and _insufficient(p)]
    if own_pending or others:
        return _scale_back(ctx, ref, obj, pods, own_pending, others)
    return _scale_up(ctx, ref, obj)


def _scale_back(ctx: RuleContext, ref: ResourceRef, obj: Obj, pods: list[Obj], own_pending: list[Obj],
                others: list[Obj]) -> list[Proposal]:
    replicas = o.num(o.dig(obj, "spec", "replicas"), 1)
    placed = [p for p in pods if o.dig(p, "spec", "nodeName")]
    before = replicas_before_scale_up(ctx, ref, replicas) if ref.kind == "Deployment" else None
    cpu, mem = _requests(o.mapping(o.dig(obj, "spec", "template", "spec")))
    need_cpu = sum(_requests(o.mapping(p.get("spec")))[0] for p in others)
    need_mem = sum(_requests(o.mapping(p.get("spec")))[1] for p in others)
    free_pods = max(math.ceil(need_cpu / cpu) if cpu else 0, math.ceil(need_mem / mem) if mem else 0)
    target = before if before is not None else max(0, len(placed) - free_pods)
    if not own_pending and before is None:
        return [escalation(ref, f"Pods of other workloads in {ref.namespace} are Pending for lack of resources "
                                f"and {ref} did not grow recently: add nodes or lower requests "
                                f"(`kubectl describe nodes`).")]
    if target >= replicas:
        return [escalation(ref, f"{ref} has Pending pods for lack of resources but scaling it down would not "
                                "free anything: add nodes or lower requests.")]
    victims = sorted({r for p in others if (r := _owner_ref(ctx, p)) is not None}, key=str)
    sel = selector_string(o.dig(obj, "spec", "selector"))
    verify = [ck.workload_ready(ref), ck.pods_ready(ref.namespace, sel)] + [ck.workload_ready(v) for v in victims]
    verify += [ck.pods_ready(v.namespace, selector_string(o.dig(ctx.get(v.kind, v.name, v.namespace), "spec",
                                                                 "selector"))) for v in victims]
    why = (f"it was scaled up from {before} to {replicas}" if before is not None
           else f"{len(own_pending)} of its {replicas} pods cannot be placed")
    hpa = _hpa_for(ctx, ref)
    if hpa is not None:
        action: ScaleAction | AdjustHPAAction = AdjustHPAAction(
            target=ResourceRef(cluster=ref.cluster, kind="HorizontalPodAutoscaler", namespace=ref.namespace,
                               name=o.name(hpa)), max_replicas=max(1, target),
            min_replicas=min(o.num(o.dig(hpa, "spec", "minReplicas"), 1), max(1, target)), risk=Risk.MEDIUM,
            reason=f"cap {ref} at {max(1, target)} replicas through its HPA: {why}")
    else:
        action = ScaleAction(target=ref, replicas=target, risk=Risk.MEDIUM,
                             reason=f"scale {ref} back from {replicas} to {target}: {why}")
    return [Proposal([action], ck.dedupe(verify),
                     rationale=f"{ref} took the capacity the cluster had ({why}); scaling it back to {target} frees "
                               f"CPU/memory for {', '.join(map(str, victims)) or 'its own pending pods'}.",
                     expected="the Pending pods are scheduled and every workload's pods become ready")]


def _scale_up(ctx: RuleContext, ref: ResourceRef, obj: Obj) -> list[Proposal]:
    if ref.kind == "DaemonSet":
        return [escalation(ref, f"{ref} is saturated but a DaemonSet cannot be scaled: raise its resources or "
                                "spread the load.")]
    replicas = max(1, o.num(o.dig(obj, "spec", "replicas"), 1))
    hpa = _hpa_for(ctx, ref)
    target = min(math.ceil(replicas * SCALE_UP_FACTOR), replicas + MAX_SCALE_UP)
    verify = [ck.workload_ready(ref)]
    text = ctx.errors_text().lower()
    service = ref.name
    if "pool" in text:
        verify.append(ck.metric(f'sum(rate(db_pool_timeouts_total{{namespace="{ref.namespace}",service="{service}"}}'
                                f"[1m]))", below=0.1))
    if "latency" in text or "pool" in text:
        verify.append(ck.metric("histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket"
                                f'{{namespace="{ref.namespace}",service="{service}"}}[1m])))', below=0.5))
    why = "its pods are saturated (" + ("connection pools exhausted: each replica brings its own pool"
                                        if "pool" in text else "more load than its replicas serve") + ")"
    if hpa is not None:
        hpa_ref = ResourceRef(cluster=ref.cluster, kind="HorizontalPodAutoscaler", namespace=ref.namespace,
                              name=o.name(hpa))
        max_r = max(o.num(o.dig(hpa, "spec", "maxReplicas"), target), target)
        action: ScaleAction | AdjustHPAAction = AdjustHPAAction(
            target=hpa_ref, min_replicas=target, max_replicas=max_r, risk=Risk.LOW,
            reason=f"raise the minimum of {ref}'s HPA to {target} replicas: {why}")
    else:
        action = ScaleAction(target=ref, replicas=target, risk=Risk.LOW,
                             reason=f"scale {ref} from {replicas} to {target} replicas: {why}")
    actions: list[ScaleAction | AdjustHPAAction | ScaleNodesAction] = [action]
    extra = _nodes_for(ctx, obj, target - replicas)
    if extra is not None:
        actions.append(extra)
    return [Proposal(list(actions), verify,
                     rationale=f"{ref} is the bottleneck: {why}. More replicas spread the load"
                               + (" and bring more connections" if "pool" in text else "") + ".",
                     expected=f"{target} ready replicas of {ref}; latency and errors return to normal")]


def _nodes_for(ctx: RuleContext, obj: Obj, added: int) -> ScaleNodesAction | None:
    """A scale_nodes follow-up when the added replicas do not fit and this cluster's MachineDeployment is readable."""
    cpu, mem = _requests(o.mapping(o.dig(obj, "spec", "template", "spec")))
    nodes = [n for n in ctx.list("nodes") if not o.dig(n, "spec", "unschedulable")]
    pods = ctx.list("pods")
    free_cpu = free_mem = 0.0
    for n in nodes:
        used = [p for p in pods if o.dig(p, "spec", "nodeName") == o.name(n)
                and o.text(o.dig(p, "status", "phase")) not in ("Succeeded", "Failed")]
        free_cpu += (quantity(o.dig(n, "status", "allocatable", "cpu")) or 0.0) - sum(
            _requests(o.mapping(p.get("spec")))[0] for p in used)
        free_mem += (quantity(o.dig(n, "status", "allocatable", "memory")) or 0.0) - sum(
            _requests(o.mapping(p.get("spec")))[1] for p in used)
    if cpu * added <= free_cpu and mem * added <= free_mem:
        return None
    try:
        mds = ctx.client().list(MACHINE_DEPLOYMENT_KIND)
    except ToolError:
        return None
    if len(mds) != 1:
        return None
    md = mds[0]
    cur = o.num(o.dig(md, "spec", "replicas"), 1)
    return ScaleNodesAction(target=ResourceRef(cluster=ctx.target.cluster, kind="MachineDeployment",
                                               namespace=o.namespace(md), name=o.name(md)),
                            replicas=cur + 1, risk=Risk.MEDIUM,
                            reason="the added replicas do not fit on the nodes: one more worker")


# -- quota ---------------------------------------------------------------------------------------------------
def quota(ctx: RuleContext) -> list[Proposal]:
    ns = ctx.target.namespace
    full: list[str] = []
    try:
        quotas = ctx.list("resourcequotas", ns) if ns else []
    except ToolError:
        quotas = []
    for q in quotas:
        hard, used = o.str_map(o.dig(q, "status", "hard")), o.str_map(o.dig(q, "status", "used"))
        for k, v in hard.items():
            if quantity(used.get(k)) is not None and quantity(used.get(k)) >= (quantity(v) or 0):
                full.append(f"{o.name(q)}: {k} used {used[k]} of {v}")
    detail = "; ".join(full[:5]) or "no ResourceQuota is at its limit right now"
    return [escalation(ctx.target, f"Namespace {ns or '?'} hit its ResourceQuota ({detail}). Raising a quota or "
                                   "trimming what runs there is a budget decision: ask the namespace owner.")]


# -- node_failure --------------------------------------------------------------------------------------------
DRAIN_S = 120
"""How long a drain may take on a node whose kubelet still answers (PodDisruptionBudget retries, graceful stops)."""
DEAD_KUBELET_DRAIN_S = 20
"""... and on a node whose kubelet stopped posting status (see `node_failure`)."""


def node_failure(ctx: RuleContext) -> list[Proposal]:
    ref = ctx.root if ctx.root is not None and ctx.root.kind == "Node" else \
        next((f.ref for f in ctx.findings if f.ref.kind == "Node"), None)
    if ref is None:
        return [escalation(ctx.target, "A node failure was diagnosed but no node is named: `kubectl get nodes` and "
                                       "the nodes' conditions show which one.")]
    node = ctx.get("nodes", ref.name)
    ready = o.text(o.dig(o.condition(node, "Ready"), "status")) if o.condition(node, "Ready") else "Unknown"
    cordoned = o.dig(node, "spec", "unschedulable") is True
    on_node = [p for p in ctx.list("pods", field_selector=f"spec.nodeName={ref.name}")
               if o.dig(p, "spec", "nodeName") == ref.name
               and o.text(o.dig(p, "status", "phase")) not in ("Succeeded", "Failed")]
    movable = [p for p in on_node if not any(o.text(r.get("kind")) == "DaemonSet" for r in o.owners(p))]
    bare = [p for p in movable if not o.owners(p)]
    victims = sorted({r for p in movable if (r := _owner_ref(ctx, p)) is not None and r.kind != "DaemonSet"}, key=str)
    verify = [ck.object_field(ref, "{.spec.unschedulable}", True)] + [ck.workload_ready(v) for v in victims]
    actions: list[CordonAction | DrainAction] = []
    if not cordoned:
        actions.append(CordonAction(target=ref, risk=Risk.LOW, reason=f"node {ref.name} is failing (Ready={ready}): "
                                                                      "schedule nothing new there"))
    if ready != "True" and movable and not bare:
        # a kubelet that stopped posting status (Ready=Unknown) never confirms its pods' deletion: they stay
        # Terminating while their controllers already run replacements, so waiting long for them is futile
        # (what `kubectl drain --skip-wait-for-delete-timeout` is for); a live kubelet gets the usual wait
        wait = DEAD_KUBELET_DRAIN_S if ready == "Unknown" else DRAIN_S
        actions.append(DrainAction(target=ref, risk=Risk.HIGH, timeout_s=wait,
                                   reason=f"node {ref.name} is not Ready: move its {len(movable)} pods to healthy "
                                          "nodes"))
    if not actions:
        why = "it is cordoned and " + ("has bare pods nothing would recreate" if bare else "has nothing to move")
        return [escalation(ref, f"Node {ref.name} is failing (Ready={ready}); {why}: look at the node itself "
                                "(kubelet, runtime, hardware) and decide whether to drain or replace it.")]
    note = f" {len(bare)} bare pod(s) keep it from being drained." if bare else ""
    return [Proposal(list(actions), verify,
                     rationale=f"Node {ref.name} is failing (Ready={ready}): cordon it so nothing new lands there"
                               + ("; drain it so its pods run elsewhere" if len(actions) > 1 or cordoned else "")
                               + "." + note,
                     expected="no new pods on the node; its workloads run ready on the other nodes")]


__all__ = ["DEAD_KUBELET_DRAIN_S", "DRAIN_S", "node_failure", "quota", "replicas_before_scale_up", "resource_exhaustion"]
