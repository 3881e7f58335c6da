"""Verification checks in the forms of a scenario's `expect.recovered` (SCENARIOS.md, "Checks").

`Check.kind` is the form key, `target` its value, `expect` the other keys; a check is chosen so it can
fail when the fix did not work (a rollout that stays stuck, a Service still without endpoints, a pod that
shows the same reason again after the fix).
"""

from __future__ import annotations

from typing import Any

from prophet_sre.domain import Check, ResourceRef

_PLURAL = {"Deployment": ("apps/v1", "deployments"), "StatefulSet": ("apps/v1", "statefulsets"),
           "DaemonSet": ("apps/v1", "daemonsets"), "Service": ("/v1", "services"), "ConfigMap": ("/v1", "configmaps"),
           "PersistentVolumeClaim": ("/v1", "persistentvolumeclaims"), "Node": ("/v1", "nodes"),
           "Pod": ("/v1", "pods"), "HTTPRoute": ("gateway.networking.k8s.io/v1", "httproutes"),
           "Cluster": ("cluster.x-k8s.io/v1beta2", "clusters"),
           "MachineDeployment": ("cluster.x-k8s.io/v1beta2", "machinedeployments")}


def _prefix(ref: ResourceRef) -> str:
    return f"{ref.cluster}:" if ref.cluster else ""


def workload_ready(ref: ResourceRef) -> Check:
    """Deployment: every desired replica updated, ready, available; StatefulSet/DaemonSet: all ready."""
    target = f"{_prefix(ref)}{ref.namespace}/{ref.name}"
    if ref.kind == "Deployment":
        return Check(kind="deployment", target=target, expect={"available": True})
    return Check(kind=ref.kind.lower(), target=target, expect={"ready": True})


def pods_ready(namespace: str, selector: str, ready: int | str = "all") -> Check:
    return Check(kind="pods", target=namespace, expect={"selector": selector, "ready": ready})


def no_pod_reason(reason: str, namespace: str) -> Check:
    """No pod of the namespace shows `reason` after the first action: the failure did not come back."""
    return Check(kind="no_pod_reason", target=reason, expect={"namespace": namespace, "since": "remediation"})


def service_endpoints(ref: ResourceRef) -> Check:
    return Check(kind="service", target=f"{_prefix(ref)}{ref.namespace}/{ref.name}", expect={"has_endpoints": True})


def pvc_phase(ref: ResourceRef, phase: str = "Bound") -> Check:
    return Check(kind="pvc", target=f"{_prefix(ref)}{ref.namespace}/{ref.name}", expect={"phase": phase})


def metric(promql: str, *, below: float | None = None, above: float | None = None) -> Check:
    expect: dict[str, Any] = {}
    if below is not None:
        expect["below"] = below
    if above is not None:
        expect["above"] = above
    return Check(kind="metric", target=promql, expect=expect)


def api_path(ref: ResourceRef) -> str:
    """`GROUP/VERSION/PLURAL/NS/NAME` (core: `/v1/...`; cluster-scoped: no namespace)."""
    gv, plural = _PLURAL.get(ref.kind, ("", ref.kind.lower() + "s"))
    ns = f"/{ref.namespace}" if ref.namespace else ""
    return f"{_prefix(ref)}{gv}/{plural}{ns}/{ref.name}"


def object_field(ref: ResourceRef, jsonpath: str, equals: Any) -> Check:
    return Check(kind="object", target=api_path(ref), expect={"jsonpath": jsonpath, "equals": equals})


def dedupe(checks: list[Check]) -> list[Check]:
    seen: set[str] = set()
    out = []
    for c in checks:
        key = c.model_dump_json()
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


__all__ = ["api_path", "dedupe", "metric", "no_pod_reason", "object_field", "pods_ready", "pvc_phase",
           "service_endpoints", "workload_ready"]
