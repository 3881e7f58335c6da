"""Small helpers every simulated controller needs: owner references, selectors, quantities, pod state.

They encode the shared vocabulary of kube-controller-manager (what "active", "ready" and "available"
mean for a pod, how an int-or-percent rounds, how a condition is replaced) once, so the controllers
agree with each other exactly as the real ones do through `k8s.io/kubernetes/pkg/controller`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from prophet_sre.sim.clock import parse_time, rfc3339
from prophet_sre.sim.selectors import LabelSelector, SelectorError, label_selector_from_dict

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""apimachinery's `rand.SafeEncodeString` alphabet (no vowels, no look-alike digits)."""

Key = tuple[str, str]


# -- identity and ownership --------------------------------------------------------------------------
def obj_key(obj: Mapping[str, Any]) -> Key:
    m = obj.get("metadata") or {}
    return (m.get("namespace", "") or "", m.get("name", ""))


def controller_ref(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ownerReference with `controller: true`, if any (an object has at most one)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def owner_reference(owner: Mapping[str, Any], *, controller: bool = True, block: bool = True) -> dict[str, Any]:
    m = owner["metadata"]
    ref: dict[str, Any] = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": m["name"],
                           "uid": m["uid"]}
    if controller:
        ref["controller"] = True
    if block:
        ref["blockOwnerDeletion"] = True
    return ref


def is_deleting(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


# -- selectors ---------------------------------------------------------------------------------------
_SEL_CACHE: dict[bytes, LabelSelector] = {}
_NOTHING = LabelSelector.nothing()


def selector(sel: Mapping[str, Any] | None, *, nil_matches_nothing: bool = True) -> LabelSelector:
    """A compiled `metav1.LabelSelector`; nil (and invalid) selectors match nothing, like apimachinery."""
    if sel is None:
        return _NOTHING if nil_matches_nothing else LabelSelector()
    key = orjson.dumps(sel, option=orjson.OPT_SORT_KEYS)
    hit = _SEL_CACHE.get(key)
    if hit is None:
        try:
            hit = label_selector_from_dict(sel)
        except SelectorError:
            hit = _NOTHING
        if len(_SEL_CACHE) > 20_000:
            _SEL_CACHE.clear()
        _SEL_CACHE[key] = hit
    return hit


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


# -- hashing -----------------------------------------------------------------------------------------
def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """`rand.SafeEncodeString`: every byte of `text` mapped onto the safe alphabet."""
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in text.encode())


def hex_digest(*parts: str) -> str:
    """64 deterministic hex chars (image digests, container ids, machine ids)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


# -- quantities --------------------------------------------------------------------------------------
_SUFFIX = {
    "": 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0 ** 10, "Mi": 2.0 ** 20, "Gi": 2.0 ** 30, "Ti": 2.0 ** 40, "Pi": 2.0 ** 50, "Ei": 2.0 ** 60,
}
_QTY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$")
_QTY_CACHE: dict[str, float] = {}

try:  # the apiserver's exact grammar, when the validation package is there
    from prophet_sre.sim.validation_quantity import parse_quantity as _exact_quantity
except ImportError:  # pragma: no cover - standalone use of the controllers
    _exact_quantity = None  # type: ignore[assignment]


def parse_quantity(value: Any) -> float:
    """A resource.Quantity as a float in base units (cores, bytes); garbage counts as 0 (cached: the
    scheduler asks for the same few strings thousands of times)."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    hit = _QTY_CACHE.get(text)
    if hit is not None:
        return hit
    if _exact_quantity is not None:
        try:
            out = float(_exact_quantity(text))
        except ValueError:
            out = 0.0
    else:
        m = _QTY.match(text)
        if m is None:
            out = 0.0
        else:
            num = float(m.group(1))
            out = num * float("1" + m.group(2)) if m.group(2) else num * _SUFFIX[m.group(3) or ""]
    if len(_QTY_CACHE) < 10_000:
        _QTY_CACHE[text] = out
    return out


def pod_requests(pod: Mapping[str, Any]) -> dict[str, float]:
    """Effective pod requests: sum of containers, at least the largest init container, plus overhead.

    A container that sets only limits requests its limits (the apiserver defaults it so).
    """
    spec = pod.get("spec") or {}
    total: dict[str, float] = {}
    for c in spec.get("containers") or ():
        for name, v in _container_requests(c).items():
            total[name] = total.get(name, 0.0) + v
    for c in spec.get("initContainers") or ():
        if c.get("restartPolicy") == "Always":  # sidecar: runs alongside the app containers
            for name, v in _container_requests(c).items():
                total[name] = total.get(name, 0.0) + v
            continue
        for name, v in _container_requests(c).items():
            total[name] = max(total.get(name, 0.0), v)
    for name, v in (spec.get("overhead") or {}).items():
        total[name] = total.get(name, 0.0) + parse_quantity(v)
    return total


