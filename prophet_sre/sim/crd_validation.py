"""Structural-schema handling of custom resources: pruning, defaulting and validation against a CRD.

A real kube-apiserver never stores a custom resource as sent. Decoding the request prunes every field
the served version's `openAPIV3Schema` does not declare (unless `x-kubernetes-preserve-unknown-fields`
keeps it), drops `null`s of non-nullable fields that have no default, applies the schema's `default`s,
and then validates the object with kube-openapi's validators. This module does the same, in that order,
so that an invalid `AutonomousAction` (or Cluster API object, ...) is refused by the simulator with the
words and the 422 `details.causes` a real cluster sends:

- `unknown_fields` / `prune`: what pruning drops, named the way strict field validation reports it
  (`spec.foo`, `spec.items[0].bar`); `handlers.check_field_validation` turns them into the 400 of
  `fieldValidation=Strict` or the `Warning` headers of `Warn`;
- `prepare`: prune + null-pruning + defaulting, in place (the mutating half, run by admission);
- `validate`: kube-openapi's checks - type (integer accepted for number, integral floats for integer,
  `x-kubernetes-int-or-string`, `nullable`), allOf/anyOf/oneOf/not, string length and pattern, the cheap
  formats (date-time, date, uuid, ipv4, ipv6, cidr, byte; unknown formats are skipped), numeric bounds
  (OpenAPI 3.0 boolean `exclusiveMinimum`/`exclusiveMaximum`), items and item counts, enum, properties,
  `additionalProperties`, property counts and `required` - with errors converted to `field.Error`s as
  apiextensions-apiserver converts them (FieldValueRequired, FieldValueNotSupported, FieldValueTooLong,
  FieldValueTooMany, FieldValueTypeInvalid, FieldValueInvalid + "in body should be ..." texts);
- validation ratcheting (on by default since Kubernetes 1.30): on update, a value equal to the old
  object's value at the same place is not re-validated, so an unchanged field that a newer schema would
  refuse does not block, say, a status update.

Not implemented: `x-kubernetes-validations` (CEL rules) are ignored entirely; list-type set/map
uniqueness (`x-kubernetes-list-type`) and the metadata of embedded resources are not checked. The root's
`apiVersion`, `kind` and `metadata` are left to the generic ObjectMeta checks (`validation_meta`).

Everything here is pure and never raises on odd input: a malformed schema node is treated as "anything".
"""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from typing import Any

from prophet_sre.sim.crd_formats import FORMATS
from prophet_sre.sim.registry import ResourceType
from prophet_sre.sim.validation_base import (
    INTERNAL,
    INVALID,
    NOT_SUPPORTED,
    REQUIRED,
    TOO_MANY,
    TYPE_INVALID,
    FieldError,
    GoLiteral,
    go_quote,
    too_long,
)

Obj = dict[str, Any]
_META_KEYS = ("apiVersion", "kind", "metadata")
_MISSING: Any = object()


# --- schema access ------------------------------------------------------------------------------------
def served_schema(rt: ResourceType) -> Obj | None:
    """The openAPIV3Schema of the version `rt` serves, or None (no schema: nothing to prune or check)."""
    return rt.schema if rt.crd and isinstance(rt.schema, dict) else None


def _node(s: Any) -> Obj | None:
    return s if isinstance(s, dict) else None


def _props(s: Obj) -> Obj:
    p = s.get("properties")
    return p if isinstance(p, dict) else {}


def _preserves(s: Obj) -> bool:
    return s.get("x-kubernetes-preserve-unknown-fields") is True


def _types(s: Obj) -> list[str]:
    t = s.get("type")
    if isinstance(t, str) and t:
        return [t]
    if isinstance(t, list):
        return [x for x in t if isinstance(x, str)]
    if s.get("x-kubernetes-int-or-string") is True:
        return ["integer", "string"]
    return []


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "unknown"


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _root_view(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in _META_KEYS}


