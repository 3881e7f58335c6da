"""Traffic that is not on the scenario's graph: DNS lookups behind every call, and east-west floods.

DNS: every pod that calls a Service resolves `<svc>.<ns>.svc.cluster.local.` through kube-dns. Healthy
clients cache answers for the record TTL (5 s), so a caller looks a name up about `1/TTL` times a
second; while lookups fail nothing is cached and every call retries (up to 10 lookups/s per pod). A
lookup goes to one CoreDNS endpoint; it is dropped when kube-dns has no ready endpoint
(SERVICE_BACKEND_NOT_FOUND) or policy denies UDP/53, else answered (NOERROR, or a `dns_failure`'s
NXDOMAIN/SERVFAIL).

Floods (`network_flood` {ports, peers, rate}): the target pod opens `rate` connections a second,
spread evenly over `peers` other pods (a fixed, seeded choice) and `ports` (a list, or a count of
well-known ports). A port nothing listens on answers RST; a listening one SYN-ACK; policy drops.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prophet_sre.sim.traffic.faults import Target, num
from prophet_sre.sim.traffic.graph import NodeRef
from prophet_sre.sim.traffic.routes import Route, sround
from prophet_sre.sim.traffic.view import Backend, PodView

if TYPE_CHECKING:
    from prophet_sre.sim.traffic.model import TrafficModel
    from prophet_sre.sim.traffic.routing import Router

DNS_TTL_S = 5.0
FAILING_LOOKUPS_PER_S = 10.0
SCAN_PORTS = (22, 23, 25, 80, 135, 139, 443, 445, 1433, 2379, 3306, 3389, 5432, 6379, 8080, 8443, 9200, 10250,
              11211, 27017)


@dataclass(slots=True)
class Lookup:
    """`n` lookups of one route's target name from its senders to one DNS server (None: no endpoint)."""

    route: Route
    server: Backend | None
    verdict: Any
    n: int
    failed: int
    rcode: int
    query: str

    @property
    def allowed(self) -> bool:
        return self.server is not None and getattr(self.verdict, "allowed", True)


@dataclass(slots=True)
class Shot:
    """`n` connection attempts from a flooding pod to one peer and port."""

    src: PodView
    dst: PodView
    port: int
    verdict: Any
    n: int

    @property
    def allowed(self) -> bool:
        return getattr(self.verdict, "allowed", True)

    @property
    def open(self) -> bool:
        return self.port in self.dst.ports


def plan_dns(model: TrafficModel, router: Router, routes: list[Route]) -> list[Lookup]:
    out: list[Lookup] = []
    rng, dns, faults, dt = model.rng, router.dns, router.faults, router.dt
    for r in routes:
        if not r.group or r.target.service is None:
            continue
        ref = r.target.ref
        query = f"{ref.name}.{ref.namespace}.svc.cluster.local."
        failing = r.dns_fail > 0
        per_pod = min(r.per_sender_rate, FAILING_LOOKUPS_PER_S) if failing else min(r.per_sender_rate,
                                                                                     1.0 / DNS_TTL_S)
        n = sround(per_pod * len(r.group) * dt, rng)
        if n == 0:
            continue
        if not dns.backends:
            out.append(Lookup(r, None, None, n, 0, 0, query))
            continue
        sender = r.group[0]
        share, rcode = faults.dns(ref.namespace, ref.name, sender)
        base, extra = divmod(n, len(dns.backends))
        offset = rng.randrange(len(dns.backends))
        for j, server in enumerate(dns.backends):
            k = base + (1 if (j - offset) % len(dns.backends) < extra else 0)
            if not k:
                continue
            verdict = router.verdict_for(sender, server.pod, 53, "UDP")
            failed = sround(k * share, rng) if getattr(verdict, "allowed", True) else 0
            out.append(Lookup(r, server, verdict, k, min(failed, k), rcode, query))
    return out


def _ports(params: dict[str, Any]) -> list[int]:
    raw = params.get("ports")
    if isinstance(raw, list | tuple) and raw:
        return [int(p) for p in raw if isinstance(p, int | str) and str(p).isdigit()] or list(SCAN_PORTS)
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return [SCAN_PORTS[i] if i < len(SCAN_PORTS) else 30000 + i for i in range(raw)]
    return list(SCAN_PORTS)


def _sources(model: TrafficModel, target: Target) -> list[PodView]:
    if target.kind == "service" or (target.kind is None and target.namespace):
        res = model.view.resolve(NodeRef(target.namespace or "", target.name, target.kind))
        if res.service is not None:
            return [b.pod for b in res.backends if b.pod.running]
    return [p for p in model.view.all_pods() if target.matches_pod(p)]


def plan_floods(model: TrafficModel, router: Router) -> list[Shot]:
    out: list[Shot] = []
    rng, dt = model.rng, router.dt
    for effect, target in router.faults.of("network_flood"):
        ports = _ports(effect.params)
        n_peers = max(1, int(num(effect.params, "peers", default=20)))
        rate = max(0.0, num(effect.params, "rate", "rps", default=200.0))
        everyone = model.view.all_pods()
        for idx, src in enumerate(_sources(model, target)):
            others = [p for p in everyone if p.uid != src.uid]
            if not others:
                continue
            chooser = random.Random(f"{model.seed}/{effect.id}/{idx}")
            peers = chooser.sample(others, min(n_peers, len(others)))
            n = sround(rate * dt, rng)
            combos = [(peer, port) for peer in peers for port in ports]
            base, extra = divmod(n, len(combos))
            offset = rng.randrange(len(combos))
            for j, (peer, port) in enumerate(combos):
                k = base + (1 if (j - offset) % len(combos) < extra else 0)
                if k:
                    out.append(Shot(src, peer, port, router.verdict_for(src, peer, port, "TCP"), k))
    return out
