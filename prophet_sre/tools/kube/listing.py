"""The `list` read tool: a compact table of one kind, a page at a time.

Columns are what `kubectl get` shows for the common kinds (READY, STATUS, RESTARTS ... computed the same
way from the raw object), NAME/AGE plus a status word for everything else, or the caller's own
`columns` - known column names or field paths (`spec.replicas`, `metadata.labels.app`,
`spec.containers[0].image`). Rows come in the server's order (namespace, then name), so `offset` is
stable between calls; the footer says how many rows are left and the exact call that shows them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from prophet_sre.errors import Conflict, ToolError
from prophet_sre.tools import budget as bud
from prophet_sre.tools import envelope
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.kinds import ResourceKind

Cell = Callable[[dict[str, Any], datetime], str]


class Table(BaseModel):
    kind: str
    namespace: str | None = None
    columns: list[str]
    rows: list[list[str]] = Field(default_factory=list)
    total: int = 0
    offset: int = 0


def _age(obj: dict[str, Any], now: datetime) -> str:
    return o.age(o.parse_time(o.dig(obj, "metadata", "creationTimestamp")), now)


def _ready(obj: dict[str, Any], _: datetime) -> str:
    ready, total = o.ready_counts(obj)
    return f"{ready}/{total}"


def _field(*path: str | int) -> Cell:
    def cell(obj: dict[str, Any], _: datetime) -> str:
        value = o.dig(obj, *path)
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return ",".join(f"{k}={v}" for k, v in value.items()) or "<none>"
        if isinstance(value, dict | list):
            return json.dumps(value, separators=(",", ":"), default=str) if value else "<none>"
        return o.text(value, "<none>") if value is not None else "<none>"
    return cell


def _of(*pairs: str) -> Cell:
    """`a/b` of two integer status fields (`readyReplicas/replicas`), missing ones as 0."""
    def cell(obj: dict[str, Any], _: datetime) -> str:
        return "/".join(str(o.num(o.dig(obj, *p.split(".")))) for p in pairs)
    return cell


def _images(obj: dict[str, Any], _: datetime) -> str:
    spec = o.dig(obj, "spec", "template", "spec") or o.dig(obj, "spec", "jobTemplate", "spec", "template", "spec")
    return ",".join(o.text(c.get("image")) for c in o.items(o.dig(spec, "containers")))


def _node_status(obj: dict[str, Any], _: datetime) -> str:
    ready = o.condition(obj, "Ready")
    status = "Ready" if ready is not None and ready.get("status") == "True" else "NotReady"
    return status + (",SchedulingDisabled" if o.dig(obj, "spec", "unschedulable") is True else "")


def _roles(obj: dict[str, Any], _: datetime) -> str:
    roles = [k.split("/", 1)[1] for k in o.labels(obj) if k.startswith("node-role.kubernetes.io/")]
    return ",".join(sorted(roles)) or "<none>"


def _ports(obj: dict[str, Any], _: datetime) -> str:
    return ",".join(f"{o.num(p.get('port'))}/{o.text(p.get('protocol')) or 'TCP'}"
                    for p in o.items(o.dig(obj, "spec", "ports"))) or "<none>"


def _generic_status(obj: dict[str, Any], _: datetime) -> str:
    phase = o.text(o.dig(obj, "status", "phase"))
    if phase:
        return phase
    for t in ("Ready", "Available"):
        c = o.condition(obj, t)
        if c is not None:
            return f"{t}={o.text(c.get('status'))}"
    return ""


def _event_object(obj: dict[str, Any], _: datetime) -> str:
    inv = o.mapping(obj.get("involvedObject"))
    return f"{o.text(inv.get('kind')).lower()}/{o.text(inv.get('name'))}"


def _event_last(obj: dict[str, Any], now: datetime) -> str:
    from prophet_sre.tools.kube.events import event_times

    return o.age(event_times(obj)[1], now)


NAME: tuple[str, Cell] = ("NAME", lambda obj, _: o.name(obj))
AGE: tuple[str, Cell] = ("AGE", _age)
COLUMNS: dict[str, list[tuple[str, Cell]]] = {
    "pods": [NAME, ("READY", _ready), ("STATUS", lambda p, _: o.pod_status(p)),
             ("RESTARTS", lambda p, _: str(o.restarts(p))), AGE, ("NODE", _field("spec", "nodeName"))],
    "deployments": [NAME, ("READY", _of("status.readyReplicas", "spec.replicas")),
                    ("UP-TO-DATE", _field("status", "updatedReplicas")),
                    ("AVAILABLE", _field("status", "availableReplicas")), AGE, ("IMAGES", _images)],
    "replicasets": [NAME, ("DESIRED", _field("spec", "replicas")), ("CURRENT", _field("status", "replicas")),
                    ("READY", _field("status", "readyReplicas")), AGE],
    "statefulsets": [NAME, ("READY", _of("status.readyReplicas", "spec.replicas")), AGE, ("IMAGES", _images)],
    "daemonsets": [NAME, ("DESIRED", _field("status", "desiredNumberScheduled")),
                   ("READY", _field("status", "numberReady")), ("AVAILABLE", _field("status", "numberAvailable")),
                   AGE],
    "jobs": [NAME, ("COMPLETIONS", _of("status.succeeded", "spec.completions")),
             ("FAILED", _field("status", "failed")), AGE],
    "cronjobs": [NAME, ("SCHEDULE", _field("spec", "schedule")), ("SUSPEND", _field("spec", "suspend")),
                 ("LAST SCHEDULE", _field("status", "lastScheduleTime")), AGE],
    "services": [NAME, ("TYPE", _field("spec", "type")), ("CLUSTER-IP", _field("spec", "clusterIP")),
                 ("PORTS", _ports), ("SELECTOR", _field("spec", "selector")), AGE],
    "nodes": [NAME, ("STATUS", _node_status), ("ROLES", _roles), AGE,
              ("VERSION", _field("status", "nodeInfo", "kubeletVersion"))],
    "persistentvolumeclaims": [NAME, ("STATUS", _field("status", "phase")), ("VOLUME", _field("spec", "volumeName")),
                               ("CAPACITY", _field("status", "capacity", "storage")),
                               ("STORAGECLASS", _field("spec", "storageClassName")), AGE],
    "events": [("LAST SEEN", _event_last), ("TYPE", _field("type")), ("REASON", _field("reason")),
               ("OBJECT", _event_object), ("MESSAGE", _field("message"))],
    "horizontalpodautoscalers": [NAME, ("REFERENCE", lambda h, _: "/".join(
        o.text(o.dig(h, "spec", "scaleTargetRef", k)) for k in ("kind", "name"))),
        ("MIN", _field("spec", "minReplicas")), ("MAX", _field("spec", "maxReplicas")),
        ("REPLICAS", _field("status", "currentReplicas")), AGE],
}
_PATH = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def path_cell(spec: str) -> tuple[str, Cell]:
    """A column from a field path such as `spec.containers[0].image` (header: the last name, upper-cased)."""
    steps: list[str | int] = [int(i) if i else k for k, i in _PATH.findall(spec.strip().lstrip("."))]
    if not steps:
        raise ToolError(f"column {spec!r} is neither a known column nor a field path like spec.replicas")
    header = str([s for s in steps if isinstance(s, str)][-1]).upper()
    return header, _field(*steps)


def columns_for(rk: ResourceKind, all_namespaces: bool, wanted: list[str] | None) -> list[tuple[str, Cell]]:
    base = COLUMNS.get(rk.resource, [NAME, ("STATUS", _generic_status), AGE])
    if wanted:
        known = {h.lower(): (h, c) for h, c in base + [NAME, AGE]}
        cols = [known.get(w.lower()) or path_cell(w) for w in wanted]
    else:
        cols = list(base)
    if all_namespaces and rk.namespaced:
        cols.insert(0, ("NAMESPACE", lambda obj, _: o.namespace(obj)))
    return cols


def _render(columns: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    fmt = [(c.ljust(w) if i < len(columns) - 1 else c) for i, (c, w) in enumerate(zip(columns, widths, strict=True))]
    lines = ["  ".join(fmt).rstrip()]
    for r in rows:
        lines.append("  ".join(v.ljust(widths[i]) if i < len(r) - 1 else v for i, v in enumerate(r)).rstrip())
    return lines


def collect(client: KubeClient, rk: ResourceKind, namespace: str | None, *, selector: str, field_selector: str,
            want: int) -> tuple[list[dict[str, Any]], int]:
    """The first `want` objects and the total count (the server's remainingItemCount saves a full scan)."""
    # a first page of just `want` objects when the server counts the rest (remainingItemCount): a 30-row
    # page of a 5,000-pod namespace transfers 30 pods; a server that does not count gets full pages
    small: int | None = want if want < client.settings.page_size else None
    conflicts = 0
    while True:
        got: list[dict[str, Any]] = []
        try:
            for page in client.pages(rk, namespace, label_selector=selector, field_selector=field_selector,
                                     page_size=small):
                got.extend(page.items)
                if len(got) >= want and page.remaining is not None and page.continue_token:
                    return got, len(got) + page.remaining
                if small is not None and page.continue_token:
                    break  # no count: list again in full pages
            else:
                return got, len(got)
            small = None
        except Conflict:  # the continue token expired half-way: start again, once
            conflicts += 1
            if conflicts > 1:
                raise


def list_tool(client: KubeClient, budget: bud.Budget, *, kind: str, namespace: str | None = None,
              selector: str = "", field_selector: str = "", columns: list[str] | None = None, offset: int = 0,
              limit: int = 50, params: dict[str, Any]) -> envelope.ToolResult[Any]:
    if offset < 0 or limit < 1:
        raise ToolError("offset must be >= 0 and limit >= 1")
    rk = client.resolve(kind)
    ns = namespace if rk.namespaced else None
    objs, total = collect(client, rk, ns, selector=selector, field_selector=field_selector, want=offset + limit)
    now = client.cluster_now()
    cols = columns_for(rk, ns is None, columns)
    headers = [h for h, _ in cols]
    where = f" in namespace {ns}" if ns else (" in all namespaces" if rk.namespaced else "")
    if total <= offset:
        return envelope.ok("list", params, no_data=True, data=Table(kind=rk.resource, namespace=ns, columns=headers,
                                                                       total=total, offset=offset),
                           text=f"No {rk.qualified}{where}" + (f" matching {selector}" if selector else "")
                           + (f" after offset {offset}" if offset else ""))
    page = objs[offset:offset + limit]
    rows = [[cell(obj, now) for _, cell in cols] for obj in page]
    title = f"{total} {rk.qualified}{where}" + (f" matching {selector}" if selector else "") + \
        (f"; rows {offset + 1}-{offset + len(page)}" if total > len(page) else "") + ":"
    n = max(1, bud.fit_rows([title], _render(headers, rows), budget) - 1)
    shown = rows[:n]
    lines = [title, *_render(headers, shown)]
    omitted = ""
    rest = total - offset - len(shown)
    if rest > 0:
        omitted = f"{rest} more {rk.resource}; call {bud.call_hint('list', params, offset=offset + len(shown))}"
        lines.append(f"[{omitted}]")
    data = Table(kind=rk.resource, namespace=ns, columns=headers, rows=shown, total=total, offset=offset)
    return envelope.ok("list", params, text="\n".join(lines), data=data, omitted=omitted)


__all__ = ["COLUMNS", "Table", "collect", "columns_for", "list_tool", "path_cell"]
