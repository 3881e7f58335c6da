"""The `cluster_summary` read tool: the whole cluster in one bounded page.

It answers "what is wrong, and where?" first: nodes (ready/total, pressure, cordoned), pods by phase,
then only the namespaces and workloads that have unhealthy pods, ranked by how many, and the warning
event reasons of the last hour. Healthy namespaces collapse into one line, so 10,000 pods in 200
namespaces cost the same as 100 - the size depends on how much is broken, and `fit_sections` shortens
the longest lists (saying which call shows the rest) when even that is too much.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field

from prophet_sre.tools import budget as bud
from prophet_sre.tools import envelope
from prophet_sre.tools.kube import events as ev
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient

PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
MAX_DATA_ROWS = 100
"""Rows kept in `data` per list (namespaces, workloads): data is bounded too, just less tightly."""
MAX_TEXT_ROWS = 15
"""Rows per section of the text even when the budget has room: the summary is an overview, and the
footer of each section names the call that lists the rest."""


class NodeHealth(BaseModel):
    total: int = 0
    ready: int = 0
    not_ready: list[str] = Field(default_factory=list)
    pressure: dict[str, list[str]] = Field(default_factory=dict)
    cordoned: list[str] = Field(default_factory=list)


class NamespaceHealth(BaseModel):
    namespace: str
    pods: int = 0
    unhealthy: int = 0
    restarts: int = 0
    reasons: dict[str, int] = Field(default_factory=dict)


class WorkloadHealth(BaseModel):
    kind: str
    namespace: str
    name: str
    unhealthy: int = 0
    reasons: dict[str, int] = Field(default_factory=dict)


class ClusterSummary(BaseModel):
    nodes: NodeHealth
    pods: int = 0
    phases: dict[str, int] = Field(default_factory=dict)
    namespaces: int = 0
    unhealthy_namespaces: list[NamespaceHealth] = Field(default_factory=list)
    workloads: list[WorkloadHealth] = Field(default_factory=list)
    warning_reasons: dict[str, int] = Field(default_factory=dict)
    window_s: float = 3600.0


def node_health(nodes: list[dict[str, Any]]) -> NodeHealth:
    h = NodeHealth(total=len(nodes))
    for n in nodes:
        ready = o.condition(n, "Ready")
        if ready is not None and ready.get("status") == "True":
            h.ready += 1
        else:
            h.not_ready.append(o.name(n))
        for c in o.conditions(n):
            if c.get("type") in PRESSURE and c.get("status") == "True":
                h.pressure.setdefault(o.text(c.get("type")), []).append(o.name(n))
        if o.dig(n, "spec", "unschedulable") is True:
            h.cordoned.append(o.name(n))
    return h


def pod_health(pods: list[dict[str, Any]]) -> tuple[Counter[str], dict[str, NamespaceHealth],
                                                     dict[tuple[str, str, str], WorkloadHealth]]:
    phases: Counter[str] = Counter()
    by_ns: dict[str, NamespaceHealth] = {}
    by_wl: dict[tuple[str, str, str], WorkloadHealth] = {}
    for p in pods:
        ns = o.namespace(p)
        phases[o.text(o.dig(p, "status", "phase")) or "Unknown"] += 1
        nsh = by_ns.get(ns)
        if nsh is None:
            nsh = by_ns[ns] = NamespaceHealth(namespace=ns)
        nsh.pods += 1
        nsh.restarts += o.restarts(p)
        reason = o.problem(p)
        if not reason:
            continue
        nsh.unhealthy += 1
        nsh.reasons[reason] = nsh.reasons.get(reason, 0) + 1
        kind, name = o.workload_of(p)
        wl = by_wl.get((ns, kind, name))
        if wl is None:
            wl = by_wl[(ns, kind, name)] = WorkloadHealth(kind=kind, namespace=ns, name=name)
        wl.unhealthy += 1
        wl.reasons[reason] = wl.reasons.get(reason, 0) + 1
    return phases, by_ns, by_wl


def _counts(c: dict[str, int], limit: int = 4) -> str:
    top = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{k} {v}" for k, v in top[:limit])
    return text + (f", +{len(top) - limit} more reasons" if len(top) > limit else "")


def summarize(client: KubeClient, *, namespace: str | None = None, window_s: float = 3600.0,
              ) -> tuple[ClusterSummary, list[NamespaceHealth], list[WorkloadHealth]]:
    """The summary (its lists capped at MAX_DATA_ROWS) plus the full ranked lists for rendering."""
    nodes = client.list("nodes")
    pods = client.list("pods", namespace)
    warnings = client.list("events", namespace, field_selector="type=Warning")
    now = client.cluster_now()
    phases, by_ns, by_wl = pod_health(pods)
    reasons: Counter[str] = Counter()
    for g in ev.group_events(warnings, not_before=now - timedelta(seconds=window_s)):
        reasons[g.reason] += g.count
    bad_ns = sorted((n for n in by_ns.values() if n.unhealthy), key=lambda n: (-n.unhealthy, n.namespace))
    bad_wl = sorted(by_wl.values(), key=lambda w: (-w.unhealthy, w.namespace, w.name))
    return ClusterSummary(nodes=node_health(nodes), pods=len(pods), phases=dict(phases.most_common()),
                          namespaces=len(by_ns), unhealthy_namespaces=bad_ns[:MAX_DATA_ROWS],
                          workloads=bad_wl[:MAX_DATA_ROWS], warning_reasons=dict(reasons.most_common()),
                          window_s=window_s), bad_ns, bad_wl


def render(s: ClusterSummary, all_ns: list[NamespaceHealth], all_wl: list[WorkloadHealth],
           scope: str) -> list[bud.Section]:
    n = s.nodes
    node_line = f"Nodes: {n.ready}/{n.total} Ready"
    if n.not_ready:
        node_line += f"; NotReady: {', '.join(n.not_ready[:10])}" + (" ..." if len(n.not_ready) > 10 else "")
    for cond, names in n.pressure.items():
        node_line += f"; {cond}: {', '.join(names[:5])}" + (f" +{len(names) - 5}" if len(names) > 5 else "")
    if n.cordoned:
        node_line += f"; cordoned: {', '.join(n.cordoned[:5])}" + (f" +{len(n.cordoned) - 5}" if len(n.cordoned) > 5 else "")
    healthy_ns = s.namespaces - len(all_ns)
    pod_line = f"Pods ({scope}): {s.pods} in {s.namespaces} namespaces - " + (_counts(s.phases, 6) or "none")
    head = bud.Section("", [node_line, pod_line], keep=2)
    ns_lines = [f"  {h.namespace}: {h.unhealthy}/{h.pods} unhealthy ({_counts(h.reasons)})"
                + (f", {h.restarts} restarts" if h.restarts else "") for h in all_ns]
    if healthy_ns:
        ns_lines.append(f"  ({healthy_ns} other namespaces: all pods healthy)")
    namespaces = bud.Section("Unhealthy pods by namespace:", ns_lines if all_ns else ["  none"], keep=3,
                             cap=MAX_TEXT_ROWS, more="cluster_summary(namespace=NS) for one namespace")
    workloads = bud.Section("Top failing workloads:", [
        f"  {w.namespace}/{w.kind.lower()}/{w.name}: {w.unhealthy} pods ({_counts(w.reasons, 2)})" for w in all_wl
    ] or ["  none"], keep=3, cap=MAX_TEXT_ROWS, more="analyze() for every failing object with its reason")
    window = f"{int(s.window_s // 60)}m" if s.window_s < 7200 else f"{int(s.window_s // 3600)}h"
    ev_lines = [f"  {k}: {v}" for k, v in s.warning_reasons.items()] or ["  none"]
    events = bud.Section(f"Warning events, last {window} (reason: occurrences):", ev_lines, keep=3,
                         cap=MAX_TEXT_ROWS, more=f"events(types=['Warning'], since='{window}')")
    return [head, namespaces, workloads, events]


def summary_tool(client: KubeClient, budget: bud.Budget, *, namespace: str | None = None, window_s: float = 3600.0,
                 params: dict[str, Any]) -> envelope.ToolResult[Any]:
    s, all_ns, all_wl = summarize(client, namespace=namespace, window_s=window_s)
    sections = render(s, all_ns, all_wl, f"namespace {namespace}" if namespace else "all namespaces")
    text, notes = bud.fit_sections(sections, budget)
    return envelope.ok("cluster_summary", params, text=text, data=s, omitted="; ".join(notes))


__all__ = ["ClusterSummary", "NamespaceHealth", "NodeHealth", "WorkloadHealth", "node_health", "pod_health",
           "summarize", "summary_tool"]
