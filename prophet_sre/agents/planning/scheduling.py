"""Rule for `unschedulable`: pods that no node accepts because of what the pod template asks for.

An SRE looks at the placement constraints first: a nodeSelector entry or a required node-affinity term
that no node satisfies can never be met, so the fix is to remove exactly that entry (or roll back the
rollout that added it). Pending pods for any other reason - insufficient CPU or memory, taints, cordoned
nodes - are capacity or node problems, not the template's: those go to a human with the scheduler's words.
"""

from __future__ import annotations

from typing import Any

from prophet_sre.agents.planning import checks as ck
from prophet_sre.agents.planning.context import Obj, Proposal, RuleContext, escalation, selector_string
from prophet_sre.agents.planning.history import changed, history, last_good, rolled_out_recently
from prophet_sre.domain import PatchAction, Risk, RollbackAction
from prophet_sre.tools.kube import objects as o


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _expr_matches(expr: Obj, labels: dict[str, str]) -> bool:
    key, op = o.text(expr.get("key")), o.text(expr.get("operator"))
    values = [o.text(v) for v in expr.get("values") or []] if isinstance(expr.get("values"), list) else []
    have = labels.get(key)
    if op == "In":
        return have is not None and have in values
    if op == "NotIn":
        return have is None or have not in values
    if op == "Exists":
        return have is not None
    if op == "DoesNotExist":
        return have is None
    if op in ("Gt", "Lt") and have is not None and values:
        try:
            a, b = int(have), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def term_matches(term: Obj, node: Obj) -> bool:
    """A nodeSelectorTerm (matchExpressions on labels, matchFields on metadata.name) against one node."""
    exprs = o.items(term.get("matchExpressions"))
    fields = o.items(term.get("matchFields"))
    if not exprs and not fields:
        return False  # an empty term matches no node
    labels = o.labels(node)
    return all(_expr_matches(e, labels) for e in exprs) and \
        all(_expr_matches(e, {"metadata.name": o.name(node)}) for e in fields)


def unmatched_constraints(spec: Obj, nodes: list[Obj]) -> tuple[list[dict[str, Any]], list[str]]:
    """(JSON Patch ops under /spec/template/spec removing what no node matches, descriptions)."""
    ops: list[dict[str, Any]] = []
    what: list[str] = []
    selector = o.str_map(spec.get("nodeSelector"))
    bad_keys = [k for k, v in selector.items() if not any(o.labels(n).get(k) == v for n in nodes)]
    if bad_keys and len(bad_keys) == len(selector):
        ops.append({"op": "remove", "path": "/spec/template/spec/nodeSelector"})
    else:
        ops += [{"op": "remove", "path": f"/spec/template/spec/nodeSelector/{_escape(k)}"} for k in bad_keys]
    what += [f"nodeSelector {k}={selector[k]}" for k in bad_keys]
    base = "/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution"
    terms = o.items(o.dig(spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                          "nodeSelectorTerms"))
    dead = [i for i, t in enumerate(terms) if not any(term_matches(t, n) for n in nodes)]
    if terms and len(dead) == len(terms):
        ops.append({"op": "remove", "path": base})
        what.append("the required node affinity (no node matches any of its terms)")
    else:
        ops += [{"op": "remove", "path": f"{base}/nodeSelectorTerms/{i}"} for i in reversed(dead)]
        what += [f"node affinity term {i}" for i in dead]
    return ops, what


def _scheduler_messages(pods: list[Obj]) -> list[str]:
    out: list[str] = []
    for p in pods:
        cond = o.condition(p, "PodScheduled")
        msg = o.text(cond.get("message")) if cond else ""
        if msg and msg not in out:
            out.append(msg)
    return out


def unschedulable(ctx: RuleContext) -> list[Proposal]:
    wl = ctx.workload()
    if wl is None:
        return [escalation(ctx.target, f"Pods of {ctx.target} cannot be scheduled and it is not a workload "
                                       "Prophet can change: read the pod's FailedScheduling events.")]
    ref, obj = wl
    spec = o.mapping(o.dig(obj, "spec", "template", "spec"))
    nodes = [n for n in ctx.list("nodes") if not o.dig(n, "spec", "unschedulable")]
    ops, what = unmatched_constraints(spec, nodes)
    pods = ctx.pods_of(obj)
    sel = selector_string(o.dig(obj, "spec", "selector"))
    verify = [ck.workload_ready(ref), ck.pods_ready(ref.namespace, sel)]
    if not ops:
        msgs = "; ".join(_scheduler_messages(pods)[:2]) or "no scheduler message"
        return [escalation(ref, f"Pods of {ref} are Pending but every node selector/affinity term matches some "
                                f"node; the scheduler says: {msgs}. Check capacity (requests vs allocatable), "
                                "taints and cordoned nodes.")]
    out = [Proposal([PatchAction(target=ref, patch=ops, risk=Risk.LOW,
                                 reason=f"remove {', '.join(what)}: no schedulable node matches")],
                    verify, rationale=f"No schedulable node matches {', '.join(what)} of {ref}; removing it lets "
                                      "the scheduler place the pods on the nodes that exist.",
                    expected="the Pending pods are scheduled and become ready; the rollout completes")]
    if ref.kind == "Deployment":
        hist = history(ctx, obj)
        good = last_good(hist, pods, bad_reasons={"Unschedulable"},
                         differs=lambda a, b: changed(a, b, "spec.nodeSelector", "spec.affinity"))
        if good is not None and rolled_out_recently(ctx, hist):
            why = f"revision {good.number} had placement constraints the nodes satisfy"
            out.append(Proposal([RollbackAction(target=ref, to_revision=good.number, risk=Risk.LOW, reason=why)],
                                verify, rationale=f"Roll {ref} back: {why}.",
                                expected="the previous revision's pods keep serving; the new ones go away"))
    return out


__all__ = ["term_matches", "unmatched_constraints", "unschedulable"]
