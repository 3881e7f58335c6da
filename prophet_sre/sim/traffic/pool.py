"""Queueing for a set of identical servers: a pod's request capacity, or a client's DB connection pool.

Both answer the same question - how long does a request wait, and how many give up at the timeout -
so one small model serves both. It combines
- the steady-state M/M/c wait (Sakasegawa's approximation), smoothed over ~10 sim seconds so latency
  *climbs* when a pool fills and *recovers* after a fix rather than jumping, and
- a fluid backlog for overload (arrivals above capacity), capped at `timeout x capacity`: past that,
  the excess times out, which is what turns saturation into 5xx at a threshold.

Connection pools live in the *caller* pods (each backend replica has its own pool of N connections to
the DB), so more caller replicas mean more total connections and less demand per pool: scaling the
backend fixes an exhausted pool, scaling the DB does not. For a `pool_exhaustion` fault, `in_use`
is the number of connections the load at fault time keeps busy per pool; it fixes the connection hold
time (Little's law: hold = in_use / per-pod call rate then) unless `hold_ms` is given. A pool is
saturated when that demand reaches `pool_size`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

RHO_CAP = 0.995
"""Utilisation used for the steady-state part at or above capacity (the formula diverges at 1)."""
SMOOTHING_S = 10.0


@dataclass(slots=True)
class QueueState:
    """What one queue remembers between ticks."""

    backlog: float = 0.0
    wait_s: float = 0.0
    tail: float = 0.0
    hold_s: float | None = None


@dataclass(frozen=True, slots=True)
class QueueResult:
    wait_s: float
    """Mean wait of the requests that were served (capped at the timeout)."""
    timeout_share: float
    """Share of arrivals that waited for the whole timeout and failed."""
    busy: float
    """Mean servers (connections) in use."""
    waiting: float
    """Mean requests queued."""


IDLE = QueueResult(0.0, 0.0, 0.0, 0.0)


def step(state: QueueState, rate: float, servers: float, service_s: float, dt: float,
         timeout_s: float) -> QueueResult:
    """Advance one queue by `dt` sim seconds at `rate` arrivals/s over `servers` servers of `service_s` each."""
    alpha = min(1.0, dt / SMOOTHING_S) if dt > 0 else 0.0
    if rate <= 0:
        state.backlog = 0.0
        state.wait_s *= 1.0 - alpha
        state.tail *= 1.0 - alpha
        return IDLE
    if servers <= 0 or service_s <= 0:
        state.wait_s, state.tail = timeout_s, 1.0
        return QueueResult(timeout_s, 1.0, 0.0, rate * timeout_s)
    mu = servers / service_s
    rho = rate / mu
    r = min(rho, RHO_CAP)
    p_wait = r ** max(math.sqrt(2.0 * (servers + 1.0)) - 1.0, 1.0)
    wq = p_wait * service_s / (servers * (1.0 - r))
    tail = p_wait * math.exp(-mu * (1.0 - r) * timeout_s)
    state.wait_s += (wq - state.wait_s) * alpha
    state.tail += (tail - state.tail) * alpha
    state.backlog = max(0.0, state.backlog + (rate - mu) * dt)
    cap = mu * timeout_s
    shed = 0.0
    if state.backlog > cap:
        shed, state.backlog = state.backlog - cap, cap
    arrivals = rate * dt
    share = min(1.0, max(shed / arrivals if arrivals > 0 else 0.0, state.tail))
    wait = min(timeout_s, state.wait_s + state.backlog / mu)
    busy = servers if rho >= 1.0 else min(servers, rate * service_s)
    return QueueResult(wait, share, busy, rate * wait)
