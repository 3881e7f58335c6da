"""The resource types the simulated API server serves.

A `ResourceType` says everything discovery, routing, tables and OpenAPI need to know about one
group/version/resource: its kind, plural, short names, whether it is namespaced, its verbs and its
subresources. `Registry` holds the built-in types plus any type a CustomResourceDefinition adds at run
time; it bumps `generation` on every change so discovery can send a fresh ETag.

Names, short names and scopes match a real kube-apiserver (1.3x), because kubectl and client-go
resolve `kubectl get deploy` through exactly these fields.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

ALL_VERBS: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS: tuple[str, ...] = ("get", "list", "watch")


@dataclass(frozen=True, slots=True)
class PrinterColumn:
    """One `additionalPrinterColumns` entry of a CRD version (or a built-in extra column)."""

    name: str
    type: str
    json_path: str
    description: str = ""
    priority: int = 0
    format: str = ""


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    """Where a CRD keeps the numbers of its `scale` subresource (`subresources.scale`)."""

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = None


@dataclass(frozen=True, slots=True)
class ResourceType:
    """One served group/version/resource."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    singular: str = ""
    crd: bool = False
    scale: ScaleSpec | None = None
    printer_columns: tuple[PrinterColumn, ...] = ()
    storage: bool = True
    """The version objects are stored in; other versions of the same group/kind share its storage."""
    schema: dict | None = field(default=None, compare=False, hash=False)
    """openAPIV3Schema of a CRD version (None for built-ins: their schema comes from the client models)."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    group_version = api_version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def qualified(self) -> str:
        """`deployments.apps`, or `pods` for the core group: the name error messages use."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def storage_key(self) -> tuple[str, str]:
        """Objects live under (group, plural) whatever version they were written through."""
        return (self.group, self.plural)

    def has_subresource(self, name: str) -> bool:
        return name in self.subresources


def _rt(group: str, version: str, kind: str, plural: str, namespaced: bool, short: str = "",
        sub: str = "", cats: str = "", verbs: tuple[str, ...] = ALL_VERBS) -> ResourceType:
    return ResourceType(
        group=group, version=version, kind=kind, plural=plural, namespaced=namespaced,
        short_names=tuple(short.split()) if short else (),
        subresources=tuple(sub.split()) if sub else (),
        categories=tuple(cats.split()) if cats else (),
        verbs=verbs,
    )


