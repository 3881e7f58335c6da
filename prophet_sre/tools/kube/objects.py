"""Safe readers over raw Kubernetes JSON objects (dicts), shared by the read tools and the analyzers.

Raw dicts are what the hot path gets (typed models are too slow at 10k pods), and raw dicts can hold
anything: a field missing, `null`, or of the wrong type (a CRD, an old server, a half-written object).
Every reader here returns a value of the promised type whatever the input - `dig` walks paths through
non-dicts, `text`/`num`/`mapping`/`items` coerce - so callers never need a try/except for a shape.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]


def dig(obj: Any, *path: str | int) -> Any:
    """`obj[p0][p1]...`, or None as soon as a step is missing or the wrong type."""
    cur = obj
    for p in path:
        if isinstance(p, int):
            if not isinstance(cur, list) or not -len(cur) <= p < len(cur):
                return None
            cur = cur[p]
        else:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(p)
    return cur


def text(value: Any, default: str = "") -> str:
    """A string field: strings as they are, numbers and booleans as text, anything else `default`."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return default


def num(value: Any, default: int = 0) -> int:
    """An integer field; numeric strings are accepted, anything else is `default`."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value and abs(value) < 2**62:
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return default


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[dict[str, Any]]:
    """The dict elements of a list field (anything else in it is skipped)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def str_map(value: Any) -> dict[str, str]:
    """A `map[string]string` field such as labels; non-string values are dropped."""
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(value, dict) else {}


# -- metadata --------------------------------------------------------------------------------------------
def name(obj: Any) -> str:
    return text(dig(obj, "metadata", "name"))


def namespace(obj: Any) -> str:
    return text(dig(obj, "metadata", "namespace"))


def labels(obj: Any) -> dict[str, str]:
    return str_map(dig(obj, "metadata", "labels"))


def annotations(obj: Any) -> dict[str, str]:
    return str_map(dig(obj, "metadata", "annotations"))


def owners(obj: Any) -> list[dict[str, Any]]:
    """ownerReferences with a kind and a name; the controller reference first."""
    refs = [r for r in items(dig(obj, "metadata", "ownerReferences")) if text(r.get("kind")) and text(r.get("name"))]
    return sorted(refs, key=lambda r: 0 if r.get("controller") is True else 1)


def conditions(obj: Any) -> list[dict[str, Any]]:
    return items(dig(obj, "status", "conditions"))


def condition(obj: Any, type_: str) -> dict[str, Any] | None:
    for c in conditions(obj):
        if c.get("type") == type_:
            return c
    return None


