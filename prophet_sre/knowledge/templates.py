"""Runbook templates: the variables an incident defines, the functions a template may call, and rendering.

A runbook's actions and checks are YAML values that may hold `{{ expr }}` (see `expr.py`). A value that
is exactly one `{{ expr }}` takes the expression's native type (an int for `replicas`, a mapping for
`weights`); text around a template makes it a string (`"{{ namespace }}/{{ name }}"`).

`incident_context(diagnosis, findings)` computes the variables from the diagnosis and the evidence:
`VARIABLES` documents each one (it is also what `prophet runbooks lint` checks names against, and its
sample values are what lint renders every action with, to prove each template yields a valid `Action`).
A variable the evidence does not give is absent, so an action that needs it is skipped for that incident.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prophet_sre.domain import Diagnosis, Finding, ResourceRef
from prophet_sre.knowledge import expr

VARIABLES: dict[str, tuple[str, Any]] = {
    # name: (what it is, a sample value used by lint)
    "target": ("the diagnosis root cause as [CLUSTER:]NS/KIND/NAME", "shop/deployment/backend"),
    "namespace": ("namespace of the root cause ('' for cluster-scoped objects)", "shop"),
    "name": ("name of the root cause", "backend"),
    "kind": ("kind of the root cause, canonical (Deployment, Node, PersistentVolumeClaim ...)", "Deployment"),
    "cluster": ("the cluster of the incident ('' for a single cluster)", "main"),
    "category": ("the diagnosis category", "oom"),
    "summary": ("the diagnosis summary", "backend pods are OOMKilled"),
    "text": ("the summary and every finding text, one per line", "OOMKilled"),
    "analyzers": ("names of the analyzers/signals that produced findings", ["Pod"]),
    "sources": ("finding sources (analyzer, prometheus, hubble, event, capi, k8sgpt)", ["analyzer"]),
    "pod": ("a pod of the root cause (or any pod in the findings) as NS/pod/NAME", "shop/pod/backend-7d9f-x2k4q"),
    "pod_name": ("that pod's name", "backend-7d9f-x2k4q"),
    "node": ("a node named by the findings (a Node finding, or the node of a failing pod)", "worker-1"),
    "container": ("the failing container (from `container=NAME` in a finding, or evidence)", "backend"),
    "image": ("the image a pull failed for", "shop/backend:2.3"),
    "service": ("a Service named by the findings as NS/service/NAME", "shop/service/backend"),
    "service_name": ("that Service's name", "backend"),
    "selector": ("that Service's selector (mapping)", {"app": "backend"}),
    "replicas": ("current replicas of the root cause, when the evidence gives them", 3),
    "restarts": ("highest restart count in the evidence", 5),
    "memory_limit": ("current memory limit of the failing container (e.g. 256Mi)", "256Mi"),
    "cpu_limit": ("current CPU limit of the failing container (e.g. 500m)", "500m"),
    "revision": ("current rollout revision of the root cause", 4),
    "hpa": ("a HorizontalPodAutoscaler named by the findings as NS/horizontalpodautoscaler/NAME",
            "shop/horizontalpodautoscaler/backend"),
    "hpa_max": ("that HPA's maxReplicas", 6),
    "degraded_cluster": ("the workload cluster Cluster API reports unhealthy", "aws"),
    "traffic_route": ("the global traffic object (HTTPRoute) as [CLUSTER:]NS/httproute/NAME",
                      "mgmt:fleet/httproute/global-shop"),
    "traffic_weights": ("its current per-cluster weights", {"aws": 34, "gcp": 33, "azure": 33}),
    "machine_deployment": ("a MachineDeployment named by the findings as [CLUSTER:]NS/machinedeployment/NAME",
                           "mgmt:fleet/machinedeployment/aws-workers"),
    "md_replicas": ("its desired replicas", 3),
    "evidence": ("every finding's evidence merged (first value of a key wins)", {"phase": "Running"}),
}

_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def scale_quantity(quantity: Any, factor: Any) -> str:
    """`256Mi` * 2 = `512Mi`; `500m` * 1.5 = `750m`: a Kubernetes quantity with its suffix kept."""
    m = _QUANTITY.match(str(quantity))
    if not m:
        raise expr.Missing(f"quantity {quantity!r}")
    value = float(m[1]) * float(factor)
    return f"{max(1, round(value))}{m[2]}"


def shift_away(weights: Mapping[str, Any], cluster: Any) -> dict[str, int]:
    """New weights with `cluster` at 0 and its share spread over the others in proportion."""
    if not isinstance(weights, Mapping) or cluster not in weights:
        raise expr.Missing(f"weights of {cluster!r}")
    others = {c: int(w) for c, w in weights.items() if c != cluster}
    if not others:
        raise expr.Missing("a healthy cluster to shift traffic to")
    moved, base = int(weights[cluster]), sum(others.values())
    if base <= 0:
        others = {c: 1 for c in others}
        base = len(others)
    out = {c: w + (moved * w) // base for c, w in others.items()}
    out[max(others, key=lambda c: others[c])] += moved + sum(others.values()) - sum(out.values())
    out[str(cluster)] = 0
    return out


def _ref(namespace: Any, kind: Any, name: Any) -> str:
    return f"{namespace}/{str(kind).lower()}/{name}"


def _functions(text: str) -> dict[str, Callable[..., Any]]:
    lowered = text.lower()
    return {
        "min": min, "max": max, "int": int, "round": round, "len": len, "str": str,
        "lower": lambda s: str(s).lower(),
        "mentions": lambda phrase: str(phrase).lower() in lowered,
        "double": lambda q: scale_quantity(q, 2),
        "scale": scale_quantity,
        "shift_away": shift_away,
        "ref": _ref,
        "get": lambda *a: None,  # evaluated specially (see expr._Eval._get); listed so parse() accepts it
    }


FUNCTIONS = _functions("")
"""The names a template may call (their behaviour per incident comes from `_functions(text)`)."""
FUNCTION_HELP = {
    "get('x', default)": "variable x, or default when the incident does not define it",
    "double(q)": "a quantity times two, suffix kept (256Mi -> 512Mi)",
    "scale(q, f)": "a quantity times f (500m, 1.5 -> 750m)",
    "shift_away(weights, cluster)": "weights with cluster at 0, its share spread over the others",
    "mentions(phrase)": "true when the summary or a finding text contains phrase (any case)",
    "ref(ns, kind, name)": "NS/kind/NAME",
    "min max int round len str lower": "as in Python",
}

_TEMPLATE = re.compile(r"\{\{((?:(?!\}\}).)*)\}\}", re.S)


@dataclass(frozen=True)
class Compiled:
    """A YAML value with its `{{ }}` expressions parsed once (for speed, and so lint sees every error)."""

    value: Any
    trees: dict[str, ast.Expression]

    def names(self) -> set[str]:
        return set().union(*(expr.names(t) for t in self.trees.values())) if self.trees else set()


def compile_value(value: Any) -> Compiled:
    """Parse every `{{ expr }}` inside `value` (nested dicts/lists); raises ExprError on the first bad one."""
    trees: dict[str, ast.Expression] = {}

    def walk(v: Any) -> None:
        if isinstance(v, str):
            if "{{" in v and not _TEMPLATE.search(v):
                raise expr.ExprError(f"unclosed template in {v!r}: write {{{{ expr }}}}")
            for m in _TEMPLATE.finditer(v):
                if not m[1].strip():
                    raise expr.ExprError(f"empty template in {v!r}")
                trees[m[1]] = expr.parse(m[1], FUNCTIONS)
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(k)
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(value)
    return Compiled(value, trees)


def compile_condition(text: str) -> ast.Expression:
    return expr.parse(text, FUNCTIONS)


def render(compiled: Compiled, variables: Mapping[str, Any]) -> Any:
    """The value with every template evaluated; raises expr.Missing when the incident lacks a variable."""
    funcs = _functions(str(variables.get("text", "")))

    def one(src: str) -> Any:
        return expr.evaluate(compiled.trees[src], variables, funcs)

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            whole = _TEMPLATE.fullmatch(v.strip())
            if whole:
                return one(whole[1])
            return _TEMPLATE.sub(lambda m: _text(one(m[1])), v) if "{{" in v else v
        if isinstance(v, dict):
            return {walk(k): walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    return walk(compiled.value)


def holds(condition: ast.Expression | None, variables: Mapping[str, Any]) -> bool:
    """A `when` condition: true when absent; false (not an error) when a variable it needs is missing."""
    if condition is None:
        return True
    try:
        return bool(expr.evaluate(condition, variables, _functions(str(variables.get("text", "")))))
    except expr.Missing:
        return False


def _text(v: Any) -> str:
    if v is None:
        raise expr.Missing("a value")
    return str(v)


def sample_context() -> dict[str, Any]:
    """Every variable with its sample value (what lint renders templates with)."""
    return {name: sample for name, (_, sample) in VARIABLES.items()}


# -- the incident's variables ------------------------------------------------------------------------------
_CONTAINER = re.compile(r"\bcontainer[= ]([a-z0-9]([-a-z0-9.]*[a-z0-9])?)\b")
_IMAGE = re.compile(r"""image "([^"]+)\"""")


def incident_context(diagnosis: Diagnosis, findings: Sequence[Finding], cluster: str | None = None
                     ) -> dict[str, Any]:
    """The variables of one incident (see `VARIABLES`); absent ones are simply not in the mapping."""
    ctx: dict[str, Any] = {"category": diagnosis.category.value, "summary": diagnosis.summary,
                           "cluster": cluster or ""}
    rc = diagnosis.root_cause
    if rc is not None:
        if cluster and not rc.cluster:
            rc = rc.model_copy(update={"cluster": cluster})
        ctx.update(target=str(rc), namespace=rc.namespace, name=rc.name, kind=rc.kind, cluster=rc.cluster or "")
    all_findings = list(findings) + [f for f in diagnosis.evidence if f not in findings]
    texts = [diagnosis.summary] + [e for f in all_findings for e in f.errors]
    ctx["text"] = "\n".join(t for t in texts if t)
    ctx["analyzers"] = sorted({f.analyzer for f in all_findings if f.analyzer})
    ctx["sources"] = sorted({f.source.value for f in all_findings})
    merged: dict[str, Any] = {}
    for f in all_findings:
        for k, v in f.evidence.items():
            merged.setdefault(k, v)
    ctx["evidence"] = merged
    _objects(ctx, rc, all_findings)
    _evidence(ctx, rc, all_findings, merged)
    return {k: v for k, v in ctx.items() if v is not None and v != ""} | {"cluster": ctx.get("cluster", "")}


def _related(f: Finding, rc: ResourceRef | None) -> bool:
    return rc is not None and (f.ref.same_object(rc) or (f.parent is not None and f.parent.same_object(rc)))


def _first(findings: Sequence[Finding], kind: str, rc: ResourceRef | None) -> Finding | None:
    of_kind = [f for f in findings if f.ref.kind.lower() == kind.lower()]
    return next((f for f in of_kind if _related(f, rc)), of_kind[0] if of_kind else None)


def _objects(ctx: dict[str, Any], rc: ResourceRef | None, findings: Sequence[Finding]) -> None:
    if (pod := _first(findings, "Pod", rc)) is not None:
        ctx["pod"], ctx["pod_name"] = str(pod.ref), pod.ref.name
        if isinstance(pod.evidence.get("node"), str) and pod.evidence["node"]:
            ctx["node"] = pod.evidence["node"]
    if rc is not None and rc.kind == "Node":
        ctx["node"] = rc.name
    elif (node := _first(findings, "Node", rc)) is not None:
        ctx["node"] = node.ref.name
    if (svc := _first(findings, "Service", rc)) is not None:
        ctx["service"], ctx["service_name"] = str(svc.ref), svc.ref.name
        if isinstance(svc.evidence.get("selector"), dict) and svc.evidence["selector"]:
            ctx["selector"] = svc.evidence["selector"]
    if (hpa := _first(findings, "HorizontalPodAutoscaler", rc)) is not None:
        ctx["hpa"] = str(hpa.ref)
        for key in ("max_replicas", "maxReplicas"):
            if isinstance(hpa.evidence.get(key), int):
                ctx["hpa_max"] = hpa.evidence[key]
    if (md := _first(findings, "MachineDeployment", rc)) is not None:
        ctx["machine_deployment"] = str(md.ref)
        reps = md.evidence.get("replicas")
        desired = reps.get("desired") if isinstance(reps, dict) else reps
        if isinstance(desired, int):
            ctx["md_replicas"] = desired
    if rc is not None and rc.kind == "Cluster":
        ctx["degraded_cluster"] = rc.name
    elif (cl := _first(findings, "Cluster", rc)) is not None:
        ctx["degraded_cluster"] = cl.evidence.get("workload_cluster") or cl.ref.name


def _evidence(ctx: dict[str, Any], rc: ResourceRef | None, findings: Sequence[Finding],
              merged: Mapping[str, Any]) -> None:
    texts = ctx["text"]
    if (m := _CONTAINER.search(texts)) is not None:
        ctx["container"] = m[1]
    elif isinstance(merged.get("container"), str):
        ctx["container"] = merged["container"]
    if (m := _IMAGE.search(texts)) is not None:
        ctx["image"] = m[1]
    related = [f for f in findings if _related(f, rc)] or list(findings)
    for f in related:
        reps = f.evidence.get("replicas")
        if isinstance(reps, int) and not isinstance(reps, bool) and f.ref.kind not in ("MachineDeployment",):
            ctx.setdefault("replicas", reps)
        if isinstance(f.evidence.get("revision"), int):
            ctx.setdefault("revision", f.evidence["revision"])
    restarts = [f.evidence["restarts"] for f in findings if isinstance(f.evidence.get("restarts"), int)]
    if restarts:
        ctx["restarts"] = max(restarts)
    limits = merged.get("limits") if isinstance(merged.get("limits"), dict) else {}
    for var, keys in (("memory_limit", ("memory_limit",)), ("cpu_limit", ("cpu_limit",))):
        value = next((merged[k] for k in keys if isinstance(merged.get(k), str | int)), None)
        value = value if value is not None else limits.get(var.split("_")[0])
        if value is not None:
            ctx[var] = str(value)
    route = merged.get("route") or merged.get("traffic_route")
    if isinstance(route, str) and route:
        ctx["traffic_route"] = route
    weights = merged.get("weights") or merged.get("traffic_weights")
    if isinstance(weights, dict) and weights:
        ctx["traffic_weights"] = weights


__all__ = ["FUNCTIONS", "FUNCTION_HELP", "VARIABLES", "Compiled", "compile_condition", "compile_value", "holds",
           "incident_context", "render", "sample_context", "scale_quantity", "shift_away"]