def _container_requests(c: Mapping[str, Any]) -> dict[str, float]:
    res = c.get("resources") or {}
    out = {k: parse_quantity(v) for k, v in (res.get("limits") or {}).items()}
    out.update({k: parse_quantity(v) for k, v in (res.get("requests") or {}).items()})
    return out


# -- pod state ---------------------------------------------------------------------------------------
def pod_phase(pod: Mapping[str, Any]) -> str:
    return (pod.get("status") or {}).get("phase") or "Pending"


def is_terminal(pod: Mapping[str, Any]) -> bool:
    return pod_phase(pod) in ("Succeeded", "Failed")


def is_active(pod: Mapping[str, Any]) -> bool:
    """`controller.IsPodActive`: not terminal and not being deleted."""
    return not is_terminal(pod) and not is_deleting(pod)


def get_condition(obj: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return c
    return None


def is_ready(pod: Mapping[str, Any]) -> bool:
    c = get_condition(pod, "Ready")
    return bool(c and c.get("status") == "True")


def is_available(pod: Mapping[str, Any], min_ready_s: int, now: datetime) -> bool:
    """Ready for at least `minReadySeconds` (`podutil.IsPodAvailable`)."""
    c = get_condition(pod, "Ready")
    if not c or c.get("status") != "True":
        return False
    if min_ready_s <= 0:
        return True
    since = parse_time(c.get("lastTransitionTime"))
    return since is not None and (now - since).total_seconds() >= min_ready_s


def seconds_until_available(pod: Mapping[str, Any], min_ready_s: int, now: datetime) -> float | None:
    """For a ready-but-not-yet-available pod: sim seconds until it counts as available."""
    c = get_condition(pod, "Ready")
    if min_ready_s <= 0 or not c or c.get("status") != "True":
        return None
    since = parse_time(c.get("lastTransitionTime"))
    if since is None:
        return None
    left = min_ready_s - (now - since).total_seconds()
    return left if left > 0 else None


# -- int-or-percent ----------------------------------------------------------------------------------
def scaled_value(value: Any, total: int, round_up: bool, default: str = "25%") -> int:
    """`intstr.GetScaledValueFromIntOrPercent`."""
    if value is None:
        value = default
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        try:
            pct = int(text[:-1])
        except ValueError:
            return 0
        num = pct * total
        return -(-num // 100) if round_up else num // 100
    try:
        return int(text)
    except ValueError:
        return 0


# -- conditions --------------------------------------------------------------------------------------
def condition(type_: str, status: str, reason: str, message: str, now: datetime, *,
              with_update_time: bool = False) -> dict[str, Any]:
    ts = rfc3339(now)
    c: dict[str, Any] = {"type": type_, "status": status}
    if with_update_time:
        c["lastUpdateTime"] = ts
    c["lastTransitionTime"] = ts
    c["reason"] = reason
    c["message"] = message
    return c


def set_condition(conditions: list[dict[str, Any]], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Replace a condition by type (keeping lastTransitionTime when the status is unchanged); the
    replaced condition moves to the end, as `SetDeploymentCondition` does. Same status and reason:
    nothing changes."""
    old = next((c for c in conditions if c.get("type") == new["type"]), None)
    if old is not None and old.get("status") == new["status"] and old.get("reason") == new.get("reason"):
        return conditions
    if old is not None and old.get("status") == new["status"]:
        new = {**new, "lastTransitionTime": old.get("lastTransitionTime", new.get("lastTransitionTime"))}
    return [c for c in conditions if c.get("type") != new["type"]] + [new]


def remove_condition(conditions: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [c for c in conditions if c.get("type") != type_]


def prune_zero(status: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """Drop zero-valued ints like Go's `omitempty` does on the wire."""
    return {k: v for k, v in status.items() if k in keep or not (isinstance(v, int) and v == 0 and
                                                                   not isinstance(v, bool))}


def node_selector_expression_matches(expr: dict[str, Any], value: str | None) -> bool:
    """One NodeSelectorRequirement against a label (or field) value: In, NotIn, Exists, DoesNotExist, Gt, Lt."""
    op, values = expr.get("operator"), expr.get("values") or []
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt"):
        try:
            v, ref = int(value or ""), int(values[0])
        except (ValueError, IndexError):
            return False
        return v > ref if op == "Gt" else v < ref
    return False


def node_selector_terms_match(terms: list[dict[str, Any]], node: dict[str, Any]) -> bool:
    """A v1.NodeSelector's terms against a node: terms ORed, expressions within a term ANDed; an empty
    term matches nothing (used by required node affinity and by a PersistentVolume's node affinity)."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    name = (node.get("metadata") or {}).get("name")
    for term in terms:
        exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
        if not exprs and not fields:
            continue
        if all(node_selector_expression_matches(e, labels.get(e.get("key", ""))) for e in exprs) and all(
                node_selector_expression_matches(f, name if f.get("key") == "metadata.name" else None)
                for f in fields):
            return True
    return False
