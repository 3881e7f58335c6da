"""Structural checks of a built-in object against its Go types, before any semantic validation.

A real kube-apiserver decodes the request body into Go structs first. A wrong JSON type anywhere (a
string for `replicas`, a number in a ConfigMap's `data`, a map where a list of containers belongs) fails
that decode with `400 BadRequest` and a `json: cannot unmarshal ...` message, and unknown fields are
reported by strict field validation (`strict decoding error: unknown field "spec.foo"`), which kubectl
asks for by default. Semantic validation never sees such objects.

We need the same gate: the simulator must never store an object the strict `kubernetes` client models
cannot parse. Rather than hand-writing a schema for every kind, the walk reads the type information the
generated client models carry (`openapi_types`, `attribute_map`), so it covers every field of every
built-in kind. Quantities are the one exception the models cannot express (they are typed `str` but the
API accepts YAML numbers), so they are listed here.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from datetime import datetime
from typing import Any

from prophet_sre.sim.registry import ResourceType
from prophet_sre.sim.validation_base import TYPE_INVALID, FieldError, child
from prophet_sre.sim.validation_quantity import parse_quantity_with_format

_MAX_DEPTH = 64

# (model, python attribute) pairs whose values are resource.Quantity: strings or JSON numbers.
_QUANTITY_FIELDS = frozenset({
    ("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests"),
    ("V1VolumeResourceRequirements", "limits"), ("V1VolumeResourceRequirements", "requests"),
    ("V1LimitRangeItem", "default"), ("V1LimitRangeItem", "default_request"), ("V1LimitRangeItem", "max"),
    ("V1LimitRangeItem", "min"), ("V1LimitRangeItem", "max_limit_request_ratio"),
    ("V1NodeStatus", "allocatable"), ("V1NodeStatus", "capacity"),
    ("V1PodSpec", "overhead"), ("V1PodStatus", "allocated_resources"),
    ("V1ContainerStatus", "allocated_resources"),
    ("V1PersistentVolumeClaimStatus", "allocated_resources"), ("V1PersistentVolumeClaimStatus", "capacity"),
    ("V1PersistentVolumeSpec", "capacity"),
    ("V1ResourceQuotaSpec", "hard"), ("V1ResourceQuotaStatus", "hard"), ("V1ResourceQuotaStatus", "used"),
    ("V1EmptyDirVolumeSource", "size_limit"), ("V1ResourceFieldSelector", "divisor"),
    ("V1Overhead", "pod_fixed"),
})

_MODEL_OVERRIDES = {("", "Event"): "CoreV1Event", ("events.k8s.io", "Event"): "EventsV1Event"}
_PREFIX_RE = re.compile(r"^(?:[A-Z][a-z]+)?V\d+(?:alpha\d+|beta\d+)?(?=[A-Z])")
_RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@functools.cache
def _models() -> Any:
    import kubernetes.client.models as models  # noqa: PLC0415 - heavy import, needed lazily

    return models


@functools.cache
def model_class(name: str) -> Any:
    """The generated client model class called `name`, or None."""
    cls = getattr(_models(), name, None)
    return cls if cls is not None and hasattr(cls, "openapi_types") else None


def model_name(rt: ResourceType) -> str | None:
    """Name of the client model of a built-in kind (`V1Deployment`, `CoreV1Event`); None for CRDs."""
    if rt.crd:
        return None
    name = _MODEL_OVERRIDES.get((rt.group, rt.kind)) or f"{rt.version.capitalize()}{rt.kind}"
    return name if model_class(name) is not None else None


@functools.cache
def _fields(name: str) -> tuple[dict[str, tuple[str, str]], frozenset[str]]:
    """{json key: (python attribute, type string)} and the attributes typed IntOrString."""
    cls = model_class(name)
    by_json: dict[str, tuple[str, str]] = {}
    int_or_string: set[str] = set()
    for attr, type_str in cls.openapi_types.items():
        by_json[cls.attribute_map.get(attr, attr)] = (attr, type_str)
        if type_str == "object":
            ann = repr(cls.model_fields[attr].annotation) if attr in cls.model_fields else ""
            if "Annotated[int" in ann and "Annotated[str" in ann and "Dict" not in ann:
                int_or_string.add(attr)
    return by_json, frozenset(int_or_string)


def _go_struct(model: str) -> str:
    return _PREFIX_RE.sub("", model)


def _go_type(type_str: str) -> str:
    if type_str.startswith("List["):
        return "[]" + _go_type(type_str[5:-1])
    if type_str.startswith("Dict[str, "):
        return "map[string]" + _go_type(type_str[10:-1])
    return {"str": "string", "int": "int32", "float": "float64", "bool": "bool", "datetime": "v1.Time",
            "date": "v1.Time", "bytes": "[]uint8", "object": "interface {}"}.get(
        type_str, "v1." + _go_struct(type_str))


def _json_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _base64_error(s: str) -> str | None:
    """Go's base64.StdEncoding error for an invalid Secret value, or None when it decodes."""
    data = s.replace("\r", "").replace("\n", "")
    try:
        base64.b64decode(data, validate=True)
        return None
    except (binascii.Error, ValueError):
        pass
    for i, ch in enumerate(data):
        if not (ch.isascii() and (ch.isalnum() or ch in "+/=")):
            return f"illegal base64 data at input byte {i}"
    pad = data.find("=")
    if pad != -1 and pad < len(data) - 2:
        return f"illegal base64 data at input byte {pad}"
    return f"illegal base64 data at input byte {len(data) - len(data) % 4}"


