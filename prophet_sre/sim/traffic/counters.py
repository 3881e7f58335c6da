"""Exact counters of everything the traffic model did, for `/metrics`.

Flows are sampled (a bounded number per sim second), counters are not: every request, DNS lookup and
connection attempt the model decides on is counted here, so `rate(http_requests_total[1m])` equals the
scenario's `rps` and Hubble's counters agree with the request rates. Counters only grow; series of
pods that are gone are dropped (a series disappearing is normal for Prometheus, a decrease is not).

Increments happen in sim time: a Prometheus scraping every wall second at clock speed 20 sees 20 sim
seconds of increments per scrape, so `rate()` over wall time reads 20x the sim rate. That is correct
for a fast clock - PromQL over the sim's own metrics measures wall time - and the eval harness
compares rates at the same speed it ran the scenario.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""`http_request_duration_seconds` buckets (client_golang's defaults); +Inf is implied."""
LATENCY_SHAPE = ((0.55, 0.15), (0.75, 0.2), (0.95, 0.3), (1.15, 0.2), (1.5, 0.1), (2.3, 0.05))
"""(multiple of the mean, weight): how requests with one mean latency spread over the buckets (mean 1.0)."""


@dataclass(slots=True)
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))  # per bucket, not cumulative
    total: float = 0.0
    count: int = 0

    def observe_many(self, n: int, mean_s: float) -> None:
        """Add `n` observations of mean `mean_s`, spread over the buckets by LATENCY_SHAPE (the rounding
        remainder goes to the mean's own bucket, so counts stay exact)."""
        left = n
        for mult, weight in LATENCY_SHAPE:
            k = int(n * weight)
            if k:
                self.counts[bucket_index(mean_s * mult)] += k
                left -= k
        if left:
            self.counts[bucket_index(mean_s)] += left
        self.total += n * mean_s
        self.count += n


def bucket_index(value: float) -> int:
    for i, le in enumerate(BUCKETS):
        if value <= le:
            return i
    return len(BUCKETS)


@dataclass(slots=True)
class PoolGauge:
    in_use: float = 0.0
    max: int = 0
    waiting: float = 0.0
    wait_total_s: float = 0.0
    timeouts_total: int = 0


class TrafficCounters:
    """All counters; mutate under `lock` (the tick does), read with `snapshot`-style copies under it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.http_requests: Counter[tuple[str, str, str, str]] = Counter()  # (ns, service, code, method)
        self.http_duration: dict[tuple[str, str], Histogram] = {}  # (ns, service)
        self.pools: dict[tuple[str, str, str, str], PoolGauge] = {}  # (ns, caller service, caller pod, target)
        self.dns_requests: Counter[tuple[str, str]] = Counter()  # (coredns pod, qtype)
        self.dns_responses: Counter[tuple[str, str]] = Counter()  # (coredns pod, rcode name)
        self.hubble_flows: Counter[tuple[str, str, str, str]] = Counter()  # (protocol, type, subtype, verdict)
        self.hubble_drops: Counter[tuple[str, str]] = Counter()  # (reason, protocol)
        self.hubble_dns_queries: Counter[tuple[str, str, str]] = Counter()  # (rcode, qtypes, ips_returned)
        self.hubble_dns_responses: Counter[tuple[str, str, str]] = Counter()
        self.hubble_tcp_flags: Counter[tuple[str, str]] = Counter()  # (flag, family)
        self.hubble_http: Counter[tuple[str, str, str, str]] = Counter()  # (method, protocol, status, reporter)
        self.flows_written = 0
        self.requests = 0
        self.ticks = 0
        self.sim_seconds = 0.0

    def histogram(self, namespace: str, service: str) -> Histogram:
        h = self.http_duration.get((namespace, service))
        if h is None:
            h = self.http_duration[(namespace, service)] = Histogram()
        return h

    def pool(self, namespace: str, service: str, pod: str, target: str) -> PoolGauge:
        """The gauge of the pool `pod` (of `service`) keeps to `target` (a database)."""
        key = (namespace, service, pod, target)
        g = self.pools.get(key)
        if g is None:
            g = self.pools[key] = PoolGauge()
        return g

    def drop_pools_except(self, live: set[tuple[str, str, str, str]]) -> None:
        for k in [k for k in self.pools if k not in live]:
            del self.pools[k]
