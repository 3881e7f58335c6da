"""Pass 2 of a tick: how every backend pod answers, callees before callers.

A pod's answer combines, as independent failure sources: its own faults (`error_rate`, a degraded
cluster), queueing when its request rate nears its capacity (1,000 rps per CPU core of its limit or
request, at least 200), and the outcome of its own downstream calls - so a DB pool timeout is a backend
500, which is a frontend 502. Latency adds up the same way: own base (5-20 ms per service) + fault
latency + queueing + the calls it makes per request (at most 3 in sequence).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prophet_sre.sim.traffic import pool
from prophet_sre.sim.traffic.faults import FaultView
from prophet_sre.sim.traffic.routes import (
    CALLER_CODE,
    HOP_S,
    SERVED,
    UPSTREAM_5XX_CODE,
    NodeStats,
    NodeTick,
    Outcome,
    Route,
)

if TYPE_CHECKING:
    from prophet_sre.sim.traffic.model import TrafficModel

RPS_PER_CORE = 1000.0
MIN_RPS_PER_POD = 200.0
SATURATION_TIMEOUT_S = 10.0
Mix = tuple[dict[int, float], float]


def compute(model: TrafficModel, nodes: dict[str, NodeTick], routes: list[Route], faults: FaultView,
            dt: float) -> None:
    """Fill `NodeTick.outcomes` for every serving backend of every node."""
    by_sender: dict[tuple[str, str], list[Route]] = {}
    for r in routes:
        if r.edge >= 0:
            src_key = model.graph.edges[r.edge].source.key
            for s in r.group:
                by_sender.setdefault((src_key, s.uid), []).append(r)
    mixes: dict[int, Mix] = {}
    for key in model.graph.bottom_up:
        y = nodes[key]
        for b in y.res.backends:
            if b.pod.uid in y.outcomes or not b.pod.serving:
                continue
            rate = y.arrivals.get(b.pod.uid, 0) / dt
            out = Outcome()
            pf = faults.for_pod(b.pod, y.names)
            for code, share in pf.errors:
                out.add_failure(code, share)
            latency = y.base_s + pf.latency_s + _queueing(model, b.pod.uid, b.pod.cpu_cores, rate, dt, out)
            for r in by_sender.get((key, b.pod.uid), ()):
                mixed = mixes.get(id(r))
                if mixed is None:
                    mixed = mixes[id(r)] = mix(r, nodes)
                fails, mean = mixed
                ratio = r.per_sender_rate / rate if rate > 0 else 1.0
                for code in sorted(fails):
                    out.add_failure(code, min(1.0, ratio * fails[code]))
                latency += min(ratio, 3.0) * mean
            out.latency_s = latency
            y.outcomes[b.pod.uid] = out
        if y.outcomes:
            model.prev_latency[key] = sum(o.latency_s for o in y.outcomes.values()) / len(y.outcomes)


def _queueing(model: TrafficModel, uid: str, cores: float, rate: float, dt: float, out: Outcome) -> float:
    """The wait at a pod's own capacity (M/M/1); sheds 503s when overloaded. Stateless while far from full."""
    mu = max(MIN_RPS_PER_POD, RPS_PER_CORE * cores)
    state = model.queues.get(("cap", uid))
    if state is None and rate < 0.5 * mu:
        return rate / (mu * (mu - rate))
    if state is None:
        state = model.queues[("cap", uid)] = pool.QueueState()
    q = pool.step(state, rate, 1.0, 1.0 / mu, dt, SATURATION_TIMEOUT_S)
    out.add_failure(503, q.timeout_share)
    if rate < 0.5 * mu and state.backlog == 0 and state.wait_s < 1e-4:
        del model.queues[("cap", uid)]  # recovered: back to the stateless path
    return q.wait_s


def mix(r: Route, nodes: dict[str, NodeTick]) -> Mix:
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


def stats(nodes: dict[str, NodeTick], routes: list[Route], dt: float) -> dict[str, NodeStats]:
    """Per node: requests/s (including ones the ingress failed), error share, mean latency, senders."""
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
        out[key] = NodeStats(total / dt, bad / total if total else 0.0, lat / n if n else 0.0, len(y.senders))
    return out
