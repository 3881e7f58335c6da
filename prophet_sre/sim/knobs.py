"""Active fault effects: the one place faults write and the behaviour, traffic and fleet models read.

A fault that is not a plain API operation (a latency spike, an exhausted DB pool, DNS failures, an
east-west flood, a degraded cluster, a missing image) becomes an `Effect` here. Models look up the
effects that concern them on every tick, so faults stay decoupled from the models they influence and
a fix (rolling back, quarantining, shifting traffic) can be judged by the models alone.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = frozenset({
    "image_missing", "network_flood", "dns_failure", "latency", "pool_exhaustion", "cluster_degraded",
    "node_pressure", "error_rate",
})


@dataclass(frozen=True, slots=True)
class Effect:
    """One active effect. `target` uses the scenario's form (`NS/KIND/NAME`, `NS/NAME`, a node or cluster name)."""

    id: int
    kind: str
    target: str
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    since_s: float = 0.0
    until_s: float | None = None  # sim seconds; None = until removed

    def active_at(self, t: float) -> bool:
        return t >= self.since_s and (self.until_s is None or t < self.until_s)


class Knobs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._effects: dict[int, Effect] = {}
        self._ids = itertools.count(1)

    def add(self, kind: str, target: str, params: dict[str, Any] | None = None, *, since_s: float = 0.0,
            until_s: float | None = None) -> Effect:
        if kind not in KINDS:
            raise ValueError(f"unknown effect kind {kind!r}; known: {', '.join(sorted(KINDS))}")
        eff = Effect(next(self._ids), kind, target, dict(params or {}), since_s, until_s)
        with self._lock:
            self._effects[eff.id] = eff
        return eff

    def remove(self, effect_id: int) -> bool:
        with self._lock:
            return self._effects.pop(effect_id, None) is not None

    def clear(self, kind: str | None = None) -> None:
        with self._lock:
            if kind is None:
                self._effects.clear()
            else:
                self._effects = {k: e for k, e in self._effects.items() if e.kind != kind}

    def active(self, kind: str, t: float | None = None) -> list[Effect]:
        with self._lock:
            effects = [e for e in self._effects.values() if e.kind == kind]
        return effects if t is None else [e for e in effects if e.active_at(t)]

    def all(self) -> list[Effect]:
        with self._lock:
            return list(self._effects.values())
