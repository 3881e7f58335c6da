"""OpenAPI documents for the simulated API server (`/openapi/v3`, `/openapi/v3/<gv>`, `/openapi/v2`).

kubectl reads these before it writes anything: `apply`, `create` and `edit` look for a PATCH operation
carrying the `fieldValidation` query parameter (found: the server validates; not found: kubectl asks
for /openapi/v2 and validates itself), client-side `apply` builds its strategic merge patch from the
`x-kubernetes-patch-*` extensions of the kind's schema, and `explain` walks the schemas from the
operation whose `x-kubernetes-group-version-kind` matches the resource. So every served resource gets
its real paths and operations, and every kind its real schema name and GVK extension.

Built-in schemas come from `openapi_models` (computed once per process); CRD schemas are the CRD
version's `openAPIV3Schema`, re-read whenever `Registry.generation` moves. Documents are plain dicts
shared between callers: treat them as read-only (the server serialises them, nothing else).

kubectl asks for /openapi/v2 in gnostic protobuf and cannot parse JSON there ("proto: cannot parse
invalid wire-format data"). With the v3 documents complete it only does so for `kubectl explain
--output plaintext-openapiv2` or when v3 fails, so `v2_document` is a JSON-only courtesy for other
clients.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from prophet_sre.sim.openapi_models import (
    API_RESOURCE_LIST,
    DELETE_OPTIONS,
    GVK_EXT,
    LIST_META,
    OBJECT_META,
    PATCH,
    REF_PREFIX,
    SCALE,
    STATUS,
    Schema,
    SchemaSet,
    builtin_schema_set,
    crd_schema_names,
    crd_schemas,
    ref,
    schema_to_v2,
    v2_ref,
)
from prophet_sre.sim.registry import Registry, ResourceType

GV = tuple[str, str]

_JSON, _YAML, _PROTOBUF = "application/json", "application/yaml", "application/vnd.kubernetes.protobuf"
_PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json")
_SMP = "application/strategic-merge-patch+json"

# (name, type, description) of the query parameters kube-apiserver documents per operation kind.
_Q = tuple[tuple[str, str, str], ...]
_DRY_RUN = ("dryRun", "string", "When present, indicates that modifications should not be persisted. An invalid "
            "or unrecognized dryRun directive will result in an error response and no further processing of "
            "the request. Valid values are: - All: all dry run stages will be processed")
_FIELD_MANAGER = ("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is "
                  "making these changes. The value must be less than or 128 characters long, and only contain "
                  "printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.")
_FIELD_VALIDATION = ("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects "
                     "in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: "
                     "- Ignore: drops unknown fields silently; - Warn: sends a warning for each unknown or "
                     "duplicate field (the default); - Strict: fails the request on unknown or duplicate fields.")
_FORCE = ("force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire "
          "conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.")
_LIST_Q: _Q = (
    ("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."),
    ("continue", "string", "The continue option should be set when retrieving more results from the server."),
    ("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. Defaults "
     "to everything."),
    ("labelSelector", "string", "A selector to restrict the list of returned objects by their labels. Defaults "
     "to everything."),
    ("limit", "integer", "limit is a maximum number of responses to return for a list call."),
    ("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be "
     "served from."),
    ("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list "
     "calls."),
    ("sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`."),
    ("timeoutSeconds", "integer", "Timeout for the list/watch call."),
    ("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, "
     "update, and remove notifications."),
)
_WRITE_Q: _Q = (_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION)
_PATCH_Q: _Q = (*_WRITE_Q, _FORCE)
_DELETE_Q: _Q = (
    _DRY_RUN,
    ("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted."),
    ("ignoreStoreReadErrorWithClusterBreakingPotential", "boolean", "if set to true, it will trigger an unsafe "
     "deletion of the resource in case the normal deletion flow fails with a corrupt object error."),
    ("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy, this field will be deprecated "
     "in 1.7."),
    ("propagationPolicy", "string", "Whether and how garbage collection will be performed. Acceptable values "
     "are: 'Orphan', 'Background' and 'Foreground'."),
)
_PRETTY = ("pretty", "string", "If 'true', then the output is pretty printed. Defaults to 'false' unless the "
           "user-agent indicates a browser or command-line HTTP tool (curl and wget).")


@dataclass(slots=True)
class _Op:
    """One operation, kept format-neutral so it can be rendered as OpenAPI v3 or Swagger 2.0."""

    method: str
    action: str
    op_id: str
    description: str
    tag: str
    gvk: dict[str, str] | None
    query: _Q
    responses: dict[str, str | None]  # code -> schema name (None: no body)
    produces: tuple[str, ...]
    body: str | None = None
    consumes: tuple[str, ...] = ("*/*",)


@dataclass(slots=True)
class _PathItem:
    path_params: tuple[str, ...]
    ops: list[_Op] = field(default_factory=list)


@dataclass(slots=True)
class _GVParts:
    """What one group-version contributes: its paths and schema names (built-in) or schemas (CRD)."""

    paths: dict[str, _PathItem]
    roots: list[str]
    own_schemas: dict[str, Schema]


# -- paths ------------------------------------------------------------------------------------------

def _group_words(group: str) -> list[str]:
    return group.removesuffix(".k8s.io").split(".") if group else ["core"]


def _op_group(group: str) -> str:
    """`RbacAuthorization` for rbac.authorization.k8s.io, as operationIds spell it."""
    return "".join(w[:1].upper() + w[1:] for w in _group_words(group))


def _tag(group: str, version: str) -> str:
    words = _group_words(group)
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:]) + "_" + version


def _responses(name: str, *codes: str) -> dict[str, str | None]:
    out: dict[str, str | None] = dict.fromkeys(codes, name)
    out["401"] = None
    return out


def _resource_paths(rt: ResourceType, kind_name: str, list_name: str, protobuf: bool) -> dict[str, _PathItem]:
    """The collection, item, all-namespaces and status/scale paths kube-apiserver serves for `rt`."""
    prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    gvk = {"group": rt.group, "kind": rt.kind, "version": rt.version}
    gv_id = _op_group(rt.group) + rt.version[:1].upper() + rt.version[1:]
    tag = _tag(rt.group, rt.version)
    scope = "Namespaced" if rt.namespaced else ""
    produces = (_JSON, _YAML, _PROTOBUF) if protobuf else (_JSON, _YAML)
    patch_types = (*_PATCH_TYPES, _SMP) if protobuf else _PATCH_TYPES
    verbs = set(rt.verbs)

    def op(method: str, action: str, verb: str, desc: str, query: _Q, responses: dict[str, str | None],
           body: str | None = None, consumes: tuple[str, ...] = ("*/*",), sub: str = "", g: dict | None = None,
           kind_word: str = "") -> _Op:
        op_id = f"{verb}{gv_id}{kind_word}{scope}{rt.kind}{sub}"
        return _Op(method, action, op_id, desc, tag, gvk if g is None else g, query, responses, produces, body,
                   consumes)

    collection = f"{prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{prefix}/{rt.plural}"
    ns_params = ("namespace",) if rt.namespaced else ()
    paths: dict[str, _PathItem] = {}
    coll = _PathItem(ns_params)
    if "list" in verbs:
        coll.ops.append(op("get", "list", "list", f"list or watch objects of kind {rt.kind}", _LIST_Q,
                           _responses(list_name, "200")))
    if "create" in verbs:
        coll.ops.append(op("post", "post", "create", f"create a {rt.kind}", _WRITE_Q,
                           _responses(kind_name, "200", "201", "202"), body=kind_name))
    if "deletecollection" in verbs:
        coll.ops.append(op("delete", "deletecollection", "delete", f"delete collection of {rt.kind}",
                           _LIST_Q + _DELETE_Q, _responses(STATUS, "200"), body=DELETE_OPTIONS,
                           kind_word="Collection"))
    if coll.ops:
        paths[collection] = coll

    item = _PathItem((*ns_params, "name"))
    if "get" in verbs:
        item.ops.append(op("get", "get", "read", f"read the specified {rt.kind}", (),
                           _responses(kind_name, "200")))
    if "update" in verbs:
        item.ops.append(op("put", "put", "replace", f"replace the specified {rt.kind}", _WRITE_Q,
                           _responses(kind_name, "200", "201"), body=kind_name))
    if "patch" in verbs:
        item.ops.append(op("patch", "patch", "patch", f"partially update the specified {rt.kind}", _PATCH_Q,
                           _responses(kind_name, "200", "201"), body=PATCH, consumes=patch_types))
    if "delete" in verbs:
        item.ops.append(op("delete", "delete", "delete", f"delete a {rt.kind}", _DELETE_Q,
                           _responses(kind_name, "200", "202"), body=DELETE_OPTIONS))
    if item.ops:
        paths[collection + "/{name}"] = item

    if rt.namespaced and "list" in verbs:
        everywhere = _PathItem(())
        everywhere.ops.append(_Op("get", "list", f"list{gv_id}{rt.kind}ForAllNamespaces",
                                  f"list or watch objects of kind {rt.kind}", tag, gvk, _LIST_Q,
                                  _responses(list_name, "200"), produces))
        paths[f"{prefix}/{rt.plural}"] = everywhere

    scale_gvk = {"group": "autoscaling", "kind": "Scale", "version": "v1"}
    for sub, schema, g in (("status", kind_name, gvk), ("scale", SCALE, scale_gvk)):
        if not rt.has_subresource(sub):
            continue
        word = sub.capitalize()
        item = _PathItem((*ns_params, "name"))
        item.ops.append(op("get", "get", "read", f"read {sub} of the specified {rt.kind}", (),
                           _responses(schema, "200"), sub=word, g=g))
        item.ops.append(op("put", "put", "replace", f"replace {sub} of the specified {rt.kind}", _WRITE_Q,
                           _responses(schema, "200", "201"), body=schema, sub=word, g=g))
        item.ops.append(op("patch", "patch", "patch", f"partially update {sub} of the specified {rt.kind}",
                           _PATCH_Q, _responses(schema, "200", "201"), body=PATCH, consumes=patch_types,
                           sub=word, g=g))
        paths[f"{collection}/{{name}}/{sub}"] = item
    return paths


def _root_path(group: str, version: str) -> tuple[str, _PathItem]:
    prefix = f"/apis/{group}/{version}/" if group else f"/api/{version}/"
    gv_id = _op_group(group) + version[:1].upper() + version[1:]
    return prefix, _PathItem((), [_Op("get", "", f"get{gv_id}APIResources", "get available resources",
                                      _tag(group, version), None, (), _responses(API_RESOURCE_LIST, "200"),
                                      (_JSON, _YAML, _PROTOBUF), None, ())])


_PATH_PARAM_DESC = {"name": "name of the {kind}", "namespace": "object name and auth scope, such as for teams "
                    "and projects"}


def _path_params(item: _PathItem, kind: str) -> list[tuple[str, str, str, bool]]:
    out = [(p, "path", _PATH_PARAM_DESC[p].format(kind=kind), True) for p in item.path_params]
    return [*out, (_PRETTY[0], "query", _PRETTY[2], False)]


def _kind_of(item: _PathItem) -> str:
    return next((op.gvk["kind"] for op in item.ops if op.gvk), "")


def _render_v3(paths: dict[str, _PathItem]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, item in paths.items():
        rendered: dict[str, Any] = {}
        for op in item.ops:
            o: dict[str, Any] = {
                "tags": [op.tag], "description": op.description, "operationId": op.op_id,
                "responses": {
                    code: {"description": "Unauthorized" if code == "401" else _STATUS_TEXT[code],
                           **({"content": {ct: {"schema": ref(name)} for ct in op.produces}} if name else {})}
                    for code, name in op.responses.items()
                },
            }
            params = [{"name": n, "in": "query", "description": d, "schema": {"type": t, "uniqueItems": True}}
                      for n, t, d in op.query]
            if params:
                o["parameters"] = params
            if op.body:
                o["requestBody"] = {"content": {ct: {"schema": ref(op.body)} for ct in op.consumes},
                                    "required": op.method != "delete"}
            if op.action:
                o["x-kubernetes-action"] = op.action
            if op.gvk:
                o[GVK_EXT] = dict(op.gvk)
            rendered[op.method] = o
        rendered["parameters"] = [
            {"name": n, "in": where, "description": d, "schema": {"type": "string", "uniqueItems": True},
             **({"required": True} if req else {})}
            for n, where, d, req in _path_params(item, _kind_of(item))
        ]
        out[path] = rendered
    return out


def _render_v2(paths: dict[str, _PathItem]) -> dict[str, Any]:
    v2ref = v2_ref
    out: dict[str, Any] = {}
    for path, item in paths.items():
        rendered: dict[str, Any] = {}
        for op in item.ops:
            params: list[dict[str, Any]] = []
            if op.body:
                params.append({"name": "body", "in": "body", "required": op.method != "delete",
                               "schema": {"$ref": v2ref(REF_PREFIX + op.body)}})
            params += [{"uniqueItems": True, "type": t, "description": d, "name": n, "in": "query"}
                       for n, t, d in op.query]
            o: dict[str, Any] = {
                "description": op.description, "consumes": list(op.consumes) or ["*/*"],
                "produces": list(op.produces), "schemes": ["https"], "tags": [op.tag], "operationId": op.op_id,
                "responses": {
                    code: {"description": "Unauthorized" if code == "401" else _STATUS_TEXT[code],
                           **({"schema": {"$ref": v2ref(REF_PREFIX + name)}} if name else {})}
                    for code, name in op.responses.items()
                },
            }
            if params:
                o["parameters"] = params
            if op.action:
                o["x-kubernetes-action"] = op.action
            if op.gvk:
                o[GVK_EXT] = dict(op.gvk)
            rendered[op.method] = o
        rendered["parameters"] = [
            {"uniqueItems": True, "type": "string", "description": d, "name": n, "in": where,
             **({"required": True} if req else {})}
            for n, where, d, req in _path_params(item, _kind_of(item))
        ]
        out[path] = rendered
    return out


_STATUS_TEXT = {"200": "OK", "201": "Created", "202": "Accepted"}


# -- the builder --------------------------------------------------------------------------------------

def _hash(doc: dict[str, Any]) -> str:
    """Content hash in kube-apiserver's form (upper-case hex SHA-512), used as the `hash` query value."""
    return hashlib.sha512(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest().upper()


class OpenAPIBuilder:
    """Builds and caches the OpenAPI v3 index, per-group-version v3 documents and the v2 document.

    Built-in parts never change; anything touching a CRD-defined type is rebuilt after
    `registry.generation` moves. Safe to call from several threads.
    """

    def __init__(self, registry: Registry, *, kube_version: str = "unversioned") -> None:
        self._registry = registry
        self._kube_version = kube_version
        self._schemas: SchemaSet = builtin_schema_set(registry)
        self._lock = threading.RLock()
        self._generation: int | None = None
        self._crd_gvs: set[GV] = set()
        self._docs: dict[GV, dict[str, Any]] = {}
        self._etags: dict[GV, str] = {}
        self._v2: dict[str, Any] | None = None
        self._v2_builtin: tuple[dict[str, Any], dict[str, Any]] | None = None

    # -- public API ------------------------------------------------------------------------------
    def v3_index(self) -> dict[str, Any]:
        """`{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=..."}, ...}}`."""
        out = {}
        with self._lock:  # one registry generation for the whole index
            for group, version in self._group_versions():
                path = f"apis/{group}/{version}" if group else f"api/{version}"
                out[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={self.etag_for(group, version)}"}
        return {"paths": dict(sorted(out.items()))}

    def v3_document(self, group: str, version: str) -> dict[str, Any] | None:
        """The OpenAPI 3.0 document of one group-version, or None if nothing is served there."""
        with self._lock:
            self._sync()
            gv = (group, version)
            doc = self._docs.get(gv)
            if doc is None:
                doc = self._build_v3(group, version)
                if doc is not None:
                    self._docs[gv] = doc
            return doc

    def etag_for(self, group: str, version: str) -> str:
        """Content hash of the group-version's document ("" if it is not served)."""
        with self._lock:
            doc = self.v3_document(group, version)
            if doc is None:
                return ""
            gv = (group, version)
            if gv not in self._etags:
                self._etags[gv] = _hash(doc)
            return self._etags[gv]

    def v2_document(self) -> dict[str, Any]:
        """The Swagger 2.0 document of everything served (`#/definitions/...` refs)."""
        with self._lock:
            self._sync()
            if self._v2 is None:
                self._v2 = self._build_v2()
            return self._v2

    # -- internals -----------------------------------------------------------------------------------
    def _sync(self) -> None:
        """Forget everything a CRD contributed once the registry changed."""
        generation = self._registry.generation
        if generation == self._generation:
            return
        current = {(rt.group, rt.version) for rt in self._registry if rt.crd}
        for gv in self._crd_gvs | current:
            self._docs.pop(gv, None)
            self._etags.pop(gv, None)
        self._crd_gvs = current
        self._v2 = None
        self._generation = generation

    def _group_versions(self) -> list[GV]:
        return sorted({(rt.group, rt.version) for rt in self._registry}, key=lambda gv: (gv[0] != "", gv))

    def _parts(self, types_: Iterable[ResourceType]) -> _GVParts:
        paths: dict[str, _PathItem] = {}
        roots = [STATUS, DELETE_OPTIONS, PATCH, API_RESOURCE_LIST]
        own: dict[str, Schema] = {}
        for rt in sorted(types_, key=lambda r: r.plural):
            if rt.crd:
                schemas = crd_schemas(rt)
                own.update(schemas)
                kind_name, list_name = crd_schema_names(rt)
                roots += [OBJECT_META, LIST_META]
            else:
                kind_name = self._schemas.kinds.get((rt.group, rt.version, rt.kind), "")
                list_name = self._schemas.kinds.get((rt.group, rt.version, rt.list_kind), "")
                if not kind_name:
                    continue  # no client model for this kind: nothing truthful to publish
                roots += [kind_name, list_name] if list_name else [kind_name]
            if rt.has_subresource("scale"):
                roots.append(SCALE)
            paths.update(_resource_paths(rt, kind_name, list_name, protobuf=not rt.crd))
        return _GVParts(paths, roots, own)

    def _build_v3(self, group: str, version: str) -> dict[str, Any] | None:
        types_ = self._registry.resources_in(group, version)
        if not types_:
            return None
        parts = self._parts(types_)
        root_path, root_item = _root_path(group, version)
        paths = {root_path: root_item, **parts.paths}
        components = {n: self._schemas.schemas[n] for n in self._schemas.closure(parts.roots)}
        components.update(parts.own_schemas)
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": self._kube_version},
            "paths": _render_v3(paths),
            "components": {
                "schemas": dict(sorted(components.items())),
                "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token "
                                                    "authentication", "name": "authorization", "in": "header"}},
            },
            "security": [{"BearerToken": []}],
        }

    def _build_v2(self) -> dict[str, Any]:
        if self._v2_builtin is None:
            builtin = [rt for rt in self._registry if not rt.crd]
            parts = self._parts(builtin)
            paths: dict[str, _PathItem] = {}
            for group, version in sorted({(rt.group, rt.version) for rt in builtin}):
                root_path, root_item = _root_path(group, version)
                paths[root_path] = root_item
            paths.update(parts.paths)
            definitions = {n: schema_to_v2(s) for n, s in self._schemas.schemas.items()}
            self._v2_builtin = (_render_v2(paths), definitions)
        paths_v2, definitions = dict(self._v2_builtin[0]), dict(self._v2_builtin[1])
        crd_types = [rt for rt in self._registry if rt.crd]
        if crd_types:
            parts = self._parts(crd_types)
            crd_paths: dict[str, _PathItem] = {}
            for group, version in sorted({(rt.group, rt.version) for rt in crd_types}):
                root_path, root_item = _root_path(group, version)
                crd_paths[root_path] = root_item
            crd_paths.update(parts.paths)
            paths_v2.update(_render_v2(crd_paths))
            definitions.update({n: schema_to_v2(s) for n, s in parts.own_schemas.items()})
        return {
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": self._kube_version},
            "paths": dict(sorted(paths_v2.items())),
            "definitions": dict(sorted(definitions.items())),
            "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication", "type": "apiKey",
                                                    "name": "authorization", "in": "header"}},
            "security": [{"BearerToken": []}],
        }
