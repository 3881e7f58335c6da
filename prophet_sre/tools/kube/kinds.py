"""Resource kinds: what `deploy`, `deployments.apps`, `Deployment` or a CRD's plural means on this server.

`Discovery` asks the server (`/api/v1`, `/apis`, then each group's preferred version, in parallel) once
per client and answers every spelling kubectl accepts: plural, singular, Kind, short names, and the
`plural.group` / `Kind.group` / `plural.version.group` forms. `BUILTIN` holds the well-known kinds so the
analyzers' hot path needs no discovery round trips, and so a client that may not read discovery still
resolves the common names.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from prophet_sre.errors import ToolError


@dataclass(frozen=True)
class ResourceKind:
    """One served resource: where it lives in the REST API and what it is called."""

    group: str
    version: str
    resource: str
    """Lower-case plural, the REST path segment (`deployments`)."""
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    singular: str = ""

    @property
    def qualified(self) -> str:
        """`pods`, `deployments.apps`: the name RBAC and kubectl messages use."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str = "", subresource: str = "") -> str:
        """REST path; `namespace=None` on a namespaced kind means all namespaces."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.resource}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base

    def names(self) -> Iterable[str]:
        """Every lower-case spelling that should resolve to this kind."""
        plain = {self.resource, self.kind.lower(), self.singular or self.kind.lower(), *self.short_names}
        yield from plain
        if self.group:
            yield from (f"{n}.{self.group}" for n in (self.resource, self.kind.lower()))
            yield f"{self.resource}.{self.version}.{self.group}"


def _k(group: str, version: str, resource: str, kind: str, namespaced: bool = True, *short: str) -> ResourceKind:
    return ResourceKind(group, version, resource, kind, namespaced, tuple(short), kind.lower())


BUILTIN: dict[str, ResourceKind] = {k.resource: k for k in (
    _k("", "v1", "pods", "Pod", True, "po"),
    _k("", "v1", "services", "Service", True, "svc"),
    _k("", "v1", "endpoints", "Endpoints", True, "ep"),
    _k("", "v1", "events", "Event", True, "ev"),
    _k("", "v1", "configmaps", "ConfigMap", True, "cm"),
    _k("", "v1", "secrets", "Secret", True),
    _k("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, "pvc"),
    _k("", "v1", "persistentvolumes", "PersistentVolume", False, "pv"),
    _k("", "v1", "nodes", "Node", False, "no"),
    _k("", "v1", "namespaces", "Namespace", False, "ns"),
    _k("", "v1", "serviceaccounts", "ServiceAccount", True, "sa"),
    _k("", "v1", "replicationcontrollers", "ReplicationController", True, "rc"),
    _k("", "v1", "resourcequotas", "ResourceQuota", True, "quota"),
    _k("", "v1", "limitranges", "LimitRange", True, "limits"),
    _k("apps", "v1", "deployments", "Deployment", True, "deploy"),
    _k("apps", "v1", "replicasets", "ReplicaSet", True, "rs"),
    _k("apps", "v1", "statefulsets", "StatefulSet", True, "sts"),
    _k("apps", "v1", "daemonsets", "DaemonSet", True, "ds"),
    _k("apps", "v1", "controllerrevisions", "ControllerRevision", True),
    _k("batch", "v1", "jobs", "Job", True),
    _k("batch", "v1", "cronjobs", "CronJob", True, "cj"),
    _k("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, "hpa"),
    _k("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, "pdb"),
    _k("networking.k8s.io", "v1", "ingresses", "Ingress", True, "ing"),
    _k("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    _k("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, "netpol"),
    _k("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, "sc"),
    _k("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
       "ValidatingWebhookConfiguration", False),
    _k("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False),
    _k("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    _k("coordination.k8s.io", "v1", "leases", "Lease", True),
    _k("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    _k("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    _k("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _k("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
)}


def _index(kinds: Iterable[ResourceKind]) -> dict[str, ResourceKind]:
    """Name -> kind; earlier kinds win (core and apps before look-alike CRDs, as kubectl prefers)."""
    out: dict[str, ResourceKind] = {}
    for k in kinds:
        for n in k.names():
            out.setdefault(n.lower(), k)
    return out


_BUILTIN_INDEX = _index(BUILTIN.values())


def builtin(name: str) -> ResourceKind | None:
    """A well-known kind by any spelling, without asking the server."""
    return _BUILTIN_INDEX.get(name.lower())


def by_kind(api_version: str, kind: str) -> ResourceKind | None:
    """The well-known kind for an ownerReference's `apiVersion` + `kind`, if it is one."""
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    found = _BUILTIN_INDEX.get(kind.lower())
    return found if found is not None and found.group == group and found.kind == kind else None


Fetch = Callable[[str], dict[str, Any]]


class Discovery:
    """The server's resource list, fetched once (lazily, thread-safe) through `fetch(path) -> JSON`."""

    def __init__(self, fetch: Fetch, *, concurrency: int = 8) -> None:
        self._fetch = fetch
        self._concurrency = concurrency
        self._lock = threading.Lock()
        self._index: dict[str, ResourceKind] | None = None

    def lookup(self, name: str) -> ResourceKind | None:
        """The kind `name` means on this server, or None; raises ToolError only if discovery itself fails."""
        return self._load().get(name.strip().lower())

    def by_kind(self, api_version: str, kind: str) -> ResourceKind | None:
        """The kind served for an ownerReference (`apps/v1`, `ReplicaSet`), if any."""
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        for k in self._load().values():
            if k.kind == kind and k.group == group:
                return k
        return None

    def _load(self) -> dict[str, ResourceKind]:
        with self._lock:
            if self._index is None:
                try:
                    self._index = _index(self._discover())
                except ToolError:
                    self._index = None
                    raise
            return self._index

    def _discover(self) -> list[ResourceKind]:
        paths = ["/api/v1"]
        groups = self._fetch("/apis").get("groups") or []
        for g in groups:
            pref = (g.get("preferredVersion") or {}).get("groupVersion") or ""
            if not pref and g.get("versions"):
                pref = g["versions"][0].get("groupVersion", "")
            if pref:
                paths.append(f"/apis/{pref}")
        with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
            lists = list(pool.map(self._fetch_quiet, paths))
        kinds: list[ResourceKind] = []
        for path, doc in zip(paths, lists, strict=True):
            gv = path.removeprefix("/api/").removeprefix("/apis/")
            group, _, version = gv.rpartition("/")
            for r in (doc or {}).get("resources") or []:
                name = r.get("name", "")
                if not name or "/" in name:  # subresources (pods/log) are not kinds
                    continue
                kinds.append(ResourceKind(group, version, name, r.get("kind", ""), bool(r.get("namespaced")),
                                          tuple(r.get("shortNames") or ()), r.get("singularName") or ""))
        return kinds

    def _fetch_quiet(self, path: str) -> dict[str, Any] | None:
        """One group version; an aggregated API that is down must not hide the others (kubectl warns too)."""
        try:
            return self._fetch(path)
        except ToolError:
            return None


__all__ = ["BUILTIN", "Discovery", "ResourceKind", "builtin", "by_kind"]
