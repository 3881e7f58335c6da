"""Turn one tick's routing decisions into exact counters and a bounded sample of flows.

Counters take every request; flows take a sample whose size keeps the whole cluster under
`max_flows_per_s` (default 2,000 flows per sim second): each group of identical outcomes contributes
`round(count x p)` flows with one `p` for the tick, so the sample keeps the proportions (a 2% drop
rate shows as about 2% DROPPED flows) while Hubble's counters, like the real ones, count everything.

Hubble's own accounting is mirrored per flow shape (see `flowgen.py`): a served request is two
`Trace` flows (SYN, SYN-ACK) and two `L7` HTTP flows; a refused one two `Trace` flows (SYN, RST); a
drop one `Drop` flow; a DNS lookup two `L7` DNS flows.
"""

from __future__ import annotations

import bisect
import itertools
import logging
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from prophet_sre.sim.flows import FlowRecord
from prophet_sre.sim.traffic import background
from prophet_sre.sim.traffic.counters import LATENCY_SHAPE
from prophet_sre.sim.traffic.flowgen import FlowWriter, vip
from prophet_sre.sim.traffic.routes import (
    CALLER_CODE,
    DROPPED,
    HOP_S,
    NO_BACKEND,
    REFUSED,
    SERVED,
    NodeTick,
    Outcome,
    Part,
    Route,
    sround,
)

if TYPE_CHECKING:
    from prophet_sre.sim.traffic.model import TrafficModel
    from prophet_sre.sim.traffic.routing import Router

log = logging.getLogger(__name__)
ACCESS_LOG_LINES = 2
ACCESS_LOG_ERRORS = 5
"""Access-log lines per pod and sim second for successful / failed sampled requests."""
ACCESS_LOG_TOTAL = 100
"""Access-log lines of successful requests per sim second for the whole cluster (log rendering is costly)."""
FLOWS_PER = {SERVED: 4, REFUSED: 2, DROPPED: 1, NO_BACKEND: 1}
COREDNS_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
HUBBLE_RCODES = {0: "No Error", 1: "Format Error", 2: "Server Failure", 3: "Non-Existent Domain",
                 4: "Not Implemented", 5: "Query Refused"}
KUBE_DNS = ("kube-dns", "kube-system")
_SHAPE_MULTS = [m for m, _ in LATENCY_SHAPE]
_SHAPE_CUM = list(itertools.accumulate(w for _, w in LATENCY_SHAPE))


def _observed(r: Route) -> str:
    """The trace observation point of a connection's flows: a pod's own egress, or delivery from outside."""
    return "from-endpoint" if r.group else "to-endpoint"


def drop_type(reason: str, verdict: Any) -> str:
    """Hubble's `type` label: an explicit deny naming its policy is a policy-verdict event, the rest drops."""
    named = getattr(verdict, "egress_denied_by", ()) or getattr(verdict, "ingress_denied_by", ())
    return "PolicyVerdict" if reason == "POLICY_DENY" and named else "Drop"


def dropped_at_ingress(verdict: Any) -> bool:
    """Where a policy drop is observed: the verdict's `direction` if it has one, else by who denied it."""
    direction = getattr(verdict, "direction", "")
    if direction:
        return str(direction).upper() == "INGRESS"
    return not getattr(verdict, "egress_denied_by", ())


_NO_OUTCOME = Outcome(latency_s=0.01)


MAX_FLOWS_PER_WALL_S = 2_000.0
"""Flow samples one simulator may emit per wall second, whatever the clock speed."""


