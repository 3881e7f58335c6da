"""The kubelet's probe workers: when each probe runs, how results count up to thresholds, what it says.

Mirrors `pkg/kubelet/prober/worker.go`: a worker per probe of a started container runs every
`periodSeconds` after `initialDelaySeconds`; `successThreshold` consecutive successes or
`failureThreshold` consecutive failures flip the result; readiness starts as failure, liveness as
success, and liveness and readiness wait for the startup probe. Each failed run is a Warning
`Unhealthy` event with the prober's message; a liveness or startup result that turns to failure means
`Killing` and a restart. The outcome of a run comes from the runtime's `Process` (what the container
really answers); with no process every probe succeeds.

A worker whose result is settled and whose outcome is `stable` stops ticking until the pod is poked:
probing ten thousand healthy containers every ten seconds would only learn nothing, expensively.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prophet_sre.sim.controllers.runtime import ProbeOutcome

Obj = dict[str, Any]
KINDS = ("startup", "liveness", "readiness")
FIELDS = {"startup": "startupProbe", "liveness": "livenessProbe", "readiness": "readinessProbe"}


@dataclass
class ProbeWorker:
    kind: str
    spec: Obj
    start_s: float
    """Sim second the container started (initialDelaySeconds counts from it)."""
    next_s: float | None
    result: bool
    successes: int = 0
    failures: int = 0

    @property
    def period(self) -> float:
        return float(self.spec.get("periodSeconds") or 10)

    @property
    def success_threshold(self) -> int:
        return int(self.spec.get("successThreshold") or 1)

    @property
    def failure_threshold(self) -> int:
        return int(self.spec.get("failureThreshold") or 3)

    @property
    def initial_delay(self) -> float:
        return float(self.spec.get("initialDelaySeconds") or 0)

    def rearm(self, now: float) -> None:
        """Resume ticking (the pod was poked): at the next period boundary of this worker's schedule."""
        if self.next_s is not None:
            return
        first = self.start_s + self.initial_delay
        if now <= first:
            self.next_s = first
            return
        n = -(-(now - first) // self.period)
        self.next_s = first + n * self.period


def workers_for(container: Obj, start_s: float, seen_s: float | None = None) -> list[ProbeWorker]:
    """The container's probe workers, startup first (liveness and readiness wait for it).

    `seen_s` is when the kubelet's status cache first shows the container running (its next relist):
    a worker skips ticks before that, so no probe runs in the instant after the process started."""
    has_startup = bool(container.get("startupProbe"))
    out = []
    for kind in KINDS:
        spec = container.get(FIELDS[kind])
        if not spec:
            continue
        first = max(start_s + float(spec.get("initialDelaySeconds") or 0), seen_s or start_s)
        waits = has_startup and kind != "startup"
        out.append(ProbeWorker(kind, spec, start_s, None if waits else first, result=kind == "liveness"))
    return out


@dataclass(frozen=True)
class ProbeStep:
    """What one probe run means for the container."""

    event: str = ""
    """The `Unhealthy` warning text ("" on success)."""
    changed: bool = False
    kill: str = ""
    """The `Killing` message when a liveness or startup failure restarts the container."""


def record(w: ProbeWorker, outcome: ProbeOutcome, at: float, container_name: str) -> ProbeStep:
    """Count one probe run, schedule the next, and say what it means."""
    before = w.result
    event = kill = ""
    if outcome.ok:
        w.successes, w.failures = w.successes + 1, 0
        if w.successes >= (1 if w.kind != "readiness" else w.success_threshold):
            w.result = True
    else:
        w.failures, w.successes = w.failures + 1, 0
        label = w.kind.capitalize()
        event = (f"{label} probe errored and resulted in unknown state: {outcome.message}" if outcome.errored
                 else f"{label} probe failed: {outcome.message}")
        if w.failures >= w.failure_threshold:
            w.result = False
            if w.kind in ("liveness", "startup"):
                kill = f"Container {container_name} failed {w.kind} probe, will be restarted"
    if kill:
        w.next_s = None
    elif w.kind == "startup" and w.result:
        w.next_s = None  # a startup probe stops once it succeeded
    elif outcome.ok and w.result and outcome.stable:
        w.next_s = None
    else:
        w.next_s = at + w.period
    return ProbeStep(event=event, changed=before != w.result, kill=kill)
