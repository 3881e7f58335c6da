"""Server-side apply (`PATCH` with `application/apply-patch+yaml`) and `metadata.managedFields`.

`kubectl apply --server-side`, Helm 4, Flux and controller-runtime's `client.Apply` send the whole
intended state of the fields they care about; the server merges it into the live object and records
who owns which field, so a second manager cannot silently undo the first. This module is a faithful
but simplified structured-merge-diff:

* Merging uses the typed table of smp_schema: lists with a merge key are merged item by item (live
  order kept, new items after the live items they follow in the applied list), primitive merge lists
  are unioned, other lists and `atomic` maps (label selectors, `nodeSelector`) are replaced.
* Ownership is a set of paths per manager, stored in real `FieldsV1` encoding: `f:<field>`,
  `k:{"name":"web"}` for keyed items (using the merge key only, not every `listMapKey`), `v:"x"` for
  set members, and `.` marking an item that is owned itself as well as through its children.
* A field owned by another *Apply* manager conflicts when this apply changes its value, unless
  `force` is set, in which case ownership moves. Fields owned by *Update* managers never conflict:
  they lose ownership of the fields this apply changes (that is what `--force-conflicts` would do
  with them anyway, and it keeps takeovers from client-side apply simple). Unchanged fields become
  shared.
* Fields this manager applied before and omits now are removed, unless some other manager owns them
  (or anything below them); maps left empty by that are removed too.
* `metadata.managedFields`, `resourceVersion`, `uid`, `generation`, timestamps and other
  server-set metadata sent in the applied object are ignored. Resetting `status` on the main
  resource (and checking a `resourceVersion` precondition) is the caller's job, as for PUT.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from .patch import ApplyConflict, PatchError
from .smp_schema import EMPTY, TypeSpec, patch_meta_for

__all__ = ["apply_server_side", "fields_from_managed", "fields_to_managed", "path_string"]

Path = tuple[str, ...]
_MISSING: Any = object()

# Never owned (fieldmanager's stripped fields) and never taken from the applied object.
_UNOWNED_META = {"name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName", "generation",
                 "managedFields", "resourceVersion"}
_IGNORED_META = {"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink",
                 "deletionTimestamp", "deletionGracePeriodSeconds"}


def _dumps(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------------
# FieldsV1 encoding


def fields_to_managed(paths: set[Path]) -> dict:
    """Encode a set of paths as a FieldsV1 tree (the `fieldsV1` of a managedFields entry)."""
    root: dict = {}
    for path in paths:
        node = root
        for el in path:
            node = node.setdefault(el, {})
        node["."] = {}

    def finish(node: dict) -> dict:
        # structured-merge-diff order: fields, then keyed items, then set values, then indexes.
        names = sorted((k for k in node if k != "."), key=lambda k: ("fkvi".find(k[0]), k))
        children = {k: finish(node[k]) for k in names}
        if children and "." in node:
            return {".": {}, **children}
        return children

    return finish(root)


def fields_from_managed(entry: dict) -> set[Path]:
    """The set of paths a managedFields entry (or a bare FieldsV1 dict) owns."""
    tree = entry.get("fieldsV1", {}) if "fieldsV1" in entry or "manager" in entry else entry
    if tree is None:
        return set()
    out: set[Path] = set()

    def walk(node: Any, prefix: Path) -> None:
        if not isinstance(node, dict):
            raise PatchError(f"invalid fieldsV1 at {path_string(prefix) or '<root>'}: not an object")
        if not node and prefix:
            out.add(prefix)
        for k, child in node.items():
            if k == ".":
                if prefix:
                    out.add(prefix)
            elif isinstance(k, str) and k[:2] in ("f:", "k:", "v:", "i:"):
                walk(child, (*prefix, k))
            else:
                raise PatchError(f"invalid fieldsV1 key {k!r}")

    walk(tree, ())
    return out


def _value_string(v: Any) -> str:
    # structured-merge-diff value.ToString: strings quoted, numbers and booleans bare.
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, bool):
        return "true" if v else "false"
    return "null" if v is None else str(v)


def path_string(path: Path) -> str:
    """A path as the apiserver prints it in conflicts: `.spec.containers[name="web"].image`."""
    out = []
    for el in path:
        tag, body = el[:2], el[2:]
        if tag == "f:":
            out.append("." + body)
        elif tag == "k:":
            try:
                keys = json.loads(body)
                out.append("[" + ",".join(f"{k}={_value_string(v)}" for k, v in sorted(keys.items())) + "]")
            except (ValueError, AttributeError):
                out.append(f"[{body}]")
        elif tag == "v:":
            try:
                out.append(f"[={_value_string(json.loads(body))}]")
            except ValueError:
                out.append(f"[={body}]")
        else:
            out.append(f"[{body}]")
    return "".join(out)


# ---------------------------------------------------------------------------------------------------
# Field sets and merging of plain objects


def _sanitize(value: Any, where: str) -> Any:
    """A copy of the applied value without nulls; `$directives` are not part of apply."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or k.startswith("$"):
                raise PatchError(f"{where}.{k}: field not declared in schema")
            if v is not None:
                out[k] = _sanitize(v, f"{where}.{k}")
        return out
    if isinstance(value, list):
        return [_sanitize(x, f"{where}[{i}]") for i, x in enumerate(value)]
    return value