class _Walk:
    """One pass over an object, collecting type errors and unknown fields."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.errors: list[FieldError] = []
        self.unknown: list[str] = []
        self.unknown_at: list[tuple[dict, Any]] = []
        """(parent object, key) of each unknown field, for pruning."""

    def mismatch(self, value: Any, path: str, gopath: str, struct: str, go_type: str, desc: str = "") -> None:
        what = desc or _json_kind(value)
        if isinstance(value, float) and go_type.startswith("int"):
            what = f"number {value!r}"
        msg = f"json: cannot unmarshal {what} into Go struct field {struct}.{gopath} of type {go_type}"
        self.errors.append(FieldError(TYPE_INVALID, path, msg, value))

    def model(self, name: str, obj: dict, path: str, gopath: str, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        by_json, ios = _fields(name)
        struct = _go_struct(name)
        for key, value in obj.items():
            spec = by_json.get(key) if isinstance(key, str) else None
            if spec is None:
                self.unknown.append(child(path, str(key)))
                self.unknown_at.append((obj, key))
                continue
            attr, type_str = spec
            self.value(type_str, value, child(path, key), child(gopath, key), struct,
                       (name, attr) in _QUANTITY_FIELDS, attr in ios, depth + 1)

    def value(self, type_str: str, v: Any, path: str, gopath: str, struct: str,
              quantity: bool, int_or_string: bool, depth: int) -> None:
        if v is None:
            return
        if type_str.startswith("List["):
            if not isinstance(v, list):
                self.mismatch(v, path, gopath, struct, _go_type(type_str))
                return
            inner = type_str[5:-1]
            for i, item in enumerate(v):
                self.value(inner, item, f"{path}[{i}]", gopath, struct, quantity, int_or_string, depth + 1)
            return
        if type_str.startswith("Dict[str, "):
            if not isinstance(v, dict):
                self.mismatch(v, path, gopath, struct, _go_type(type_str))
                return
            inner = type_str[10:-1]
            for k, item in v.items():
                self.value(inner, item, f"{path}[{k}]", gopath, struct, quantity, int_or_string, depth + 1)
            return
        if type_str == "str":
            ok = isinstance(v, str) or (quantity and isinstance(v, int | float) and not isinstance(v, bool))
            if not ok:
                self.mismatch(v, path, gopath, struct, "resource.Quantity" if quantity else "string")
            elif quantity:
                try:
                    parse_quantity_with_format(v)
                except ValueError as e:  # a real server fails the decode with the parser's text
                    self.errors.append(FieldError(TYPE_INVALID, path, str(e), v))
        elif type_str == "int":
            if not isinstance(v, int) or isinstance(v, bool):
                self.mismatch(v, path, gopath, struct, "int32")
        elif type_str == "float":
            if not isinstance(v, int | float) or isinstance(v, bool):
                self.mismatch(v, path, gopath, struct, "float64")
        elif type_str == "bool":
            if not isinstance(v, bool):
                self.mismatch(v, path, gopath, struct, "bool")
        elif type_str in ("datetime", "date"):
            self.timestamp(v, path, gopath, struct)
        elif type_str == "bytes":
            if not isinstance(v, str):
                self.mismatch(v, path, gopath, struct, "[]uint8")
            elif (err := _base64_error(v)) is not None:
                self.errors.append(FieldError(TYPE_INVALID, path, err, v))
        elif type_str == "object":
            if int_or_string and not (isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))):
                what = f"number {v!r}" if isinstance(v, float) else _json_kind(v)
                self.errors.append(FieldError(TYPE_INVALID, path,
                                              f"json: cannot unmarshal {what} into Go value of type int32", v))
        elif model_class(type_str) is not None:
            if not isinstance(v, dict):
                self.mismatch(v, path, gopath, struct, _go_type(type_str))
            else:
                self.model(type_str, v, path, gopath, depth)

    def timestamp(self, v: Any, path: str, gopath: str, struct: str) -> None:
        if not isinstance(v, str):
            self.mismatch(v, path, gopath, struct, "v1.Time")
            return
        ok = bool(_RFC3339_RE.match(v))
        if ok:
            try:
                datetime.fromisoformat(v.replace("z", "Z").replace("Z", "+00:00"))
            except ValueError:
                ok = False
        if not ok:
            self.errors.append(FieldError(
                TYPE_INVALID, path,
                f'parsing time "{v}" as "2006-01-02T15:04:05Z07:00": cannot parse "{v}" as "2006"', v))


def check_types(rt: ResourceType, obj: Any) -> tuple[list[FieldError], list[str]]:
    """(decode errors, unknown field paths) of `obj` read as `rt`'s Go type.

    Custom resources get only their `metadata` checked: their schema is the CRD's business.
    """
    walk = _walk(rt, obj)
    return walk.errors, walk.unknown


def prune_unknown_fields(rt: ResourceType, obj: Any) -> list[str]:
    """Drop the fields `rt`'s Go type does not have, in place, as decoding a request body into it does
    (`fieldValidation=Ignore|Warn`); returns their paths, for the Warn mode's warnings."""
    walk = _walk(rt, obj)
    for parent, key in walk.unknown_at:
        parent.pop(key, None)
    return walk.unknown