# --- pruning --------------------------------------------------------------------------------------------
def _prune(x: Any, s: Obj | None, path: str, out: list[str], *, embedded: bool = False) -> None:
    """structural pruning: drop what `s` does not declare, recording `spec.foo`-style paths."""
    if s is not None and _preserves(s):
        _skip_prune(x, s, path, out)
        return
    if isinstance(x, dict):
        props = _props(s) if s is not None else {}
        addl = s.get("additionalProperties") if s is not None else None
        embedded = embedded or (s is not None and s.get("x-kubernetes-embedded-resource") is True)
        for k in list(x):
            v = x[k]
            if embedded and ((k in ("apiVersion", "kind") and isinstance(v, str))
                             or (k == "metadata" and isinstance(v, dict))):
                continue
            here = f"{path}.{k}" if path else k
            if k in props:
                _prune(v, _node(props[k]), here, out)
            elif isinstance(addl, dict):
                _prune(v, addl, here, out)
            elif addl is True:
                continue
            else:
                if not (not path and k in _META_KEYS):  # wrongly typed root meta fields go silently
                    out.append(here)
                del x[k]
    elif isinstance(x, list):
        items = _node(s.get("items")) if s is not None else None
        for i, v in enumerate(x):
            _prune(v, items, f"{path}[{i}]", out)


def _skip_prune(x: Any, s: Obj, path: str, out: list[str]) -> None:
    """x-kubernetes-preserve-unknown-fields: keep unknown keys, still prune below declared ones."""
    if isinstance(x, dict):
        props = _props(s)
        addl = s.get("additionalProperties")
        for k, v in x.items():
            here = f"{path}.{k}" if path else k
            if k in props:
                _prune(v, _node(props[k]), here, out)
            elif isinstance(addl, dict):
                _prune(v, addl, here, out)
    elif isinstance(x, list):
        items = _node(s.get("items"))
        if items is not None:
            for i, v in enumerate(x):
                _prune(v, items, f"{path}[{i}]", out)


def prune(schema: Obj | None, obj: Obj) -> list[str]:
    """Drop, in place, every field of the custom resource `obj` that `schema` does not keep; return their
    paths. The root's apiVersion, kind and metadata are always kept (the root is an embedded resource)."""
    if schema is None or not isinstance(obj, dict):
        return []
    out: list[str] = []
    _prune(obj, schema, "", out, embedded=True)
    return out


def unknown_fields(rt: ResourceType, obj: Any) -> list[str]:
    """The paths pruning would drop from `obj` (not modified), as strict field validation names them."""
    schema = served_schema(rt)
    if schema is None or not isinstance(obj, dict):
        return []
    return prune(schema, copy.deepcopy(obj))


# --- nulls and defaults -----------------------------------------------------------------------------------
def _non_nullable_null(v: Any, s: Obj | None) -> bool:
    return v is None and s is not None and "default" in s and s.get("nullable") is not True


def _prune_nulls(x: Any, s: Obj | None) -> None:
    """PruneNonNullableNullsWithoutDefaults: `field: null` of a non-nullable field without default goes."""
    if s is None:
        return
    if isinstance(x, dict):
        props = _props(s)
        addl = _node(s.get("additionalProperties"))
        for k in list(x):
            p = _node(props.get(k))
            if p is not None:
                if x[k] is None and "default" not in p and p.get("nullable") is not True:
                    del x[k]
                    continue
                _prune_nulls(x[k], p)
            elif addl is not None:
                _prune_nulls(x[k], addl)
    elif isinstance(x, list):
        items = _node(s.get("items"))
        for v in x:
            _prune_nulls(v, items)


def _default(x: Any, s: Obj | None) -> None:
    """structural defaulting: missing (or non-nullable null) fields get a copy of their `default`."""
    if s is None:
        return
    if isinstance(x, dict):
        props = _props(s)
        for k, p in props.items():
            p = _node(p)
            if p is None or "default" not in p:
                continue
            if k not in x or _non_nullable_null(x[k], p):
                x[k] = copy.deepcopy(p["default"])
        addl = _node(s.get("additionalProperties"))
        for k in list(x):
            if k in props:
                _default(x[k], _node(props[k]))
            elif addl is not None:
                if _non_nullable_null(x[k], addl):
                    x[k] = copy.deepcopy(addl["default"])
                _default(x[k], addl)
    elif isinstance(x, list):
        items = _node(s.get("items"))
        for i in range(len(x)):
            if _non_nullable_null(x[i], items):
                x[i] = copy.deepcopy(items["default"])  # type: ignore[index]
            _default(x[i], items)


