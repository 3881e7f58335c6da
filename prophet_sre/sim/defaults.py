"""API defaulting of the simulated kube-apiserver: what a real server fills in on create and update.

`apply_defaults(rt, obj, old=...)` mutates `obj` (a fresh copy from the caller) the way kube-apiserver's
defaulting functions, create strategies and default admission plugins would, so what the simulator
stores and returns reads like a real object, and parses with the strict `kubernetes` client models
(which reject, for example, a YAML number where a quantity string belongs: quantities are rewritten
in canonical form, `cpu: 1000m` -> `cpu: "1"`, as a real server does).

Defaulting is per kind: one small function per (group, kind) in `DEFAULTERS`; kinds without one (all
CRD-defined kinds) get nothing. Things that need cluster state are the caller's: cluster IPs and node
ports, `uid`/`resourceVersion`/`creationTimestamp`/`generation`, a PVC's default StorageClass, the
priority of a pod that names a user PriorityClass. Metadata is left alone except where a real server
writes it (a Namespace's `kubernetes.io/metadata.name` label, a Job's and a ReplicationController's
labels copied from their template).

Every function tolerates malformed input: it defaults what is well-formed and leaves the rest for
validation to report.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from prophet_sre.sim.defaults_pods import (
    DEFAULT_MODE,
    canonical_quantities,
    child_map,
    default_pod,
    default_pvc_spec,
    items,
    pod_qos_class,
    pull_policy_for,
    setdefault,
    sub,
)
from prophet_sre.sim.defaults_workloads import (
    JOB_NAME_LABEL,
    JOB_UID_LABEL,
    LEGACY_JOB_NAME_LABEL,
    LEGACY_JOB_UID_LABEL,
    default_cronjob,
    default_daemonset,
    default_deployment,
    default_hpa,
    default_job,
    default_pdb,
    default_replicaset,
    default_replication_controller,
    default_statefulset,
    status_if_absent,
)
from prophet_sre.sim.registry import ResourceType

Defaulter = Callable[[dict, "dict | None", str], None]
"""(obj, old or None, now as RFC 3339) -> None, mutating obj."""

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


# --- core ----------------------------------------------------------------------------------------------
def _service(obj: dict, old: dict | None, now: str) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    setdefault(spec, "type", "ClusterIP")
    setdefault(spec, "sessionAffinity", "None")
    if spec.get("sessionAffinity") == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec.get("sessionAffinity") == "ClientIP":
        cfg = child_map(child_map(spec, "sessionAffinityConfig"), "clientIP")
        if cfg is None or cfg.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    stype = spec.get("type")
    for port in items(spec, "ports"):
        setdefault(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, "") and isinstance(port.get("port"), int):
            port["targetPort"] = port["port"]
    external_ips = spec.get("externalIPs")
    if stype in ("NodePort", "LoadBalancer") or (stype == "ClusterIP" and isinstance(external_ips, list)
                                                 and external_ips):
        setdefault(spec, "externalTrafficPolicy", "Cluster")
    if stype in ("NodePort", "LoadBalancer", "ClusterIP"):
        setdefault(spec, "internalTrafficPolicy", "Cluster")
    if stype == "LoadBalancer":
        setdefault(spec, "allocateLoadBalancerNodePorts", True)
    if stype != "ExternalName":
        old_spec = child_map(old, "spec") if old is not None else None
        if old_spec is not None:
            for key in ("ipFamilies", "ipFamilyPolicy"):
                if spec.get(key) is None and old_spec.get(key) is not None:
                    spec[key] = copy.deepcopy(old_spec[key])
        headless_no_selector = spec.get("clusterIP") == "None" and not spec.get("selector")
        setdefault(spec, "ipFamilyPolicy", "RequireDualStack" if headless_no_selector else "SingleStack")
        setdefault(spec, "ipFamilies", ["IPv4"])
    status_if_absent(obj, {"loadBalancer": {}})


def _pvc(obj: dict, old: dict | None, now: str) -> None:
    spec = sub(obj, "spec")
    if spec is not None:
        default_pvc_spec(spec)
    status = sub(obj, "status")
    if status is not None:
        setdefault(status, "phase", "Pending")
        canonical_quantities(status.get("capacity"))


def _pv(obj: dict, old: dict | None, now: str) -> None:
    spec = sub(obj, "spec")
    if spec is not None:
        setdefault(spec, "persistentVolumeReclaimPolicy", "Retain")
        setdefault(spec, "volumeMode", "Filesystem")
        canonical_quantities(spec.get("capacity"))
        host_path = child_map(spec, "hostPath")
        if host_path is not None:
            setdefault(host_path, "type", "")
    status = sub(obj, "status")
    if status is not None:
        setdefault(status, "phase", "Available")


def _namespace(obj: dict, old: dict | None, now: str) -> None:
    meta = sub(obj, "metadata")
    if meta is not None and isinstance(meta.get("name"), str) and meta["name"]:
        labels = sub(meta, "labels")
        if labels is not None:
            labels[NAMESPACE_NAME_LABEL] = meta["name"]
    spec = sub(obj, "spec")
    if old is None and spec is not None:
        finalizers = spec.get("finalizers")
        if finalizers is None:
            spec["finalizers"] = ["kubernetes"]
        elif isinstance(finalizers, list) and "kubernetes" not in finalizers:
            finalizers.append("kubernetes")
    status = sub(obj, "status")
    if status is not None:
        setdefault(status, "phase", "Active")


def _secret(obj: dict, old: dict | None, now: str) -> None:
    """Type Opaque, and `stringData` folded into base64 `data` (the v1 conversion does this)."""
    setdefault(obj, "type", "Opaque")
    string_data = obj.get("stringData")
    if isinstance(string_data, dict):
        data = sub(obj, "data")
        if data is not None and all(isinstance(v, str) for v in string_data.values()):
            for key, value in string_data.items():
                data[key] = base64.b64encode(value.encode()).decode()
            del obj["stringData"]


def _node(obj: dict, old: dict | None, now: str) -> None:
    setdefault(obj, "spec", {})
    status = sub(obj, "status")
    if status is None:
        return
    canonical_quantities(status.get("capacity"))
    canonical_quantities(status.get("allocatable"))
    if status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])
    endpoints = sub(status, "daemonEndpoints")
    if endpoints is not None:
        setdefault(endpoints, "kubeletEndpoint", {"Port": 0})
    info = sub(status, "nodeInfo")
    if info is not None:
        for key in ("architecture", "bootID", "containerRuntimeVersion", "kernelVersion", "kubeProxyVersion",
                    "kubeletVersion", "machineID", "operatingSystem", "osImage", "systemUUID"):
            setdefault(info, key, "")


def _ports_tcp(obj: dict, old: dict | None, now: str) -> None:
    """Endpoints: every port's protocol defaults to TCP."""
    for subset in items(obj, "subsets"):
        for port in items(subset, "ports"):
            setdefault(port, "protocol", "TCP")


