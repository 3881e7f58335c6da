"""The per-tick records the model passes between its phases: how calls were routed, how pods answered.

A `Route` is the calls of a group of senders over one edge in one tick, already split into integer
counts per `Part` (DNS failure, no backend, policy drop, pool timeout, refused, served by backend b).
Integer counts are decided once, here, and everything downstream - a backend's `http_requests_total`,
the Hubble counters, the sampled flows - is derived from the same numbers, so the metrics agree with
each other exactly. `NodeTick` is a graph node during one tick, `NodeStats`/`TickReport` what a tick
reports.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from prophet_sre.sim.flows import FlowEndpoint
from prophet_sre.sim.traffic.pool import QueueResult
from prophet_sre.sim.traffic.view import WORLD, Backend, PodView, Resolved

# Part kinds, and the HTTP code the *caller* answers its own client with when a call ends that way.
DNS_FAIL = "dns"
NO_BACKEND = "no_backend"
DROPPED = "dropped"
POOL_TIMEOUT = "pool_timeout"
REFUSED = "refused"
SERVED = "served"
CALLER_CODE = {DNS_FAIL: 503, NO_BACKEND: 503, DROPPED: 504, POOL_TIMEOUT: 500, REFUSED: 502}
UPSTREAM_5XX_CODE = 502
"""A backend's 5xx reaches the caller's client as a 502."""

HOP_S = 0.0005
CONNECT_TIMEOUT_S = 3.0
RESOLVER_TIMEOUT_S = 5.0
FAST_FAIL_S = 0.001


@dataclass(slots=True)
class Part:
    kind: str
    share: float
    backend: Backend | None = None
    verdict: Any = None  # the policy verdict of a DROPPED part
    latency_s: float = FAST_FAIL_S
    code: int = 200  # what the backend's server answers on this path (behaviour model), SERVED parts
    count: int = 0


@dataclass(slots=True)
class Route:
    """The calls over one edge of a group of senders that policy treats alike (same namespace and labels),
    or of one sender when it has its own connection pool. An empty group = external clients."""

    edge: int
    group: list[PodView]
    target: Resolved
    rate: float
    """Calls per second of the whole group."""
    parts: list[Part] = field(default_factory=list)
    calls: int = 0
    dns_rcode: int = 0
    dns_fail: float = 0.0
    """Share of the calls whose name lookup failed (retries then defeat the resolver cache)."""
    pool_wait_s: float = 0.0
    pool: tuple[int, QueueResult] | None = None
    """(pool size, queue result) when the calls go through a connection pool."""

    @property
    def per_sender_rate(self) -> float:
        return self.rate / len(self.group) if self.group else self.rate

    def source(self, rng: random.Random) -> FlowEndpoint:
        """The endpoint of one sender (picked at random for a sampled flow)."""
        if not self.group:
            return WORLD
        n = len(self.group)
        return self.group[0].endpoint if n == 1 else self.group[int(rng.random() * n)].endpoint


@dataclass(slots=True)
class Outcome:
    """How one backend pod answers the requests it serves this tick."""

    refused: bool = False
    ok_code: int = 200
    fails: dict[int, float] = field(default_factory=dict)  # code -> share of requests
    latency_s: float = 0.0

    @property
    def fail_share(self) -> float:
        return sum(self.fails.values())

    def add_failure(self, code: int, share: float) -> None:
        """Add an independent failure source: it hits `share` of the requests that have not failed yet."""
        if share <= 0:
            return
        left = max(0.0, 1.0 - self.fail_share)
        self.fails[code] = self.fails.get(code, 0.0) + left * min(1.0, share)

    def split(self, n: int, rng: random.Random, ok_code: int = 0) -> list[tuple[int, int]]:
        """`n` requests as [(code, count)], failures first, the rest `ok_code` (default: `self.ok_code`)."""
        if not self.fails:
            return [(ok_code or self.ok_code, n)]
        out: list[tuple[int, int]] = []
        left = n
        for code in sorted(self.fails):
            k = min(left, sround(n * self.fails[code], rng))
            if k:
                out.append((code, k))
                left -= k
        if left:
            out.append((ok_code or self.ok_code, left))
        return out

    def pick_code(self, rng: random.Random, ok_code: int = 0) -> int:
        if not self.fails:
            return ok_code or self.ok_code
        x = rng.random()
        for code in sorted(self.fails):
            x -= self.fails[code]
            if x < 0:
                return code
        return ok_code or self.ok_code


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


def sround(x: float, rng: random.Random) -> int:
    """Stochastic rounding: unbiased integer counts from expected values (deterministic given the rng)."""
    if x <= 0:
        return 0
    whole = int(x)
    return whole + (1 if rng.random() < x - whole else 0)


def split_counts(n: int, parts: list[Part], rng: random.Random) -> None:
    """Give each part its integer count of `n`: unbiased per part, adding up to exactly `n`."""
    if len(parts) == 1:
        parts[0].count = n
        return
    total = 0
    for p in parts:
        p.count = sround(n * p.share, rng)
        total += p.count
    diff = n - total
    if diff > 0:
        max(parts, key=lambda p: p.share).count += diff
    elif diff < 0:
        for p in sorted(parts, key=lambda p: -p.count):
            take = min(-diff, p.count)
            p.count -= take
            diff += take
            if diff == 0:
                break