def prepare(rt: ResourceType, obj: Obj) -> list[str]:
    """The mutating half, in place: prune unknown fields, drop non-nullable nulls, apply defaults.
    Returns the pruned paths."""
    schema = served_schema(rt)
    if schema is None or not isinstance(obj, dict):
        return []
    pruned = prune(schema, obj)
    view = _root_view(obj)
    _prune_nulls(view, _root_schema(schema))
    _default(view, _root_schema(schema))
    for k in [k for k in obj if k not in _META_KEYS and k not in view]:
        del obj[k]
    obj.update(view)
    return pruned


def _root_schema(schema: Obj) -> Obj:
    """The root schema without apiVersion/kind/metadata (left to the ObjectMeta checks)."""
    out = dict(schema)
    props = {k: v for k, v in _props(schema).items() if k not in _META_KEYS}
    out["properties"] = props
    req = schema.get("required")
    if isinstance(req, list):
        out["required"] = [r for r in req if r not in _META_KEYS]
    return out


# --- Go renderings --------------------------------------------------------------------------------------
def go_float(x: float | int) -> str:
    """fmt's `%v` of a float64: shortest digits, exponent form below 1e-4 and from 1e+06 (`1e+06`)."""
    f = float(x)
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if str(f).startswith("-") else "0"
    sign, digits, exp = Decimal(repr(f)).normalize().as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    dexp = len(digits) + int(exp) - 1  # decimal exponent of the first digit
    neg = "-" if sign else ""
    if dexp < -4 or dexp >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{neg}{mant}e{'-' if dexp < 0 else '+'}{abs(dexp):02d}"
    if dexp < 0:
        return f"{neg}0.{'0' * (-dexp - 1)}{ds}"
    if len(ds) <= dexp + 1:
        return neg + ds + "0" * (dexp + 1 - len(ds))
    return f"{neg}{ds[:dexp + 1]}.{ds[dexp + 1:]}"


def _value(v: Any) -> Any:
    """A bad value as field.Error prints it (`%v`: floats in Go's shortest form)."""
    if isinstance(v, float):
        return GoLiteral(go_float(v))
    return v