def _resource_quota(obj: dict, old: dict | None, now: str) -> None:
    canonical_quantities((child_map(obj, "spec") or {}).get("hard"))
    status = child_map(obj, "status")
    if status is not None:
        canonical_quantities(status.get("hard"))
        canonical_quantities(status.get("used"))


def _limit_range(obj: dict, old: dict | None, now: str) -> None:
    """SetDefaults_LimitRangeItem: container default limit <- max, default request <- limit or min."""
    for item in items(child_map(obj, "spec"), "limits"):
        for key in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            canonical_quantities(item.get(key))
        if item.get("type") != "Container":
            continue
        default, request = sub(item, "default"), sub(item, "defaultRequest")
        if default is None or request is None:
            continue
        for key, value in (child_map(item, "max") or {}).items():
            default.setdefault(key, value)
        for key, value in default.items():
            request.setdefault(key, value)
        for key, value in (child_map(item, "min") or {}).items():
            request.setdefault(key, value)


# --- other groups -----------------------------------------------------------------------------------------
def _network_policy(obj: dict, old: dict | None, now: str) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    if not spec.get("policyTypes"):
        egress = spec.get("egress")
        spec["policyTypes"] = ["Ingress", "Egress"] if isinstance(egress, list) and egress else ["Ingress"]
    for direction in ("ingress", "egress"):
        for rule in items(spec, direction):
            for port in items(rule, "ports"):
                setdefault(port, "protocol", "TCP")


