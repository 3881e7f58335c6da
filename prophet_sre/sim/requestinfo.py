"""Turn a Kubernetes API URL into what is being asked: verb, group/version, namespace, resource, name.

The grammar is kube-apiserver's: `/api/v1/...` for the core group, `/apis/<group>/<version>/...` for
the rest, optional `namespaces/<ns>/`, the legacy `watch/` prefix, and `namespaces/<name>/status` and
`/finalize` as the namespace's own subresources.
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})

_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(slots=True)
class RequestInfo:
    """A parsed resource request. `resource` is the plural; `subresource` may be empty."""

    verb: str
    group: str
    version: str
    namespace: str
    resource: str
    name: str = ""
    subresource: str = ""
    legacy_watch: bool = False

    @property
    def discovery(self) -> bool:
        return not self.resource


def parse_resource_path(method: str, path: str, watch_param: bool) -> RequestInfo | None:
    """None when the path is not under /api or /apis."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    if parts[0] == "api":
        if len(parts) < 2:
            return None
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis":
        if len(parts) < 3:
            return None
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    legacy_watch = False
    if rest and rest[0] == "watch":
        legacy_watch = True
        rest = rest[1:]
    namespace = ""
    if len(rest) >= 2 and rest[0] == "namespaces":
        if len(rest) == 2 or (len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES):
            # the namespace object itself (or its status/finalize)
            pass
        else:
            namespace = rest[1]
            rest = rest[2:]
    if not rest:
        return RequestInfo(verb="get", group=group, version=version, namespace=namespace, resource="")
    if len(rest) > 3:
        return RequestInfo(verb="invalid", group=group, version=version, namespace=namespace, resource=rest[0])
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if method == "GET":
        verb = "get" if name else ("watch" if (watch_param or legacy_watch) else "list")
        if name and (watch_param or legacy_watch):
            verb = "watch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _METHOD_VERBS.get(method, method.lower())
    return RequestInfo(verb=verb, group=group, version=version, namespace=namespace, resource=resource,
                       name=name, subresource=sub, legacy_watch=legacy_watch)


def truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")
