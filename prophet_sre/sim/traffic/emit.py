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

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from prophet_sre.sim.flows import FlowRecord
from prophet_sre.sim.traffic import background
from prophet_sre.sim.traffic.counters import LATENCY_SHAPE
from prophet_sre.sim.traffic.faults import FaultView
from prophet_sre.sim.traffic.flowgen import FlowWriter, vip
from prophet_sre.sim.traffic.routes import (
    CALLER_CODE,
    DROPPED,
    HOP_S,
    NO_BACKEND,
    REFUSED,
    SERVED,
    Outcome,
    Part,
    Route,
    sround,
)
from prophet_sre.sim.traffic.view import Resolved

if TYPE_CHECKING:
    from prophet_sre.sim.traffic.model import NodeTick, TrafficModel

FLOWS_PER = {SERVED: 4, REFUSED: 2, DROPPED: 1, NO_BACKEND: 1}
COREDNS_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
HUBBLE_RCODES = {0: "No Error", 1: "Format Error", 2: "Server Failure", 3: "Non-Existent Domain",
                 4: "Not Implemented", 5: "Query Refused"}
KUBE_DNS = ("kube-dns", "kube-system")
_SHAPE_WEIGHTS = [w for _, w in LATENCY_SHAPE]
_SHAPE_MULTS = [m for m, _ in LATENCY_SHAPE]


