"""The traffic model: turns the service graph and pod health into requests, errors, latency and flows.

Every tick (1 sim second, as a controller in the manager) it walks the graph twice:
1. callers first (`routing.py`) - each serving pod of a caller sends its share of the edge's rps to
   the callee: DNS lookup (can fail), connection pool (can time out), then one of the callee
   Service's ready endpoints, chosen evenly (can be policy-denied, or refuse the connection when the
   endpoint is stale or the behaviour model says nothing listens). Root services also get external
   requests at the rate of their busiest outgoing edge.
2. callees first (`outcomes.py`) - each backend pod's answer: its own faults, queueing when it is
   saturated, and the outcome of its own downstream calls.
Then `emit.py` turns the integer counts into counters and sampled flows, and the behaviour model hears
each pod's request rate (`set_load`: memory and CPU follow load) and gets access-log lines for the
sampled requests (`log_request`).

The model is deterministic given its seed: all randomness (rounding, sampling, ports, UUIDs) comes from
one `random.Random`, and every walk is in a sorted order (graph order, pods by IP).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.flows import FlowLog, FlowRecord
from prophet_sre.sim.knobs import Knobs
from prophet_sre.sim.traffic import emit, outcomes, pool
from prophet_sre.sim.traffic.counters import TrafficCounters
from prophet_sre.sim.traffic.faults import FaultView
from prophet_sre.sim.traffic.graph import ServiceGraph, TrafficEdge, TrafficError, parse_edges
from prophet_sre.sim.traffic.routes import NodeStats, NodeTick, Route, TickReport
from prophet_sre.sim.traffic.routing import Router, arrivals
from prophet_sre.sim.traffic.view import ClusterView, PodView

__all__ = ["NodeStats", "NodeTick", "TickReport", "TrafficController", "TrafficModel", "counters_of"]
LOAD_CHANGE = 0.1
"""Relative change in a pod's request rate worth telling the behaviour model about."""


