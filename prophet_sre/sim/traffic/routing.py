"""Pass 1 of a tick: route every caller's calls - DNS, connection pool, endpoint choice, policy, listener.

Callers that policy treats alike (same namespace and labels) share one `Route`, so 1,000 pods cost a
few hundred routes per tick; a caller with its own connection pool gets its own route, because pools
are per pod. Policy verdicts are asked once per (caller labels, callee labels, port, protocol) and
tick, the behaviour model's `serving()` once per (pod, port, path) and tick.

Connection pools: when a `pool_exhaustion` fault names the callee, or the callee looks like a database
(a DB port or name), the caller's pool applies. Its size and timeout come from the fault's params, else
from the caller image's `pool` in the behaviour catalog (`shop/backend` has 20 connections, 3 s), else
10 connections and 5 s.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from prophet_sre.sim.flows import FlowEndpoint
from prophet_sre.sim.traffic import pool
from prophet_sre.sim.traffic.faults import FaultView
from prophet_sre.sim.traffic.routes import (
    CONNECT_TIMEOUT_S,
    DNS_FAIL,
    DROPPED,
    NO_BACKEND,
    POOL_TIMEOUT,
    REFUSED,
    RESOLVER_TIMEOUT_S,
    SERVED,
    NodeTick,
    Part,
    Route,
    split_counts,
    sround,
)
from prophet_sre.sim.traffic.view import WORLD, PodView, Resolved

if TYPE_CHECKING:
    from prophet_sre.sim.traffic.model import TrafficModel

log = logging.getLogger(__name__)
DEFAULT_POOL_SIZE = 10
DEFAULT_POOL_TIMEOUT_S = 5.0


class Router:
    """Routing for one tick; the model's long-lived state (queues, pool calibration) stays on the model."""

    def __init__(self, model: TrafficModel, faults: FaultView, dns: Resolved, dt: float) -> None:
        self.m = model
        self.rng = model.rng
        self.faults = faults
        self.dns = dns
        self.dt = dt
        self.engine = model.ctx.extras.get("policy")
        self.verdicts: dict[Hashable, Any] = {}
        self._serving: dict[tuple[str, int, str], int | None] = {}

    # -- policy and listeners ------------------------------------------------------------------------------
    def verdict(self, src: FlowEndpoint, sk: Hashable, dst: PodView, port: int, proto: str) -> Any:
        """The policy verdict for src -> dst:port (None when no policy engine is registered)."""
        if self.engine is None:
            return None
        key = (sk, dst.policy_key, port, proto)
        if key not in self.verdicts:
            try:
                self.verdicts[key] = self.engine.evaluate(src, dst.endpoint, port, proto)
            except Exception:  # noqa: BLE001 - a policy engine bug must not stop the traffic
                self.m.policy_errors += 1
                if self.m.policy_errors == 1:
                    log.exception("policy evaluate failed; treating the connection as allowed")
                self.verdicts[key] = None
        return self.verdicts[key]

    def verdict_for(self, src: PodView, dst: PodView, port: int, proto: str) -> Any:
        return self.verdict(src.endpoint, src.policy_key, dst, port, proto)

    def serving(self, pod: PodView, port: int, path: str) -> int | None:
        """What the pod's server answers on port/path (the behaviour model's `serving`), None = refused."""
        if not pod.serving:
            return None
        fn = self.m.ctx.extras.get("serving")
        if fn is None:
            return 200
        key = (pod.uid, port, path)
        if key not in self._serving:
            try:
                code = fn(pod.obj, port, path)
                self._serving[key] = None if code is None else int(code)
            except Exception:  # noqa: BLE001 - a behaviour-model bug reads as a crashed server
                log.exception("serving() failed for %s/%s", pod.namespace, pod.name)
                self._serving[key] = 500
        return self._serving[key]

    def backend_parts(self, src: FlowEndpoint, sk: Hashable, target: Resolved, share: float,
                      path: str) -> list[Part]:
        """`share` of the calls spread evenly over the target's ready endpoints, as kube-proxy does."""
        parts: list[Part] = []
        each = share / len(target.backends)
        for b in target.backends:
            verdict = self.verdict(src, sk, b.pod, b.port, "TCP") if self.engine is not None else None
            if verdict is not None and not getattr(verdict, "allowed", True):
                parts.append(Part(DROPPED, each, b, verdict, CONNECT_TIMEOUT_S))
                continue
            if target.http:
                code = self.serving(b.pod, b.port, path)
            else:  # the behaviour model answers HTTP only; a ready pod accepts TCP connections on its port
                code = 200 if b.pod.serving else None
            parts.append(Part(REFUSED, each, b, verdict) if code is None else Part(SERVED, each, b, verdict, code=code))
        return parts

    # -- routes ----------------------------------------------------------------------------------------------
    def groups(self, senders: list[PodView], y: NodeTick) -> list[list[PodView]]:
        """Senders that policy treats alike share a route; each sender with a pool gets its own."""
        if y.res.db_like or self.faults.pool(y.res.ref.namespace, y.names) is not None:
            return [[p] for p in senders]
        groups: dict[Hashable, list[PodView]] = {}
        for p in senders:
            groups.setdefault(p.policy_key, []).append(p)
        return list(groups.values())

    def external(self, x: NodeTick) -> list[Route]:
        """Requests from outside the cluster to a root service (one with a Service or container ports)."""
        if x.res.service is None and not any(b.pod.ports for b in x.res.backends):
            return []
        g = self.m.graph
        edges = [g.edges[i] for i in g.out_edges[x.key]]
        rate = max(e.rps for e in edges)
        if rate <= 0:
            return []
        route = Route(-1, [], x.res, rate)
        route.parts = (self.backend_parts(WORLD, ("world",), x.res, 1.0, edges[0].path) if x.res.backends
                       else [Part(NO_BACKEND, 1.0)])
        route.calls = sround(rate * self.dt, self.rng)
        split_counts(route.calls, route.parts, self.rng)
        return [route]

    def route(self, edge: int, group: list[PodView], y: NodeTick, rate: float) -> Route:
        """The calls of `group` (at `rate`/s in total) over edge `edge` to node `y`."""
        e = self.m.graph.edges[edge]
        p = group[0]
        route = Route(edge, group, y.res, rate)
        parts: list[Part] = []
        left = 1.0
        if y.res.service is not None:
            d_fault, rcode = self.faults.dns(y.res.ref.namespace, y.res.ref.name, p)
            backends = self.dns.backends
            if self.engine is not None:
                reachable = sum(1 for b in backends if getattr(self.verdict_for(p, b.pod, 53, "UDP"), "allowed", True))
            else:
                reachable = len(backends)
            d_infra = 1.0 - reachable / len(backends) if backends else 1.0
            fail = 1.0 - (1.0 - d_fault) * (1.0 - d_infra)
            if fail > 0:
                parts.append(Part(DNS_FAIL, fail, latency_s=RESOLVER_TIMEOUT_S if d_infra >= d_fault else 0.004))
                left -= fail
                route.dns_fail = fail
            route.dns_rcode = rcode
        if left > 1e-12 and not y.res.backends:
            parts.append(Part(NO_BACKEND, left))
            left = 0.0
        if left > 1e-12:
            limit = self.pool(edge, p, y, rate * left)
            if limit is not None:
                size, timeout, result = limit
                route.pool = (size, result)
                route.pool_wait_s = result.wait_s
                if result.timeout_share > 0:
                    parts.append(Part(POOL_TIMEOUT, left * result.timeout_share, latency_s=timeout))
                    left *= 1.0 - result.timeout_share
            if left > 1e-12:
                parts += self.backend_parts(p.endpoint, p.policy_key, y.res, left, e.path)
        route.parts = parts
        route.calls = sround(rate * self.dt, self.rng)
        split_counts(route.calls, parts, self.rng)
        return route

    def pool(self, edge: int, p: PodView, y: NodeTick, rate: float) -> tuple[int, float, pool.QueueResult] | None:
        """The caller-side connection pool of `p` for calls to `y`: (size, timeout, this tick's queue)."""
        params = self.faults.pool(y.res.ref.namespace, y.names)
        if params is None and not y.res.db_like:
            return None
        image_size, image_timeout = self.m.image_pool(p)
        state = self.m.queues.get(("pool", edge, p.uid))
        if state is None:
            state = self.m.queues[("pool", edge, p.uid)] = pool.QueueState()
        if params is not None:
            size = params.pool_size if params.pool_size is not None else image_size or DEFAULT_POOL_SIZE
            timeout = params.timeout_s or image_timeout or DEFAULT_POOL_TIMEOUT_S
            hold = params.hold_s
            if hold is None:  # calibrate once per fault and edge: the load then needs `in_use` connections
                key = (params.effect_id, edge)
                if key not in self.m.holds and rate > 0:
                    in_use = params.in_use if params.in_use is not None else float(size)
                    self.m.holds[key] = in_use / rate
                hold = self.m.holds.get(key, 0.05)
            return size, timeout, pool.step(state, rate, size, hold, self.dt, timeout)
        size = image_size or DEFAULT_POOL_SIZE
        timeout = image_timeout or DEFAULT_POOL_TIMEOUT_S
        hold = max(self.m.prev_latency.get(y.key, y.base_s), 0.001)
        return size, timeout, pool.step(state, rate, size, hold, self.dt, timeout)


def arrivals(routes: list[Route], nodes: dict[str, NodeTick]) -> None:
    """Count the requests each backend pod receives (the served parts of all routes)."""
    for r in routes:
        arr = nodes[r.target.ref.key].arrivals
        for part in r.parts:
            if part.kind == SERVED and part.count and part.backend is not None:
                uid = part.backend.pod.uid
                arr[uid] = arr.get(uid, 0) + part.count
