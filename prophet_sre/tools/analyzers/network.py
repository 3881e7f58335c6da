"""Network analyzers (K8sGPT `Service`, `Ingress`, `NetworkPolicy`).

- Service reads Endpoints, as K8sGPT does: an Endpoints object with no subsets means the Service's
  selector matches no ready pod (one error per selector label - the labels to look for on pods); not-ready
  addresses are listed by pod (and when they all belong to one workload, `evidence.backing_workload`
  names it); every warning event on the Service is repeated. Endpoints carrying the
  leader-election annotation (old-style locks, not real Services) are skipped.
- Ingress: no ingress class; a class, backend Service or TLS Secret that does not exist.
- NetworkPolicy: an empty pod selector (it applies to every pod in the namespace) or a selector that
  matches no pod.
"""

from __future__ import annotations

from collections import defaultdict

from prophet_sre.domain import Finding, Severity
from prophet_sre.errors import ToolError
from prophet_sre.tools.analyzers.base import Analyzer, Obj, Snapshot, finding
from prophet_sre.tools.kube import objects as o

LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def service(snap: Snapshot) -> list[Finding]:
    out = []
    for ep in snap.objects("endpoints"):
        if LEADER_ANNOTATION in o.annotations(ep):
            continue
        ns, name = o.namespace(ep), o.name(ep)
        errors: list[str] = []
        evidence: dict[str, object] = {}
        subsets = o.items(ep.get("subsets"))
        svc = snap.find("services", ns, name)
        if not subsets:
            selector = o.str_map(o.dig(svc, "spec", "selector")) if svc is not None else {}
            errors += [f"Service has no endpoints, expected label {k}={v}" for k, v in sorted(selector.items())]
        else:
            refs = [o.mapping(a.get("targetRef")) for s in subsets for a in o.items(s.get("notReadyAddresses"))]
            pods = [f"{o.text(r.get('kind'))}/{o.text(r.get('name'))}" for r in refs]
            if pods:
                errors.append(f"Service has not ready endpoints, pods: [{' '.join(pods)}], expected {len(pods)}")
                if workload := _one_workload(snap, ns, refs):
                    evidence["backing_workload"] = workload
        seen: set[str] = set()
        for kind in ("Service", "Endpoints"):
            for ev in snap.warning_events(kind, ns, name):
                uid = o.text(o.dig(ev, "metadata", "uid")) or o.text(ev.get("message"))
                if uid not in seen:
                    seen.add(uid)
                    errors.append(f"Service {ns}/{name} has event {o.text(ev.get('message'))}")
        if errors:
            target = svc if svc is not None else ep
            evidence["selector"] = o.str_map(o.dig(svc, "spec", "selector")) if svc is not None else {}
            out.append(finding(snap, "Service", "Service", target, errors, evidence=evidence))
    return out


def _one_workload(snap: Snapshot, namespace: str, refs: list[Obj]) -> str:
    """`Kind/name` of the one workload owning every not-ready pod, else "": the Service only shows that
    workload's trouble, so an incident belongs to the workload (one page, not one per Service)."""
    found = set()
    for r in refs:
        try:
            pod = snap.find("pods", namespace, o.text(r.get("name"))) if o.text(r.get("kind")) == "Pod" else None
        except ToolError:  # pods unreadable (RBAC): the Service finding stands on its own
            return ""
        if pod is None:
            return ""
        found.add(o.workload_of(pod))
    if len(found) != 1:
        return ""
    kind, name = found.pop()
    return f"{kind}/{name}" if kind != "Pod" else ""


def _unique(texts: list[str]) -> list[str]:
    return list(dict.fromkeys(texts))


def ingress(snap: Snapshot) -> list[Finding]:
    out = []
    for ing in snap.objects("ingresses"):
        ns, name = o.namespace(ing), o.name(ing)
        errors: list[str] = []
        cls = o.text(o.dig(ing, "spec", "ingressClassName")) or o.annotations(ing).get(INGRESS_CLASS_ANNOTATION, "")
        if not cls:
            errors.append(f"Ingress {ns}/{name} does not specify an Ingress class.")
        elif snap.find("ingressclasses", "", cls) is None:
            errors.append(f"Ingress uses the ingress class {cls} which does not exist.")
        backends = [o.dig(ing, "spec", "defaultBackend")] + [
            o.dig(p, "backend") for r in o.items(o.dig(ing, "spec", "rules")) for p in o.items(o.dig(r, "http", "paths"))]
        for b in backends:
            svc = o.text(o.dig(b, "service", "name"))
            if svc and snap.find("services", ns, svc) is None:
                errors.append(f"Ingress uses the service {ns}/{svc} which does not exist.")
        for tls in o.items(o.dig(ing, "spec", "tls")):
            secret = o.text(tls.get("secretName"))
            if secret and snap.find("secrets", ns, secret) is None:
                errors.append(f"Ingress uses the secret {ns}/{secret} as a TLS certificate which does not exist.")
        if errors:
            out.append(finding(snap, "Ingress", "Ingress", ing, _unique(errors), evidence={"ingressClass": cls}))
    return out


def network_policy(snap: Snapshot) -> list[Finding]:
    out = []
    by_ns: dict[str, list[dict[str, str]]] = defaultdict(list)
    policies = snap.objects("networkpolicies")
    if policies:
        for p in snap.objects("pods"):
            by_ns[o.namespace(p)].append(o.labels(p))
    for pol in policies:
        name, selector = o.name(pol), o.dig(pol, "spec", "podSelector")
        if o.selector_is_empty(selector):
            errors = [f"Network policy allows traffic to all pods: {name}"]
        elif not any(o.matches_selector(selector, labels) for labels in by_ns[o.namespace(pol)]):
            errors = [f"Network policy is not applied to any pods: {name}"]
        else:
            continue
        out.append(finding(snap, "NetworkPolicy", "NetworkPolicy", pol, errors, severity=Severity.WARNING))
    return out


ANALYZERS = (
    Analyzer("Service", "Service", service, needs=("endpoints", "services", "pods")),
    Analyzer("Ingress", "Ingress", ingress, needs=("ingresses", "ingressclasses", "services")),
    Analyzer("NetworkPolicy", "NetworkPolicy", network_policy, needs=("networkpolicies", "pods"), core=False),
)

__all__ = ["ANALYZERS", "ingress", "network_policy", "service"]