# -- time ------------------------------------------------------------------------------------------------
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime, or None."""
    if not isinstance(value, str):
        return None
    m = _RFC3339.match(value.strip())
    if not m:
        return None
    frac = (m.group(3) or "")[:7]
    tz = m.group(4) or "Z"
    try:
        parsed = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{frac}{'+00:00' if tz == 'Z' else tz}")
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def age(when: datetime | None, now: datetime) -> str:
    """kubectl-style short age: 45s, 12m, 3h, 5d; `?` when unknown."""
    if when is None:
        return "?"
    s = max(0, int((now - when).total_seconds()))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 2 * 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


# -- selectors -------------------------------------------------------------------------------------------
def matches_labels(selector: dict[str, str], obj_labels: dict[str, str]) -> bool:
    """Equality-based selector (a Service's `spec.selector`); an empty selector matches nothing here."""
    return bool(selector) and all(obj_labels.get(k) == v for k, v in selector.items())


def matches_selector(selector: Any, obj_labels: dict[str, str]) -> bool:
    """A `LabelSelector` (matchLabels + matchExpressions); an empty one matches everything."""
    sel = mapping(selector)
    for k, v in str_map(sel.get("matchLabels")).items():
        if obj_labels.get(k) != v:
            return False
    for expr in items(sel.get("matchExpressions")):
        key, op = text(expr.get("key")), text(expr.get("operator"))
        values = [v for v in expr.get("values") or [] if isinstance(v, str)] \
            if isinstance(expr.get("values"), list) else []
        present = key in obj_labels
        if op == "In" and not (present and obj_labels[key] in values):
            return False
        if op == "NotIn" and present and obj_labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def selector_is_empty(selector: Any) -> bool:
    sel = mapping(selector)
    return not str_map(sel.get("matchLabels")) and not items(sel.get("matchExpressions"))


# -- pods ------------------------------------------------------------------------------------------------
def container_statuses(pod: Any, *, init: bool = False) -> list[dict[str, Any]]:
    return items(dig(pod, "status", "initContainerStatuses" if init else "containerStatuses"))


def pod_containers(pod: Any, *, init: bool = False) -> list[dict[str, Any]]:
    return items(dig(pod, "spec", "initContainers" if init else "containers"))


def restarts(pod: Any) -> int:
    return sum(num(cs.get("restartCount")) for cs in container_statuses(pod))


def ready_counts(pod: Any) -> tuple[int, int]:
    statuses = container_statuses(pod)
    total = len(pod_containers(pod)) or len(statuses)
    return sum(1 for cs in statuses if cs.get("ready") is True), total


def pod_status(pod: Any) -> str:
    """The STATUS kubectl prints: a waiting/terminated reason, Init:..., Terminating, or the phase."""
    phase = text(dig(pod, "status", "phase")) or "Unknown"
    reason = text(dig(pod, "status", "reason")) or phase
    for i, cs in enumerate(container_statuses(pod, init=True)):
        term = mapping(dig(cs, "state", "terminated"))
        if term and num(term.get("exitCode")) == 0:
            continue
        waiting = text(dig(cs, "state", "waiting", "reason"))
        if term:
            reason = "Init:" + (text(term.get("reason")) or f"ExitCode:{num(term.get('exitCode'))}")
        elif waiting and waiting != "PodInitializing":
            reason = "Init:" + waiting
        else:
            reason = f"Init:{i}/{len(pod_containers(pod, init=True))}"
        return reason
    for cs in container_statuses(pod):
        waiting = text(dig(cs, "state", "waiting", "reason"))
        term = mapping(dig(cs, "state", "terminated"))
        if waiting:
            reason = waiting
        elif term:
            reason = text(term.get("reason")) or f"ExitCode:{num(term.get('exitCode'))}"
    if dig(pod, "metadata", "deletionTimestamp") and reason != "Evicted":
        return "Terminating"
    return reason


_BENIGN_WAITING = {"ContainerCreating", "PodInitializing"}


def problem(pod: Any) -> str:
    """Why a pod is unhealthy, in one reason word, or "" if it is fine (Running and ready, or Succeeded)."""
    phase = text(dig(pod, "status", "phase"))
    if phase == "Succeeded":
        return ""
    if text(dig(pod, "status", "reason")) == "Evicted":
        return "Evicted"
    sched = condition(pod, "PodScheduled")
    if phase == "Pending" and sched and text(sched.get("reason")) in ("Unschedulable", "SchedulingGated"):
        return text(sched.get("reason"))
    for init in (True, False):
        for cs in container_statuses(pod, init=init):
            waiting = text(dig(cs, "state", "waiting", "reason"))
            if waiting and waiting not in _BENIGN_WAITING:
                return waiting
            term = mapping(dig(cs, "state", "terminated"))
            if term and num(term.get("exitCode")) != 0:
                return ("Init:" if init else "") + (text(term.get("reason")) or "Error")
    if phase == "Failed":
        return text(dig(pod, "status", "reason")) or "Failed"
    if phase in ("Pending", "Unknown", ""):
        return phase or "Unknown"
    ready, total = ready_counts(pod)
    if phase == "Running" and total and ready < total:
        return "NotReady"
    return ""


def workload_of(pod: Any) -> tuple[str, str]:
    """(Kind, name) of the workload that owns a pod, without fetching anything.

    A ReplicaSet named `<deployment>-<pod-template-hash>` is taken to belong to that Deployment (the
    name the Deployment controller always gives it); other controllers are reported as they are.
    """
    for ref in owners(pod):
        kind, owner = text(ref.get("kind")), text(ref.get("name"))
        if kind == "ReplicaSet":
            h = labels(pod).get("pod-template-hash", "")
            if h and owner.endswith("-" + h):
                return "Deployment", owner[: -len(h) - 1]
        return kind, owner
    return "Pod", name(pod)


__all__ = [
    "Obj", "age", "annotations", "condition", "conditions", "container_statuses", "dig", "items", "labels",
    "mapping", "matches_labels", "matches_selector", "name", "namespace", "num", "owners", "parse_time",
    "pod_containers", "pod_status", "problem", "ready_counts", "restarts", "selector_is_empty", "str_map", "text",
    "workload_of",
]
