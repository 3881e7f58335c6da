"""The `describe` read tool: the parts of one object that explain its state - not its YAML.

For every kind: the owner chain (Pod -> ReplicaSet -> Deployment, followed through ownerReferences),
status conditions, and the object's recent events de-duplicated. Per kind, what `kubectl describe`
users look at: container states with reasons, messages, exit codes and restart counts (pods), replica
counts and images (workloads), selector and ready/not-ready endpoints (services), taints and pressure
(nodes), class and phase (PVCs). Long sections are shortened by `fit_sections`, each naming the call
that shows the rest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from prophet_sre.domain import ResourceRef
from prophet_sre.errors import NotFound, ToolError
from prophet_sre.tools import budget as bud
from prophet_sre.tools import envelope
from prophet_sre.tools.kube import events as ev
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient

MAX_OWNER_DEPTH = 5


class Description(BaseModel):
    ref: ResourceRef
    owners: list[ResourceRef] = Field(default_factory=list)
    """Nearest first: a pod's ReplicaSet, then its Deployment."""
    facts: list[str] = Field(default_factory=list)
    conditions: list[str] = Field(default_factory=list)
    containers: list[str] = Field(default_factory=list)
    events: list[ev.EventGroup] = Field(default_factory=list)


def owner_chain(client: KubeClient, obj: dict[str, Any], cluster: str = "") -> list[ResourceRef]:
    """Controllers above `obj`, following ownerReferences (an owner that cannot be read ends the chain)."""
    chain: list[ResourceRef] = []
    cur, ns = obj, o.namespace(obj)
    for _ in range(MAX_OWNER_DEPTH):
        refs = o.owners(cur)
        if not refs:
            break
        ref = refs[0]
        kind, name = o.text(ref.get("kind")), o.text(ref.get("name"))
        rk = client.kind_for_owner(o.text(ref.get("apiVersion")), kind)
        chain.append(ResourceRef(cluster=cluster, kind=kind, namespace=ns if rk is None or rk.namespaced else "",
                                 name=name))
        if rk is None:
            break
        try:
            cur = client.get(rk, name, ns)
        except ToolError:
            break
    return chain


def _cond_line(c: dict[str, Any]) -> str:
    line = f"{o.text(c.get('type'))}={o.text(c.get('status'))}"
    reason, msg = o.text(c.get("reason")), o.text(c.get("message"))
    if reason or msg:
        line += f" ({reason}{': ' if reason and msg else ''}{msg})"
    return "  " + line


def _state(state: Any, now: datetime) -> str:
    s = o.mapping(state)
    if "running" in s:
        return f"running since {o.age(o.parse_time(o.dig(s, 'running', 'startedAt')), now)} ago"
    if "waiting" in s:
        w = o.mapping(s.get("waiting"))
        msg = o.text(w.get("message"))
        return f"waiting {o.text(w.get('reason')) or '?'}" + (f": {msg}" if msg else "")
    if "terminated" in s:
        t = o.mapping(s.get("terminated"))
        msg = o.text(t.get("message"))
        return (f"terminated {o.text(t.get('reason')) or '?'} exit={o.num(t.get('exitCode'))} "
                f"{o.age(o.parse_time(t.get('finishedAt')), now)} ago" + (f": {msg}" if msg else ""))
    return "no status yet"