def _ingress(obj: dict, old: dict | None, now: str) -> None:
    status_if_absent(obj, {"loadBalancer": {}})


def _endpoint_slice(obj: dict, old: dict | None, now: str) -> None:
    for port in items(obj, "ports"):
        setdefault(port, "name", "")
        setdefault(port, "protocol", "TCP")


def _storage_class(obj: dict, old: dict | None, now: str) -> None:
    setdefault(obj, "reclaimPolicy", "Delete")
    setdefault(obj, "volumeBindingMode", "Immediate")


def _role_binding(obj: dict, old: dict | None, now: str) -> None:
    """SetDefaults_Subject: users and groups live in the RBAC group, service accounts in the core one."""
    for subject in items(obj, "subjects"):
        if subject.get("apiGroup") is None or subject.get("apiGroup") == "":
            if subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = "rbac.authorization.k8s.io"
            elif subject.get("kind") == "ServiceAccount":
                subject["apiGroup"] = ""


def _priority_class(obj: dict, old: dict | None, now: str) -> None:
    setdefault(obj, "preemptionPolicy", "PreemptLowerPriority")


def _webhooks(obj: dict, old: dict | None, now: str, *, mutating: bool) -> None:
    for wh in items(obj, "webhooks"):
        setdefault(wh, "failurePolicy", "Fail")
        setdefault(wh, "matchPolicy", "Equivalent")
        setdefault(wh, "namespaceSelector", {})
        setdefault(wh, "objectSelector", {})
        setdefault(wh, "timeoutSeconds", 10)
        if mutating:
            setdefault(wh, "reinvocationPolicy", "Never")
        for rule in items(wh, "rules"):
            setdefault(rule, "scope", "*")
        service = child_map(child_map(wh, "clientConfig"), "service")
        if service is not None:
            setdefault(service, "port", 443)


def _crd(obj: dict, old: dict | None, now: str) -> None:
    """Spec defaults, plus the status the naming and establishing controllers settle on."""
    spec = sub(obj, "spec")
    if spec is None:
        return
    names = sub(spec, "names")
    if names is not None and isinstance(names.get("kind"), str) and names["kind"]:
        setdefault(names, "singular", names["kind"].lower())
        setdefault(names, "listKind", names["kind"] + "List")
    conversion = sub(spec, "conversion")
    if conversion is not None:
        setdefault(conversion, "strategy", "None")
        service = child_map(child_map(child_map(conversion, "webhook"), "clientConfig"), "service")
        if service is not None:
            setdefault(service, "port", 443)
    if names is None or not all(isinstance(names.get(k), str) and names.get(k) for k in ("kind", "plural")):
        return
    # On create a real server drops any status sent; on update the status is whatever the write carried
    # (the store keeps the old one for writes to the main resource).
    old_status = child_map(old, "status") if old is not None else None
    status = {} if old is None else (obj.get("status") if isinstance(obj.get("status"), dict)
                                     else copy.deepcopy(old_status or {}))
    accepted = {k: copy.deepcopy(names[k]) for k in ("kind", "listKind", "plural", "shortNames", "singular",
                                                     "categories") if names.get(k) is not None}
    current = {c.get("type"): c for c in items(status, "conditions")}
    conditions = []
    for ctype, reason, message in (("NamesAccepted", "NoConflicts", "no conflicts found"),
                                   ("Established", "InitialNamesAccepted", "the initial names have been accepted")):
        prior = current.get(ctype)
        if prior is not None and prior.get("status") == "True":
            conditions.append(prior)
        else:
            conditions.append({"lastTransitionTime": now, "message": message, "reason": reason, "status": "True",
                               "type": ctype})
    conditions += [c for c in items(status, "conditions") if c.get("type") not in ("NamesAccepted", "Established")]
    source = status.get("storedVersions")
    if not isinstance(source, list):
        source = (old_status or {}).get("storedVersions")
    stored = [v for v in source or [] if isinstance(v, str)]
    for version in items(spec, "versions"):
        if version.get("storage") is True and isinstance(version.get("name"), str) and version["name"] not in stored:
            stored.append(version["name"])
    status.update({"acceptedNames": accepted, "conditions": conditions, "storedVersions": stored})
    obj["status"] = status