def _item_key(item: Any, key: str, where: str, i: int) -> str:
    if not isinstance(item, dict) or key not in item:
        raise PatchError(f"{where}: element {i}: associative list with keys has an element that omits key "
                         f'field "{key}" (and doesn\'t have default value)')
    return "k:" + _dumps({key: item[key]})


def _collect(value: dict, spec: TypeSpec, prefix: Path, out: set[Path]) -> None:
    """Add the paths `value` sets: leaves, keyed items and set members (the Apply field set)."""
    for k, v in value.items():
        path = (*prefix, "f:" + k)
        fs = spec.field(k)
        if isinstance(v, dict) and v and not (fs is not None and fs.atomic):
            _collect(v, fs.item if fs is not None else EMPTY, path, out)
        elif isinstance(v, list) and v and fs is not None and fs.is_merge_list:
            seen: set[str] = set()
            for i, item in enumerate(v):
                el = _item_key(item, fs.merge_key, path_string(path), i) if fs.merge_key else "v:" + _dumps(item)
                if el in seen:
                    raise PatchError(f"{path_string(path)}: duplicate entries for key {path_string((el,))}")
                seen.add(el)
                out.add((*path, el))
                if fs.merge_key:
                    _collect(item, fs.item, (*path, el), out)
        else:
            out.add(path)


def _find_item(items: list, el: str) -> int | None:
    try:
        target = json.loads(el[2:])
    except ValueError:
        return None
    want = _dumps(target)
    if el.startswith("k:"):
        if not isinstance(target, dict):
            return None
        return next((i for i, x in enumerate(items)
                     if isinstance(x, dict) and _dumps({k: x.get(k) for k in target}) == want), None)
    return next((i for i, x in enumerate(items) if _dumps(x) == want), None)


def _child(cur: Any, el: str) -> Any:
    if el.startswith("f:"):
        return cur.get(el[2:], _MISSING) if isinstance(cur, dict) else _MISSING
    if el[:2] in ("k:", "v:") and isinstance(cur, list):
        i = _find_item(cur, el)
        return _MISSING if i is None else cur[i]
    return _MISSING


def _value_at(obj: Any, path: Path) -> Any:
    for el in path:
        obj = _child(obj, el)
        if obj is _MISSING:
            break
    return obj


def _changed(before: Any, after: Any, path: Path) -> bool:
    a, b = _value_at(before, path), _value_at(after, path)
    if path[-1][:2] in ("k:", "v:"):  # membership, not value
        return (a is _MISSING) != (b is _MISSING)
    if a is _MISSING or b is _MISSING:
        return a is not b
    return a != b


def _merge(live: dict, applied: dict, spec: TypeSpec) -> dict:
    """Merge `applied` into `live` (ours to mutate) by the typed table."""
    for k, av in applied.items():
        fs = spec.field(k)
        lv = live.get(k)
        if isinstance(av, dict) and isinstance(lv, dict) and not (fs is not None and fs.atomic):
            live[k] = _merge(lv, av, fs.item if fs is not None else EMPTY)
        elif isinstance(av, list) and isinstance(lv, list) and fs is not None and fs.is_merge_list:
            live[k] = _merge_items(lv, av, fs.merge_key, fs.item)
        else:
            live[k] = av
    return live


def _merge_items(live: list, applied: list, key: str | None, item_spec: TypeSpec) -> list:
    def ident(x: Any) -> str:
        return _dumps(x.get(key) if isinstance(x, dict) else None) if key else _dumps(x)

    by_key = {ident(x): x for x in applied}
    live_ids = {ident(x) for x in live}
    out, ai = [], 0
    for x in live:
        i = ident(x)
        if i not in by_key:
            out.append(x)
            continue
        # New applied items listed before this shared one go in front of it.
        while ai < len(applied) and ident(applied[ai]) != i:
            if ident(applied[ai]) not in live_ids:
                out.append(applied[ai])
                live_ids.add(ident(applied[ai]))
            ai += 1
        out.append(_merge(x, by_key[i], item_spec) if key and isinstance(x, dict) else x)
    out.extend(a for a in applied if ident(a) not in live_ids)
    return out