class TrafficModel:
    """Requests over the service graph of one cluster. `load()` the scenario's edges; ticks run by themselves
    when `controllers()` are in the cluster's manager (`tick()` can also be called directly)."""

    def __init__(self, ctx: ControllerContext, *, seed: int | None = None, tick_s: float = 1.0,
                 max_flows_per_s: float = 2000.0, knobs: Knobs | None = None, flowlog: FlowLog | None = None) -> None:
        self.ctx = ctx
        self.knobs = knobs if knobs is not None else ctx.extras.get("knobs")
        self.flowlog = flowlog if flowlog is not None else ctx.extras.get("flowlog")
        self.seed = zlib.crc32(ctx.cluster_name.encode()) if seed is None else seed
        self.rng = random.Random(self.seed)
        self.tick_s = tick_s
        self.max_flows_per_s = max_flows_per_s
        self.graph = ServiceGraph([])
        self.counters = TrafficCounters()
        self.view = ClusterView(ctx)
        self.last = TickReport()
        self.queues: dict[Hashable, pool.QueueState] = {}
        """Queue state between ticks: ("cap", pod uid) for saturated pods, ("pool", edge, pod uid) for pools."""
        self.holds: dict[tuple[int, int], float] = {}
        """Connection hold time per (pool fault, edge), fixed when the fault is first seen."""
        self.prev_latency: dict[str, float] = {}
        self.pending_flows: list[FlowRecord] = []
        """Flows that lie after the last tick's end (slow responses); written by a later tick."""
        self.policy_errors = 0
        self._last_t = ctx.clock.elapsed()
        self._loads: dict[tuple[str, str], float] = {}
        self._image_pools: dict[str, tuple[int | None, float | None]] = {}
        ctx.extras["traffic"] = self
        pending = ctx.extras.pop("scenario_traffic", None)  # edges a scenario loaded before the model existed
        if pending:
            self.load(pending, strict=False)

    # -- public API ---------------------------------------------------------------------------------------
    @property
    def edges(self) -> list[TrafficEdge]:
        return list(self.graph.edges)

    def load(self, edges: Iterable[Mapping[str, Any] | TrafficEdge], *, strict: bool = True) -> None:
        """Replace the graph with `edges` (scenario `traffic:` entries). With `strict`, both ends of every
        edge must name an existing Service or workload; the error names the edge."""
        parsed = parse_edges(edges)
        with self.counters.lock:  # a tick may be running on the cluster's loop thread
            if strict:
                self.view.begin_tick()
                for i, e in enumerate(parsed):
                    for end, ref in (("from", e.source), ("to", e.target)):
                        if not self.view.resolve(ref).exists:
                            raise TrafficError(f"traffic[{i}] ({e.label}): {end} {ref} is not a Service, "
                                               f"Deployment, StatefulSet, DaemonSet or Pod in namespace "
                                               f"{ref.namespace!r}")
            self.graph = ServiceGraph(parsed)

    def controllers(self) -> list[Controller]:
        return [TrafficController(self.ctx, self)]

    def tick(self, now: float | None = None) -> TickReport:
        """Advance the model to sim time `now` (default: the clock's) and write counters and flows."""
        now = self.ctx.clock.elapsed() if now is None else now
        dt = now - self._last_t
        if dt <= 0:
            return self.last
        self._last_t = now
        with self.counters.lock:
            report = self._step(now, dt)
        self.last = report
        return report

    def image_pool(self, pod: PodView) -> tuple[int | None, float | None]:
        """(size, timeout s) of the client connection pool the pod's image declares (behaviour catalog)."""
        catalog = getattr(self.ctx.extras.get("behaviour"), "catalog", None)
        if catalog is None:
            return None, None
        for c in (pod.obj.get("spec") or {}).get("containers") or ():
            image = c.get("image", "")
            hit = self._image_pools.get(image)
            if hit is None:
                spec = catalog.lookup(image) if hasattr(catalog, "lookup") else None
                p = getattr(spec, "pool", None)
                hit = (p.size, p.timeout_ms / 1000.0) if p is not None else (None, None)
                self._image_pools[image] = hit
            if hit[0] is not None:
                return hit
        return None, None

    # -- one tick ------------------------------------------------------------------------------------------
    def _step(self, now: float, dt: float) -> TickReport:
        self.view.begin_tick()
        faults = FaultView(self.knobs, self.ctx.cluster_name, now)
        nodes = self._nodes()
        router = Router(self, faults, self.view.dns_service(), dt)
        routes: list[Route] = []
        for key in self.graph.roots:
            routes += router.external(nodes[key])
        for key in self.graph.top_down:
            x = nodes[key]
            for i in self.graph.out_edges[key]:
                e = self.graph.edges[i]
                if e.rps <= 0 or not x.senders:
                    continue
                y = nodes[e.target.key]
                rate = e.rps / len(x.senders)
                for group in router.groups(x.senders, y):
                    routes.append(router.route(i, group, y, rate * len(group)))
        arrivals(routes, nodes)
        outcomes.compute(self, nodes, routes, faults, dt)
        emission = emit.Emission(self, router, nodes, routes, now, dt)
        flows = emission.run()
        if self.flowlog is not None and flows:
            self.flowlog.append(flows)
        self._report_loads(nodes, dt)
        self.view.end_tick()
        if self.counters.ticks % 60 == 0:
            live = {b.pod.uid for y in nodes.values() for b in y.res.backends}
            self.queues = {k: v for k, v in self.queues.items() if k[-1] in live}  # type: ignore[index]
        self.counters.ticks += 1
        self.counters.sim_seconds += dt
        self.counters.flows_written += len(flows)
        self.counters.requests += emission.requests
        return TickReport(now, dt, outcomes.stats(nodes, routes, dt), emission.requests, len(flows))

    def _nodes(self) -> dict[str, NodeTick]:
        out: dict[str, NodeTick] = {}
        for key in self.graph.top_down:
            ref = self.graph.nodes[key]
            port = next((self.graph.edges[i].port for i in self.graph.in_edges[key]
                         if self.graph.edges[i].port), None)
            res = self.view.resolve(ref, port)
            seen: dict[str, PodView] = {}
            for b in res.backends:
                if b.pod.serving:
                    seen.setdefault(b.pod.uid, b.pod)
            names = {ref.name}
            if res.workload:
                names.add(res.workload[1])
            base = 0.005 + (zlib.crc32(key.encode()) % 1000) / 1000.0 * 0.015
            out[key] = NodeTick(key, res, list(seen.values()), frozenset(names), base_s=base)
        return out

    def _report_loads(self, nodes: dict[str, NodeTick], dt: float) -> None:
        """Tell the behaviour model each pod's request rate when it changed by more than 10% (or 1 rps)."""
        set_load = getattr(self.ctx.extras.get("behaviour"), "set_load", None)
        if set_load is None:
            return
        now: dict[tuple[str, str], float] = {}
        for y in nodes.values():
            for b in y.res.backends:
                k = (b.pod.namespace, b.pod.name)
                now[k] = now.get(k, 0.0) + y.arrivals.get(b.pod.uid, 0) / dt
        for k in self._loads.keys() - now.keys():
            now[k] = 0.0
        for k, rps in now.items():
            old = self._loads.get(k, 0.0)
            if abs(rps - old) > max(1.0, LOAD_CHANGE * old) or (old > 0) != (rps > 0):
                set_load(k[0], k[1], rps)
                if rps > 0:
                    self._loads[k] = rps
                else:
                    self._loads.pop(k, None)


class TrafficController(Controller):
    """Ticks the model every `tick_s` sim seconds from the controller manager (its resync timer)."""

    name = "traffic-model"
    watches = ()

    def __init__(self, ctx: ControllerContext, model: TrafficModel) -> None:
        super().__init__(ctx)
        self.model = model
        self.resync_s = model.tick_s

    def resync(self) -> Iterable[Hashable]:
        return ["tick"]

    def reconcile(self, key: Hashable) -> float | None:
        self.model.tick()
        return None


def counters_of(extras: Mapping[str, Any]) -> TrafficCounters | None:
    """The counters of the cluster's traffic model, if one is registered."""
    model = extras.get("traffic")
    return model.counters if isinstance(model, TrafficModel) else None