_RBAC = "rbac.authorization.k8s.io"
_ADMISSION = "admissionregistration.k8s.io"

DEFAULTERS: dict[tuple[str, str], Defaulter] = {
    ("", "Pod"): lambda obj, old, now: default_pod(obj, old),
    ("", "Service"): _service,
    ("", "Endpoints"): _ports_tcp,
    ("", "Secret"): _secret,
    ("", "Node"): _node,
    ("", "Namespace"): _namespace,
    ("", "PersistentVolume"): _pv,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "ResourceQuota"): _resource_quota,
    ("", "LimitRange"): _limit_range,
    ("", "ReplicationController"): default_replication_controller,
    ("apps", "Deployment"): default_deployment,
    ("apps", "ReplicaSet"): default_replicaset,
    ("apps", "StatefulSet"): default_statefulset,
    ("apps", "DaemonSet"): default_daemonset,
    ("batch", "Job"): default_job,
    ("batch", "CronJob"): default_cronjob,
    ("policy", "PodDisruptionBudget"): default_pdb,
    ("networking.k8s.io", "NetworkPolicy"): _network_policy,
    ("networking.k8s.io", "Ingress"): _ingress,
    ("discovery.k8s.io", "EndpointSlice"): _endpoint_slice,
    ("storage.k8s.io", "StorageClass"): _storage_class,
    (_RBAC, "RoleBinding"): _role_binding,
    (_RBAC, "ClusterRoleBinding"): _role_binding,
    ("scheduling.k8s.io", "PriorityClass"): _priority_class,
    (_ADMISSION, "ValidatingWebhookConfiguration"): partial(_webhooks, mutating=False),
    (_ADMISSION, "MutatingWebhookConfiguration"): partial(_webhooks, mutating=True),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
}
"""(group, kind) -> defaulting function. HorizontalPodAutoscaler is version-dependent: see `defaulter_for`."""


def defaulter_for(rt: ResourceType) -> Defaulter | None:
    if rt.crd:
        return None
    if rt.group == "autoscaling" and rt.kind == "HorizontalPodAutoscaler":
        return partial(default_hpa, v2=rt.version != "v1")
    return DEFAULTERS.get((rt.group, rt.kind))


def _now_text(obj: dict, now: datetime | str | None) -> str:
    if isinstance(now, datetime):
        return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(now, str) and now:
        return now
    created = (child_map(obj, "metadata") or {}).get("creationTimestamp")
    if isinstance(created, str) and created:
        return created
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def apply_defaults(rt: ResourceType, obj: dict, *, old: dict | None = None,
                   now: datetime | str | None = None) -> None:
    """Fill in what a real API server would on create (`old is None`) or update of `old`.

    `now` stamps the conditions a default writes (a CRD's Established); without it the object's
    creationTimestamp is used. Never raises on malformed objects.
    """
    if not isinstance(obj, dict):
        return
    fn = defaulter_for(rt)
    if fn is None:
        return
    fn(obj, old if isinstance(old, dict) else None, _now_text(obj, now))


__all__ = [
    "DEFAULTERS",
    "DEFAULT_MODE",
    "JOB_NAME_LABEL",
    "JOB_UID_LABEL",
    "LEGACY_JOB_NAME_LABEL",
    "LEGACY_JOB_UID_LABEL",
    "NAMESPACE_NAME_LABEL",
    "apply_defaults",
    "defaulter_for",
    "pod_qos_class",
    "pull_policy_for",
]
