"""Deployment status and sizing arithmetic, as pure functions of (deployment, its ReplicaSets, now).

Split from the controller so the rules `kubectl rollout status` depends on - the counts, the
Available/Progressing/ReplicaFailure conditions and their timestamps, the progress deadline - and
the proportional-scaling fractions can be read (and tested) without any store in the way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prophet_sre.sim.controllers import deployment_util as du
from prophet_sre.sim.controllers.common import (
    condition,
    get_condition,
    prune_zero,
    remove_condition,
    set_condition,
)

Obj = dict[str, Any]


def has_deadline(d: Obj) -> bool:
    return d["spec"].get("progressDeadlineSeconds", 600) is not None


def calculate_status(d: Obj, all_rss: list[Obj], new_rs: Obj | None, now: datetime) -> Obj:
    """`calculateStatus`: counts summed over the ReplicaSets plus the Available condition."""
    available = du.sum_status(all_rss, "availableReplicas")
    old = d.get("status") or {}
    status: Obj = prune_zero({
        "observedGeneration": d["metadata"].get("generation", 1),
        "replicas": du.sum_status(all_rss, "replicas"),
        "updatedReplicas": du.sum_status([new_rs], "replicas") if new_rs else 0,
        "readyReplicas": du.sum_status(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(0, du.sum_spec(all_rss) - available),
    })
    if available >= du.replicas_of(d) - du.max_unavailable(d):
        c = condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now,
                      with_update_time=True)
    else:
        c = condition("Available", "False", "MinimumReplicasUnavailable",
                      "Deployment does not have minimum availability.", now, with_update_time=True)
    status["conditions"] = set_condition(list(old.get("conditions") or ()), c)
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    return status


def rollout_status(d: Obj, all_rss: list[Obj], new_rs: Obj | None, now: datetime) -> Obj:
    """`syncRolloutStatus`'s new status: counts, Available, Progressing (with the deadline), ReplicaFailure."""
    status = calculate_status(d, all_rss, new_rs, now)
    conds: list[Obj] = status["conditions"]
    if not has_deadline(d):
        conds = remove_condition(conds, "Progressing")
    cur = get_condition(d, "Progressing")
    done = (status.get("replicas", 0) == status.get("updatedReplicas", 0) and cur is not None
            and cur.get("reason") == "NewReplicaSetAvailable")
    name = new_rs["metadata"]["name"] if new_rs else ""
    if has_deadline(d) and not done:
        left = du.deadline_left(d, d.get("status") or {}, now)
        if du.is_complete(d, status):
            conds = set_condition(conds, condition("Progressing", "True", "NewReplicaSetAvailable",
                                                   f'ReplicaSet "{name}" has successfully progressed.', now,
                                                   with_update_time=True))
        elif du.is_progressing(d, status):
            c = condition("Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.', now,
                          with_update_time=True)
            if cur is not None and cur.get("status") == "True":
                c["lastTransitionTime"] = cur.get("lastTransitionTime", c["lastTransitionTime"])
            conds = remove_condition(conds, "Progressing") + [c]
        elif left is not None and left < 0:
            conds = set_condition(conds, condition("Progressing", "False", "ProgressDeadlineExceeded",
                                                   f'ReplicaSet "{name}" has timed out progressing.', now,
                                                   with_update_time=True))
    ordered = ([new_rs] if new_rs else []) + [r for r in all_rss if r is not new_rs]
    failure = next((c for r in ordered if (c := get_condition(r, "ReplicaFailure")) and c.get("status") == "True"),
                   None)
    if failure is not None:
        conds = set_condition(conds, condition("ReplicaFailure", failure["status"], failure.get("reason", ""),
                                               failure.get("message", ""), now, with_update_time=True))
    else:
        conds = remove_condition(conds, "ReplicaFailure")
    status["conditions"] = conds
    return status


def requeue_after(d: Obj, status: Obj, now: datetime) -> float | None:
    """`requeueStuckDeployment`: look again when a still-progressing rollout would hit its deadline."""
    cur = next((c for c in status.get("conditions") or () if c.get("type") == "Progressing"), None)
    if cur is None or not has_deadline(d) or du.is_complete(d, status):
        return None
    if cur.get("reason") == "ProgressDeadlineExceeded":
        return None
    left = du.deadline_left(d, status, now)
    return None if left is None else max(left + 0.5, 0.5)


def with_progressing(d: Obj, reason: str, message: str, now: datetime) -> Obj:
    """The deployment's status with a Progressing=True condition (a new RS was created or found)."""
    c = condition("Progressing", "True", reason, message, now, with_update_time=True)
    return {**(d.get("status") or {}), "conditions": set_condition(list((d.get("status") or {}).get("conditions")
                                                                         or ()), c)}


def paused_status(d: Obj, now: datetime) -> Obj | None:
    """`checkPausedConditions`: the status to write when pausing/resuming changes Progressing, else None."""
    if not has_deadline(d):
        return None
    cur = get_condition(d, "Progressing")
    if cur is not None and cur.get("reason") == "ProgressDeadlineExceeded":
        return None
    paused = bool(d["spec"].get("paused"))
    if paused == (cur is not None and cur.get("reason") == "DeploymentPaused"):
        return None
    c = condition("Progressing", "Unknown", "DeploymentPaused" if paused else "DeploymentResumed",
                  "Deployment is paused" if paused else "Deployment is resumed", now, with_update_time=True)
    conds = set_condition(list((d.get("status") or {}).get("conditions") or ()), c)
    return {**(d.get("status") or {}), "conditions": conds}


# -- proportional scaling ----------------------------------------------------------------------------------
def _proportion(d: Obj, rs: Obj, to_add: int, added: int) -> int:
    """`getProportion`: this RS's share of the replicas to add (or remove), from its max-replicas."""
    cur = du.replicas_of(rs)
    if cur == 0 or to_add == 0 or to_add == added:
        return 0
    want = du.replicas_of(d)
    if want == 0:
        fraction = -cur
    else:
        annotated = (rs["metadata"].get("annotations") or {}).get(du.MAX_REPLICAS)
        try:
            base = int(annotated) if annotated is not None else int((d.get("status") or {}).get("replicas") or 0)
        except ValueError:
            base = 0
        fraction = round(cur * (want + du.max_surge(d)) / base) - cur if base else 0
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def proportional_sizes(d: Obj, active: list[Obj], created_key: Any) -> list[tuple[Obj, int]]:
    """New sizes of the active ReplicaSets when a rolling deployment is resized mid-rollout."""
    want = du.replicas_of(d)
    allowed = want + du.max_surge(d) if want > 0 else 0
    to_add = allowed - du.sum_spec(active)
    if to_add == 0 or not active:
        return []
    # bigger first; on ties newer first when growing, older first when shrinking
    ordered = sorted(active, key=created_key, reverse=to_add > 0)
    ordered.sort(key=lambda r: -du.replicas_of(r))
    sizes: list[int] = []
    added = 0
    for rs in ordered:
        prop = _proportion(d, rs, to_add, added)
        sizes.append(du.replicas_of(rs) + prop)
        added += prop
    sizes[0] = max(0, sizes[0] + to_add - added)
    return list(zip(ordered, sizes, strict=True))
