"""The traffic model: turns the service graph and pod health into requests, errors, latency and flows.

Every tick (1 sim second, as a controller in the manager) it walks the graph twice:
1. callers first - each serving pod of a caller sends its share of the edge's rps to the callee:
   DNS lookup (can fail), connection pool (can time out), then one of the callee Service's ready
   endpoints, chosen evenly (can be policy-denied, or refuse the connection when the endpoint is stale
   or the behaviour model says nothing listens). Root services also get external requests at the rate
   of their busiest outgoing edge.
2. callees first - each backend pod's answer: its own faults (error_rate, latency, degraded cluster),
   queueing when it is saturated, and the outcome of its own downstream calls, so a DB pool timeout
   becomes a backend 500 and then a frontend 502.
Then `emit.py` turns the integer counts into counters and sampled flows.

The model is deterministic given its seed: all randomness (rounding, sampling, ports, UUIDs) comes from
one `random.Random`, and every walk is in a sorted order (graph order, pods by IP).
"""

from __future__ import annotations

import logging
import random
import zlib
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.flows import FlowEndpoint, FlowLog
from prophet_sre.sim.knobs import Knobs
from prophet_sre.sim.traffic import emit, pool
from prophet_sre.sim.traffic.counters import TrafficCounters
from prophet_sre.sim.traffic.faults import FaultView
from prophet_sre.sim.traffic.graph import ServiceGraph, TrafficEdge, TrafficError, parse_edges
from prophet_sre.sim.traffic.routes import (
    CALLER_CODE,
    CONNECT_TIMEOUT_S,
    DNS_FAIL,
    DROPPED,
    HOP_S,
    NO_BACKEND,
    POOL_TIMEOUT,
    REFUSED,
    RESOLVER_TIMEOUT_S,
    SERVED,
    UPSTREAM_5XX_CODE,
    Outcome,
    Part,
    Route,
    split_counts,
    sround,
)
from prophet_sre.sim.traffic.view import WORLD, ClusterView, PodView, Resolved

log = logging.getLogger(__name__)

RPS_PER_CORE = 1000.0
MIN_RPS_PER_POD = 200.0
SATURATION_TIMEOUT_S = 10.0
DEFAULT_POOL_SIZE = 10
DEFAULT_POOL_TIMEOUT_S = 5.0


@dataclass(slots=True)
class NodeTick:
    """One graph node during one tick."""

    key: str
    res: Resolved
    senders: list[PodView]
    names: frozenset[str]
    arrivals: dict[str, int] = field(default_factory=dict)  # backend uid -> requests this tick
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    base_s: float = 0.01


@dataclass(frozen=True, slots=True)
class NodeStats:
    """What a node did in the last tick (for tests, debugging and the eval harness)."""

    rps: float
    error_share: float
    latency_s: float
    backends: int


