"""Where latency comes from, read off Hubble's L7 flows: the slow service whose own calls are not slow.

Latency travels upstream: when the backend queues requests (an exhausted connection pool, too few
replicas for the load), the frontend that calls it is as slow as the backend plus its own time, and so
is whatever calls the frontend. An SRE follows the slow edges down the call graph to the deepest service
that is slow while the services *it* calls are not - that one is where requests wait. Hubble reports the
latency of every HTTP response it sees (`l7.latency_ns`), per client -> server edge, which is exactly
what this needs; it needs no Prometheus and no baseline older than the flow ring, so it also answers a
minute after a fault.

`slow_services(flows, now)` returns findings (`source=hubble`):

- `eastwest.latency_origin` for a service that answers slowly while none of its HTTP callees explains it
  (its calls to a database are plain TCP: Hubble sees connections there, no latency) - requests wait
  inside it: saturation;
- `eastwest.latency` for a slow service whose slowness a slow callee explains (a symptom).

A service is slow when the mean latency of its responses over the last `recent_s` is at least
`MIN_SLOW_MS` and several times what it was before in the window (or, with no earlier responses, at
least `MIN_SLOW_NO_BASELINE_MS`). Bounded: at most `MAX_FINDINGS` findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prophet_sre.domain import Finding, FindingSource, ResourceRef, Severity
from prophet_sre.tools.hubble_flows import FlowView, Peer
from prophet_sre.tools.servicemap import orient

RECENT_S = 20.0
MIN_SLOW_MS = 200.0
MIN_SLOW_NO_BASELINE_MS = 500.0
SLOWDOWN = 4.0
"""How many times its earlier latency a service must now take to count as slow."""
EXPLAINS = 0.5
"""A slow callee explains its caller when it takes at least this share of the caller's latency."""
MIN_RESPONSES = 5
BUCKET_S = 10.0
"""Earlier latency is judged per slot of this many seconds: the best slot is the service's normal (a
window that reaches into the fault's onset must not raise the bar)."""
MAX_FINDINGS = 5


@dataclass
class _Svc:
    peer: Peer
    recent: list[float] = field(default_factory=list)
    before: dict[int, list[float]] = field(default_factory=dict)
    """Earlier responses' latencies per `BUCKET_S` slot."""
    callers: set[str] = field(default_factory=set)
    callees: set[str] = field(default_factory=set)
    """Servers it calls over HTTP."""
    tcp_callees: set[str] = field(default_factory=set)
    """Servers it only opens connections to (no L7 visibility: a database, a cache)."""

    @staticmethod
    def mean(xs: list[float]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    def normal(self) -> float | None:
        """The lowest mean latency of an earlier slot with enough responses (None: no such slot)."""
        means = [sum(v) / len(v) for v in self.before.values() if len(v) >= MIN_RESPONSES // 2 + 1]
        return min(means) if means else None


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f}ms"


def slow_services(flows: Sequence[FlowView], now: datetime, *, recent_s: float = RECENT_S) -> list[Finding]:
    """Slow services in `flows` (see the module docstring), the ones where latency originates first."""
    svcs: dict[str, _Svc] = {}
    # "recent" ends at the newest flow seen: the clock moves on while flows are read (and a relay
    # delivers them a little late), so `now` is only the fallback
    cut = max((f.time for f in flows), default=now) - timedelta(seconds=recent_s)
    for f in flows:
        client, _, server, server_svc, port = orient(f)
        if not server.namespace or not server.workload:
            continue
        skey, ckey = server.key(server_svc), client.key()
        s = svcs.setdefault(skey, _Svc(server))
        if client.namespace and client.workload:
            svcs.setdefault(ckey, _Svc(client))
        if f.l7 == "http" and f.l7_type == "RESPONSE" and f.latency_ns > 0:
            if f.time >= cut:
                s.recent.append(f.latency_ns / 1e6)
            else:
                s.before.setdefault(int(f.time.timestamp() // BUCKET_S), []).append(f.latency_ns / 1e6)
            s.callers.add(ckey)
            if ckey in svcs:
                svcs[ckey].callees.add(skey)
        elif f.initiates and not f.l7 and ckey in svcs and port:
            svcs[ckey].tcp_callees.add(f"{skey} {port}/{f.protocol or 'TCP'}")
    slow = {k: s for k, s in svcs.items() if _is_slow(s)}
    out: list[Finding] = []
    for key, s in sorted(slow.items(), key=lambda kv: -(_Svc.mean(kv[1].recent) or 0.0)):
        mine = _Svc.mean(s.recent) or 0.0
        culprits = [c for c in sorted(s.callees) if c in slow and (_Svc.mean(slow[c].recent) or 0.0) >= EXPLAINS * mine]
        out.append(_finding(key, s, culprits, recent_s))
    out.sort(key=lambda f: f.analyzer != "eastwest.latency_origin")
    return out[:MAX_FINDINGS]


def _is_slow(s: _Svc) -> bool:
    if len(s.recent) < MIN_RESPONSES:
        return False
    now_ms = _Svc.mean(s.recent) or 0.0
    before_ms = s.normal()
    if before_ms is None:
        return now_ms >= MIN_SLOW_NO_BASELINE_MS
    return now_ms >= MIN_SLOW_MS and now_ms >= SLOWDOWN * max(before_ms, 1.0)


def _finding(key: str, s: _Svc, culprits: list[str], recent_s: float) -> Finding:
    p = s.peer
    ref = ResourceRef(kind=p.workload_kind or "Deployment", namespace=p.namespace, name=p.workload)
    head = (f"{key} answers slowly: {_ms(_Svc.mean(s.recent))} mean over the last {recent_s:.0f}s (normal: "
            f"{_ms(s.normal())}) "
            f"to {', '.join(sorted(s.callers)[:3]) or 'its callers'}")
    if culprits:
        text = f"{head}; it waits on {', '.join(culprits)}, which is slow too"
        analyzer = "eastwest.latency"
    else:
        own = ", ".join(sorted(s.callees)[:3] + sorted(s.tcp_callees)[:3])
        text = (f"{head}; its own calls ({own or 'none seen'}) are not slow at L7: requests queue inside {key} "
                "(saturated: its pods, threads or a client connection pool to what it calls)")
        analyzer = "eastwest.latency_origin"
    return Finding(source=FindingSource.HUBBLE, analyzer=analyzer, ref=ref, severity=Severity.WARNING,
                   errors=[text], evidence={"latency_ms": round(_Svc.mean(s.recent) or 0.0, 1),
                                            "normal_ms": round(b, 1) if (b := s.normal()) else None,
                                            "callers": sorted(s.callers)[:5], "waits_on": culprits[:3],
                                            "tcp_callees": sorted(s.tcp_callees)[:5]})


__all__ = ["MIN_SLOW_MS", "RECENT_S", "slow_services"]
