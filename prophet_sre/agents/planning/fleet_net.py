"""Rules for network_threat and cluster_degraded.

- A workload (or pod) that attacks its neighbours is quarantined: labelled and cut off by a network
  policy, never deleted or scaled away - its pods are the evidence a responder needs.
- A degraded workload cluster of a fleet stops getting global traffic: the Gateway API HTTPRoute in front
  of the fleet (on the management cluster) gives it weight 0 and the healthy clusters keep theirs (or
  get 1 when they had none). Only when at least one healthy cluster is left to take the traffic.
"""

from __future__ import annotations

from prophet_sre.agents.planning import checks as ck
from prophet_sre.agents.planning.context import Proposal, RuleContext, escalation, selector_string
from prophet_sre.domain import FailoverAction, QuarantineAction, ResourceRef, Risk
from prophet_sre.errors import ToolError
from prophet_sre.tools.capi import traffic as capi_traffic
from prophet_sre.tools.capi.inventory import HTTPROUTE_KIND, FleetInventory
from prophet_sre.tools.kube import objects as o

QUARANTINE_LABEL = "prophet.io/quarantine"
POLICY_DROPS = 'sum(rate(hubble_drop_total{reason=~"POLICY_DENIED|POLICY_DENY"}[1m]))'


def network_threat(ctx: RuleContext) -> list[Proposal]:
    root = ctx.root
    if root is None or root.kind not in ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        return [escalation(ctx.target, "A network threat was diagnosed without a pod or workload as its source: "
                                       "look at the flows (`hubble observe --verdict DROPPED`) to find the source.")]
    target = root
    if root.kind == "ReplicaSet":
        wl = ctx.workload()
        if wl is not None:
            target = wl[0]
    obj = ctx.get(target.kind, target.name, target.namespace)
    if target.kind == "Pod":
        selector = ",".join(f"{k}={v}" for k, v in sorted(o.labels(obj).items()) if k != "pod-template-hash")
        count = 1
    else:
        selector = selector_string(o.dig(obj, "spec", "selector"))
        count = len(ctx.pods_of(obj))
    verify = [ck.pods_ready(target.namespace, f"{selector},{QUARANTINE_LABEL}=true" if selector
                            else f"{QUARANTINE_LABEL}=true", max(count, 1))]
    if target.kind != "Pod":
        verify.append(ck.object_field(target, "{.spec.replicas}", o.dig(obj, "spec", "replicas")))
    text = ctx.errors_text().lower()
    if any(w in text for w in ("scan", "fan-out", "fanout", "flood", "peers", "ports")):
        verify.append(ck.metric(POLICY_DROPS, above=0))
    action = QuarantineAction(target=target, risk=Risk.MEDIUM, label=QUARANTINE_LABEL,
                              reason=f"isolate {target}: it attacks its neighbours; keep its pods for forensics")
    return [Proposal([action], verify,
                     rationale=f"{target} behaves like a compromised workload (east-west scanning); cutting its "
                               "traffic stops the attack while its pods stay for forensics (never delete them).",
                     expected="the source's connections are dropped by policy; its pods keep running, isolated")]


def cluster_degraded(ctx: RuleContext) -> list[Proposal]:
    root = ctx.root
    if root is None or root.kind != "Cluster":
        return [escalation(ctx.target, "A degraded cluster was diagnosed without naming the Cluster API Cluster: "
                                       "`kubectl get clusters -A` on the management cluster shows which.")]
    client = ctx.client()
    inv = FleetInventory(client)
    try:
        health = inv.health(probe=False)
        split = inv.traffic()
    except ToolError as e:
        return [escalation(root, f"Cluster {root.name} is degraded but the fleet's traffic cannot be shifted "
                                 f"from here ({e}): move traffic away from it by hand.")]
    bad = {c.name for c in health.clusters if c.state != "healthy"} | {root.name}
    if root.name not in split.weights:
        return [escalation(root, f"Cluster {root.name} is degraded but the global route {split.route} sends it no "
                                 "traffic: look at the cluster itself (its Machines and nodes).")]
    healthy = {c: w for c, w in split.weights.items() if c not in bad}
    if not healthy:
        return [escalation(root, f"Cluster {root.name} is degraded and no healthy cluster is left to take its "
                                 f"traffic ({', '.join(sorted(split.weights))} all degraded): page the fleet owner.")]
    weights = {c: 0 for c in split.weights if c in bad}
    weights.update({c: (w if w > 0 else 1) for c, w in healthy.items()})
    ns, _, name = split.route.rpartition("/")
    route_ref = ResourceRef(cluster=root.cluster, kind="HTTPRoute", namespace=ns, name=name)
    verify = []
    route = client.get(HTTPROUTE_KIND, name, ns)
    lookup = capi_traffic.kube_lookup(client)
    for i, rule in enumerate(o.items(o.dig(route, "spec", "rules"))):
        for b in o.items(rule.get("backendRefs")):
            if capi_traffic.backend_cluster(b, ns, sorted(split.weights), lookup) in bad:
                verify.append(ck.object_field(route_ref, f'{{.spec.rules[{i}].backendRefs[?(@.name=="'
                                                         f'{o.text(b.get("name"))}")].weight}}', 0))
    for c in sorted(healthy):
        info = health.get(c)
        cref = ResourceRef(cluster=root.cluster, kind="Cluster", namespace=info.namespace if info else root.namespace,
                           name=c)
        verify.append(ck.object_field(cref, '{.status.conditions[?(@.type=="Available")].status}', "True"))
    drained = ", ".join(sorted(c for c in weights if weights[c] == 0))
    action = FailoverAction(target=route_ref, weights=weights, risk=Risk.MEDIUM,
                            reason=f"send no global traffic to degraded {drained}; "
                                   f"{', '.join(sorted(healthy))} take it")
    return [Proposal([action], verify,
                     rationale=f"Cluster {root.name} is degraded (Cluster API says so); users routed there get "
                               f"errors. The global route {split.route} can send them to the healthy "
                               f"{', '.join(sorted(healthy))} instead.",
                     expected=f"{drained} gets no global traffic; {', '.join(sorted(healthy))} serve everyone")]


__all__ = ["POLICY_DROPS", "QUARANTINE_LABEL", "cluster_degraded", "network_threat"]
