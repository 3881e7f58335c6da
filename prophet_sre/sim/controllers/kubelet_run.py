"""The kubelet's running containers: probes, process output, exits noticed by the relist, liveness kills.

Split from `kubelet.py` (which creates containers) because this half is driven by time and by the
runtime's `Process`: at each due time the process reports what it printed and whether it exited (an
OOM kill comes with the kernel's line for the node), and each due probe worker asks the process how
the probe fares (`behaviour.probing`). An exit is noticed at the next PLEG relist (every second, at a
per-node phase) but stamped with the time it happened, as `finishedAt` is on a real node.
"""

from __future__ import annotations

import abc
import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prophet_sre.sim.behaviour import probing
from prophet_sre.sim.behaviour.process import seeded
from prophet_sre.sim.controllers.common import obj_key
from prophet_sre.sim.controllers.podstatus import ContainerRun, PodRun
from prophet_sre.sim.controllers.runtime import Advance, ProbeOutcome

if TYPE_CHECKING:
    from prophet_sre.sim.controllers.base import ControllerContext
    from prophet_sre.sim.controllers.runtime import ContainerRuntime
    from prophet_sre.sim.registry import ResourceType

Obj = dict[str, Any]
RELIST_S = 1.0
"""PLEG relist period: how often the kubelet lists containers to notice that one exited."""
DEFAULT_GRACE_S = 30.0


