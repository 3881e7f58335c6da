"""OpenAPI schemas for the built-in kinds, derived from the kubernetes client's pydantic models.

The kubernetes Python client is generated from the real apiserver's OpenAPI document, so its models
carry the field names (as aliases), descriptions and required flags we need; walking them gives us a
faithful copy of the real schemas without shipping a multi-megabyte JSON file. What the client lost
in generation is restored from small tables: API groups of nested types and Quantity fields here,
the strategic-merge annotations from `patch.patch_annotations` (the same table the server's patch code
uses, so kubectl's client-side patches and the server agree).

Schemas are OpenAPI v3 (`#/components/schemas/...` refs, `allOf` around refs that carry a
description, like kube-apiserver writes them). `openapi.py` assembles them into documents.
"""

from __future__ import annotations

import copy
import inspect
import re
import threading
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from kubernetes.client import models as k8s_models
from pydantic import BaseModel

from prophet_sre.sim.patch import patch_annotations
from prophet_sre.sim.registry import ResourceType

Schema = dict[str, Any]
ModelClass = type[BaseModel]

REF_PREFIX = "#/components/schemas/"
GVK_EXT = "x-kubernetes-group-version-kind"
META_GROUP = "meta.k8s.io"  # pseudo-group for apimachinery's meta/v1 types

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
STATUS = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
DELETE_OPTIONS = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
API_RESOURCE_LIST = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList"
PATCH = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
SCALE = "io.k8s.api.autoscaling.v1.Scale"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