class Emission:
    """Counters and flows of one tick (runs under the counters' lock)."""

    def __init__(self, model: TrafficModel, nodes: dict[str, NodeTick], routes: list[Route], dns: Resolved,
                 faults: FaultView, verdicts: dict[Any, Any], now: float, dt: float) -> None:
        self.m = model
        self.rng = model.rng
        self.c = model.counters
        self.nodes = nodes
        self.routes = routes
        self.dns = dns
        self.faults = faults
        self.verdicts = verdicts
        self.dt = dt
        clock = model.ctx.clock
        start = clock.now() - timedelta(seconds=clock.elapsed() - (now - dt))
        self.w = FlowWriter(self.rng, start, dt)
        self.p = 1.0
        self.requests = 0

    def run(self) -> list[FlowRecord]:
        lookups = background.plan_dns(self.m, self.routes, self.dns, self.faults, self.verdicts, self.dt)
        shots = background.plan_floods(self.m, self.faults, self.verdicts, self.dt)
        expected = sum(FLOWS_PER.get(p.kind, 0) * p.count for r in self.routes for p in r.parts)
        expected += sum(2 * lk.n if lk.allowed else lk.n for lk in lookups)
        expected += sum(2 * s.n if s.allowed else s.n for s in shots)
        budget = self.m.max_flows_per_s * min(self.dt, 10.0)
        self.p = min(1.0, budget / expected) if expected else 1.0
        live_pools: set[tuple[str, str, str]] = set()
        for r in self.routes:
            self._route(r, live_pools)
        self.c.drop_pools_except(live_pools)
        for lk in lookups:
            self._lookup(lk)
        for s in shots:
            self._shot(s)
        return self.w.finish()

    def _samples(self, count: int) -> int:
        return count if self.p >= 1.0 else sround(count * self.p, self.rng)

    # -- HTTP ----------------------------------------------------------------------------------------------
    def _route(self, r: Route, live_pools: set[tuple[str, str, str]]) -> None:
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
        if r.pool is not None and r.group:
            size, result = r.pool
            key = (ref.namespace, ref.name, r.group[0].name)
            live_pools.add(key)
            gauge = self.c.pool(*key)
            gauge.in_use, gauge.max, gauge.waiting = result.busy, size, result.waiting
            sent = sum(p.count for p in r.parts if p.backend is not None)
            gauge.wait_total_s += sent * result.wait_s
            gauge.timeouts_total += sum(p.count for p in r.parts if p.kind == "pool_timeout")

    def _http(self, ns: str, svc: str, code: int, method: str, n: int, latency_s: float) -> None:
        self.c.http_requests[(ns, svc, str(code), method)] += n
        self.c.histogram(ns, svc).observe_many(n, latency_s, self._shape(n))

    def _shape(self, n: int) -> list[int]:
        counts = [sround(n * w, self.rng) for w in _SHAPE_WEIGHTS]
        counts[2] += n - sum(counts)
        if counts[2] < 0:  # rounding overshoot: take it back from the largest buckets
            short, counts[2] = -counts[2], 0
            for i in sorted(range(len(counts)), key=lambda j: -counts[j]):
                take = min(short, counts[i])
                counts[i] -= take
                short -= take
        return counts

    def _served(self, r: Route, part: Part, node: NodeTick | None, method: str, url: str,
                service: tuple[str, str] | None) -> None:
        assert part.backend is not None
        ref = r.target.ref
        o = (node.outcomes.get(part.backend.pod.uid) if node else None) or Outcome(latency_s=0.01)
        splits = [(part.code, part.count)] if part.code >= 500 else o.split(part.count, self.rng, part.code)
        for code, k in splits:
            self.c.http_requests[(ref.namespace, ref.name, str(code), method)] += k
            self.c.hubble_http[(method, "HTTP/1.1", str(code), "server")] += k
        latency = o.latency_s if part.code < 500 else min(o.latency_s, 0.005)
        self.c.histogram(ref.namespace, ref.name).observe_many(part.count, latency, self._shape(part.count))
        n = part.count
        self.requests += n
        c = self.c
        c.hubble_flows[("TCP", "Trace", "to-stack", "FORWARDED")] += n
        c.hubble_flows[("TCP", "Trace", "to-endpoint", "FORWARDED")] += n
        c.hubble_flows[("HTTP", "L7", "HTTP", "FORWARDED")] += 2 * n
        c.hubble_tcp_flags[("SYN", "IPv4")] += n
        c.hubble_tcp_flags[("SYN-ACK", "IPv4")] += n
        for _ in range(self._samples(n)):
            code = part.code if part.code >= 500 else o.pick_code(self.rng, part.code)
            mult = self.rng.choices(_SHAPE_MULTS, _SHAPE_WEIGHTS)[0]
            self.w.http(r.source(self.rng), part.backend.pod.endpoint, part.backend.port, code=code,
                        latency_s=latency * mult + HOP_S, method=method, url=url, service=service)

    def _refused(self, r: Route, part: Part, service: tuple[str, str] | None) -> None:
        assert part.backend is not None
        n = part.count
        self.c.hubble_flows[("TCP", "Trace", "to-stack", "FORWARDED")] += n
        self.c.hubble_flows[("TCP", "Trace", "to-endpoint", "FORWARDED")] += n
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
            ingress = not r.group or not getattr(part.verdict, "egress_denied_by", ())
        self.c.hubble_drops[(reason, "TCP")] += n
        self.c.hubble_flows[("TCP", "Drop", "", "DROPPED")] += n
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
            c.hubble_flows[("UDP", "Drop", "", "DROPPED")] += lk.n
            dst = lk.server.pod.endpoint if lk.server is not None else vip(self.dns.cluster_ip)
            ingress = lk.server is not None and not getattr(lk.verdict, "egress_denied_by", ())
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
            c.hubble_flows[("TCP", "Drop", "", "DROPPED")] += s.n
            ingress = not getattr(s.verdict, "egress_denied_by", ())
            for _ in range(self._samples(s.n)):
                self.w.dropped(s.src.endpoint, s.dst.endpoint, s.port, reason=reason, ingress=ingress,
                               verdict=s.verdict)
            return
        c.hubble_flows[("TCP", "Trace", "to-stack", "FORWARDED")] += s.n
        c.hubble_flows[("TCP", "Trace", "to-endpoint", "FORWARDED")] += s.n
        c.hubble_tcp_flags[("SYN", "IPv4")] += s.n
        c.hubble_tcp_flags[("SYN-ACK" if s.open else "RST", "IPv4")] += s.n
        reply = ("SYN", "ACK") if s.open else ("RST", "ACK")
        for _ in range(self._samples(s.n)):
            self.w.syn(s.src.endpoint, s.dst.endpoint, s.port, reply=reply)
