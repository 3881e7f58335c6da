"""East-west anomalies in Hubble flows: scans, drop spikes, DNS error bursts and new edges.

The flows of the last `window_s` (recent) are compared with the `baseline_s` before them (what the
relay still holds of it). Four detectors, each emitting `Finding(source=hubble, analyzer=...)`:

- `eastwest.fanout` - one pod opening connections to many peers or many ports in one window (a scan
  signature): fires when distinct peers >= `min_peers` or distinct ports >= `min_ports`, AND that is
  `fanout_factor` times the most the same pod did in any baseline window of equal length; or a sweep
  of a small cluster (fewer pods than `min_peers`): `min_pairs` distinct (peer, port) pairs over at
  least `min_sweep_ports` ports and as many peers, also `fanout_factor` times its baseline. Only
  connection attempts count (TCP SYN without ACK, first datagrams), forwarded or dropped, so replies
  and long-lived connections do not inflate it. A scan that goes on becomes its own baseline after one
  window, so a wide or deep fan-out whose attempts mostly fail (`failed_share`: refused with RST or
  dropped) fires whatever the baseline: that is probing, not a busy client. Ref: the source pod.
- `eastwest.drops` - drops per window well above their baseline rate: policy drops (POLICY_DENIED,
  POLICY_DENY, ...) are reported on the pod whose traffic is dropped; SERVICE_BACKEND_NOT_FOUND on the
  Service that has no backends (that is what is broken, not its clients).
- `eastwest.dns` - DNS answers with an error rcode (NXDOMAIN, SERVFAIL) to one pod, above baseline.
- `eastwest.new_edge` - a workload talking to a (workload, port) it did not talk to in the baseline.
  Judged only when the baseline covers at least `min_baseline_coverage` of `baseline_s` (right after a
  relay restart everything is "new"); a pod already flagged for fan-out is not reported twice.

"Above baseline" means: at least the minimum count, and a recent rate at least `factor` times the
baseline rate (any non-zero count is above a zero baseline). Minimums keep a single stray NXDOMAIN or
one denied probe from paging anyone; factors keep a chronically noisy pod from firing every window.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from prophet_sre.domain import Finding, FindingSource, ResourceRef, Severity
from prophet_sre.tools import budget as bud
from prophet_sre.tools import envelope, servicemap
from prophet_sre.tools.analyze import Scope, SourceResult
from prophet_sre.tools.hubble import HubbleTool
from prophet_sre.tools.hubble_flows import FlowFilterSpec, FlowView, Peer


@dataclass(frozen=True)
class EastWestConfig:
    """Windows (seconds) and thresholds; see the module docstring for what each one guards against."""

    window_s: float = 60.0
    baseline_s: float = 600.0
    min_peers: int = 20
    min_ports: int = 10
    min_pairs: int = 30
    min_sweep_ports: int = 5
    fanout_factor: float = 3.0
    failed_share: float = 0.5
    min_drops: int = 10
    drop_factor: float = 3.0
    min_dns_errors: int = 10
    dns_factor: float = 3.0
    min_baseline_coverage: float = 0.5
    listed: int = 5
    """How many peers, ports, names or targets a finding's text lists."""


class EastWestReport(BaseModel):
    findings: list[Finding] = Field(default_factory=list)
    flows: int = 0
    window_s: float = 0.0
    baseline_covered_s: float = 0.0
    """How much of the baseline window the flows actually covered."""
    notes: list[str] = Field(default_factory=list)

    def render(self, budget: bud.Budget) -> tuple[str, str]:
        head = [f"east-west: {len(self.findings)} findings from {self.flows:,} flows (recent {self.window_s:g}s, "
                f"baseline {self.baseline_covered_s:.0f}s)"]
        rows = [f"{f.analyzer}: {f.errors[0]}" for f in self.findings] or ["nothing unusual"]
        n = bud.fit_rows(head, rows, budget)
        omitted = f"{len(rows) - n} more findings; filter by namespace" if n < len(rows) else ""
        tail = [f"note: {x}" for x in self.notes[:2]]
        return "\n".join(head + rows[:n] + ([f"... {omitted}"] if omitted else []) + tail), omitted


def _pod_ref(p: Peer) -> ResourceRef:
    return ResourceRef(kind="Pod", namespace=p.namespace, name=p.pod)