_CREATE_ONLY = ("create",)

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    # core/v1
    _rt("", "v1", "Namespace", "namespaces", False, "ns", "status finalize",
        verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _rt("", "v1", "Pod", "pods", True, "po", "status log eviction binding", "all"),
    _rt("", "v1", "Service", "services", True, "svc", "status", "all",
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")),
    _rt("", "v1", "Endpoints", "endpoints", True, "ep"),
    _rt("", "v1", "ConfigMap", "configmaps", True, "cm"),
    _rt("", "v1", "Secret", "secrets", True),
    _rt("", "v1", "ServiceAccount", "serviceaccounts", True, "sa", "token"),
    _rt("", "v1", "Node", "nodes", False, "no", "status"),
    _rt("", "v1", "Event", "events", True, "ev"),
    _rt("", "v1", "PersistentVolume", "persistentvolumes", False, "pv", "status"),
    _rt("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, "pvc", "status"),
    _rt("", "v1", "ResourceQuota", "resourcequotas", True, "quota", "status"),
    _rt("", "v1", "LimitRange", "limitranges", True, "limits"),
    _rt("", "v1", "ReplicationController", "replicationcontrollers", True, "rc", "status scale", "all"),
    # apps/v1
    _rt("apps", "v1", "Deployment", "deployments", True, "deploy", "status scale", "all"),
    _rt("apps", "v1", "ReplicaSet", "replicasets", True, "rs", "status scale", "all"),
    _rt("apps", "v1", "StatefulSet", "statefulsets", True, "sts", "status scale", "all"),
    _rt("apps", "v1", "DaemonSet", "daemonsets", True, "ds", "status", "all"),
    _rt("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    # batch/v1
    _rt("batch", "v1", "Job", "jobs", True, "", "status", "all"),
    _rt("batch", "v1", "CronJob", "cronjobs", True, "cj", "status", "all"),
    # autoscaling
    _rt("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, "hpa", "status", "all"),
    ResourceType(group="autoscaling", version="v1", kind="HorizontalPodAutoscaler",
                 plural="horizontalpodautoscalers", namespaced=True, short_names=("hpa",),
                 subresources=("status",), categories=("all",), storage=False),
    # policy
    _rt("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, "pdb", "status"),
    # networking
    _rt("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, "netpol"),
    _rt("networking.k8s.io", "v1", "Ingress", "ingresses", True, "ing", "status"),
    _rt("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    # discovery
    _rt("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    # events
    _rt("events.k8s.io", "v1", "Event", "events", True, "ev"),
    # storage
    _rt("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, "sc"),
    # rbac
    _rt("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    _rt("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    # authorization / authentication (create-only virtual resources)
    _rt("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False,
        verbs=_CREATE_ONLY),
    _rt("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False, verbs=_CREATE_ONLY),
    _rt("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", False,
        verbs=_CREATE_ONLY),
    _rt("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", True,
        verbs=_CREATE_ONLY),
    _rt("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False, verbs=_CREATE_ONLY),
    # coordination
    _rt("coordination.k8s.io", "v1", "Lease", "leases", True),
    # apiextensions
    _rt("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False,
        "crd crds", "status", "api-extensions"),
    # admission webhooks (K8sGPT's core analyzers read these)
    _rt("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations", False, "", "", "api-extensions"),
    _rt("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations", False, "", "", "api-extensions"),
    # scheduling
    _rt("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, "pc"),
)

VIRTUAL_KINDS = frozenset({
    "SelfSubjectAccessReview", "SubjectAccessReview", "SelfSubjectRulesReview", "LocalSubjectAccessReview",
    "SelfSubjectReview",
})
"""Kinds that are computed on create and never stored."""

# Preferred version per group, in the order a real apiserver lists groups in /apis.
GROUP_ORDER: tuple[str, ...] = (
    "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
    "autoscaling", "batch", "certificates.k8s.io", "networking.k8s.io", "policy", "rbac.authorization.k8s.io",
    "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
    "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "flowcontrol.apiserver.k8s.io",
)


class Registry:
    """Thread-safe lookup of served resource types, built-in and CRD-defined."""

    def __init__(self, types: Iterable[ResourceType] = BUILTIN_TYPES) -> None:
        self._lock = threading.RLock()
        self._by_gvr: dict[tuple[str, str, str], ResourceType] = {}
        self._crd_types: dict[str, list[ResourceType]] = {}
        self.generation = 0
        for rt in types:
            self._by_gvr[(rt.group, rt.version, rt.plural)] = rt

    # -- lookups -------------------------------------------------------------------------------
    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_gvr.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        with self._lock:
            for rt in self._by_gvr.values():
                if rt.group == group and rt.version == version and rt.kind == kind:
                    return rt
        return None

    def storage_type(self, group: str, plural: str) -> ResourceType | None:
        """The storage version of a (group, plural)."""
        with self._lock:
            for rt in self._by_gvr.values():
                if rt.group == group and rt.plural == plural and rt.storage:
                    return rt
        return None

    def find(self, name: str) -> list[ResourceType]:
        """Resolve what a user typed (`deploy`, `deployments`, `deployments.apps`, `Deployment`)."""
        name_l = name.lower()
        base, _, group = name_l.partition(".")
        out = []
        with self._lock:
            for rt in self._by_gvr.values():
                if group and rt.group != group:
                    continue
                if base in (rt.plural, rt.singular_name, rt.kind.lower()) or base in rt.short_names:
                    out.append(rt)
        return sorted(out, key=lambda r: (not r.storage, r.group != "", r.group))

    def __iter__(self) -> Iterator[ResourceType]:
        with self._lock:
            return iter(list(self._by_gvr.values()))

    def group_versions(self) -> dict[str, list[str]]:
        """{group: [versions, preferred first]} for every non-core group."""
        out: dict[str, list[str]] = {}
        with self._lock:
            for rt in self._by_gvr.values():
                if not rt.group:
                    continue
                versions = out.setdefault(rt.group, [])
                if rt.version not in versions:
                    if rt.storage:
                        versions.insert(0, rt.version)
                    else:
                        versions.append(rt.version)
        order = {g: i for i, g in enumerate(GROUP_ORDER)}
        return dict(sorted(out.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))

    def resources_in(self, group: str, version: str) -> list[ResourceType]:
        with self._lock:
            return [rt for rt in self._by_gvr.values() if rt.group == group and rt.version == version]

    # -- CRDs ------------------------------------------------------------------------------------
    def add_crd(self, crd: dict) -> list[ResourceType]:
        """Register (or re-register) the types a CustomResourceDefinition object declares."""
        types = types_from_crd(crd)
        name = crd["metadata"]["name"]
        with self._lock:
            for old in self._crd_types.pop(name, []):
                self._by_gvr.pop((old.group, old.version, old.plural), None)
            for rt in types:
                self._by_gvr[(rt.group, rt.version, rt.plural)] = rt
            self._crd_types[name] = types
            self.generation += 1
        return types

    def remove_crd(self, name: str) -> list[ResourceType]:
        with self._lock:
            removed = self._crd_types.pop(name, [])
            for rt in removed:
                self._by_gvr.pop((rt.group, rt.version, rt.plural), None)
            if removed:
                self.generation += 1
        return removed


def types_from_crd(crd: dict) -> list[ResourceType]:
    """The served versions of an apiextensions.k8s.io/v1 CustomResourceDefinition."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    out: list[ResourceType] = []
    for v in spec.get("versions") or []:
        if not v.get("served", True):
            continue
        sub = v.get("subresources") or {}
        subresources = tuple(s for s in ("status", "scale") if s in sub)
        scale = None
        if "scale" in sub:
            s = sub["scale"] or {}
            scale = ScaleSpec(
                spec_replicas_path=s.get("specReplicasPath", ".spec.replicas"),
                status_replicas_path=s.get("statusReplicasPath", ".status.replicas"),
                label_selector_path=s.get("labelSelectorPath"),
            )
        columns = tuple(
            PrinterColumn(
                name=c.get("name", ""), type=c.get("type", "string"), json_path=c.get("jsonPath", ""),
                description=c.get("description", ""), priority=int(c.get("priority", 0) or 0),
                format=c.get("format", ""),
            )
            for c in v.get("additionalPrinterColumns") or []
        )
        out.append(ResourceType(
            group=group, version=v.get("name", "v1"), kind=names.get("kind", ""),
            plural=names.get("plural", ""), singular=names.get("singular", ""), namespaced=namespaced,
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            subresources=subresources, crd=True, scale=scale, printer_columns=columns,
            storage=bool(v.get("storage", False)), schema=(v.get("schema") or {}).get("openAPIV3Schema"),
        ))
    if out and not any(rt.storage for rt in out):
        first = out[0]
        out[0] = ResourceType(**{f: getattr(first, f) for f in first.__dataclass_fields__} | {"storage": True})
    return out
