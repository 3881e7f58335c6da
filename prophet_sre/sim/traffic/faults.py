"""The fault effects (`knobs.py`) as the traffic model applies them, read once per tick.

Targets use the scenario's forms - `NS/NAME` (a Service, workload or pod of that name), `NS/KIND/NAME`,
or a bare name (a cluster) - and match a pod when the pod is that object or stands behind it, so a
`latency` on `shop/backend` slows every backend replica, including ones created after the fault.
Parameters are read leniently with documented defaults, because faults are written by hand in
scenario files and a missing optional number should not abort a run.

Kinds and parameters:
- `latency` {ms}: added to every request the target serves.
- `error_rate` {share | rate | percent, code=500}: that share of the target's requests fail with `code`.
- `dns_failure` {rcode=NXDOMAIN|SERVFAIL|2|3, share=1}: lookups of the target Service's name fail (a
  workload or pod target: every lookup its pods make fails); a
  target of `kube-system/coredns`, `kube-system/kube-dns` or the cluster name fails every lookup
  (default rcode SERVFAIL then).
- `pool_exhaustion` {pool_size, in_use=pool_size, hold_ms, timeout_s}: see `pool.py`; size and timeout
  default to the caller image's `pool` (behaviour catalog), else 10 and 5 s.
- `network_flood` {ports, peers=20, rate=200}: see `model.py` (`_flood`).
- `cluster_degraded` {latency_ms=1500, error_share=0.3}: when the target is this cluster's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prophet_sre.sim.knobs import Effect, Knobs
from prophet_sre.sim.traffic.graph import KIND_ALIASES
from prophet_sre.sim.traffic.view import PodView

RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3, "NOTIMP": 4, "REFUSED": 5}
DNS_SERVER_NAMES = frozenset({"coredns", "kube-dns"})


@dataclass(frozen=True, slots=True)
class Target:
    namespace: str | None
    kind: str | None
    name: str

    @classmethod
    def parse(cls, text: str) -> Target:
        parts = [p for p in str(text).strip().split("/") if p != ""]
        if len(parts) == 1:
            return cls(None, None, parts[0])
        if len(parts) == 2:
            return cls(parts[0], None, parts[1])
        if len(parts) >= 3:
            return cls(parts[0], KIND_ALIASES.get(parts[1].lower(), parts[1].lower()), parts[-1])
        return cls(None, None, "")

    def matches_pod(self, pod: PodView, services: frozenset[str] = frozenset()) -> bool:
        """True when the target is this pod, its workload, or a Service in `services` (names it backs)."""
        if self.namespace is None or self.namespace != pod.namespace:
            return False
        names = {"pod": pod.name, pod.workload[0].lower(): pod.workload[1]}
        if self.kind is None:
            return self.name in names.values() or self.name in services
        if self.kind == "service":
            return self.name in services
        return names.get(self.kind) == self.name

    def matches_name(self, namespace: str, name: str) -> bool:
        """True when the target names `namespace/name` (any kind)."""
        return self.namespace == namespace and self.name == name


def num(params: dict[str, Any], *names: str, default: float) -> float:
    """The first of `names` present in `params` as a float (`percent`, and strings ending in `%`, / 100)."""
    for n in names:
        v = params.get(n)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v) / 100.0 if n == "percent" else float(v)
        if isinstance(v, str):
            try:
                text = v.strip().rstrip("%")
                return float(text) / 100.0 if v.strip().endswith("%") or n == "percent" else float(text)
            except ValueError:
                continue
    return default


def rcode_of(value: Any, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().upper()
        if v.isdigit():
            return int(v)
        return RCODES.get(v, default)
    return default


@dataclass(frozen=True, slots=True)
class PodFaults:
    """What the active effects do to requests one pod serves."""

    latency_s: float = 0.0
    errors: tuple[tuple[int, float], ...] = ()  # (code, share), applied in order


NO_FAULTS = PodFaults()


@dataclass(frozen=True, slots=True)
class PoolParams:
    """A `pool_exhaustion` fault's parameters; None = the caller image's pool (or the default)."""

    effect_id: int
    pool_size: int | None
    in_use: float | None
    hold_s: float | None
    timeout_s: float | None


class FaultView:
    """The active effects at sim time `now`, indexed by what they apply to."""

    def __init__(self, knobs: Knobs | None, cluster_name: str, now: float) -> None:
        self.cluster_name = cluster_name
        effects = [e for e in (knobs.all() if knobs is not None else []) if e.active_at(now)]
        effects.sort(key=lambda e: e.id)
        self._by_kind: dict[str, list[tuple[Effect, Target]]] = {}
        for e in effects:
            self._by_kind.setdefault(e.kind, []).append((e, Target.parse(e.target)))
        self.degraded = self._degraded()
        self._pod_kinds = bool(self.of("latency") or self.of("error_rate"))

    def of(self, kind: str) -> list[tuple[Effect, Target]]:
        return self._by_kind.get(kind, [])

    def _degraded(self) -> PodFaults:
        lat, errs = 0.0, []
        for e, t in self.of("cluster_degraded"):
            if t.namespace is None and t.name == self.cluster_name:
                lat += num(e.params, "latency_ms", "ms", default=1500.0) / 1000.0
                errs.append((int(num(e.params, "code", default=503)), min(1.0, num(e.params, "error_share", "share",
                                                                                    default=0.3))))
        return PodFaults(lat, tuple(errs))

    def for_pod(self, pod: PodView, services: frozenset[str]) -> PodFaults:
        """Latency and error effects on what `pod` serves (cluster degradation included)."""
        if not self._pod_kinds:
            return self.degraded
        lat = self.degraded.latency_s
        errs = list(self.degraded.errors)
        for e, t in self.of("latency"):
            if t.matches_pod(pod, services):
                lat += num(e.params, "ms", "latency_ms", default=500.0) / 1000.0
        for e, t in self.of("error_rate"):
            if t.matches_pod(pod, services):
                share = min(1.0, max(0.0, num(e.params, "share", "rate", "percent", "error_share", default=0.5)))
                errs.append((int(num(e.params, "code", "status", default=500)), share))
        if not lat and not errs:
            return NO_FAULTS
        return PodFaults(lat, tuple(errs))

    def dns(self, namespace: str, name: str, client: PodView | None = None) -> tuple[float, int]:
        """(share of lookups of `name.namespace` that fail, rcode) - (0, 0) when DNS is healthy. A target
        naming a workload or pod (`shop/deployment/frontend`) also fails every lookup `client` makes when
        the client is one of its pods (the scenario's "one workload's lookups")."""
        share, rcode = 0.0, 0
        for e, t in self.of("dns_failure"):
            everything = (t.namespace is None and t.name in (self.cluster_name, "*")) or \
                (t.namespace == "kube-system" and t.name in DNS_SERVER_NAMES)
            asks = client is not None and t.kind not in (None, "service") and t.matches_pod(client)
            if everything or asks or t.matches_name(namespace, name):
                s = min(1.0, max(0.0, num(e.params, "share", "rate", "percent", default=1.0)))
                default = 2 if everything else 3
                if s > share:
                    share, rcode = s, rcode_of(e.params.get("rcode", e.params.get("code")), default)
        return share, rcode

    def pool(self, namespace: str, names: frozenset[str]) -> PoolParams | None:
        """The pool limit on calls to a service/workload known by any of `names` in `namespace`."""
        for e, t in self.of("pool_exhaustion"):
            if t.namespace == namespace and t.name in names:
                size = num(e.params, "pool_size", "size", "max", default=-1.0)
                in_use = num(e.params, "in_use", "inUse", default=-1.0)
                hold = num(e.params, "hold_ms", default=-1.0)
                timeout = num(e.params, "timeout_s", "timeout", default=-1.0)
                return PoolParams(e.id, int(size) if size >= 0 else None, in_use if in_use >= 0 else None,
                                  hold / 1000.0 if hold >= 0 else None, max(0.01, timeout) if timeout >= 0 else None)
        return None