API_VERSION_DESC = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources")
KIND_DESC = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds")
OBJECT_META_DESC = ("Standard object's metadata. More info: "
                    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")
LIST_META_DESC = ("Standard list metadata. More info: "
                  "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds")

# Hand-written schemas for types the client models as plain `str`/`object`.
_SCALAR_SCHEMAS: dict[str, Schema] = {
    INT_OR_STRING: {
        "description": "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML "
                       "marshalling and unmarshalling, it produces or consumes the inner type.  This allows you "
                       "to have, for example, a JSON field that can accept a name or number.",
        "format": "int-or-string",
        "x-kubernetes-int-or-string": True,
    },
    QUANTITY: {
        "description": "Quantity is a fixed-point representation of a number. It provides convenient "
                       "marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() "
                       "accessors. Serialized as a string such as \"100m\", \"1.5Gi\" or \"2\".",
        "x-kubernetes-int-or-string": True,
    },
    PATCH: {
        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request "
                       "body.",
        "type": "object",
    },
}

# -- naming -------------------------------------------------------------------------------------

_CLASS_RE = re.compile(r"^(?P<prefix>[A-Z][a-z]+)?(?P<version>V\d+(?:(?:alpha|beta)\d+)?)(?P<name>[A-Z]\w*)$")

# Groups the client spells out as a class-name prefix when two groups define the same type name.
_PREFIX_GROUPS = {
    "Core": "", "Events": "events.k8s.io", "Discovery": "discovery.k8s.io", "Rbac": "rbac.authorization.k8s.io",
    "Storage": "storage.k8s.io", "Authentication": "authentication.k8s.io", "Resource": "resource.k8s.io",
    "Admissionregistration": "admissionregistration.k8s.io", "Apiextensions": "apiextensions.k8s.io",
    "Apiregistration": "apiregistration.k8s.io", "Flowcontrol": "flowcontrol.apiserver.k8s.io",
}

# apimachinery's meta/v1 types: reached from every group, owned by none.
_META_TYPES = frozenset({
    "ObjectMeta", "ListMeta", "LabelSelector", "LabelSelectorRequirement", "OwnerReference",
    "ManagedFieldsEntry", "Condition", "Status", "StatusDetails", "StatusCause", "DeleteOptions",
    "Preconditions", "WatchEvent", "APIResource", "APIResourceList", "APIGroup", "APIGroupList", "APIVersions",
    "GroupVersionForDiscovery", "ServerAddressByClientCIDR", "FieldSelectorRequirement",
})

# Nested types whose home group is not the first group that reaches them (see `_assign_groups`).
_GROUP_OVERRIDES = {
    "TopologySelectorTerm": "", "TopologySelectorLabelRequirement": "", "UserInfo": "authentication.k8s.io",
    "Scale": "autoscaling", "ScaleSpec": "autoscaling", "ScaleStatus": "autoscaling",
}

# Schema-name package for groups that do not live under k8s.io/api.
_GROUP_PACKAGES = {
    "": "io.k8s.api.core",
    META_GROUP: "io.k8s.apimachinery.pkg.apis.meta",
    "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
    "apiregistration.k8s.io": "io.k8s.kube-aggregator.pkg.apis.apiregistration",
}


def group_package(group: str, builtin: bool = True) -> str:
    """`io.k8s.api.apps` for apps; reversed domain (`com.example.stable`) for a CRD's group."""
    if group in _GROUP_PACKAGES:
        return _GROUP_PACKAGES[group]
    if builtin:
        return "io.k8s.api." + group.split(".")[0]
    return ".".join(reversed(group.split(".")))


def ref(name: str) -> Schema:
    return {"$ref": REF_PREFIX + name}


def _split_class_name(cls: ModelClass) -> tuple[str | None, str, str]:
    """(prefix, version, bare name) of `CoreV1EndpointPort` → ("Core", "v1", "EndpointPort")."""
    m = _CLASS_RE.match(cls.__name__)
    if not m:
        return None, "v1", cls.__name__
    return m["prefix"], m["version"].lower(), m["name"]


def model_class(group: str, version: str, kind: str) -> ModelClass | None:
    """The client model of a built-in kind: `CoreV1Event` before `V1Event`, as the client names them."""
    ver = version[:1].upper() + version[1:]
    prefix = (group.split(".")[0] or "core").capitalize()
    for name in (prefix + ver + kind, ver + kind):
        cls = getattr(k8s_models, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            return cls
    return None


# -- tables the client does not carry ------------------------------------------------------------

# (class name, wire field) -> (x-kubernetes-list-type, x-kubernetes-list-map-keys)
_LIST_TYPES: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("V1Container", "ports"): ("map", ("containerPort", "protocol")),
    ("V1EphemeralContainer", "ports"): ("map", ("containerPort", "protocol")),
    ("V1ServiceSpec", "ports"): ("map", ("port", "protocol")),
    ("V1ObjectMeta", "finalizers"): ("set", ()),
    ("V1ObjectMeta", "ownerReferences"): ("map", ("uid",)),
    ("V1DeploymentStatus", "conditions"): ("map", ("type",)),
    ("V1ReplicaSetStatus", "conditions"): ("map", ("type",)),
    ("V1StatefulSetStatus", "conditions"): ("map", ("type",)),
    ("V1DaemonSetStatus", "conditions"): ("map", ("type",)),
    ("V1ServiceStatus", "conditions"): ("map", ("type",)),
    ("V2HorizontalPodAutoscalerStatus", "conditions"): ("map", ("type",)),
}

# Fields the client types as `str`/`Dict[str, str]` that are resource.Quantity in the API.
_QUANTITY_FIELDS: dict[str, frozenset[str]] = {
    "V1ResourceRequirements": frozenset({"limits", "requests"}),
    "V1VolumeResourceRequirements": frozenset({"limits", "requests"}),
    "V1PodSpec": frozenset({"overhead"}),
    "V1EmptyDirVolumeSource": frozenset({"sizeLimit"}),
    "V1ResourceQuotaSpec": frozenset({"hard"}),
    "V1ResourceQuotaStatus": frozenset({"hard", "used"}),
    "V1LimitRangeItem": frozenset({"default", "defaultRequest", "max", "maxLimitRequestRatio", "min"}),
    "V1NodeStatus": frozenset({"allocatable", "capacity"}),
    "V1PersistentVolumeSpec": frozenset({"capacity"}),
    "V1PersistentVolumeClaimStatus": frozenset({"allocatedResources", "capacity"}),
    "V1ContainerStatus": frozenset({"allocatedResources"}),
    "V2MetricTarget": frozenset({"averageValue", "value"}),
    "V2MetricValueStatus": frozenset({"averageValue", "value"}),
}


# -- python type -> schema ------------------------------------------------------------------------

def wire_fields(cls: ModelClass) -> dict[str, Any]:
    """{JSON field name: pydantic FieldInfo} of a client model."""
    return {(f.serialization_alias or n): f for n, f in cls.model_fields.items()}


def _strip(tp: Any) -> Any:
    """Drop `Annotated[...]` and `Optional[...]`; keep real unions as they are."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _strip(args[0])
        return typing.Union[tuple(_strip(a) for a in args)]  # noqa: UP007 - rebuilding a runtime union
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def nested_model(tp: Any) -> ModelClass | None:
    """The model a field holds, looking through Optional/List/Dict; None for scalars."""
    tp = _strip(tp)
    if _is_model(tp):
        return tp
    if typing.get_origin(tp) in (list, dict):
        return nested_model(typing.get_args(tp)[-1])
    return None


def class_description(cls: ModelClass) -> str:
    doc = inspect.cleandoc(cls.__doc__ or "")
    return doc.split("\nAttributes:", 1)[0].strip()


class _Converter:
    """Turns model classes into v3 schemas, recording which schema names each one references."""

    def __init__(self, names: dict[ModelClass, str]) -> None:
        self.names = names

    def type_schema(self, tp: Any, deps: set[str], quantity: bool = False) -> Schema:
        tp = _strip(tp)
        origin = typing.get_origin(tp)
        if _is_model(tp):
            deps.add(self.names[tp])
            return {"allOf": [ref(self.names[tp])]}
        if origin is list:
            return {"type": "array", "items": self.type_schema(typing.get_args(tp)[0], deps, quantity)}
        if origin is dict:
            value = _strip(typing.get_args(tp)[1])
            if value is Any:
                return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            return {"type": "object", "additionalProperties": self.type_schema(value, deps, quantity)}
        if origin in (typing.Union, types.UnionType):
            members = set(typing.get_args(tp))
            if members == {int, str}:
                deps.add(INT_OR_STRING)
                return {**ref(INT_OR_STRING), "x-kubernetes-int-or-string": True}
            if members <= {int, float}:
                return {"type": "number", "format": "double"}
            if members == {bytes, str}:  # base64 on the wire (Secret.data)
                return {"type": "string", "format": "byte"}
            return {"x-kubernetes-preserve-unknown-fields": True}
        if quantity and tp is str:
            deps.add(QUANTITY)
            return {**ref(QUANTITY), "x-kubernetes-int-or-string": True}
        return _scalar(tp)

    def model_schema(self, cls: ModelClass) -> tuple[Schema, set[str]]:
        deps: set[str] = set()
        props: dict[str, Schema] = {}
        required: list[str] = []
        quantities = _QUANTITY_FIELDS.get(cls.__name__, frozenset())
        for wire, info in wire_fields(cls).items():
            prop = self.type_schema(info.annotation, deps, wire in quantities)
            prop = _describe(prop, info.description, info.annotation, wire)
            list_type = _LIST_TYPES.get((cls.__name__, wire))
            if list_type:
                prop["x-kubernetes-list-type"] = list_type[0]
                if list_type[1]:
                    prop["x-kubernetes-list-map-keys"] = list(list_type[1])
            props[wire] = prop
            if info.is_required():
                required.append(wire)
        schema: Schema = {"description": class_description(cls), "type": "object", "properties": props}
        if required:
            schema["required"] = required
        return schema, deps


def _scalar(tp: Any) -> Schema:
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer", "format": "int64"}
    if tp is float:
        return {"type": "number", "format": "double"}
    if tp is str:
        return {"type": "string"}
    if tp in (bytes, bytearray):
        return {"type": "string", "format": "byte"}
    if tp is datetime:
        return {"type": "string", "format": "date-time"}
    if tp is date:
        return {"type": "string", "format": "date"}
    return {"x-kubernetes-preserve-unknown-fields": True}  # Any / object: arbitrary JSON


def _describe(prop: Schema, description: str | None, annotation: Any, wire: str) -> Schema:
    """Attach the field's description; for bare refs the client dropped it, so use the target type's."""
    if not description:
        target = nested_model(annotation) if "allOf" in prop else None
        if target is not None:
            if wire == "metadata" and target.__name__ == "V1ObjectMeta":
                description = OBJECT_META_DESC
            elif wire == "metadata" and target.__name__ == "V1ListMeta":
                description = LIST_META_DESC
            else:
                description = class_description(target)
    if description:
        prop = {"description": description, **prop}
    return prop


# -- the schema set ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SchemaSet:
    """Every built-in schema, by real name, plus the reference graph to cut per-group-version subsets."""

    schemas: dict[str, Schema]
    deps: dict[str, frozenset[str]]
    kinds: dict[tuple[str, str, str], str]  # (group, version, kind) -> schema name

    def closure(self, roots: Iterable[str]) -> list[str]:
        """Names reachable from `roots` (roots included), sorted, so a document's refs all resolve."""
        seen: set[str] = set()
        stack = [r for r in roots if r in self.schemas]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            stack.extend(d for d in self.deps.get(name, ()) if d not in seen)
        return sorted(seen)


def _model_deps(cls: ModelClass) -> list[ModelClass]:
    out = []
    for info in cls.model_fields.values():
        nested = nested_model(info.annotation)
        if nested is not None:
            out.append(nested)
    return out


def _assign_groups(roots: list[tuple[ModelClass, str]]) -> dict[ModelClass, str]:
    """Give each reachable model a home group.

    The client drops Go package information, so a nested type belongs to the first root (core kinds
    first) that reaches it, unless its name is a meta/v1 type, it carries a group prefix, or it is in
    `_GROUP_OVERRIDES`. Good enough for names that look right and resolve.
    """
    groups: dict[ModelClass, str] = {}
    for root, group in roots:
        stack = [(root, group)]
        while stack:
            cls, inherited = stack.pop()
            if cls in groups:
                continue
            prefix, _, bare = _split_class_name(cls)
            if cls is root:
                home = group
            elif bare in _META_TYPES:
                home = META_GROUP
            elif prefix is not None:
                home = _PREFIX_GROUPS.get(prefix, prefix.lower() + ".k8s.io")
            else:
                home = _GROUP_OVERRIDES.get(bare, inherited)
            groups[cls] = home
            stack.extend((d, home if home != META_GROUP else inherited) for d in _model_deps(cls))
    return groups


def _apply_patch_annotations(kinds: dict[str, ModelClass], schemas: dict[str, Schema],
                             names: dict[ModelClass, str]) -> None:
    """Copy the strategic-merge metadata the server patches with (`patch.patch_annotations`) onto the
    schemas, so kubectl's client-side apply computes the same list merges the server performs."""
    for kind, cls in kinds.items():
        for path, (strategy, key) in patch_annotations(kind).items():
            owner, wire = _resolve_path(cls, path)
            if owner is None:
                continue  # the table is per kind, not per version (autoscaling/v1 HPA has no conditions)
            prop = schemas[names[owner]]["properties"][wire]
            prop["x-kubernetes-patch-strategy"] = strategy
            if key:
                prop["x-kubernetes-patch-merge-key"] = key


def _resolve_path(cls: ModelClass, path: str) -> tuple[ModelClass | None, str]:
    """The model that declares the last field of a dotted path (list segments are transparent)."""
    parts = path.split(".")
    cur: ModelClass | None = cls
    for part in parts[:-1]:
        info = wire_fields(cur).get(part) if cur else None
        cur = nested_model(info.annotation) if info else None
    if cur is None or parts[-1] not in wire_fields(cur):
        return None, parts[-1]
    return cur, parts[-1]


def build_schema_set(types_: Iterable[ResourceType]) -> SchemaSet:
    """Schemas for the given built-in types, their List kinds, Scale, and the meta types paths use."""
    ordered = sorted((rt for rt in types_ if not rt.crd), key=lambda rt: rt.group != "")
    roots: list[tuple[ModelClass, str]] = []
    gvk_of: dict[ModelClass, list[dict[str, str]]] = {}
    kind_classes: dict[str, ModelClass] = {}
    for rt in ordered:
        for kind in (rt.kind, rt.list_kind):
            cls = model_class(rt.group, rt.version, kind)
            if cls is None:
                continue
            roots.append((cls, rt.group))
            gvk_of.setdefault(cls, []).append({"group": rt.group, "kind": kind, "version": rt.version})
            if kind == rt.kind:
                kind_classes.setdefault(rt.kind, cls)
    roots.append((k8s_models.V1Scale, "autoscaling"))
    gvk_of[k8s_models.V1Scale] = [{"group": "autoscaling", "kind": "Scale", "version": "v1"}]
    for cls in (k8s_models.V1Status, k8s_models.V1DeleteOptions, k8s_models.V1APIResourceList):
        roots.append((cls, META_GROUP))

    groups = _assign_groups(roots)
    names: dict[ModelClass, str] = {}
    owners: dict[str, ModelClass] = {}
    for cls, group in groups.items():
        _, version, bare = _split_class_name(cls)
        name = f"{group_package(group)}.{version}.{bare}"
        if name in owners:
            raise ValueError(f"schema name {name} claimed by {owners[name].__name__} and {cls.__name__}")
        names[cls], owners[name] = name, cls

    conv = _Converter(names)
    schemas: dict[str, Schema] = {}
    deps: dict[str, frozenset[str]] = {}
    for cls, name in names.items():
        schema, refs = conv.model_schema(cls)
        if cls in gvk_of:
            schema[GVK_EXT] = gvk_of[cls]
        schemas[name], deps[name] = schema, frozenset(refs)
    for name, schema in _SCALAR_SCHEMAS.items():
        schemas[name] = dict(schema)
        deps[name] = frozenset()
    _apply_patch_annotations(kind_classes, schemas, names)

    kinds = {(g["group"], g["version"], g["kind"]): names[cls] for cls, gvks in gvk_of.items() for g in gvks}
    return SchemaSet(schemas=schemas, deps=deps, kinds=kinds)


# -- CRD schemas --------------------------------------------------------------------------------------

def crd_schema_names(rt: ResourceType) -> tuple[str, str]:
    """(`com.example.stable.v1.CronTab`, `...CronTabList`): the names kube-apiserver gives a CRD's kinds."""
    base = f"{group_package(rt.group, builtin=False)}.{rt.version}.{rt.kind}"
    return base, base + "List"


def crd_schemas(rt: ResourceType) -> dict[str, Schema]:
    """The published schemas of a CRD version: its openAPIV3Schema plus apiVersion/kind/metadata, and
    the List kind, both with their GVK (copied: the registry's dict stays untouched)."""
    kind_name, list_name = crd_schema_names(rt)
    schema: Schema = copy.deepcopy(rt.schema) if rt.schema else {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema.setdefault("type", "object")
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"description": API_VERSION_DESC, "type": "string"}
    props["kind"] = {"description": KIND_DESC, "type": "string"}
    props["metadata"] = {"allOf": [ref(OBJECT_META)], "description": OBJECT_META_DESC}
    schema[GVK_EXT] = [{"group": rt.group, "kind": rt.kind, "version": rt.version}]
    list_schema: Schema = {
        "description": f"{rt.kind}List is a list of {rt.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": API_VERSION_DESC, "type": "string"},
            "items": {"description": f"List of {rt.plural}. More info: "
                      "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md",
                      "type": "array", "items": ref(kind_name)},
            "kind": {"description": KIND_DESC, "type": "string"},
            "metadata": {"allOf": [ref(LIST_META)], "description": LIST_META_DESC},
        },
        GVK_EXT: [{"group": rt.group, "kind": rt.list_kind, "version": rt.version}],
    }
    return {kind_name: schema, list_name: list_schema}


