"""A small OpenAPI v3 validator with the API server's rules and words, for custom resources in tests.

The simulator stores custom resources without checking them against their CRD's schema, so the tests
check an object against `deploy/crds/` with this: types, enums, bounds, lengths, item counts, patterns,
required fields and unknown fields (kubectl's default strict field validation), each error phrased as
the API server phrases it (`spec.approvalMode: Unsupported value: "yolo": supported values: ...`).
CEL rules (`x-kubernetes-validations`) are not evaluated.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES.get(kind, object))


def _q(v: Any) -> str:
    return json.dumps(v)


def validate(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """Every error in `value` against `schema` (an openAPIV3Schema node); [] when valid."""
    errs: list[str] = []
    where = path or "<root>"
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: Invalid value: \"null\": {where} in body must be of type "
                                                   f"{schema.get('type', 'object')}: \"null\""]
    kind = schema.get("type")
    if kind and not _type_ok(value, kind):
        return [f"{where}: Invalid value: \"{type(value).__name__}\": {where} in body must be of type {kind}: "
                f"\"{type(value).__name__}\""]
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{where}: Unsupported value: {_q(value)}: supported values: "
                    + ", ".join(_q(v) for v in schema["enum"]))
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema:
            lo = schema["minimum"]
            if value < lo or (schema.get("exclusiveMinimum") and value == lo):
                word = "greater than" if schema.get("exclusiveMinimum") else "greater than or equal to"
                errs.append(f"{where}: Invalid value: {value}: {where} in body should be {word} {lo}")
        if "maximum" in schema and value > schema["maximum"]:
            errs.append(f"{where}: Invalid value: {value}: {where} in body should be less than or equal to "
                        f"{schema['maximum']}")
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append(f"{where}: Too long: may not be more than {schema['maxLength']} bytes")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errs.append(f"{where}: Invalid value: {_q(value)}: {where} in body should match '{schema['pattern']}'")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append(f"{where}: Too many: {len(value)}: must have at most {schema['maxItems']} items")
        for i, item in enumerate(value):
            errs += validate(schema.get("items") or {}, item, f"{path}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for req in schema.get("required") or []:
            if req not in value:
                errs.append(f"{path + '.' if path else ''}{req}: Required value")
        open_ = schema.get("x-kubernetes-preserve-unknown-fields") or not props and kind == "object"
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            if key in props:
                errs += validate(props[key], item, sub)
            elif not open_:
                errs.append(f'unknown field "{sub}"')
    return errs


def validate_object(crd: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    """Errors of a custom resource against the served version's schema of `crd`."""
    version = next(v for v in crd["spec"]["versions"] if v["name"] == obj["apiVersion"].split("/")[-1])
    return validate(version["schema"]["openAPIV3Schema"], obj)


__all__ = ["validate", "validate_object"]