def _walk(rt: ResourceType, obj: Any) -> _Walk:
    walk = _Walk(rt.kind)
    if not isinstance(obj, dict):
        walk.errors.append(FieldError(
            TYPE_INVALID, "", f"json: cannot unmarshal {_json_kind(obj)} into Go value of type {rt.kind}", obj))
        return walk
    name = model_name(rt)
    if name is None:
        for key in ("apiVersion", "kind"):
            if key in obj and obj[key] is not None and not isinstance(obj[key], str):
                walk.mismatch(obj[key], key, key, rt.kind, "string")
        meta = obj.get("metadata")
        if meta is not None:
            if isinstance(meta, dict):
                walk.model("V1ObjectMeta", meta, "metadata", "metadata", 1)
            else:
                walk.mismatch(meta, "metadata", "metadata", rt.kind, "v1.ObjectMeta")
        return walk
    walk.model(name, obj, "", "", 0)
    return walk


def unknown_fields(rt: ResourceType, obj: Any) -> list[str]:
    """Paths of fields the kind does not have, as strict field validation names them (`spec.foo`)."""
    return check_types(rt, obj)[1]


def decode_error_message(rt: ResourceType, error: FieldError) -> str:
    """The 400 text a real server sends when decoding fails: `X in version "v1" cannot be handled as a X: ...`."""
    return f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {error.detail}'


def strict_decoding_message(paths: list[str]) -> str:
    """The 400 text for unknown fields under fieldValidation=Strict."""
    return "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in paths)
