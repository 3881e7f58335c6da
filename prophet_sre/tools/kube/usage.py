"""The `resource_usage` read tool: requests and limits per workload, and live usage when we have it.

Requests and limits come from the pods themselves (what is actually scheduled, including pods of a
rollout in progress), grouped by owning workload and summed. Containers without requests or limits are
named - they are the usual cause of evictions and noisy neighbours. Live usage is not something the
API server has: `UsageSource` is the hook a Prometheus client (tools/prometheus.py, later) implements,
returning per-pod CPU (millicores) and memory (MiB); without one the tool says usage is unavailable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel, Field

from prophet_sre.tools import budget as bud
from prophet_sre.tools import envelope
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient

_QTY = re.compile(r"^([+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)([a-zA-Z]*)$")
_SCALE = {"": 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
          "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50}


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity (`250m`, `1.5`, `128Mi`, `1G`) in base units, or None if it is not one."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    m = _QTY.match(o.text(value).strip())
    if not m or m.group(2) not in _SCALE:
        return None
    return float(m.group(1)) * _SCALE[m.group(2)]


class PodUsage(BaseModel):
    cpu_m: float = 0.0
    memory_mi: float = 0.0


class UsageSource(Protocol):
    """Live usage per pod name in a namespace (a Prometheus client implements this)."""

    def pod_usage(self, namespace: str) -> Mapping[str, PodUsage]: ...


class WorkloadResources(BaseModel):
    kind: str
    name: str
    namespace: str
    pods: int = 0
    cpu_request_m: float = 0.0
    cpu_limit_m: float = 0.0
    memory_request_mi: float = 0.0
    memory_limit_mi: float = 0.0
    missing: list[str] = Field(default_factory=list)
    """`container: no requests` / `container: no limits` (once per container name)."""
    usage: PodUsage | None = None


def per_workload(pods: list[dict[str, Any]], usage: Mapping[str, PodUsage] | None) -> list[WorkloadResources]:
    out: dict[tuple[str, str], WorkloadResources] = {}
    for p in pods:
        if o.text(o.dig(p, "status", "phase")) in ("Succeeded", "Failed"):
            continue
        kind, name = o.workload_of(p)
        w = out.get((kind, name))
        if w is None:
            w = out[(kind, name)] = WorkloadResources(kind=kind, name=name, namespace=o.namespace(p))
        w.pods += 1
        for c in o.pod_containers(p):
            res = o.mapping(c.get("resources"))
            req, lim = o.mapping(res.get("requests")), o.mapping(res.get("limits"))
            w.cpu_request_m += (quantity(req.get("cpu")) or 0.0) * 1000
            w.cpu_limit_m += (quantity(lim.get("cpu")) or 0.0) * 1000
            w.memory_request_mi += (quantity(req.get("memory")) or 0.0) / 2**20
            w.memory_limit_mi += (quantity(lim.get("memory")) or 0.0) / 2**20
            for label, part in (("requests", req), ("limits", lim)):
                note = f"{o.text(c.get('name'))}: no {label}"
                if not part and note not in w.missing:
                    w.missing.append(note)
        if usage is not None and o.name(p) in usage:
            u = usage[o.name(p)]
            w.usage = w.usage or PodUsage()
            w.usage.cpu_m += u.cpu_m
            w.usage.memory_mi += u.memory_mi
    return sorted(out.values(), key=lambda w: (-w.memory_request_mi, -w.cpu_request_m, w.name))


def _line(w: WorkloadResources) -> str:
    line = (f"  {w.kind.lower()}/{w.name} ({w.pods} pods): cpu req {w.cpu_request_m:.0f}m lim {w.cpu_limit_m:.0f}m, "
            f"mem req {w.memory_request_mi:.0f}Mi lim {w.memory_limit_mi:.0f}Mi")
    if w.usage is not None:
        line += f"; using cpu {w.usage.cpu_m:.0f}m mem {w.usage.memory_mi:.0f}Mi"
    if w.missing:
        line += "; " + ", ".join(w.missing[:4]) + (" ..." if len(w.missing) > 4 else "")
    return line


def usage_tool(client: KubeClient, budget: bud.Budget, *, namespace: str, source: UsageSource | None = None,
               params: dict[str, Any]) -> envelope.ToolResult[Any]:
    pods = client.list("pods", namespace)
    live: Mapping[str, PodUsage] | None = None
    live_note = "live usage: unavailable (no metrics source configured)"
    if source is not None:
        try:
            live = source.pod_usage(namespace)
            live_note = "live usage: from the metrics source"
        except Exception as e:  # noqa: BLE001 - a metrics outage must not hide requests/limits
            live_note = f"live usage: unavailable ({type(e).__name__}: {e})"
    rows = per_workload(pods, live)
    if not rows:
        return envelope.ok("resource_usage", params, no_data=True, data=[],
                           text=f"No running pods in namespace {namespace}")
    head = [f"Requests/limits per workload in namespace {namespace} (summed over pods; {live_note}):"]
    lines = [_line(w) for w in rows]
    n = max(1, bud.fit_rows(head, lines, budget))
    omitted = ""
    if n < len(lines):
        omitted = (f"{len(lines) - n} more workloads (smaller requests); call "
                   f"{bud.call_hint('list', {'kind': 'pods', 'namespace': namespace}, columns=['metadata.name', 'spec.containers[0].resources'])}")
        lines = lines[:n] + [f"[{omitted}]"]
    return envelope.ok("resource_usage", params, text="\n".join(head + lines), data=rows[:n], omitted=omitted)


__all__ = ["PodUsage", "UsageSource", "WorkloadResources", "per_workload", "quantity", "usage_tool"]