# -- Swagger 2.0 conversion -------------------------------------------------------------------------

_V3_ONLY_KEYWORDS = frozenset({"nullable", "oneOf", "anyOf", "not"})
_SCHEMA_MAP_KEYWORDS = frozenset({"properties", "patternProperties", "definitions"})
_SCHEMA_KEYWORDS = frozenset({"items", "additionalProperties", "additionalItems"})


def v2_ref(v3_ref: str) -> str:
    return "#/definitions/" + v3_ref.removeprefix(REF_PREFIX)


def schema_to_v2(schema: Any) -> Any:
    """A v3 schema as Swagger 2.0 has it: `$ref` with siblings instead of `allOf`, no v3-only keywords."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict) and "$ref" in all_of[0]:
        out["$ref"] = v2_ref(all_of[0]["$ref"])
    for key, value in schema.items():
        if key in _V3_ONLY_KEYWORDS or (key == "allOf" and "$ref" in out):
            continue
        if key == "$ref" and isinstance(value, str):
            out[key] = v2_ref(value)
        elif key in _SCHEMA_MAP_KEYWORDS and isinstance(value, dict):
            out[key] = {k: schema_to_v2(v) for k, v in value.items()}
        elif key in _SCHEMA_KEYWORDS:
            out[key] = [schema_to_v2(v) for v in value] if isinstance(value, list) else schema_to_v2(value)
        elif key == "allOf" and isinstance(value, list):
            out[key] = [schema_to_v2(v) for v in value]
        else:
            out[key] = value
    return out


_CACHE: dict[tuple, SchemaSet] = {}
_CACHE_LOCK = threading.Lock()


def builtin_schema_set(types_: Iterable[ResourceType]) -> SchemaSet:
    """`build_schema_set`, computed once per process for each distinct set of built-in types."""
    builtin_types = [rt for rt in types_ if not rt.crd]
    key = tuple(sorted({(rt.group, rt.version, rt.kind, rt.plural) for rt in builtin_types}))
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            cached = _CACHE[key] = build_schema_set(builtin_types)
        return cached