def pod_parts(pod: dict[str, Any], now: datetime) -> tuple[list[str], list[str]]:
    ready, total = o.ready_counts(pod)
    facts = [f"phase {o.text(o.dig(pod, 'status', 'phase')) or '?'} ({o.pod_status(pod)}), ready {ready}/{total}, "
             f"restarts {o.restarts(pod)}, node {o.text(o.dig(pod, 'spec', 'nodeName')) or '<none>'}, "
             f"IP {o.text(o.dig(pod, 'status', 'podIP')) or '<none>'}"]
    reason, msg = o.text(o.dig(pod, "status", "reason")), o.text(o.dig(pod, "status", "message"))
    if reason or msg:
        facts.append(f"status: {reason} {msg}".strip())
    sel = o.str_map(o.dig(pod, "spec", "nodeSelector"))
    if sel:
        facts.append("nodeSelector: " + ",".join(f"{k}={v}" for k, v in sel.items()))
    containers: list[str] = []
    for init in (True, False):
        statuses = {o.text(cs.get("name")): cs for cs in o.container_statuses(pod, init=init)}
        for c in o.pod_containers(pod, init=init):
            cname = o.text(c.get("name"))
            cs = statuses.get(cname, {})
            res = o.mapping(c.get("resources"))
            limits = ",".join(f"{k}={o.text(v)}" for k, v in o.mapping(res.get("limits")).items())
            line = (f"  {'init ' if init else ''}{cname}: image {o.text(c.get('image'))}, "
                    f"ready={o.text(cs.get('ready'), 'false')}, restarts={o.num(cs.get('restartCount'))}"
                    + (f", limits {limits}" if limits else "") + f"; {_state(cs.get('state'), now)}")
            last = o.mapping(cs.get("lastState"))
            if last:
                line += f"; last {_state(last, now)}"
            containers.append(line)
    return facts, containers


def workload_facts(obj: dict[str, Any]) -> list[str]:
    spec, status = o.mapping(obj.get("spec")), o.mapping(obj.get("status"))
    facts = []
    if "replicas" in spec or "replicas" in status:
        facts.append(f"replicas desired {o.num(spec.get('replicas'), 1)}, current {o.num(status.get('replicas'))}, "
                     f"updated {o.num(status.get('updatedReplicas'))}, ready {o.num(status.get('readyReplicas'))}, "
                     f"available {o.num(status.get('availableReplicas'))}")
    if "desiredNumberScheduled" in status:
        facts.append(f"desired {o.num(status.get('desiredNumberScheduled'))}, ready {o.num(status.get('numberReady'))}"
                     f", unavailable {o.num(status.get('numberUnavailable'))}")
    if "active" in status or "failed" in status or "succeeded" in status:
        facts.append(f"active {o.num(status.get('active'))}, succeeded {o.num(status.get('succeeded'))}, "
                     f"failed {o.num(status.get('failed'))}")
    tpl = o.dig(spec, "template", "spec")
    images = [o.text(c.get("image")) for c in o.items(o.dig(tpl, "containers"))]
    if images:
        facts.append("images: " + ", ".join(images))
    sel = o.dig(spec, "selector")
    if isinstance(sel, dict) and sel:
        labels = o.str_map(sel.get("matchLabels")) if "matchLabels" in sel else o.str_map(sel)
        facts.append("selector: " + (",".join(f"{k}={v}" for k, v in labels.items()) or "<complex>"))
    rev = o.annotations(obj).get("deployment.kubernetes.io/revision")
    if rev:
        facts.append(f"revision {rev}")
    return facts


def service_facts(client: KubeClient, svc: dict[str, Any]) -> list[str]:
    spec = o.mapping(svc.get("spec"))
    ports = ",".join(f"{o.num(p.get('port'))}->{o.text(p.get('targetPort'), '?')}/{o.text(p.get('protocol')) or 'TCP'}"
                     for p in o.items(spec.get("ports")))
    facts = [f"type {o.text(spec.get('type')) or 'ClusterIP'}, clusterIP {o.text(spec.get('clusterIP')) or '<none>'}, "
             f"ports {ports or '<none>'}",
             "selector: " + (",".join(f"{k}={v}" for k, v in o.str_map(spec.get("selector")).items()) or "<none>")]
    try:
        eps = client.get("endpoints", o.name(svc), o.namespace(svc))
    except NotFound:
        return facts + ["endpoints: <none> (no Endpoints object)"]
    ready = [o.text(a.get("ip")) for s in o.items(eps.get("subsets")) for a in o.items(s.get("addresses"))]
    not_ready = [o.text(o.dig(a, "targetRef", "name")) or o.text(a.get("ip"))
                 for s in o.items(eps.get("subsets")) for a in o.items(s.get("notReadyAddresses"))]
    facts.append(f"endpoints: {len(ready)} ready" + (f" ({', '.join(ready[:5])})" if ready else "")
                 + (f", {len(not_ready)} not ready ({', '.join(not_ready[:5])})" if not_ready else ""))
    return facts