# --- validation -------------------------------------------------------------------------------------------
def _same(a: Any, b: Any) -> bool:
    """JSON equality with Go's types: true != 1 and 1 != 1.0 (int64 vs float64 in unstructured)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _enum_has(enum: list[Any], v: Any) -> bool:
    for e in enum:
        if isinstance(e, bool) or isinstance(v, bool):
            if isinstance(e, bool) and isinstance(v, bool) and e == v:
                return True
            continue
        if _is_number(e) and _is_number(v):
            if e == v:
                return True
        elif type(e) is type(v) and _same(e, v):
            return True
        elif e is None and v is None:
            return True
    return False


def _enum_text(e: Any) -> str:
    if isinstance(e, str):
        return e
    if isinstance(e, bool):
        return "true" if e else "false"
    if e is None:
        return "null"
    if isinstance(e, float):
        return go_float(e) if not e.is_integer() or abs(e) >= 1e21 else str(int(e))
    return json.dumps(e, separators=(",", ":"))


def _bad(path: str, detail: str, value: Any) -> FieldError:
    return FieldError(INVALID, path, detail, _value(value))


class _Validator:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def node(self, v: Any, s: Obj | None, path: str, old: Any = _MISSING) -> list[FieldError]:
        """kube-openapi's SchemaValidator.Validate for one value; ratcheted against `old`."""
        if s is None:
            return []
        if old is not _MISSING and _same(v, old):
            return []
        errs: list[FieldError] = []
        if v is None:
            errs += self._type(v, s, path)
            enum = s.get("enum")
            if isinstance(enum, list) and enum and not _enum_has(enum, v):
                errs.append(FieldError(NOT_SUPPORTED, path, _supported(enum), None))
            return errs
        errs += self._type(v, s, path)
        errs += self._composition(v, s, path)
        if isinstance(v, str):
            errs += self._string(v, s, path)
            errs += self._format(v, s, path)
        if _is_number(v):
            errs += self._number(v, s, path)
        if isinstance(v, list):
            errs += self._slice(v, s, path)
        enum = s.get("enum")
        if isinstance(enum, list) and enum and not _enum_has(enum, v):
            errs.append(FieldError(NOT_SUPPORTED, path, _supported(enum), _value(v)))
        if isinstance(v, dict):
            errs += self._object(v, s, path, old)
        return errs

    @staticmethod
    def _type(v: Any, s: Obj, path: str) -> list[FieldError]:
        types = _types(s)
        if not types:
            return []
        got = _json_type(v)
        if v is None:
            if "null" in types or s.get("nullable") is True:
                return []
        elif got in types:
            return []
        elif got == "number" and "integer" in types and float(v).is_integer():
            return []
        elif got == "integer" and "number" in types:
            return []
        want = ",".join(types)
        return [FieldError(TYPE_INVALID, path, f"{path} in body must be of type {want}: {go_quote(got)}", got)]

    def _composition(self, v: Any, s: Obj, path: str) -> list[FieldError]:
        errs: list[FieldError] = []
        where = go_quote(path)
        all_of = [x for x in s.get("allOf") or [] if isinstance(x, dict)] if isinstance(s.get("allOf"), list) else []
        any_of = [x for x in s.get("anyOf") or [] if isinstance(x, dict)] if isinstance(s.get("anyOf"), list) else []
        one_of = [x for x in s.get("oneOf") or [] if isinstance(x, dict)] if isinstance(s.get("oneOf"), list) else []
        if any_of:
            results = [self.node(v, sub, path) for sub in any_of]
            if all(results):
                errs.append(FieldError(INVALID, "<nil>", f"{where} must validate at least one schema (anyOf)", ""))
                errs += min(results, key=len)
        if one_of:
            results = [self.node(v, sub, path) for sub in one_of]
            ok = sum(1 for r in results if not r)
            if ok != 1:
                extra = "" if ok == 0 else f"Found {ok} valid alternatives"
                errs.append(FieldError(INVALID, "<nil>",
                                       f"{where} must validate one and only one schema (oneOf). {extra}".rstrip(), ""))
                if ok == 0:
                    errs += min(results, key=len)
        if all_of:
            results = [self.node(v, sub, path) for sub in all_of]
            failed = [r for r in results if r]
            if failed:
                tail = ". None validated" if len(failed) == len(results) else ""
                errs.append(FieldError(INVALID, "<nil>", f"{where} must validate all the schemas (allOf){tail}", ""))
                for r in failed:
                    errs += r
        not_ = _node(s.get("not"))
        if not_ is not None and not self.node(v, not_, path):
            errs.append(FieldError(INVALID, "<nil>", f"{where} must not validate the schema (not)", ""))
        return errs

    @staticmethod
    def _string(v: str, s: Obj, path: str) -> list[FieldError]:
        max_len, min_len, pattern = s.get("maxLength"), s.get("minLength"), s.get("pattern")
        if _is_number(max_len) and len(v) > max_len:
            return [too_long(path, int(max_len))]
        if _is_number(min_len) and len(v) < min_len:
            return [_bad(path, f"{path} in body should be at least {int(min_len)} chars long", v)]
        if isinstance(pattern, str) and pattern:
            try:
                matched = re.search(pattern, v) is not None
            except re.error as e:
                return [_bad(path, f"{path} in body should match '{pattern}, but pattern is invalid: {e}'", v)]
            if not matched:
                return [_bad(path, f"{path} in body should match '{pattern}'", v)]
        return []

    @staticmethod
    def _format(v: str, s: Obj, path: str) -> list[FieldError]:
        fmt = s.get("format")
        check = FORMATS.get(fmt) if isinstance(fmt, str) else None
        if check is None or check(v):
            return []
        return [FieldError(TYPE_INVALID, path, f"{path} in body must be of type {fmt}: {go_quote(v)}", v)]

    @staticmethod
    def _number(v: float, s: Obj, path: str) -> list[FieldError]:
        errs: list[FieldError] = []
        mult, lo, hi = s.get("multipleOf"), s.get("minimum"), s.get("maximum")
        if _is_number(mult) and mult > 0:
            q = Decimal(repr(v)) / Decimal(repr(mult))
            if q != q.to_integral_value():
                errs.append(_bad(path, f"{path} in body should be a multiple of {go_float(mult)}", v))
        if _is_number(lo):
            exclusive = s.get("exclusiveMinimum") is True
            if v < lo or (exclusive and v == lo):
                word = "greater than" if exclusive else "greater than or equal to"
                errs.append(_bad(path, f"{path} in body should be {word} {go_float(lo)}", v))
        if _is_number(hi):
            exclusive = s.get("exclusiveMaximum") is True
            if v > hi or (exclusive and v == hi):
                word = "less than" if exclusive else "less than or equal to"
                errs.append(_bad(path, f"{path} in body should be {word} {go_float(hi)}", v))
        return errs

    def _slice(self, v: list[Any], s: Obj, path: str) -> list[FieldError]:
        errs: list[FieldError] = []
        items = _node(s.get("items"))
        if items is not None:
            for i, x in enumerate(v):
                errs += self.node(x, items, f"{path}[{i}]")
        lo, hi = s.get("minItems"), s.get("maxItems")
        if _is_number(lo) and len(v) < lo:
            errs.append(_bad(path, f"{path} in body should have at least {int(lo)} items", len(v)))
        if _is_number(hi) and len(v) > hi:
            errs.append(_too_many(path, len(v), int(hi)))
        return errs

    def _object(self, v: Obj, s: Obj, path: str, old: Any) -> list[FieldError]:
        lo, hi = s.get("minProperties"), s.get("maxProperties")
        if _is_number(lo) and len(v) < lo:
            return [_bad(path, f"{path} in body should have at least {int(lo)} properties", len(v))]
        if _is_number(hi) and len(v) > hi:
            return [_too_many(path, len(v), int(hi))]
        errs: list[FieldError] = []
        props = _props(s)
        addl = s.get("additionalProperties")
        old_map = old if isinstance(old, dict) else {}
        prefix = f"{path}." if path else ""
        for k in v:
            if k in props:
                continue
            if addl is False:
                errs.append(_bad(path or "<nil>", f"{prefix}{k} in body is a forbidden property", k))
            elif isinstance(addl, dict):
                errs += self.node(v[k], addl, prefix + k, old_map.get(k, _MISSING))
        for k in sorted(props):
            if k in v:
                errs += self.node(v[k], _node(props[k]), prefix + k, old_map.get(k, _MISSING))
        req = s.get("required")
        if isinstance(req, list):
            for k in req:
                if isinstance(k, str) and k not in v:
                    errs.append(FieldError(REQUIRED, prefix + k))
        return errs


