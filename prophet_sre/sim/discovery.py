"""API discovery documents (`/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`, `/version`).

We serve the legacy (unaggregated) forms: client-go and kubectl accept them and then fetch each group
version's APIResourceList, which is all they need to map `kubectl get deploy` to a URL.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from prophet_sre.sim.registry import Registry, ResourceType

KUBE_VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.4-prophet-sim", "gitCommit": "0" * 40,
                "gitTreeState": "clean", "buildDate": "2026-08-01T00:00:00Z", "goVersion": "go1.24.6",
                "compiler": "gc", "platform": "linux/amd64", "emulationMajor": "1", "emulationMinor": "33",
                "minCompatibilityMajor": "1", "minCompatibilityMinor": "32"}


def version() -> dict[str, Any]:
    return dict(KUBE_VERSION)


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group_doc(group: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group_doc(g, vs) for g, vs in registry.group_versions().items()]}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}


def _resource_entries(rt: ResourceType) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": rt.plural, "singularName": rt.singular_name, "namespaced": rt.namespaced, "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    main["storageVersionHash"] = _hash(rt)
    out = [main]
    for sub in rt.subresources:
        entry: dict[str, Any] = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced}
        if sub == "scale":
            entry.update(group="autoscaling", version="v1", kind="Scale", verbs=["get", "patch", "update"])
        elif sub == "status":
            entry.update(kind=rt.kind, verbs=["get", "patch", "update"])
        elif sub == "log":
            entry.update(kind="Pod", verbs=["get"])
        elif sub == "eviction":
            entry.update(group="policy", version="v1", kind="Eviction", verbs=["create"])
        elif sub == "binding":
            entry.update(kind="Binding", verbs=["create"])
        elif sub == "finalize":
            entry.update(kind="Namespace", verbs=["update"])
        elif sub == "token":
            entry.update(group="authentication.k8s.io", version="v1", kind="TokenRequest", verbs=["create"])
        else:
            entry.update(kind=rt.kind, verbs=["get"])
        out.append(entry)
    return out


def _hash(rt: ResourceType) -> str:
    digest = hashlib.sha256(f"{rt.group}/{rt.version}/{rt.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = registry.resources_in(group, version)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rt in sorted(types, key=lambda r: r.plural):
        resources.extend(_resource_entries(rt))
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