def node_facts(node: dict[str, Any]) -> list[str]:
    status = o.mapping(node.get("status"))
    alloc = o.mapping(status.get("allocatable"))
    taints = [f"{o.text(t.get('key'))}={o.text(t.get('value'))}:{o.text(t.get('effect'))}"
              for t in o.items(o.dig(node, "spec", "taints"))]
    return [f"unschedulable {o.dig(node, 'spec', 'unschedulable') is True}, allocatable cpu "
            f"{o.text(alloc.get('cpu'), '?')} memory {o.text(alloc.get('memory'), '?')} pods {o.text(alloc.get('pods'), '?')}",
            "taints: " + (", ".join(taints) or "<none>")]


def pvc_facts(pvc: dict[str, Any]) -> list[str]:
    spec = o.mapping(pvc.get("spec"))
    return [f"phase {o.text(o.dig(pvc, 'status', 'phase')) or '?'}, storageClass "
            f"{o.text(spec.get('storageClassName')) or '<default>'}, volume {o.text(spec.get('volumeName')) or '<none>'}, "
            f"request {o.text(o.dig(spec, 'resources', 'requests', 'storage'), '?')}"]


def describe(client: KubeClient, ref: ResourceRef) -> Description:
    rk = client.resolve(ref.kind)
    obj = client.get(rk, ref.name, ref.namespace or None)
    now = client.cluster_now()
    full = ResourceRef(cluster=ref.cluster or client.cluster, kind=rk.kind,
                       namespace=ref.namespace if rk.namespaced else "", name=ref.name)
    d = Description(ref=full, owners=owner_chain(client, obj, full.cluster))
    if rk.resource == "pods":
        d.facts, d.containers = pod_parts(obj, now)
    elif rk.resource == "services":
        d.facts = service_facts(client, obj)
    elif rk.resource == "nodes":
        d.facts = node_facts(obj)
    elif rk.resource == "persistentvolumeclaims":
        d.facts = pvc_facts(obj)
    else:
        d.facts = workload_facts(obj) or ([f"phase {o.text(o.dig(obj, 'status', 'phase'))}"]
                                          if o.dig(obj, "status", "phase") else [])
    d.conditions = [_cond_line(c) for c in o.conditions(obj)]
    try:
        raw = ev.fetch(client, ref=ResourceRef(kind=rk.kind, namespace=full.namespace, name=ref.name))
        d.events = ev.group_events(raw)
    except ToolError as e:
        d.facts.append(f"(events not readable: {e})")
    return d


def describe_tool(client: KubeClient, budget: bud.Budget, *, ref: ResourceRef,
                  params: dict[str, Any]) -> envelope.ToolResult[Any]:
    d = describe(client, ref)
    now = client.cluster_now()
    head = f"{d.ref.kind} {d.ref.namespace + '/' if d.ref.namespace else ''}{d.ref.name}"
    if d.owners:
        head += "  (owned by " + " -> ".join(f"{r.kind}/{r.name}" for r in d.owners) + ")"
    one = {"kind": ref.kind, "namespace": d.ref.namespace or None, "field_selector": f"metadata.name={d.ref.name}"}
    sections = [bud.Section("", [head] + d.facts, keep=1 + len(d.facts)),
                bud.Section("Conditions:", d.conditions, keep=2,
                            more=bud.call_hint("list", one, columns=["status.conditions"])),
                bud.Section("Containers:", d.containers, keep=2,
                            more=bud.call_hint("list", one, columns=["status.containerStatuses"])),
                bud.Section("Events (newest first):",
                            ["  " + line for line in ev.render(d.events, now, show_object=False)] or ["  <none>"],
                            keep=2, more=bud.call_hint("events", {"ref": str(d.ref)}))]
    sections = [s for s in sections if s.lines]
    text, notes = bud.fit_sections(sections, budget)
    return envelope.ok("describe", params, text=text, data=d, omitted="; ".join(notes))


__all__ = ["Description", "describe", "describe_tool", "owner_chain"]