@dataclass(slots=True)
class TickReport:
    time_s: float = 0.0
    dt: float = 0.0
    nodes: dict[str, NodeStats] = field(default_factory=dict)
    requests: int = 0
    flows: int = 0


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
        self._last_t = ctx.clock.elapsed()
        self._queues: dict[Hashable, pool.QueueState] = {}
        self._holds: dict[tuple[int, int], float] = {}
        self._prev_latency: dict[str, float] = {}
        self._policy_errors = 0
        ctx.extras["traffic"] = self

    # -- public API ---------------------------------------------------------------------------------------
    @property
    def edges(self) -> list[TrafficEdge]:
        return list(self.graph.edges)

    def load(self, edges: Iterable[Mapping[str, Any] | TrafficEdge], *, strict: bool = True) -> None:
        """Replace the graph with `edges` (scenario `traffic:` entries). With `strict`, both ends of every
        edge must name an existing Service or workload; the error names the edge."""
        parsed = parse_edges(edges)
        if strict:
            self.view.begin_tick()
            for i, e in enumerate(parsed):
                for end, ref in (("from", e.source), ("to", e.target)):
                    if not self.view.resolve(ref).exists:
                        raise TrafficError(f"traffic[{i}] ({e.label}): {end} {ref} is not a Service, Deployment, "
                                           f"StatefulSet, DaemonSet or Pod in namespace {ref.namespace!r}")
        with self.counters.lock:
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

    # -- one tick ------------------------------------------------------------------------------------------
    def _step(self, now: float, dt: float) -> TickReport:
        self.view.begin_tick()
        faults = FaultView(self.knobs, self.ctx.cluster_name, now)
        verdicts: dict[Hashable, Any] = {}
        nodes = self._nodes()
        dns = self.view.dns_service()
        routes: list[Route] = []
        for key in self.graph.roots:
            routes += self._external(nodes[key], dt, verdicts)
        for key in self.graph.top_down:
            x = nodes[key]
            for i in self.graph.out_edges[key]:
                e = self.graph.edges[i]
                if e.rps <= 0 or not x.senders:
                    continue
                y = nodes[e.target.key]
                rate = e.rps / len(x.senders)
                for group in self._groups(x.senders, pooled=self._pooled(y, faults)):
                    routes.append(self._route(i, group, y, rate * len(group), dt, faults, dns, verdicts))
        for r in routes:
            arr = nodes[r.target.ref.key].arrivals
            for part in r.parts:
                if part.kind == SERVED and part.count and part.backend is not None:
                    arr[part.backend.pod.uid] = arr.get(part.backend.pod.uid, 0) + part.count
        self._outcomes(nodes, routes, faults, dt)
        ctx = emit.Emission(self, nodes, routes, dns, faults, verdicts, now, dt)
        flows = ctx.run()
        if self.flowlog is not None and flows:
            self.flowlog.append(flows)
        self.view.end_tick()
        if self.counters.ticks % 60 == 0:
            live = {b.pod.uid for y in nodes.values() for b in y.res.backends}
            self._queues = {k: v for k, v in self._queues.items() if k[-1] in live}  # type: ignore[index]
        self.counters.ticks += 1
        self.counters.sim_seconds += dt
        self.counters.flows_written += len(flows)
        report = TickReport(now, dt, self._stats(nodes, routes, dt), ctx.requests, len(flows))
        self.counters.requests += ctx.requests
        return report

    @staticmethod
    def _groups(senders: list[PodView], *, pooled: bool) -> list[list[PodView]]:
        """Senders that policy treats alike share a route; each sender with a pool gets its own."""
        if pooled:
            return [[p] for p in senders]
        groups: dict[Hashable, list[PodView]] = {}
        for p in senders:
            groups.setdefault(p.policy_key, []).append(p)
        return list(groups.values())

    @staticmethod
    def _pooled(y: NodeTick, faults: FaultView) -> bool:
        return y.res.db_like or faults.pool(y.res.ref.namespace, y.names) is not None

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

    # -- pass 1: routing ----------------------------------------------------------------------------------
    def _verdict(self, src: FlowEndpoint, sk: Hashable, dst: PodView, port: int, proto: str,
                 cache: dict[Hashable, Any]) -> Any:
        """The policy verdict for src -> dst:port, or None when no policy engine is registered."""
        engine = self.ctx.extras.get("policy")
        if engine is None:
            return None
        key = (sk, dst.policy_key, port, proto)
        if key not in cache:
            try:
                cache[key] = engine.evaluate(src, dst.endpoint, port, proto)
            except Exception:  # noqa: BLE001 - a policy engine bug must not stop the traffic
                self._policy_errors += 1
                if self._policy_errors == 1:
                    log.exception("policy evaluate failed; treating the connection as allowed")
                cache[key] = None
        return cache[key]

    def verdict_for(self, src: PodView, dst: PodView, port: int, proto: str, cache: dict[Hashable, Any]) -> Any:
        return self._verdict(src.endpoint, src.policy_key, dst, port, proto, cache)

    @staticmethod
    def sender_key(p: PodView | None) -> Hashable:
        return ("world",) if p is None else p.policy_key

    def _backend_parts(self, src: FlowEndpoint, sender: PodView | None, target: Resolved, share: float,
                       path: str, verdicts: dict[Hashable, Any]) -> list[Part]:
        parts: list[Part] = []
        each = share / len(target.backends)
        sk = self.sender_key(sender)
        for b in target.backends:
            verdict = self._verdict(src, sk, b.pod, b.port, "TCP", verdicts)
            if verdict is not None and not getattr(verdict, "allowed", True):
                parts.append(Part(DROPPED, each, b, verdict, CONNECT_TIMEOUT_S))
                continue
            code = self._serving(b.pod, b.port, path)
            if code is None:
                parts.append(Part(REFUSED, each, b))
            else:
                parts.append(Part(SERVED, each, b, code=code))
        return parts

    def _serving(self, pod: PodView, port: int, path: str) -> int | None:
        if not pod.serving:
            return None
        fn = self.ctx.extras.get("serving")
        if fn is None:
            return 200
        try:
            code = fn(pod.obj, port, path)
        except Exception:  # noqa: BLE001 - a behaviour-model bug reads as a crashed server
            log.exception("serving() failed for %s/%s", pod.namespace, pod.name)
            return 500
        return None if code is None else int(code)

    def _external(self, x: NodeTick, dt: float, verdicts: dict[Hashable, Any]) -> list[Route]:
        """Requests from outside the cluster to a root service (one with a Service or container ports)."""
        if x.res.service is None and not any(b.pod.ports for b in x.res.backends):
            return []
        edges = [self.graph.edges[i] for i in self.graph.out_edges[x.key]]
        rate = max(e.rps for e in edges)
        if rate <= 0:
            return []
        first = edges[0]
        route = Route(-1, [], x.res, rate)
        route.parts = (self._backend_parts(WORLD, None, x.res, 1.0, first.path, verdicts) if x.res.backends
                       else [Part(NO_BACKEND, 1.0)])
        route.calls = sround(rate * dt, self.rng)
        split_counts(route.calls, route.parts, self.rng)
        return [route]

    def _route(self, edge: int, group: list[PodView], y: NodeTick, rate: float, dt: float, faults: FaultView,
               dns: Resolved, verdicts: dict[Hashable, Any]) -> Route:
        e = self.graph.edges[edge]
        p = group[0]
        route = Route(edge, group, y.res, rate)
        parts: list[Part] = []
        left = 1.0
        if y.res.service is not None:
            d_fault, rcode = faults.dns(y.res.ref.namespace, y.res.ref.name)
            reachable = [b for b in dns.backends
                         if getattr(self.verdict_for(p, b.pod, 53, "UDP", verdicts), "allowed", True)]
            d_infra = 1.0 - len(reachable) / len(dns.backends) if dns.backends else 1.0
            fail = 1.0 - (1.0 - d_fault) * (1.0 - d_infra)
            if fail > 0:
                slow = d_infra >= d_fault
                parts.append(Part(DNS_FAIL, fail, latency_s=RESOLVER_TIMEOUT_S if slow else 0.004))
                left -= fail
            route.dns_rcode = rcode
        if left > 1e-12 and not y.res.backends:
            parts.append(Part(NO_BACKEND, left))
            left = 0.0
        if left > 1e-12:
            limit = self._pool(edge, p, y, rate * left, dt, faults)
            if limit is not None:
                size, timeout, result = limit
                route.pool = (size, result)
                route.pool_wait_s = result.wait_s
                if result.timeout_share > 0:
                    parts.append(Part(POOL_TIMEOUT, left * result.timeout_share, latency_s=timeout))
                    left *= 1.0 - result.timeout_share
            if left > 1e-12:
                parts += self._backend_parts(p.endpoint, p, y.res, left, e.path, verdicts)
        route.parts = parts
        route.calls = sround(rate * dt, self.rng)
        split_counts(route.calls, parts, self.rng)
        return route

    def _pool(self, edge: int, p: PodView, y: NodeTick, rate: float, dt: float,
              faults: FaultView) -> tuple[int, float, pool.QueueResult] | None:
        """The caller-side connection pool of `p` for calls to `y`: a fault's limit, or a DB's default."""
        params = faults.pool(y.res.ref.namespace, y.names)
        state = self._queues.get(("pool", edge, p.uid))
        if state is None:
            state = self._queues[("pool", edge, p.uid)] = pool.QueueState()
        if params is not None:
            hold = params.hold_s
            if hold is None:
                key = (params.effect_id, edge)
                if key not in self._holds and rate > 0:
                    self._holds[key] = params.in_use / rate
                hold = self._holds.get(key, 0.05)
            return params.pool_size, params.timeout_s, pool.step(state, rate, params.pool_size, hold, dt,
                                                                 params.timeout_s)
        if not y.res.db_like:
            return None
        hold = max(self._prev_latency.get(y.key, y.base_s), 0.001)
        return DEFAULT_POOL_SIZE, DEFAULT_POOL_TIMEOUT_S, pool.step(state, rate, DEFAULT_POOL_SIZE, hold, dt,
                                                                    DEFAULT_POOL_TIMEOUT_S)

    # -- pass 2: outcomes ----------------------------------------------------------------------------------
    def _outcomes(self, nodes: dict[str, NodeTick], routes: list[Route], faults: FaultView, dt: float) -> None:
        by_sender: dict[tuple[str, str], list[Route]] = {}
        for r in routes:
            if r.edge >= 0:
                src_key = self.graph.edges[r.edge].source.key
                for s in r.group:
                    by_sender.setdefault((src_key, s.uid), []).append(r)
        for key in self.graph.bottom_up:
            y = nodes[key]
            for b in y.res.backends:
                if b.pod.uid in y.outcomes or not b.pod.serving:
                    continue
                rate = y.arrivals.get(b.pod.uid, 0) / dt
                out = Outcome()
                pf = faults.for_pod(b.pod, y.names)
                for code, share in pf.errors:
                    out.add_failure(code, share)
                mu = max(MIN_RPS_PER_POD, RPS_PER_CORE * b.pod.cpu_cores)
                cap_state = self._queues.setdefault(("cap", b.pod.uid), pool.QueueState())
                q = pool.step(cap_state, rate, 1.0, 1.0 / mu, dt, SATURATION_TIMEOUT_S)
                out.add_failure(503, q.timeout_share)
                latency = y.base_s + pf.latency_s + q.wait_s
                for r in by_sender.get((key, b.pod.uid), ()):
                    fails, mean = self.mix(r, nodes)
                    ratio = r.per_sender_rate / rate if rate > 0 else 1.0
                    for code in sorted(fails):
                        out.add_failure(code, min(1.0, ratio * fails[code]))
                    latency += min(ratio, 3.0) * mean
                out.latency_s = latency
                y.outcomes[b.pod.uid] = out
            served = [o.latency_s for o in y.outcomes.values()]
            if served:
                self._prev_latency[key] = sum(served) / len(served)

    def mix(self, r: Route, nodes: dict[str, NodeTick]) -> tuple[dict[int, float], float]:
        """How a route's calls end for the caller: failure share per caller code, mean latency."""
        fails: dict[int, float] = {}
        mean = 0.0
        target = nodes.get(r.target.ref.key)
        for part in r.parts:
            if part.kind != SERVED:
                code = CALLER_CODE[part.kind]
                fails[code] = fails.get(code, 0.0) + part.share
                mean += part.share * part.latency_s
                continue
            o = target.outcomes.get(part.backend.pod.uid) if target and part.backend else None
            o = o or Outcome(latency_s=target.base_s if target else 0.01)
            bad = 1.0 if part.code >= 500 else sum(s for c, s in o.fails.items() if c >= 500)
            if bad:
                fails[UPSTREAM_5XX_CODE] = fails.get(UPSTREAM_5XX_CODE, 0.0) + part.share * bad
            mean += part.share * (o.latency_s + HOP_S + r.pool_wait_s)
        return fails, mean

    def _stats(self, nodes: dict[str, NodeTick], routes: list[Route], dt: float) -> dict[str, NodeStats]:
        ingress_fail: dict[str, int] = {}
        for r in routes:
            if not r.group:
                ingress_fail[r.target.ref.key] = sum(p.count for p in r.parts if p.kind != SERVED)
        out: dict[str, NodeStats] = {}
        for key, y in nodes.items():
            n = sum(y.arrivals.values())
            bad = float(ingress_fail.get(key, 0))
            lat = 0.0
            for uid, k in y.arrivals.items():
                o = y.outcomes.get(uid)
                if o is not None:
                    bad += k * o.fail_share
                    lat += k * o.latency_s
            total = n + ingress_fail.get(key, 0)
            out[key] = NodeStats(total / dt, bad / total if total else 0.0, lat / n if n else 0.0,
                                 len(y.senders))
        return out


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
