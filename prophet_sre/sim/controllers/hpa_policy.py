"""How an HPA turns a metric proposal into a replica count: stabilization, rate limits, min/max.

Without `spec.behavior` this is `normalizeDesiredReplicas`: the highest recommendation of the last
300 s (scale-down stabilization), then a scale-up limit of max(2 x current, 4) and the min/max
clamp. With `spec.behavior` it is the v2 algorithm: per-direction stabilization windows and the
Pods/Percent policies over their periods, chosen by `selectPolicy`. Each outcome comes with the
`AbleToScale` / `ScalingLimited` reason and message the real controller writes.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

Obj = dict[str, Any]
DOWNSCALE_WINDOW_S = 300.0
_UP_DEFAULT = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
               "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                            {"type": "Percent", "value": 100, "periodSeconds": 15}]}
_DOWN_DEFAULT = {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                 "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}
READY = ("ReadyForNewScale", "recommended size matches current size")
DOWN_STABILIZED = ("ScaleDownStabilized", "recent recommendations were higher than current one, applying the "
                                          "highest recent recommendation")
UP_STABILIZED = ("ScaleUpStabilized", "recent recommendations were lower than current one, applying the lowest "
                                      "recent recommendation")


def _rules(behavior: Obj, direction: str) -> Obj:
    rules = dict(_UP_DEFAULT if direction == "scaleUp" else _DOWN_DEFAULT)
    rules.update({k: v for k, v in (behavior.get(direction) or {}).items() if v is not None})
    return rules


class Recommendations:
    """Per-HPA memory: timestamped recommendations and past scale changes (sim seconds)."""

    def __init__(self) -> None:
        self._recs: dict[Hashable, list[tuple[float, int]]] = {}
        self._changes: dict[Hashable, list[tuple[float, int]]] = {}

    def forget(self, key: Hashable) -> None:
        self._recs.pop(key, None)
        self._changes.pop(key, None)

    def record_change(self, key: Hashable, now: float, delta: int) -> None:
        self._changes.setdefault(key, []).append((now, delta))
        self._changes[key] = [(t, d) for t, d in self._changes[key] if now - t <= 1800]

    def stabilize(self, key: Hashable, behavior: Obj | None, current: int, proposal: int,
                  now: float) -> tuple[int, str, str]:
        """The stabilized recommendation and the AbleToScale (reason, message) it implies."""
        recs = self._recs.setdefault(key, [])
        if behavior is None:
            recent = [r for t, r in recs if now - t <= DOWNSCALE_WINDOW_S]
            out = max([proposal, *recent])
            self._recs[key] = [(t, r) for t, r in recs if now - t <= DOWNSCALE_WINDOW_S] + [(now, proposal)]
            return (out, *(DOWN_STABILIZED if out != proposal else READY))
        up_w = float(_rules(behavior, "scaleUp").get("stabilizationWindowSeconds") or 0)
        down_w = float(_rules(behavior, "scaleDown").get("stabilizationWindowSeconds") or 0)
        up = min([proposal, *(r for t, r in recs if now - t < up_w)])
        down = max([proposal, *(r for t, r in recs if now - t < down_w)])
        out = min(max(current, up), down)
        keep = max(up_w, down_w)
        self._recs[key] = [(t, r) for t, r in recs if now - t < keep] + [(now, proposal)]
        if out == proposal:
            return (out, *READY)
        return (out, *(UP_STABILIZED if proposal > current else DOWN_STABILIZED))

    def changed_within(self, key: Hashable, now: float, period: float, sign: int) -> int:
        return sum(abs(d) for t, d in self._changes.get(key, ()) if now - t < period and d * sign > 0)


def limit_replicas(spec: Obj, current: int, desired: int, lo: int, hi: int, *,
                   recs: Recommendations | None = None, key: Hashable = None,
                   now: float = 0.0) -> tuple[int, tuple[str, str, str]]:
    """(the final count, the ScalingLimited (status, reason, message))."""
    within = ("False", "DesiredWithinRange", "the desired count is within the acceptable range")
    too_many = ("True", "TooManyReplicas", "the desired replica count is more than the maximum replica count")
    too_few = ("True", "TooFewReplicas", "the desired replica count is less than the minimum replica count")
    up_limit = ("True", "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
    down_limit = ("True", "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum "
                                            "scale rate")
    behavior = spec.get("behavior")
    if behavior is None or recs is None:
        scale_up = max(2 * current, 4)
        max_allowed, why = (scale_up, up_limit) if hi > scale_up else (hi, too_many)
        if desired < lo:
            return lo, too_few
        if desired > max_allowed:
            return max_allowed, why
        return desired, within
    if desired > current:
        limit = max(_policy_limit(_rules(behavior, "scaleUp"), current, recs, key, now, +1), current)
        max_allowed, why = (limit, up_limit) if hi > limit else (hi, too_many)
        if desired > max_allowed:
            return max_allowed, why
    elif desired < current:
        limit = min(_policy_limit(_rules(behavior, "scaleDown"), current, recs, key, now, -1), current)
        min_allowed, why = (limit, down_limit) if lo < limit else (lo, too_few)
        if desired < min_allowed:
            return min_allowed, why
    return desired, within


def _policy_limit(rules: Obj, current: int, recs: Recommendations, key: Hashable, now: float, sign: int) -> int:
    """`calculateScaleUpLimitWithScalingRules` / `calculateScaleDownLimitWithBehaviors`."""
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    proposals = []
    for p in rules.get("policies") or ():
        period = float(p.get("periodSeconds") or 15)
        start = current - sign * recs.changed_within(key, now, period, sign)
        value = int(p.get("value") or 0)
        if p.get("type") == "Pods":
            proposals.append(start + sign * value)
        elif sign > 0:
            proposals.append(math.ceil(start * (1 + value / 100)))
        else:
            proposals.append(math.floor(start * (1 - value / 100)))
    if not proposals:
        return current
    most = max(proposals) if sign > 0 else min(proposals)
    least = min(proposals) if sign > 0 else max(proposals)
    return most if select == "Max" else least
