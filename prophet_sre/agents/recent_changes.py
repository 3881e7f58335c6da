""""What changed?" as findings: recent rollouts (with what they changed) and recent scale-ups.

Most incidents follow a change, so the first thing an SRE checks is the rollout history. For every
Deployment, StatefulSet and DaemonSet in scope whose current revision was created within the window
(on the cluster's clock), one `Finding(source=event, analyzer="rollout")` says what the new revision
changed against the previous one - images, commands and args, probes, resources, env sources, node
selector, volumes - in `evidence["changes"]` (short lines such as `image backend: shop/backend:2.2 ->
shop/backend:2.3`), with the new images and memory limits. A first revision (the object was just
created) is not a change and is not reported. Deployments use their ReplicaSets; StatefulSets and
DaemonSets their ControllerRevisions.

Scale-ups are changes too (a batch owner doubling a job's replicas fills the nodes): the Deployment
controller's `ScalingReplicaSet` events on the current ReplicaSet within the window become one
`analyzer="scale"` finding per Deployment, with the replicas before and after and the CPU and memory
requests each new pod adds.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from prophet_sre.domain import Finding, FindingSource, ResourceRef, Severity
from prophet_sre.errors import ToolError
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.events import event_times
from prophet_sre.tools.kube.rollout import REVISION

Obj = dict[str, Any]
MAX_CHANGES = 12
_SCALED = re.compile(r"^Scaled up replica set (?P<rs>\S+) (?:from (?P<a>\d+) )?to (?P<b>\d+)(?: from (?P<a2>\d+))?")
PROBES = ("readinessProbe", "livenessProbe", "startupProbe")


def recent_changes(client: KubeClient, namespace: str | None, now: datetime, *, window_s: float) -> list[Finding]:
    """Rollouts and scale-ups within `window_s` before `now` (cluster clock), in `namespace` (None: all)."""
    since = now - timedelta(seconds=window_s)
    deployments = client.list("deployments", namespace)
    replicasets = client.list("replicasets", namespace)
    out = [f for d in deployments if (f := _deployment_rollout(d, replicasets, since, now)) is not None]
    for resource, kind in (("statefulsets", "StatefulSet"), ("daemonsets", "DaemonSet")):
        try:
            objs = client.list(resource, namespace)
            revs = client.list("controllerrevisions", namespace) if objs else []
        except ToolError:
            continue
        out += [f for x in objs if (f := _history_rollout(kind, x, revs, since, now)) is not None]
    try:
        events = client.list("events", namespace, field_selector="reason=ScalingReplicaSet")
    except ToolError:
        events = []
    out += _scale_ups(deployments, replicasets, events, since)
    return out


# -- rollouts ------------------------------------------------------------------------------------------------
def _owned(obj: Obj, owner: Obj) -> bool:
    uid = o.text(o.dig(owner, "metadata", "uid"))
    return any(o.text(r.get("uid")) == uid for r in o.owners(obj)) if uid else False


def _deployment_rollout(d: Obj, replicasets: list[Obj], since: datetime, now: datetime) -> Finding | None:
    mine = sorted(((o.num(o.annotations(rs).get(REVISION)), rs) for rs in replicasets if _owned(rs, d)),
                  key=lambda x: x[0])
    if len(mine) < 2:
        return None
    live = o.num(o.annotations(d).get(REVISION)) or mine[-1][0]
    current = next((rs for rev, rs in mine if rev == live), None)
    previous = max(((rev, rs) for rev, rs in mine if rev < live), default=None, key=lambda x: x[0])
    if current is None or previous is None:
        return None
    created = o.parse_time(o.dig(current, "metadata", "creationTimestamp"))
    if created is None or created < since:
        return None
    return _finding("Deployment", d, live, previous[0], created, now, o.dig(previous[1], "spec", "template"),
                    o.dig(current, "spec", "template"), o.name(current))


def _history_rollout(kind: str, obj: Obj, revisions: list[Obj], since: datetime, now: datetime) -> Finding | None:
    mine = sorted(((o.num(r.get("revision")), r) for r in revisions if _owned(r, obj)), key=lambda x: x[0])
    if len(mine) < 2:
        return None
    update = o.text(o.dig(obj, "status", "updateRevision"))
    current = next(((rev, r) for rev, r in mine if o.name(r) == update), mine[-1])
    previous = max(((rev, r) for rev, r in mine if rev < current[0]), default=None, key=lambda x: x[0])
    created = o.parse_time(o.dig(current[1], "metadata", "creationTimestamp"))
    if previous is None or created is None or created < since:
        return None
    return _finding(kind, obj, current[0], previous[0], created, now, o.dig(previous[1], "data", "spec", "template"),
                    o.dig(current[1], "data", "spec", "template"), o.name(current[1]))


def _finding(kind: str, obj: Obj, revision: int, prev_revision: int, created: datetime, now: datetime,
             before: Any, after: Any, revision_name: str) -> Finding:
    ns, name = o.namespace(obj), o.name(obj)
    diff = template_changes(before, after)
    containers = o.items(o.dig(after, "spec", "containers"))
    images = {o.text(c.get("name")): o.text(c.get("image")) for c in containers}
    limits = {o.text(c.get("name")): o.str_map(o.dig(c, "resources", "limits")) for c in containers
              if o.str_map(o.dig(c, "resources", "limits"))}
    age_s = max(0.0, (now - created).total_seconds())
    what = "; ".join(diff[:4]) if diff else "no spec change besides annotations (a restart)"
    text = (f"{kind} {ns}/{name} rolled out revision {revision} at {created.isoformat()} "
            f"({age_s:.0f}s before now): {what}")
    return Finding(source=FindingSource.EVENT, analyzer="rollout", severity=Severity.INFO, errors=[text],
                   ref=ResourceRef(kind=kind, namespace=ns, name=name),
                   evidence={"revision": revision, "previous_revision": prev_revision, "revision_name": revision_name,
                             "at": created.isoformat(), "age_s": round(age_s, 1), "changes": diff[:MAX_CHANGES],
                             "images": images, "limits": limits})


def _probe(p: Any) -> str:
    if not isinstance(p, dict):
        return "none"
    if isinstance(p.get("httpGet"), dict):
        h = p["httpGet"]
        return f"HTTP GET {o.text(h.get('path')) or '/'} port {o.text(h.get('port'))}"
    if isinstance(p.get("tcpSocket"), dict):
        return f"TCP port {o.text(p['tcpSocket'].get('port'))}"
    if isinstance(p.get("exec"), dict):
        return "exec " + " ".join(str(x) for x in p["exec"].get("command") or [])
    if isinstance(p.get("grpc"), dict):
        return f"gRPC port {o.text(p['grpc'].get('port'))}"
    return "other"


def _env(c: Obj) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in o.items(c.get("env")):
        src = o.mapping(e.get("valueFrom"))
        if src:
            (k, v), = list(src.items())[:1] or [("", {})]
            out[o.text(e.get("name"))] = f"{k} {o.text(o.mapping(v).get('name'))}/{o.text(o.mapping(v).get('key'))}"
        else:
            out[o.text(e.get("name"))] = "value"
    for e in o.items(c.get("envFrom")):
        for k in ("configMapRef", "secretRef"):
            if isinstance(e.get(k), dict):
                out[f"envFrom {k}"] = o.text(e[k].get("name"))
    return out


def _join(x: Any) -> str:
    return " ".join(str(v) for v in x) if isinstance(x, list) else "none"


def _labels(m: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(m.items())) or "none"


def template_changes(before: Any, after: Any) -> list[str]:
    """What an SRE would call out between two pod templates, one short line per change."""
    out: list[str] = []
    b_spec, a_spec = o.mapping(o.dig(before, "spec")), o.mapping(o.dig(after, "spec"))
    b_cs = {o.text(c.get("name")): c for c in o.items(b_spec.get("containers"))}
    for c in o.items(a_spec.get("containers")):
        n = o.text(c.get("name"))
        p = b_cs.get(n)
        if p is None:
            out.append(f"container {n} added (image {o.text(c.get('image'))})")
            continue
        if o.text(p.get("image")) != o.text(c.get("image")):
            out.append(f"image {n}: {o.text(p.get('image'))} -> {o.text(c.get('image'))}")
        for field in ("command", "args"):
            if p.get(field) != c.get(field):
                out.append(f"{field} {n}: {_join(p.get(field))} -> {_join(c.get(field))}")
        for probe in PROBES:
            if _probe(p.get(probe)) != _probe(c.get(probe)):
                out.append(f"{probe} {n}: {_probe(p.get(probe))} -> {_probe(c.get(probe))}")
        for part in ("limits", "requests"):
            bp, ap = o.str_map(o.dig(p, "resources", part)), o.str_map(o.dig(c, "resources", part))
            for res in sorted(set(bp) | set(ap)):
                if bp.get(res) != ap.get(res):
                    out.append(f"{res} {part[:-1]} {n}: {bp.get(res, 'none')} -> {ap.get(res, 'none')}")
        be, ae = _env(p), _env(c)
        for k in sorted(set(be) | set(ae)):
            if be.get(k) != ae.get(k):
                out.append(f"env {n} {k}: {be.get(k, 'none')} -> {ae.get(k, 'none')}")
    for n in sorted(set(b_cs) - {o.text(c.get("name")) for c in o.items(a_spec.get("containers"))}):
        out.append(f"container {n} removed")
    bs, as_ = o.str_map(b_spec.get("nodeSelector")), o.str_map(a_spec.get("nodeSelector"))
    if bs != as_:
        out.append(f"nodeSelector: {_labels(bs)} -> {_labels(as_)}")
    for field in ("affinity", "tolerations", "serviceAccountName", "volumes", "initContainers"):
        if b_spec.get(field) != a_spec.get(field):
            out.append(f"{field} changed")
    if not out and o.annotations(before) != o.annotations(after):
        keys = sorted(set(o.annotations(before)) ^ set(o.annotations(after))
                      | {k for k in o.annotations(after) if o.annotations(before).get(k) != o.annotations(after)[k]})
        out.append("pod template annotations changed (" + ", ".join(keys[:3]) + ") - a restart")
    return out


# -- scale-ups ---------------------------------------------------------------------------------------------
def _scale_ups(deployments: list[Obj], replicasets: list[Obj], events: list[Obj], since: datetime) -> list[Finding]:
    by_name = {(o.namespace(d), o.name(d)): d for d in deployments}
    current_rs: dict[tuple[str, str], Obj] = {}
    for (ns, name), d in by_name.items():
        live = o.annotations(d).get(REVISION)
        for rs in replicasets:
            if _owned(rs, d) and o.annotations(rs).get(REVISION) == live:
                current_rs[(ns, name)] = rs
    seen: dict[tuple[str, str], tuple[int, int, datetime]] = {}
    for ev in events:
        inv = o.mapping(ev.get("involvedObject")) or o.mapping(ev.get("regarding"))
        key = (o.text(inv.get("namespace")) or o.namespace(ev), o.text(inv.get("name")))
        m = _SCALED.match(o.text(ev.get("message")))
        _, last = event_times(ev)
        rs = current_rs.get(key)
        if m is None or rs is None or last is None or last < since or m["rs"] != o.name(rs):
            continue
        a, b = int(m["a"] or m["a2"] or 0), int(m["b"])
        if a == 0:
            continue  # a new ReplicaSet's first scale-up belongs to a rollout
        lo, hi, when = seen.get(key, (a, b, last))
        seen[key] = (min(lo, a), max(hi, b), max(when, last))
    out = []
    for (ns, name), (a, b, when) in sorted(seen.items()):
        d = by_name[(ns, name)]
        requests: dict[str, str] = {}
        for c in o.items(o.dig(d, "spec", "template", "spec", "containers")):
            for res, qty in o.str_map(o.dig(c, "resources", "requests")).items():
                requests.setdefault(res, qty)
        per_pod = ", ".join(f"{r} {q}" for r, q in sorted(requests.items()) if r in ("cpu", "memory"))
        text = (f"Deployment {ns}/{name} was scaled up from {a} to {b} replicas at {when.isoformat()}"
                + (f" (each pod requests {per_pod})" if per_pod else ""))
        out.append(Finding(source=FindingSource.EVENT, analyzer="scale", severity=Severity.INFO, errors=[text],
                           ref=ResourceRef(kind="Deployment", namespace=ns, name=name),
                           evidence={"from": a, "to": b, "at": when.isoformat(), "requests": requests}))
    return out


__all__ = ["recent_changes", "template_changes"]