class Emission:
    """Counters and flows of one tick (runs under the counters' lock)."""

    def __init__(self, model: TrafficModel, router: Router, nodes: dict[str, NodeTick], routes: list[Route],
                 now: float, dt: float) -> None:
        self.m = model
        self.router = router
        self.rng = model.rng
        self.c = model.counters
        self.nodes = nodes
        self.routes = routes
        self.dns = router.dns
        self.dt = dt
        behaviour = model.ctx.extras.get("behaviour")
        self.log_request = getattr(behaviour, "log_request", None)
        clock = model.ctx.clock
        start = clock.now() - timedelta(seconds=clock.elapsed() - (now - dt))
        self.w = FlowWriter(self.rng, start, dt)
        self.p = 1.0
        self.requests = 0
        self._http_n = 0
        self._handshakes = 0
        self._codes: Counter[tuple[str, str, int, str]] = Counter()  # (ns, service, code, method)
        self._hubble_http: Counter[tuple[str, int]] = Counter()  # (method, code)
        self._hist: Counter[tuple[str, str, float]] = Counter()  # (ns, service, mean latency)
        self._trace: Counter[str] = Counter()  # Trace flows by observation point
        self._logged: Counter[str] = Counter()  # access-log lines per pod uid this tick
        self._logged_total = 0

    def run(self) -> list[FlowRecord]:
        lookups = background.plan_dns(self.m, self.router, self.routes)
        shots = background.plan_floods(self.m, self.router)
        expected = sum(FLOWS_PER.get(p.kind, 0) * p.count for r in self.routes for p in r.parts)
        expected += sum(2 * lk.n if lk.allowed else lk.n for lk in lookups)
        expected += sum(2 * s.n if s.allowed else s.n for s in shots)
        # The sample budget is per sim second, but a fast clock turns that into many more flows per wall
        # second than one event loop can produce; cap it at MAX_FLOWS_PER_WALL_S (counters stay exact).
        speed = max(1.0, self.m.ctx.clock.speed)
        per_sim_s = min(self.m.max_flows_per_s, MAX_FLOWS_PER_WALL_S / speed)
        budget = per_sim_s * min(self.dt, 10.0)
        self.p = min(1.0, budget / expected) if expected else 1.0
        live_pools: set[tuple[str, str, str, str]] = set()
        for r in self.routes:
            self._route(r, live_pools)
        self.c.drop_pools_except(live_pools)
        for lk in lookups:
            self._lookup(lk)
        for s in shots:
            self._shot(s)
        self._flush()
        flows, self.m.pending_flows = self.w.finish(self.m.pending_flows)
        return flows

    def _flush(self) -> None:
        """Move the tick's per-request tallies into the shared counters (one update per series)."""
        c = self.c
        for (ns, svc, code, method), k in self._codes.items():
            c.http_requests[(ns, svc, str(code), method)] += k
        for (method, code), k in self._hubble_http.items():
            c.hubble_http[(method, "HTTP/1.1", str(code), "server")] += k
        for (ns, svc, latency), k in self._hist.items():
            c.histogram(ns, svc).observe_many(k, latency)
        for subtype, k in self._trace.items():
            c.hubble_flows[("TCP", "Trace", subtype, "FORWARDED")] += k
        if self._http_n:
            c.hubble_flows[("HTTP", "L7", "HTTP", "FORWARDED")] += 2 * self._http_n
        if self._handshakes:
            c.hubble_tcp_flags[("SYN", "IPv4")] += self._handshakes
            c.hubble_tcp_flags[("SYN-ACK", "IPv4")] += self._handshakes

    def _samples(self, count: int) -> int:
        return count if self.p >= 1.0 else sround(count * self.p, self.rng)

    # -- HTTP ----------------------------------------------------------------------------------------------
    def _route(self, r: Route, live_pools: set[tuple[str, str, str, str]]) -> None:
        g = self.m.graph
        edge = g.edges[r.edge] if r.edge >= 0 else g.edges[g.out_edges[r.target.ref.key][0]]
        ref = r.target.ref
        service = (ref.name, ref.namespace) if r.target.service is not None else None
        url = f"http://{ref.name}.{ref.namespace}.svc.cluster.local{edge.path}" if service else \
            f"http://{ref.name}{edge.path}"
        node = self.nodes.get(ref.key)
        for part in r.parts:
            if not part.count:
                continue
            if part.kind == SERVED:
                self._served(r, part, node, edge.method, url, service)
            elif part.kind == REFUSED:
                self._refused(r, part, service)
            elif part.kind in (DROPPED, NO_BACKEND):
                self._dropped(r, part, service)
            if not r.group and part.kind != SERVED:  # the ingress answers for a root service
                self._http(ref.namespace, ref.name, CALLER_CODE[part.kind], edge.method, part.count, part.latency_s)
        if r.pool is not None and r.group:  # the caller's pool: its service, its pod, the pool's target
            size, result = r.pool
            key = (ref.namespace, g.edges[r.edge].source.name, r.group[0].name, ref.name)
            live_pools.add(key)
            gauge = self.c.pool(*key)
            gauge.in_use, gauge.max, gauge.waiting = result.busy, size, result.waiting
            sent = sum(p.count for p in r.parts if p.backend is not None)
            gauge.wait_total_s += sent * result.wait_s
            gauge.timeouts_total += sum(p.count for p in r.parts if p.kind == "pool_timeout")

    def _http(self, ns: str, svc: str, code: int, method: str, n: int, latency_s: float) -> None:
        self._codes[(ns, svc, code, method)] += n
        self._hist[(ns, svc, latency_s)] += n

    def _served(self, r: Route, part: Part, node: NodeTick | None, method: str, url: str,
                service: tuple[str, str] | None) -> None:
        backend = part.backend
        assert backend is not None
        ns, svc = r.target.ref.namespace, r.target.ref.name
        o = (node.outcomes.get(backend.pod.uid) if node else None) or _NO_OUTCOME
        n = part.count
        self.requests += n
        self._trace[_observed(r)] += 2 * n  # SYN and SYN-ACK
        self._handshakes += n
        if not r.target.http:  # a database connection: L3/L4 only, nothing to count as HTTP
            self._trace[_observed(r)] += 2 * n  # the query and its answer (ACK+PSH both ways)
            for _ in range(self._samples(n)):
                self.w.tcp(r.source(self.rng), backend.pod.endpoint, backend.port, service=service)
            return
        self._http_n += n
        code = part.code
        if code >= 500 or not o.fails:
            self._codes[(ns, svc, code, method)] += n
            self._hubble_http[(method, code)] += n
        else:
            for c, k in o.split(n, self.rng, code):
                self._codes[(ns, svc, c, method)] += k
                self._hubble_http[(method, c)] += k
        latency = o.latency_s if code < 500 else min(o.latency_s, 0.005)
        self._hist[(ns, svc, round(latency, 4))] += n
        samples = n if self.p >= 1.0 else sround(n * self.p, self.rng)
        for _ in range(samples):
            answer = code if code >= 500 else o.pick_code(self.rng, code)
            mult = _SHAPE_MULTS[bisect.bisect(_SHAPE_CUM, self.rng.random() * _SHAPE_CUM[-1])]
            src = r.source(self.rng)
            self.w.http(src, backend.pod.endpoint, backend.port, code=answer, latency_s=latency * mult + HOP_S,
                        method=method, url=url, service=service, verdict=part.verdict)
            if self.log_request is not None:
                self._log(backend.pod.obj, backend.port, method, url, answer, src.ip)

    def _log(self, pod: dict[str, Any], port: int, method: str, url: str, code: int, client: str) -> None:
        """An access-log line in the serving container (the behaviour model's hook) for a sampled request;
        at most a few per pod and tick (more for errors), so `kubectl logs` stays readable and cheap."""
        uid = pod["metadata"].get("uid", "")
        if self._logged[uid] >= (ACCESS_LOG_ERRORS if code >= 500 else ACCESS_LOG_LINES):
            return
        if code < 500 and self._logged_total >= ACCESS_LOG_TOTAL * self.dt:
            return
        self._logged[uid] += 1
        self._logged_total += 1
        path = "/" + url.split("://", 1)[-1].split("/", 1)[-1] if "://" in url else url
        try:
            self.log_request(pod, port, method, path, code, client)  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - logging must never break the traffic
            log.exception("log_request failed; disabling access logs for this tick")
            self.log_request = None

    def _refused(self, r: Route, part: Part, service: tuple[str, str] | None) -> None:
        assert part.backend is not None
        n = part.count
        self._trace[_observed(r)] += 2 * n  # SYN and RST
        self.c.hubble_tcp_flags[("SYN", "IPv4")] += n
        self.c.hubble_tcp_flags[("RST", "IPv4")] += n
        for _ in range(self._samples(n)):
            self.w.refused(r.source(self.rng), part.backend.pod.endpoint, part.backend.port, service=service)

    def _dropped(self, r: Route, part: Part, service: tuple[str, str] | None) -> None:
        n = part.count
        if part.kind == NO_BACKEND:
            reason, ingress = "SERVICE_BACKEND_NOT_FOUND", False
        else:
            reason = getattr(part.verdict, "drop_reason", "") or "POLICY_DENIED"
            ingress = not r.group or dropped_at_ingress(part.verdict)
        self.c.hubble_drops[(reason, "TCP")] += n
        self.c.hubble_flows[("TCP", drop_type(reason, part.verdict), "", "DROPPED")] += n
        dst = part.backend.pod.endpoint if part.backend is not None else vip(r.target.cluster_ip)
        port = part.backend.port if part.backend is not None else r.target.port
        for _ in range(self._samples(n)):
            self.w.dropped(r.source(self.rng), dst, port, reason=reason, ingress=ingress, service=service,
                           verdict=part.verdict)

    # -- DNS and floods ------------------------------------------------------------------------------------
    def _lookup(self, lk: background.Lookup) -> None:
        c = self.c
        if not lk.allowed:
            reason = "SERVICE_BACKEND_NOT_FOUND" if lk.server is None else \
                (getattr(lk.verdict, "drop_reason", "") or "POLICY_DENIED")
            c.hubble_drops[(reason, "UDP")] += lk.n
            c.hubble_flows[("UDP", drop_type(reason, lk.verdict), "", "DROPPED")] += lk.n
            dst = lk.server.pod.endpoint if lk.server is not None else vip(self.dns.cluster_ip)
            ingress = lk.server is not None and dropped_at_ingress(lk.verdict)
            for _ in range(self._samples(lk.n)):
                self.w.dropped(lk.route.source(self.rng), dst, 53, reason=reason, protocol="UDP", ingress=ingress,
                               service=KUBE_DNS, verdict=lk.verdict)
            return
        assert lk.server is not None
        pod = lk.server.pod.name
        ok = lk.n - lk.failed
        c.dns_requests[(pod, "A")] += lk.n
        c.dns_responses[(pod, "NOERROR")] += ok
        c.hubble_dns_queries[("", "A", "0")] += lk.n
        c.hubble_dns_responses[("No Error", "A", "1")] += ok
        if lk.failed:
            c.dns_responses[(pod, COREDNS_RCODES.get(lk.rcode, str(lk.rcode)))] += lk.failed
            c.hubble_dns_responses[(HUBBLE_RCODES.get(lk.rcode, str(lk.rcode)), "A", "0")] += lk.failed
        c.hubble_flows[("DNS", "L7", "DNS", "FORWARDED")] += 2 * lk.n
        ips = (lk.route.target.cluster_ip,) if lk.route.target.cluster_ip else ()
        for _ in range(self._samples(lk.n)):
            failed = self.rng.random() * lk.n < lk.failed
            self.w.dns(lk.route.source(self.rng), lk.server.pod.endpoint, lk.query, rcode=lk.rcode if failed else 0,
                       ips=ips, service=KUBE_DNS)

    def _shot(self, s: background.Shot) -> None:
        c = self.c
        if not s.allowed:
            reason = getattr(s.verdict, "drop_reason", "") or "POLICY_DENIED"
            c.hubble_drops[(reason, "TCP")] += s.n
            c.hubble_flows[("TCP", drop_type(reason, s.verdict), "", "DROPPED")] += s.n
            ingress = dropped_at_ingress(s.verdict)
            for _ in range(self._samples(s.n)):
                self.w.dropped(s.src.endpoint, s.dst.endpoint, s.port, reason=reason, ingress=ingress,
                               verdict=s.verdict)
            return
        self._trace["from-endpoint"] += 2 * s.n
        c.hubble_tcp_flags[("SYN", "IPv4")] += s.n
        c.hubble_tcp_flags[("SYN-ACK" if s.open else "RST", "IPv4")] += s.n
        reply = ("SYN", "ACK") if s.open else ("RST", "ACK")
        for _ in range(self._samples(s.n)):
            self.w.syn(s.src.endpoint, s.dst.endpoint, s.port, reply=reply)
