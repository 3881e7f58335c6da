"""metav1.Condition lists the way Cluster API v1beta2 writes them.

Status code computes the *desired* list (type, status, reason, message) from scratch on every pass;
`merge` then carries over `lastTransitionTime` from the stored list whenever a condition's status did not
change, so "since" columns and `kubectl describe` ages mean what they mean on a real management cluster,
and an unchanged object compares equal (no write, no watch event).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]
TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


def cond(type_: str, status: str, reason: str, message: str = "") -> Obj:
    out: Obj = {"type": type_, "status": status, "reason": reason}
    if message:
        out["message"] = message
    return out


def get(obj_or_conditions: Obj | list[Obj] | None, type_: str) -> Obj | None:
    """The condition of `type_` from an object (its status.conditions) or a condition list."""
    if obj_or_conditions is None:
        return None
    conds = (obj_or_conditions if isinstance(obj_or_conditions, list)
             else (obj_or_conditions.get("status") or {}).get("conditions") or [])
    return next((c for c in conds if c.get("type") == type_), None)


def status_of(obj_or_conditions: Obj | list[Obj] | None, type_: str) -> str:
    c = get(obj_or_conditions, type_)
    return str(c.get("status")) if c else UNKNOWN


def is_true(obj_or_conditions: Obj | list[Obj] | None, type_: str) -> bool:
    return status_of(obj_or_conditions, type_) == TRUE


def merge(old: Iterable[Obj] | None, new: list[Obj], now: str, generation: int | None) -> list[Obj]:
    """`new` in its order, with lastTransitionTime kept from `old` where the status is unchanged."""
    before = {c.get("type"): c for c in old or ()}
    out = []
    for c in new:
        prior = before.get(c["type"])
        since = prior.get("lastTransitionTime") if prior and prior.get("status") == c["status"] else None
        merged: Obj = {"type": c["type"], "status": c["status"]}
        if generation is not None:
            merged["observedGeneration"] = generation
        merged["lastTransitionTime"] = since or now
        merged["reason"] = c["reason"]
        if c.get("message"):
            merged["message"] = c["message"]
        out.append(merged)
    return out


def aggregate(type_: str, items: list[tuple[str, Obj | None]], *, true_reason: str, false_reason: str,
              unknown_reason: str, noun: str) -> Obj:
    """Summarise one condition type over several objects (`items` = [(name, that object's condition)]).

    Any False wins over Unknown, which wins over True, as CAPI's summaries do; the message names the
    objects that are not True and repeats what their own conditions say.
    """
    bad = [(n, c) for n, c in items if c is None or c.get("status") != TRUE]
    if not bad:
        return cond(type_, TRUE, true_reason)
    falses = [(n, c) for n, c in bad if c is not None and c.get("status") == FALSE]
    picked = falses or bad
    status = FALSE if falses else UNKNOWN
    names = ", ".join(n for n, _ in picked[:3]) + (", ..." if len(picked) > 3 else "")
    detail = next((c.get("message") for _, c in picked if c is not None and c.get("message")), "")
    label = f"{noun} {names}" if len(picked) == 1 else f"{noun}s {names}"
    if not detail:
        message = f"* {label}: Condition not yet reported"
    elif "\n" in detail or detail.startswith("*"):
        message = f"* {label}:\n" + indent(detail)
    else:
        message = f"* {label}: {detail}"
    return cond(type_, status, false_reason if status == FALSE else unknown_reason, message)


def indent(message: str, by: str = "  ") -> str:
    """Nest a CAPI-style bullet message one level deeper."""
    lines = message.splitlines() or [""]
    return "\n".join(by + (line if line.startswith("*") else f"* {line}") if i == 0 else by + line
                     for i, line in enumerate(lines))
