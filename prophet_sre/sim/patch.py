"""The four PATCH content types of kube-apiserver, on plain JSON dicts.

    application/json-patch+json              apply_json_patch            RFC 6902 (via `jsonpatch`)
    application/merge-patch+json             apply_merge_patch           RFC 7386
    application/strategic-merge-patch+json   apply_strategic_merge_patch  Kubernetes SMP
    application/apply-patch+yaml             apply_server_side           server-side apply

Every function takes the stored object and returns a new one: the store keeps the old version for
watch events and for the update that may still fail validation, so inputs are never mutated. Every
malformed patch raises `PatchError` (a ValueError) with a clear message, which the HTTP layer turns
into a 422/400 Status; no other exception type escapes, so a bad request can never become a 500.

Strategic merge patch follows k8s.io/apimachinery/pkg/util/strategicpatch (mergeMap / mergeSlice /
normalizeElementOrder), including its ordering rules: items named by the patch (or by
`$setElementOrder`) take the patch's order and server-only items keep their relative order, which is
why a new container added by a patch lands at the front. Directive keys (`$patch`, `$retainKeys`,
`$setElementOrder/x`, `$deleteFromPrimitiveList/x`) are consumed here and never stored.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import jsonpatch
import jsonpointer

from .smp_schema import EMPTY, FieldSpec, TypeSpec, patch_annotations, patch_meta_for

__all__ = [
    "ApplyConflict",
    "PatchError",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_server_side",
    "apply_strategic_merge_patch",
    "fields_from_managed",
    "patch_annotations",
    "patch_meta_for",
]


class PatchError(ValueError):
    """The patch is malformed or cannot be applied to this object."""


class ApplyConflict(PatchError):
    """Server-side apply would change fields another Apply manager owns (HTTP 409).

    `conflicts` lists (manager, dotted path) pairs, e.g. ("helm", ".spec.replicas").
    """

    def __init__(self, message: str, conflicts: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.conflicts = conflicts


_RECOVERABLE = (TypeError, KeyError, IndexError, AttributeError, ValueError, RecursionError)


def _copy(value: Any) -> Any:
    try:
        return copy.deepcopy(value)
    except RecursionError as e:
        raise PatchError("object is nested too deeply") from e


# ---------------------------------------------------------------------------------------------------
# JSON patch and JSON merge patch


def apply_json_patch(obj: dict, ops: list) -> dict:
    """Apply an RFC 6902 JSON patch; bad operations, paths and failed `test`s raise PatchError."""
    if not isinstance(obj, dict):
        raise PatchError("the object to patch must be a JSON object")
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or not isinstance(op.get("op"), str) or not isinstance(op.get("path"), str):
            raise PatchError(f"JSON patch operation {i} must be an object with string 'op' and 'path'")
    result: Any = _copy(obj)
    for op in _copy(ops):  # one at a time, so the message can name the failing operation
        try:
            result = jsonpatch.JsonPatch([op]).apply(result, in_place=True)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, *_RECOVERABLE) as e:
            reason = str(e) or type(e).__name__
            if isinstance(e, jsonpatch.JsonPatchTestFailed):
                raise PatchError(f"testing value {op['path']} failed: {reason}") from e
            raise PatchError(f"{op['op']} operation does not apply to {op['path']!r}: {reason}") from e
    if not isinstance(result, dict):
        raise PatchError("the JSON patch must leave a JSON object")
    return result


def _merge_patch_into(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return _copy(patch)
    result = target if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = _merge_patch_into(result.get(k), v)
    return result


def apply_merge_patch(obj: dict, patch: dict) -> dict:
    """Apply an RFC 7386 JSON merge patch: maps merge, `null` deletes, anything else replaces."""
    if not isinstance(obj, dict):
        raise PatchError("the object to patch must be a JSON object")
    if not isinstance(patch, dict):
        raise PatchError("a merge patch must be a JSON object")
    try:
        return _merge_patch_into(_copy(obj), patch)
    except _RECOVERABLE as e:
        raise PatchError(f"invalid merge patch: {e}") from e


# ---------------------------------------------------------------------------------------------------
# Strategic merge patch

_PATCH, _RETAIN = "$patch", "$retainKeys"
_ORDER, _DELETE_FROM = "$setElementOrder/", "$deleteFromPrimitiveList/"


def _go(v: Any) -> str:
    """Values printed the way Go's %v prints decoded JSON, for error messages users compare."""
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_go(v[k])}" for k in sorted(v, key=str)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(_go(x) for x in v) + "]"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _canon(v: Any) -> str:
    """A hashable identity for a JSON value: 80 and 80.0 are one number, True and 1 are not."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**63:
        v = int(v)
    return json.dumps(v, sort_keys=True, separators=(",", ":"), default=repr)


def _dedupe(items: list) -> list:
    seen: set[str] = set()
    out = []
    for x in items:
        c = _canon(x)
        if c not in seen:
            seen.add(c)
            out.append(x)
    return out


def _key_fn(key: str | None) -> Callable[[Any], str]:
    if key is None:
        return _canon
    return lambda item: _canon(item.get(key)) if isinstance(item, dict) else "\0"


def _normalize(patch_items: list, server_only: list, patch_order: list, server_order: list,
               key: str | None) -> list:
    """normalizeElementOrder: sort each side by its order list, then interleave by server order."""
    kf = _key_fn(key)

    def positions(order: list) -> dict[str, int]:
        pos: dict[str, int] = {}
        for i, x in enumerate(order):
            pos.setdefault(kf(x), i)
        return pos

    ppos, spos = positions(patch_order), positions(server_order)
    right = sorted(patch_items, key=lambda x: ppos.get(kf(x), len(ppos)))
    left = sorted(server_only, key=lambda x: spos.get(kf(x), len(spos)))
    out: list = []
    i = j = 0
    while i < len(left) and j < len(right):
        li, ri = spos.get(kf(left[i])), spos.get(kf(right[j]))
        if li is not None and ri is not None and li < ri:
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    return out + left[i:] + right[j:]


def _partition(items: list, by: list, key: str | None) -> tuple[list, list]:
    kf = _key_fn(key)
    present = {kf(x) for x in by}
    inside = [x for x in items if kf(x) in present]
    return inside, [x for x in items if kf(x) not in present]


def _clean(value: Any, spec: TypeSpec) -> Any:
    """A patch value for a field the original lacks (or replaces): directives applied, nulls dropped."""
    if isinstance(value, dict):
        return _merge_map(None, value, spec)
    if isinstance(value, list):
        return [_clean(x, spec) for x in value if not (isinstance(x, dict) and x.get(_PATCH) == "delete")]
    return value


def _merge_list(orig: list, patch: list, fs: FieldSpec, ctx: str) -> list:
    """mergeSlice for a field with strategy merge: by merge key, or as a set of primitives."""
    key = fs.merge_key
    if key is None:
        items, replace = [], False
        for x in patch:
            if isinstance(x, dict) and _PATCH in x:
                if x[_PATCH] != "replace":
                    raise PatchError(f"unknown patch type: {_go(x[_PATCH])} in map: {_go(x)}")
                replace = True
            else:
                items.append(_clean(x, EMPTY))
        if replace:
            return _dedupe(items)
        merged = _dedupe(orig + items)
        inside, server_only = _partition(merged, items, None)
        return _normalize(inside, server_only, items, orig, None)

    for x in orig + patch:
        if not isinstance(x, dict):
            raise PatchError(f"{ctx}: list items must be objects to merge on {key!r}, got {_go(x)}")
    kf = _key_fn(key)
    plain: list[dict] = []
    replace = False
    for x in patch:
        directive = x.get(_PATCH)
        if directive is None:
            plain.append(x)
        elif directive == "delete":
            if key not in x:
                raise PatchError(f"map: {_go(x)} does not contain declared merge key: {key}")
            gone = kf(x)
            orig = [o for o in orig if kf(o) != gone]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            plain.append({k: v for k, v in x.items() if k != _PATCH})
        else:
            raise PatchError(f"unknown patch type: {_go(directive)} in map: {_go(x)}")
    if replace:
        orig = []
    merged = list(orig)
    where = {kf(o): i for i, o in reversed(list(enumerate(merged)))}
    for x in plain:
        if key not in x:
            raise PatchError(f"map: {_go(x)} does not contain declared merge key: {key}")
        i = where.get(kf(x))
        if i is None:
            where[kf(x)] = len(merged)
            merged.append(_merge_map(None, x, fs.item))
        else:
            merged[i] = _merge_map(merged[i], x, fs.item)
    if replace:
        return merged
    inside, server_only = _partition(merged, plain, key)
    return _normalize(inside, server_only, plain, orig, key)


def _check_order(patch_list: list, order: list, key: str | None, name: str) -> None:
    """validatePatchWithSetOrderList: patch items must appear in $setElementOrder, in that order."""
    kf = _key_fn(key)
    if key is not None and not all(isinstance(x, dict) and key in x for x in order):
        raise PatchError(f"{_ORDER}{name}: every item must contain the merge key {key!r}")
    items = [x for x in patch_list if not (isinstance(x, dict) and _PATCH in x)]
    pi = oi = 0
    while pi < len(items) and oi < len(order):
        if kf(items[pi]) == kf(order[oi]):
            pi += 1
        oi += 1
    if pi < len(items):
        raise PatchError(f"The order in patch list:\n{_go(patch_list)}\n doesn't match {_ORDER}{name} list:\n"
                         f"{_go(order)}\n")


def _merge_map(orig: dict | None, patch: dict, spec: TypeSpec) -> dict:
    """mergeMap. `orig` is ours to mutate (a copy); `patch` is only read."""
    directive = patch.get(_PATCH)
    if directive is not None:
        body = {k: v for k, v in patch.items() if k != _PATCH}
        if directive == "replace":
            return _merge_map(None, body, spec)
        if directive == "delete":
            return {}
        if directive != "merge":
            raise PatchError(f"unknown patch type: {_go(directive)} in map: {_go(patch)}")
        patch = body
    result: dict = orig if orig is not None else {}

    orders: dict[str, Any] = {}
    deletes: dict[str, Any] = {}
    for k, v in patch.items():
        if not isinstance(k, str):
            raise PatchError(f"object keys must be strings, got {k!r}")
        if k.startswith(_ORDER):
            orders[k[len(_ORDER):]] = v
        elif k.startswith(_DELETE_FROM):
            deletes[k[len(_DELETE_FROM):]] = v
        elif k.startswith("$") and k != _RETAIN:
            raise PatchError(f"unknown patch directive {k!r}")

    if _RETAIN in patch:
        retain = patch[_RETAIN]
        if not isinstance(retain, list) or not all(isinstance(x, str) for x in retain):
            raise PatchError("invalid patch format of retainKeys")
        for k, v in patch.items():
            if v is not None and not k.startswith("$") and k not in retain:
                raise PatchError("invalid patch format of retainKeys")
        for k in [k for k in result if k not in retain]:
            del result[k]

    handled: set[str] = set()
    for name, order in orders.items():
        fs = spec.field(name)
        if not name or not isinstance(order, list):
            raise PatchError("invalid patch format of setElementOrder list")
        if fs is None or not fs.is_merge_list:
            continue  # ordering a replaced list means nothing; the list itself is handled below
        cur, plist = result.get(name), patch.get(name)
        if cur is not None and not isinstance(cur, list):
            raise PatchError(f"{name}: expected a list in the object, got {_go(cur)}")
        if name in patch and not isinstance(plist, list):
            raise PatchError(f"{name}: expected a list in the patch, got {_go(plist)}")
        if plist:
            _check_order(plist, order, fs.merge_key, name)
        if cur is None and plist is None:
            continue
        merged = _merge_list(cur or [], plist or [], fs, name)
        inside, server_only = _partition(merged, order, fs.merge_key)
        result[name] = _normalize(inside, server_only, order, cur or [], fs.merge_key)
        handled.add(name)

    for k, v in patch.items():
        if k.startswith("$") or k in handled:
            continue
        if v is None:
            result.pop(k, None)
            continue
        fs = spec.field(k)
        sub = fs.item if fs is not None else EMPTY
        cur = result.get(k)
        if isinstance(v, dict):
            result[k] = _merge_map(cur if isinstance(cur, dict) else None, v, sub)
        elif isinstance(v, list):
            if isinstance(cur, list) and fs is not None and fs.is_merge_list:
                result[k] = _merge_list(cur, v, fs, k)
            elif fs is not None and fs.is_merge_list:
                result[k] = _merge_list([], v, fs, k)
            else:
                result[k] = _clean(v, sub)
        else:
            result[k] = v

    for name, gone in deletes.items():
        if not name or not isinstance(gone, list):
            raise PatchError("invalid patch format of primitive list")
        cur = result.get(name)
        if isinstance(cur, list):
            drop = {_canon(x) for x in gone}
            result[name] = [x for x in cur if _canon(x) not in drop]
    return result


def apply_strategic_merge_patch(kind: str, obj: dict, patch: dict) -> dict:
    """Apply a Kubernetes strategic merge patch to an object of a built-in kind.

    Lists with a merge key merge item by item, primitive merge lists (`finalizers`) are unioned, other
    lists are replaced, `null` deletes a key. `$patch: replace|delete|merge` works on maps and list
    items, plus `$retainKeys`, `$setElementOrder/<f>` and `$deleteFromPrimitiveList/<f>`.
    `$patch: delete` on a map leaves `{}` in its place, as upstream does.
    """
    if not isinstance(obj, dict):
        raise PatchError("the object to patch must be a JSON object")
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    try:
        return _merge_map(_copy(obj), patch, patch_meta_for(kind))
    except PatchError:
        raise
    except _RECOVERABLE as e:
        raise PatchError(f"invalid strategic merge patch: {e}") from e


# Server-side apply lives in server_side_apply.py (it needs PatchError from here, so it is imported
# when first used rather than at module load, which would be circular).


def apply_server_side(kind: str, live: dict | None, applied: dict, manager: str, force: bool,
                      *, now: datetime | str | None = None) -> dict:
    """Server-side apply `applied` onto `live` for `manager`; see server_side_apply.apply_server_side."""
    from .server_side_apply import apply_server_side as _apply

    return _apply(kind, live, applied, manager, force, now=now)


def fields_from_managed(entry: dict) -> set[tuple[str, ...]]:
    """The field paths a managedFields entry owns; see server_side_apply.fields_from_managed."""
    from .server_side_apply import fields_from_managed as _decode

    return _decode(entry)
