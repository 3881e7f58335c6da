"""Cluster-level analyzers (K8sGPT `Node`, `PersistentVolumeClaim`, `ConfigMap`).

- Node: Ready not True, or any other condition (pressure, NetworkUnavailable, node-problem-detector
  conditions) not False - `<node> has condition of type <Type>, reason <Reason>: <Message>`. K3s's
  EtcdIsVoter is informational and ignored.
- PersistentVolumeClaim: Pending with a ProvisioningFailed event - the provisioner's message verbatim
  (`storageclass.storage.k8s.io "fast" not found`).
- ConfigMap: not referenced by any pod of its namespace (volumes, projected volumes, env, envFrom; init
  containers too), empty, or larger than 1 MiB. ConfigMaps loaded by sidecars through the API (the
  Grafana/Prometheus/Fluentd label conventions, `k8sgpt.ai/dynamically-loaded=true`) and those annotated
  `k8sgpt.ai/skip-usage-check=true` are skipped, as K8sGPT does.
"""

from __future__ import annotations

from prophet_sre.domain import Finding, Severity
from prophet_sre.tools.analyzers.base import Analyzer, Obj, Snapshot, finding, latest_warning
from prophet_sre.tools.kube import objects as o

IGNORED_NODE_CONDITIONS = frozenset({"EtcdIsVoter"})
SIDECAR_LABELS = ("grafana_dashboard", "grafana_datasource", "prometheus_rule", "fluentd_config")
ONE_MIB = 1024 * 1024


def node(snap: Snapshot) -> list[Finding]:
    out = []
    for n in snap.objects("nodes"):
        name = o.name(n)
        errors, severity = [], Severity.WARNING
        for c in o.conditions(n):
            typ, status = o.text(c.get("type")), o.text(c.get("status"))
            bad = status != "True" if typ == "Ready" else (typ not in IGNORED_NODE_CONDITIONS and status != "False")
            if bad:
                errors.append(f"{name} has condition of type {typ}, reason {o.text(c.get('reason'))}: "
                              f"{o.text(c.get('message'))}")
                if typ == "Ready":
                    severity = Severity.CRITICAL
        if errors:
            out.append(finding(snap, "Node", "Node", n, errors, severity=severity, namespaced=False,
                               evidence={"unschedulable": o.dig(n, "spec", "unschedulable") is True}))
    return out


def pvc(snap: Snapshot) -> list[Finding]:
    out = []
    for claim in snap.objects("persistentvolumeclaims"):
        if o.text(o.dig(claim, "status", "phase")) != "Pending":
            continue
        ev = latest_warning(snap, "PersistentVolumeClaim", claim)
        if ev is not None and o.text(ev.get("reason")) == "ProvisioningFailed" and o.text(ev.get("message")):
            out.append(finding(snap, "PersistentVolumeClaim", "PersistentVolumeClaim", claim,
                               [o.text(ev.get("message"))], evidence={
                                   "storageClassName": o.text(o.dig(claim, "spec", "storageClassName"))}))
    return out


def _configmaps_used(pod: Obj) -> set[str]:
    used: set[str] = set()
    spec = o.mapping(pod.get("spec"))
    for vol in o.items(spec.get("volumes")):
        used.add(o.text(o.dig(vol, "configMap", "name")))
        used.update(o.text(o.dig(src, "configMap", "name")) for src in o.items(o.dig(vol, "projected", "sources")))
    for c in o.items(spec.get("initContainers")) + o.items(spec.get("containers")):
        used.update(o.text(o.dig(e, "configMapRef", "name")) for e in o.items(c.get("envFrom")))
        used.update(o.text(o.dig(e, "valueFrom", "configMapKeyRef", "name")) for e in o.items(c.get("env")))
    used.discard("")
    return used


def _size(cm: Obj) -> int:
    total = 0
    for key in ("data", "binaryData"):
        total += sum(len(v) for v in o.mapping(cm.get(key)).values() if isinstance(v, str))
    return total


def configmap(snap: Snapshot) -> list[Finding]:
    used: set[tuple[str, str]] = set()
    for pod in snap.objects("pods"):
        ns = o.namespace(pod)
        used.update((ns, name) for name in _configmaps_used(pod))
    out = []
    for cm in snap.objects("configmaps"):
        labels, name = o.labels(cm), o.name(cm)
        if any(k in labels for k in SIDECAR_LABELS) or labels.get("k8sgpt.ai/dynamically-loaded") == "true":
            continue
        if o.annotations(cm).get("k8sgpt.ai/skip-usage-check") == "true":
            continue
        errors: list[str] = []
        if (o.namespace(cm), name) not in used:
            errors.append(f"ConfigMap {name} is not used by any pods in the namespace")
        if not o.mapping(cm.get("data")) and not o.mapping(cm.get("binaryData")):
            errors.append(f"ConfigMap {name} is empty")
        size = _size(cm)
        if size > ONE_MIB:
            errors.append(f"ConfigMap {name} is larger than 1MB ({size} bytes)")
        if errors:
            out.append(finding(snap, "ConfigMap", "ConfigMap", cm, errors, severity=Severity.INFO,
                               evidence={"bytes": size}))
    return out


ANALYZERS = (
    Analyzer("Node", "Node", node, needs=("nodes",)),
    Analyzer("PersistentVolumeClaim", "PersistentVolumeClaim", pvc, needs=("persistentvolumeclaims",)),
    Analyzer("ConfigMap", "ConfigMap", configmap, needs=("configmaps", "pods")),
)

__all__ = ["ANALYZERS", "configmap", "node", "pvc"]
