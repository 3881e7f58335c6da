"""The fault engine of one simulated cluster: faults scheduled on the sim clock, and their log.

Faults come from scenarios (`faults:`, `at` counted from when the scenario was loaded) and from the
control API (`prophet sim inject`, fired now or `at` later). Each becomes a `FaultRecord`; a small
controller on the cluster's `ControllerManager` fires it when its sim time comes, so faults obey the
same clock as everything else (a 20x sim fires a `2m` fault after 6 wall seconds, and `advance`
jumps to it), and a fault with a `duration` is undone when it is over.

The log is what the eval harness reads: which faults fired when (the first one starts the MTTR
clock), which failed and why. Records are kept for the life of the cluster.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Literal

from prophet_sre.sim import fault_actions
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.knobs import Knobs
from prophet_sre.sim.scenario.fault_specs import Fault
from prophet_sre.sim.scenario.refs import format_duration

State = Literal["scheduled", "fired", "failed", "ended"]
TICK = ("tick",)
"""A work key that does nothing but wake the manager (after the clock was advanced)."""


@dataclass
class FaultRecord:
    """One fault's life: when it is due, when it fired (or why it failed), when it ended."""

    id: int
    fault: Fault
    source: str
    """The scenario id, or `api` for a runtime injection."""
    due_s: float
    """Sim seconds (cluster clock `elapsed()`) when it fires."""
    state: State = "scheduled"
    fired_s: float | None = None
    ends_s: float | None = None
    ended_s: float | None = None
    message: str = ""
    fired: fault_actions.Fired | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.fault.kind, "summary": self.fault.summary(), "source": self.source,
            "state": self.state, "dueSeconds": round(self.due_s, 3),
            "firedSeconds": None if self.fired_s is None else round(self.fired_s, 3),
            "endsSeconds": None if self.ends_s is None else round(self.ends_s, 3),
            "endedSeconds": None if self.ended_s is None else round(self.ended_s, 3),
            "message": self.message,
            "fault": self.fault.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
            | {"at": format_duration(self.fault.at)},
        }


class FaultController(Controller):
    """Fires and ends faults when their sim time comes (keys: ("fire", id) and ("end", id))."""

    name = "sim-faults"
    watches = ()

    def __init__(self, ctx: ControllerContext, engine: FaultEngine) -> None:
        super().__init__(ctx)
        self.engine = engine

    def reconcile(self, key: Hashable) -> float | None:
        if key == TICK:
            return None
        what, rid = key  # type: ignore[misc]
        return self.engine.step(what, rid)


class FaultEngine:
    """Schedules faults for one cluster and keeps their log."""

    def __init__(self, ctx: ControllerContext, knobs: Knobs) -> None:
        self.ctx = ctx
        self.knobs = knobs
        self.controller = FaultController(ctx, self)
        self._records: dict[int, FaultRecord] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- scheduling ------------------------------------------------------------------------------
    def schedule(self, fault: Fault, *, source: str, start_s: float | None = None) -> FaultRecord:
        """Fire `fault` at `start_s + fault.at` sim seconds (start: now). Call on the cluster's loop thread
        when the cluster runs (`SimCluster.call_in_loop`), as for any controller state."""
        now = self.ctx.clock.elapsed()
        start = now if start_s is None else start_s
        rec = FaultRecord(next(self._ids), fault, source, due_s=start + fault.at)
        with self._lock:
            self._records[rec.id] = rec
        self.controller.enqueue(("fire", rec.id), max(0.0, rec.due_s - now))
        return rec

    def step(self, what: str, rid: int) -> float | None:
        """Fire or end record `rid` if its time has come; else the sim seconds still to wait."""
        rec = self._records.get(rid)
        if rec is None:
            return None
        now = self.ctx.clock.elapsed()
        if what == "fire" and rec.state == "scheduled":
            if now < rec.due_s:
                return rec.due_s - now
            self._fire(rec, now)
        elif what == "end" and rec.state == "fired" and rec.ends_s is not None:
            if now < rec.ends_s:
                return rec.ends_s - now
            self._end(rec, now)
        return None

    def _fire(self, rec: FaultRecord, now: float) -> None:
        duration = rec.fault.duration
        until = rec.due_s + duration if duration is not None else None
        try:
            fired = fault_actions.fire(self.ctx, self.knobs, rec.fault, now_s=now, until_s=until)
        except fault_actions.FaultFailed as e:
            rec.state, rec.fired_s, rec.message = "failed", now, str(e)
            return
        rec.state, rec.fired_s, rec.fired, rec.message = "fired", now, fired, fired.message
        if until is not None:
            rec.ends_s = until
            self.controller.enqueue(("end", rec.id), max(0.0, until - now))

    def _end(self, rec: FaultRecord, now: float) -> None:
        assert rec.fired is not None
        try:
            done = fault_actions.end(self.ctx, self.knobs, rec.fault, rec.fired)
        except fault_actions.FaultFailed as e:
            done = f"could not undo: {e}"
        rec.state, rec.ended_s, rec.message = "ended", now, f"{rec.message}; {done}"

    def wake(self) -> None:
        """Make the manager look at the timers now (after `clock.advance`)."""
        self.controller.enqueue(TICK)

    # -- the log ---------------------------------------------------------------------------------------
    def records(self) -> list[FaultRecord]:
        with self._lock:
            return sorted(self._records.values(), key=lambda r: (r.due_s, r.id))

    def first_fault_s(self) -> float | None:
        """Sim seconds when the first fault fired (None before any): the start of MTTR."""
        fired = [r.fired_s for r in self.records() if r.fired_s is not None and r.state != "failed"]
        return min(fired, default=None)

    def pending(self) -> int:
        return sum(1 for r in self.records() if r.state == "scheduled")


__all__ = ["FaultController", "FaultEngine", "FaultRecord"]