def _remove(obj: dict, path: Path, keep: set[Path]) -> None:
    """Remove the field at `path`, then any map left empty that nobody owns anything under."""
    chain = [obj]
    for el in path[:-1]:
        nxt = _child(chain[-1], el)
        if nxt is _MISSING:
            return
        chain.append(nxt)
    parent, last = chain[-1], path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last[:2] in ("k:", "v:") and isinstance(parent, list):
        i = _find_item(parent, last)
        if i is not None:
            del parent[i]
    for depth in range(len(path) - 1, 0, -1):
        node = chain[depth]
        if node or path[:depth] in keep or not path[depth - 1].startswith("f:"):
            break
        if not (isinstance(node, dict) and isinstance(chain[depth - 1], dict)):
            break
        del chain[depth - 1][path[depth - 1][2:]]


# ---------------------------------------------------------------------------------------------------
# Apply


def _now(now: datetime | str | None) -> str:
    if isinstance(now, str):
        return now
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _conflict_message(conflicts: list[tuple[str, str]]) -> str:
    if len(conflicts) == 1:
        m, p = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {json.dumps(m, ensure_ascii=False)}: {p}"
    lines: list[str] = []
    for manager in sorted({m for m, _ in conflicts}):
        lines.append(f"conflicts with {json.dumps(manager, ensure_ascii=False)}:")
        lines.extend(f"- {p}" for m, p in conflicts if m == manager)
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


def apply_server_side(kind: str, live: dict | None, applied: dict, manager: str, force: bool,
                      *, now: datetime | str | None = None) -> dict:
    """Apply `applied` for field manager `manager`; returns the new object with managedFields.

    `live` None means the object does not exist yet (apply creates it). Raises ApplyConflict when
    another Apply manager owns a field this apply would change and `force` is False, PatchError for
    malformed input. `now` stamps the manager's entry (default: the current UTC second).
    """
    try:
        return _apply(kind, live, applied, manager, force, now)
    except PatchError:
        raise
    except (TypeError, KeyError, IndexError, AttributeError, ValueError, RecursionError) as e:
        raise PatchError(f"invalid apply request: {e}") from e


def _apply(kind: str, live: dict | None, applied: dict, manager: str, force: bool,
           now: datetime | str | None) -> dict:
    if not isinstance(applied, dict) or not isinstance(applied.get("metadata", {}), dict):
        raise PatchError("an applied configuration must be an object with an object `metadata`")
    if live is not None and not isinstance(live, dict):
        raise PatchError("the live object must be a JSON object")
    if not manager:
        raise PatchError("PATCH with apply requires a fieldManager")
    spec = patch_meta_for(kind)
    cfg = _sanitize(applied, "")
    for k in _IGNORED_META:
        cfg.get("metadata", {}).pop(k, None)

    new_set: set[Path] = set()
    _collect(cfg, spec, (), new_set)
    new_set = {p for p in new_set
               if p[0] not in ("f:apiVersion", "f:kind")
               and not (p[0] == "f:metadata" and len(p) > 1 and p[1][2:] in _UNOWNED_META)}

    before = copy.deepcopy(live) if live is not None else {}
    entries = [dict(e) for e in (before.get("metadata", {}).pop("managedFields", None) or [])]
    owned = [fields_from_managed(e) for e in entries]
    mine = next((i for i, e in enumerate(entries) if e.get("manager") == manager
                 and e.get("operation") == "Apply" and not e.get("subresource")), None)
    previous = owned[mine] if mine is not None else set()

    merged = _merge(copy.deepcopy(before), cfg, spec)

    changed = {p for p in new_set if _changed(before, merged, p)}
    conflicts = sorted({(entries[i].get("manager", ""), p) for i, paths in enumerate(owned) if i != mine
                        and entries[i].get("operation") == "Apply" for p in paths & changed})
    if conflicts and not force:
        pairs = [(m, path_string(p)) for m, p in conflicts]
        raise ApplyConflict(_conflict_message(pairs), pairs)
    for i in range(len(owned)):
        if i != mine:
            owned[i] = owned[i] - changed

    others = [p for i, paths in enumerate(owned) if i != mine for p in paths]
    keep = {p[:n] for p in (*others, *new_set) for n in range(1, len(p) + 1)}
    for path in sorted(previous - new_set, key=len):
        if path not in keep:
            _remove(merged, path, keep)

    stamp = {"manager": manager, "operation": "Apply", "apiVersion": cfg.get("apiVersion", ""),
             "time": _now(now), "fieldsType": "FieldsV1", "fieldsV1": fields_to_managed(new_set)}
    out_entries = []
    for i, e in enumerate(entries):
        if i == mine:
            continue
        if owned[i]:
            out_entries.append({**e, "fieldsType": "FieldsV1", "fieldsV1": fields_to_managed(owned[i])})
    if new_set:
        out_entries.append(stamp)
    # Same order as the apiserver's sortEncodedManagedFields: operation, time, manager, version.
    out_entries.sort(key=lambda e: (e.get("operation", ""), e.get("time") or "", e.get("manager", ""),
                                    e.get("apiVersion", ""), e.get("subresource", "")))
    meta = merged.setdefault("metadata", {})
    if out_entries:
        meta["managedFields"] = out_entries
    return merged