def _parent(p: Peer) -> ResourceRef | None:
    return ResourceRef(kind=p.workload_kind or "Deployment", namespace=p.namespace, name=p.workload) \
        if p.workload else None


def _listed(items: Sequence[str], n: int) -> str:
    return ", ".join(items[:n]) + (f", +{len(items) - n} more" if len(items) > n else "")


def _above(count: int, window_s: float, base_count: int, base_s: float, minimum: int, factor: float) -> bool:
    if count < minimum:
        return False
    base_rate = base_count / base_s if base_s > 0 else 0.0
    return base_rate == 0 or count / window_s >= factor * base_rate


class _Detector:
    """One run over a set of flows (split into recent and baseline on construction)."""

    def __init__(self, flows: Sequence[FlowView], now: datetime, cfg: EastWestConfig) -> None:
        self.cfg = cfg
        self.cut = now - timedelta(seconds=cfg.window_s)
        self.start = self.cut - timedelta(seconds=cfg.baseline_s)
        self.recent = [f for f in flows if self.cut < f.time <= now]
        self.base = [f for f in flows if self.start < f.time <= self.cut]
        oldest = min((f.time for f in self.base), default=self.cut)
        self.base_s = (self.cut - oldest).total_seconds()
        self.findings: list[Finding] = []
        self.fanned: set[str] = set()

    def _finding(self, analyzer: str, ref: ResourceRef, text: str, evidence: dict[str, Any],
                 parent: ResourceRef | None = None, severity: Severity = Severity.ERROR) -> None:
        evidence = {**evidence, "window_s": self.cfg.window_s, "baseline_s": round(self.base_s, 1)}
        self.findings.append(Finding(source=FindingSource.HUBBLE, analyzer=analyzer, ref=ref, errors=[text],
                                     severity=severity, evidence=evidence, parent=parent))

    def fanout(self) -> None:
        cfg = self.cfg
        recent: dict[str, tuple[Peer, set[str], set[int], Counter[str]]] = {}
        pairs: dict[str, set[tuple[str, int]]] = defaultdict(set)
        refused: Counter[str] = Counter()
        for f in self.recent:
            if f.is_reply and "RST" in f.flags and f.destination.pod:
                refused[f.destination.pod_ref] += 1  # the RST answers the pod that tried to connect
            if f.initiates and f.source.pod:
                src, peers, ports, verdicts = recent.setdefault(f.source.pod_ref, (f.source, set(), set(), Counter()))
                peers.add(f.destination.pod_ref or f.destination.ip)
                ports.add(f.destination_port)
                pairs[f.source.pod_ref].add((f.destination.pod_ref or f.destination.ip, f.destination_port))
                verdicts[f.verdict] += 1
        slices: dict[tuple[str, int], tuple[set[str], set[int]]] = defaultdict(lambda: (set(), set()))
        pairs_b: dict[tuple[str, int], set[tuple[str, int]]] = defaultdict(set)
        for f in self.base:
            if f.initiates and f.source.pod_ref in recent:
                k = int((f.time - self.start).total_seconds() // cfg.window_s)
                peers_b, ports_b = slices[(f.source.pod_ref, k)]
                peers_b.add(f.destination.pod_ref or f.destination.ip)
                ports_b.add(f.destination_port)
                pairs_b[(f.source.pod_ref, k)].add((f.destination.pod_ref or f.destination.ip, f.destination_port))
        for key, (src, peers, ports, verdicts) in sorted(recent.items()):
            base = [v for (k, _), v in slices.items() if k == key]
            bp = max((len(p) for p, _ in base), default=0)
            bq = max((len(q) for _, q in base), default=0)
            wide = len(peers) >= cfg.min_peers and len(peers) >= cfg.fanout_factor * max(1, bp)
            deep = len(ports) >= cfg.min_ports and len(ports) >= cfg.fanout_factor * max(1, bq)
            bpairs = max((len(v) for (k, _), v in pairs_b.items() if k == key), default=0)
            sweep = len(pairs[key]) >= cfg.min_pairs and min(len(ports), len(peers)) >= cfg.min_sweep_ports \
                and len(pairs[key]) >= cfg.fanout_factor * max(1, bpairs)
            attempts = sum(verdicts.values())
            failed = min(attempts, verdicts.get("DROPPED", 0) + refused[key])
            probing = (len(peers) >= cfg.min_peers or len(ports) >= cfg.min_ports) and attempts > 0 \
                and failed >= cfg.failed_share * attempts
            if not (wide or deep or sweep or probing):
                continue
            self.fanned.add(key)
            text = (f"pod {key} contacted {len(peers)} peers on {len(ports)} ports in {cfg.window_s:g}s "
                    f"(baseline {bp})" + (f"; {failed} of {attempts} attempts refused or dropped" if probing else ""))
            self._finding("eastwest.fanout", _pod_ref(src), text, parent=_parent(src), evidence={
                "peers": len(peers), "ports": len(ports), "baseline_peers": bp, "baseline_ports": bq,
                "sample_peers": sorted(peers)[:cfg.listed], "sample_ports": sorted(ports)[:2 * cfg.listed],
                "attempts": attempts, "dropped": verdicts.get("DROPPED", 0), "failed": failed})

    def drops(self) -> None:
        cfg = self.cfg

        def key(f: FlowView) -> tuple[str, str] | None:
            if f.drop_reason == "SERVICE_BACKEND_NOT_FOUND" and f.destination_service:
                return "service", f.destination_service
            side = f.source if f.source.pod else f.destination
            return ("pod", side.pod_ref) if side.pod else None

        recent: dict[tuple[str, str], list[FlowView]] = defaultdict(list)
        for f in self.recent:
            if f.dropped and (k := key(f)) is not None:
                recent[k].append(f)
        base = Counter(k for f in self.base if f.dropped and (k := key(f)) is not None)
        for (kind, name), flows in sorted(recent.items()):
            if not _above(len(flows), cfg.window_s, base[(kind, name)], self.base_s, cfg.min_drops, cfg.drop_factor):
                continue
            reasons = Counter(f.drop_reason or "UNKNOWN" for f in flows)
            why = ", ".join(f"{r} {n}" for r, n in reasons.most_common(3))
            per_min = base[(kind, name)] / self.base_s * 60 if self.base_s else 0.0
            ev = {"drops": len(flows), "reasons": dict(reasons), "baseline_per_min": round(per_min, 2)}
            if kind == "service":
                ns, _, svc = name.partition("/")
                clients = sorted({servicemap.endpoints(f)[0] for f in flows})
                text = (f"service {name} has no backends: {len(flows)} connections dropped ({why}) in "
                        f"{cfg.window_s:g}s from {_listed(clients, cfg.listed)} (baseline {per_min:.1f}/min)")
                self._finding("eastwest.drops", ResourceRef(kind="Service", namespace=ns, name=svc), text,
                              {**ev, "clients": clients[:cfg.listed]})
                continue
            peer = next(f.source if f.source.pod_ref == name else f.destination for f in flows)
            targets = sorted({f"{servicemap.endpoints(f)[1]}:{f.destination_port}" for f in flows})
            policies = sorted({p for f in flows for p in f.denied_by})
            text = (f"pod {name}: {len(flows)} flows dropped ({why}) in {cfg.window_s:g}s, to "
                    f"{_listed(targets, cfg.listed)} (baseline {per_min:.1f}/min)")
            self._finding("eastwest.drops", _pod_ref(peer), text, parent=_parent(peer),
                          evidence={**ev, "targets": targets[:cfg.listed], "policies": policies[:cfg.listed]})

    def dns(self) -> None:
        cfg = self.cfg

        def failed(f: FlowView) -> bool:
            return f.l7 == "dns" and f.l7_type == "RESPONSE" and f.dns_rcode != 0 and bool(f.destination.pod)

        recent: dict[str, list[FlowView]] = defaultdict(list)
        for f in self.recent:
            if failed(f):
                recent[f.destination.pod_ref].append(f)
        base = Counter(f.destination.pod_ref for f in self.base if failed(f))
        for pod, flows in sorted(recent.items()):
            if not _above(len(flows), cfg.window_s, base[pod], self.base_s, cfg.min_dns_errors, cfg.dns_factor):
                continue
            rcodes = Counter(f.dns_rcode_name for f in flows)
            names = [q for q, _ in Counter(f.dns_query for f in flows).most_common()]
            what = (f"{len(flows)} {next(iter(rcodes))} answers" if len(rcodes) == 1 else
                    f"{len(flows)} DNS errors ({', '.join(f'{r} {n}' for r, n in rcodes.most_common())})")
            text = (f"pod {pod} got {what} in {cfg.window_s:g}s for {len(names)} names "
                    f"(e.g. {_listed(names, 2)}) (baseline {base[pod]})")
            peer = flows[0].destination
            self._finding("eastwest.dns", _pod_ref(peer), text, parent=_parent(peer),
                          evidence={"errors": len(flows), "rcodes": dict(rcodes), "names": names[:cfg.listed],
                                    "baseline_errors": base[pod]})

    def new_edges(self) -> None:
        cfg = self.cfg
        if self.base_s < cfg.min_baseline_coverage * cfg.baseline_s:
            return

        def edges(flows: Sequence[FlowView]) -> dict[tuple[str, str], FlowView]:
            out: dict[tuple[str, str], FlowView] = {}
            for f in flows:
                if (f.initiates or f.l7_type == "REQUEST") and f.source.pod and not f.dropped:
                    client, server = servicemap.endpoints(f)
                    out.setdefault((client, f"{server}:{f.destination_port}"), f)
            return out

        known = edges(self.base)
        fresh: dict[str, list[tuple[str, FlowView]]] = defaultdict(list)
        for (client, target), f in edges(self.recent).items():
            if (client, target) not in known and f.source.pod_ref not in self.fanned:
                fresh[client].append((target, f))
        for client, items in sorted(fresh.items()):
            targets = sorted(t for t, _ in items)
            src = items[0][1].source
            text = (f"{client} opened {len(targets)} new connection path{'s' if len(targets) > 1 else ''} "
                    f"({_listed(targets, cfg.listed)}) not seen in the previous {self.base_s:.0f}s")
            self._finding("eastwest.new_edge", _pod_ref(src), text, parent=_parent(src), severity=Severity.WARNING,
                          evidence={"targets": targets[:cfg.listed], "new_edges": len(targets)})


def detect(flows: Sequence[FlowView], *, now: datetime | None = None,
           config: EastWestConfig = EastWestConfig()) -> EastWestReport:
    """Run every detector over `flows`; `now` defaults to the newest flow (a saved file)."""
    if now is None:
        now = max((f.time for f in flows), default=None) or datetime.now().astimezone()
    d = _Detector(flows, now, config)
    d.fanout()
    d.drops()
    d.dns()
    d.new_edges()
    notes = []
    if d.base_s < config.min_baseline_coverage * config.baseline_s:
        notes.append(f"baseline covers only {d.base_s:.0f}s of {config.baseline_s:g}s: new edges not judged")
    return EastWestReport(findings=d.findings, flows=len(d.recent) + len(d.base), window_s=config.window_s,
                          baseline_covered_s=d.base_s, notes=notes)


class HubbleSource:
    """`FindingSource` (tools/analyze.py) over the east-west detectors on a relay's recent flows."""

    name = "hubble"

    def __init__(self, tool: HubbleTool, *, config: EastWestConfig = EastWestConfig()) -> None:
        self.tool = tool
        self.config = config

    def available(self) -> bool:
        """The relay answers ServerStatus (raises `ToolUnavailable` with the reason otherwise)."""
        self.tool.status()
        return True

    def report(self, namespace: str | None = None) -> EastWestReport:
        spec = FlowFilterSpec(namespace=[namespace]) if namespace else None
        batch = self.tool.flows(spec, since=self.config.window_s + self.config.baseline_s)
        rep = detect(batch.flows, now=self.tool.now(), config=self.config)
        if batch.truncated:
            rep.notes.append(f"read the newest {len(batch.flows):,} flows only (limit); filter by namespace")
        return rep

    def findings(self, scope: Scope) -> SourceResult:
        rep = self.report(scope.namespace)
        return SourceResult(findings=rep.findings, notes=rep.notes,
                            degraded=any("limit" in n for n in rep.notes))

    def report_tool(self, namespace: str | None = None) -> envelope.ToolResult[Any]:
        """The east-west report as an envelope (what the MCP `flows` tools show)."""
        params = {"namespace": namespace}

        def run() -> envelope.ToolResult[Any]:
            rep = self.report(namespace)
            text, omitted = rep.render(self.tool.budget)
            return envelope.ok("hubble_anomalies", params, text=text, data=rep, omitted=omitted,
                               no_data=rep.flows == 0)
        return bud.enforce(envelope.run_tool("hubble_anomalies", params, run), self.tool.budget)


__all__ = ["EastWestConfig", "EastWestReport", "HubbleSource", "detect"]