class RunningContainers(abc.ABC):
    """Mixin for `KubeletController`: everything that happens to a container between start and exit."""

    ctx: ControllerContext
    node_rt: ResourceType
    runtime: ContainerRuntime

    # provided by the kubelet
    @abc.abstractmethod
    def _event(self, pod: Obj, run: PodRun, c: ContainerRun, reason: str, msg: str, warning: bool = False) -> None:
        """Provided by the kubelet."""

    @abc.abstractmethod
    def _dt(self, at_s: float) -> datetime:
        """Provided by the kubelet."""

    @abc.abstractmethod
    def _spec_of(self, pod: Obj, c: ContainerRun) -> Obj:
        """Provided by the kubelet."""

    @abc.abstractmethod
    def _exited(self, pod: Obj, run: PodRun, c: ContainerRun, at: float, code: int, reason: str, msg: str,
                finished_s: float | None = None) -> None:
        """Provided by the kubelet."""

    # -- scheduling ------------------------------------------------------------------------------------------
    def _relist(self, node: str, t: float) -> float:
        """The first PLEG relist at or after sim second `t` on `node`."""
        phase = seeded("pleg", node) * RELIST_S
        return phase + math.ceil((t - phase) / RELIST_S - 1e-9) * RELIST_S

    def _schedule_running(self, run: PodRun, c: ContainerRun) -> None:
        if c.stage == "stopping":
            return  # c.due is the moment the process exits
        dues: list[float] = []
        plan, kinds = c.plan, {w.kind for w in c.probes}
        process = plan.process if plan is not None else None
        if c.exit_pending is not None:
            c.due = self._relist(run.node, c.started_s + c.exit_pending.at_s)
            return
        if not c.started and "startup" not in kinds:
            dues.append(c.started_probe_at)
        if not c.ready and c.ready_at is not None:
            dues.append(c.ready_at)
        if plan is not None and process is None and plan.exit_after_s is not None:
            dues.append(c.started_s + plan.exit_after_s)
        if process is not None and (nd := process.next_due()) is not None:
            dues.append(c.started_s + nd)
        dues += [w.next_s for w in c.probes if w.next_s is not None and (w.kind == "startup" or c.started)]
        c.due = min(dues) if dues else None

    def _rearm(self, run: PodRun, now: float) -> None:
        """The runtime's behaviour inputs changed: settled probes run again, process dues are recomputed."""
        for c in run.containers():
            if c.stage != "running":
                continue
            for w in c.probes:
                if w.kind != "startup" or not c.started:
                    w.rearm(now)
            self._schedule_running(run, c)

    # -- one step ---------------------------------------------------------------------------------------------
    def _running_step(self, pod: Obj, run: PodRun, c: ContainerRun, at: float) -> None:
        if c.stage == "stopping":
            code, reason = c.stop_exit or (137, "Error")
            self._exited(pod, run, c, at, code, reason, "")
            return
        if c.exit_pending is not None:
            e = c.exit_pending
            self._exited(pod, run, c, at, e.code, e.reason, e.message, finished_s=c.started_s + e.at_s)
            return
        plan = c.plan
        process = plan.process if plan is not None else None
        if plan is not None and process is None and plan.exit_after_s is not None \
                and at >= c.started_s + plan.exit_after_s:
            self._exited(pod, run, c, at, plan.exit_code, plan.reason, plan.message)
            return
        if process is not None:
            adv = process.advance(at - c.started_s)
            self._record(pod, run, c, adv)
            if adv.exit is not None:
                c.exit_pending = adv.exit
                c.ready = False
                self._schedule_running(run, c)
                if c.due is not None and c.due <= at:
                    self._running_step(pod, run, c, at)
                return
        kinds = {w.kind for w in c.probes}
        if not c.started and "startup" not in kinds and at >= c.started_probe_at:
            c.started = True
        if not c.ready and c.ready_at is not None and at >= c.ready_at and c.started:
            c.ready = True
        for w in sorted(c.probes, key=lambda w: probing.KINDS.index(w.kind)):
            if w.next_s is None or w.next_s > at + 1e-9 or (w.kind != "startup" and not c.started):
                continue
            if self._probe(pod, run, c, w, at):
                return
        self._schedule_running(run, c)

    def _record(self, pod: Obj, run: PodRun, c: ContainerRun, adv: Advance) -> None:
        ns, name = obj_key(pod)
        for t, line in adv.lines:
            self.ctx.logs.append(ns, name, c.name, self._dt(c.started_s + t), line)
        if adv.node_events:
            node = self.ctx.store.try_get(self.node_rt, "", run.node)
            for ev in adv.node_events if node is not None else ():
                self.ctx.events.record(node, ev.type, ev.reason, ev.message, component=ev.component, host=run.node)

    def _probe(self, pod: Obj, run: PodRun, c: ContainerRun, w: probing.ProbeWorker, at: float) -> bool:
        """Run one probe; True when it killed the container (the caller stops there)."""
        plan = c.plan
        process = plan.process if plan is not None else None
        alive = at - c.started_s
        outcome = process.probe(w.kind, w.spec, run.pod_ip, alive) if process is not None else ProbeOutcome(True)
        if outcome.lines:
            self._record(pod, run, c, Advance(lines=outcome.lines))
        step = probing.record(w, outcome, at, c.name)
        if step.event:
            self._event(pod, run, c, "Unhealthy", step.event, warning=True)
        if w.kind == "startup" and w.result and not c.started:
            c.started = True
            for other in c.probes:
                if other.kind != "startup" and other.next_s is None:
                    other.next_s = max(other.start_s + other.initial_delay, at)
        if w.kind == "readiness":
            c.ready = w.result and c.started
        if step.kill:
            self._event(pod, run, c, "Killing", step.kill)
            self._stop(pod, run, c, at, w.spec)
            return True
        return False

    def _stop(self, pod: Obj, run: PodRun, c: ContainerRun, at: float, probe: Obj) -> None:
        """SIGTERM the container; it exits when the process does, or is SIGKILLed after the grace period."""
        grace = probe.get("terminationGracePeriodSeconds")
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds")
        grace_s = DEFAULT_GRACE_S if grace is None else float(grace)
        plan = c.plan
        process = plan.process if plan is not None else None
        c.ready, c.probes, c.stage = False, [], "stopping"
        if process is None:
            c.stop_exit, c.due = (0, "Completed"), at + 0.2
            return
        stop = process.stop(at - c.started_s, grace_s)
        ns, name = obj_key(pod)
        for line in stop.lines:
            self.ctx.logs.append(ns, name, c.name, self._dt(at), line)
        c.stop_exit = (stop.exit_code, "Completed" if stop.exit_code == 0 else "Error")
        c.due = at + max(stop.after_s, 0.05)

