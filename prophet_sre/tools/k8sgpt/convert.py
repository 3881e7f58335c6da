"""K8sGPT results as Prophet `Finding`s: one mapping shared by the gRPC client and the `Result` reader.

Both sources carry the same four facts - `kind`, `name`, the error texts and an optional parent - but
spell `name` K8sGPT's way: `ns/name` for namespaced kinds, a bare `name` for Nodes (and other
cluster-scoped kinds), and `ns/pod/container` for the Log analyzer, whose `kind` is `Pod`. This module
turns that into a `ResourceRef`, keeps K8sGPT's own spelling in `evidence["k8sgpt_name"]` (so
`analyze.to_json` writes the name back exactly as K8sGPT would) and names the analyzer: the kind, or
`Log` for a container-level result. Texts are kept verbatim; they are what runbooks match on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prophet_sre.domain import Finding, FindingSource, ResourceRef, Severity, canonical_kind

LOG_ANALYZER = "Log"
CLUSTER_SCOPED = frozenset({
    "Node", "Namespace", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "IngressClass", "GatewayClass",
    "ClusterCatalog", "ClusterExtension", "ClusterPolicyReport",
})
"""Kinds whose parent reference has no namespace (K8sGPT writes only `Kind/name` for every parent)."""


def split_name(kind: str, name: str) -> tuple[str, str, str]:
    """(namespace, name, container) from K8sGPT's `name` field; container is "" except for Log results."""
    parts = name.split("/")
    if len(parts) == 1 or canonical_kind(kind) in CLUSTER_SCOPED:
        return "", name, ""
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return parts[0], parts[1], "/".join(parts[2:])


def parse_parent(parent_object: str, namespace: str, cluster: str = "") -> ResourceRef | None:
    """`Deployment/web` -> a ref in the child's namespace (none for cluster-scoped kinds); else None.

    Over gRPC `parent_object` is probably always empty (see protocols.md §2.1), so callers must not
    depend on a parent being there; the Result objects of the operator do carry it.
    """
    kind, sep, name = parent_object.strip().partition("/")
    if not sep or not kind or not name:
        return None
    kind = canonical_kind(kind)
    return ResourceRef(cluster=cluster, kind=kind, namespace="" if kind in CLUSTER_SCOPED else namespace,
                       name=name)


def to_finding(kind: str, name: str, texts: Iterable[str], *, parent_object: str = "", details: str = "",
               cluster: str = "", evidence: dict[str, Any] | None = None) -> Finding | None:
    """One K8sGPT result as a Finding (source=k8sgpt); None when it has no error text (not a problem)."""
    errors = [t for t in texts if t]
    if not errors or not kind or not name:
        return None
    namespace, obj_name, container = split_name(kind, name)
    ev: dict[str, Any] = {"k8sgpt_name": name}
    if container:
        ev["container"] = container
    if details:
        ev["details"] = details
    ev.update(evidence or {})
    ref = ResourceRef(cluster=cluster, kind=canonical_kind(kind), namespace=namespace, name=obj_name)
    return Finding(source=FindingSource.K8SGPT, ref=ref, errors=errors, severity=Severity.ERROR, evidence=ev,
                   parent=parse_parent(parent_object, namespace, cluster),
                   analyzer=LOG_ANALYZER if container else canonical_kind(kind))


def keep(f: Finding, namespace: str | None, filters: Sequence[str]) -> bool:
    """Whether a finding is inside a scope: its namespace (cluster-scoped findings always are) and, when
    filters are given, its analyzer among them (K8sGPT filter names are kinds, plus `Log`)."""
    if namespace and f.ref.namespace and f.ref.namespace != namespace:
        return False
    return not filters or f.analyzer.lower() in {x.lower() for x in filters}


__all__ = ["CLUSTER_SCOPED", "LOG_ANALYZER", "keep", "parse_parent", "split_name", "to_finding"]