def _supported(enum: list[Any]) -> str:
    return "supported values: " + ", ".join(go_quote(_enum_text(e)) for e in enum)


def _too_many(path: str, actual: int, limit: int) -> FieldError:
    unit = "item" if limit == 1 else "items"
    return FieldError(TOO_MANY, path, f"must have at most {limit} {unit}", actual)


def validate_schema(schema: Obj, obj: Obj, old: Obj | None = None) -> list[FieldError]:
    """Every schema error of the custom resource `obj` (an update of `old` when given), apiVersion, kind
    and metadata aside; [] when valid. `obj` should already be pruned and defaulted (`prepare`)."""
    if not isinstance(obj, dict):
        return []
    view = _root_view(obj)
    old_view: Any = _root_view(old) if isinstance(old, dict) else _MISSING
    if old_view is not _MISSING and _same(view, old_view):
        return []
    return _Validator().node(view, _root_schema(schema), "", old_view)


def validate(rt: ResourceType, obj: Obj, old: Obj | None = None) -> list[FieldError]:
    """The schema errors of a custom resource of type `rt` ([] for built-ins and schemaless CRDs).
    Never raises: a failure inside is one InternalError rather than a 500."""
    schema = served_schema(rt)
    if schema is None:
        return []
    try:
        return validate_schema(schema, obj, old)
    except Exception as e:  # noqa: BLE001 - the API must answer, whatever the schema
        return [FieldError(INTERNAL, "", f"{type(e).__name__}: {e}")]


def strict_message(rt: ResourceType, paths: list[str]) -> str:
    """The 400 text of `fieldValidation=Strict` for unknown fields of a custom resource."""
    fields = ", ".join(f'unknown field "{p}"' for p in paths)
    return f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: strict decoding error: {fields}'


__all__ = [
    "FORMATS",
    "go_float",
    "prepare",
    "prune",
    "served_schema",
    "strict_message",
    "unknown_fields",
    "validate",
    "validate_schema",
]
