"""Where each trigger type gets its evidence: one bounded collection per poll, as `Finding`s.

- anomaly: the Prometheus anomaly detector (`tools/signals.py`) at the policy's threshold. Without a
  Prometheus (none configured, or it does not answer) the kube-derived signals stand in: our Pod and
  Node analyzers, which see restarting, crash-looping, OOMKilled, not-ready and unschedulable pods
  (`KUBE_SIGNALS`); the result says so, so the Trigger carries the note. A pod that is only failing its
  readiness probe must stay so for `NOT_READY_GRACE_S` first (pods starting up are not incidents). A management cluster's Cluster
  API health (`tools/capi`, CAPI's own view, no probing of workload clusters) is part of both: a
  degraded workload cluster is an anomaly whatever the metrics say.
- k8sgpt: the K8sGPT source (a `k8sgpt serve` server, else the operator's `Result` objects), else our
  analyzers (the same checks in K8sGPT's words).
- hubble: the east-west detectors (`tools/eastwest.py`) over the relay's recent flows, on the cluster's
  clock. `verdicts` gates the verdict-specific detector: drop spikes count only when `DROPPED` is
  listed; scans, DNS error bursts and new edges are connection patterns and count whatever the
  attempts' verdicts were (a port scan is mostly answered with RST, which Hubble reports FORWARDED);
  a new edge alone does not open an incident (`watch.SUPPORTING_ONLY`). Drops for lack of backends on
  a Service that has ready endpoints again are over (pods were starting) and are left out.
- event: Warning events newer than a time on the cluster's clock, one finding per (object, reason),
  with the owning workload of a Pod resolved (bounded number of reads per poll).

A collector raises a `ProphetError` when it cannot run; `TriggerWatch` turns that into a note.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prophet_sre.config import Settings
from prophet_sre.domain import Finding, FindingSource, ResourceRef, Severity, canonical_kind
from prophet_sre.errors import NotFound, ProphetError, ToolError, ToolUnavailable
from prophet_sre.tools.analyze import AnalyzerSource, Scope, analyze
from prophet_sre.tools.analyze import FindingSource as Source
from prophet_sre.tools.kube import events as kev
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient

log = logging.getLogger(__name__)

KUBE_SIGNALS: tuple[str, ...] = ("Pod", "Node")
"""Analyzers behind the kube-derived anomaly signals: pods restarting / crash-looping / OOMKilled / not
ready / failing to schedule, and nodes not ready or under pressure. Workload-level analyzers are left
out on purpose: a Deployment mid-rollout has fewer available replicas than desired and is not sick."""
HUBBLE_VERDICTS = ("FORWARDED", "DROPPED", "ERROR", "AUDIT", "REDIRECTED", "TRACED", "TRANSLATED")
"""Flow verdicts Hubble reports (flow.Verdict, minus VERDICT_UNKNOWN)."""
MAX_EVENTS = 2000
"""Warning events read per poll (the newest); a storm beyond it is summarised by what was read."""
MAX_POD_READS = 50
"""Pods read per poll to find the workload an event's Pod belongs to; beyond it the name decides."""
NOT_READY_GRACE_S = 60.0
"""A pod that is only not ready (a failing readiness probe, no restarts) counts as a kube-derived signal
once it has been seen not ready for this long on the cluster's clock - an alert rule's `for: 1m`:
pods starting up fail their first probes and are not an incident. Crash loops, OOM kills and
unschedulable pods count at once."""
NO_PROMETHEUS = ("no Prometheus: kube-derived signals (pods restarting, crash-looping, OOMKilled, not ready, "
                 "failing to schedule; nodes not ready)")


@dataclass
class Collected:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    via: str = ""
    """Which source produced the findings: prometheus | kube-derived | k8sgpt | analyzers | hubble | events."""
    note: str = ""
    """What every Trigger built from these findings should say about how they were found (or "")."""


def _run(sources: Sequence[Source], scope: Scope) -> tuple[list[Finding], list[str], dict[str, str]]:
    report = analyze(sources, scope)
    return report.findings, report.notes, report.sources


# -- anomaly -------------------------------------------------------------------------------------------------
class AnomalyCollector:
    """Prometheus anomalies over the threshold, else kube-derived signals; plus Cluster API health."""

    def __init__(self, client: KubeClient, settings: Settings, threshold: float, *, windows: Any = None) -> None:
        from prophet_sre.tools.capi.inventory import FleetInventory
        from prophet_sre.tools.capi.source import CapiSource

        self.client = client
        self.threshold = threshold
        self.prometheus: Source | None = None
        if settings.prometheus.url:
            from prophet_sre.tools.prometheus import PrometheusTool
            from prophet_sre.tools.signals import AnomalyDetector, PrometheusSource, Windows

            tool = PrometheusTool.from_settings(settings, cluster_clock=lambda: client.cluster_now().timestamp())
            self.prometheus = PrometheusSource(AnomalyDetector(tool, windows=windows or Windows()), threshold=threshold)
        self.kube = AnalyzerSource(client)
        self.capi = CapiSource(FleetInventory(client), probe=False)
        self.not_ready_since: dict[ResourceRef, datetime] = {}

    def collect(self, scope: Scope, now: datetime) -> Collected:
        out = self._signals(scope, now)
        found, notes, status = _run([self.capi], scope)  # a management cluster's view of its fleet
        out.findings += found
        if status.get("capi") == "failed":
            out.notes += notes
        return out

    def _signals(self, scope: Scope, now: datetime) -> Collected:
        """Prometheus anomalies over the threshold *and* the kube-derived hard failures (crash loops, OOM
        kills, unschedulable or long-unready pods, failing nodes): an OOM-killed pod is an anomaly whether
        or not the metrics have a baseline yet (a fresh Prometheus, a new workload, a fast simulator)."""
        found: list[Finding] = []
        notes: list[str] = []
        via: list[str] = []
        note = ""
        if self.prometheus is not None:
            pfound, pnotes, status = _run([self.prometheus], scope)
            if status.get("prometheus") in ("ok", "degraded"):
                found += pfound
                notes += pnotes
                via.append("prometheus")
            else:
                note = f"{pnotes[0] if pnotes else 'prometheus: not available'}; using kube-derived signals"
        else:
            note = NO_PROMETHEUS
        kfound, knotes, status = _run([self.kube], Scope(scope.namespace, KUBE_SIGNALS))
        if status.get("analyzer") in ("ok", "degraded"):
            found += self._persistent(kfound, now)
            via.append("kube-derived")
        elif not via:
            raise ToolUnavailable(f"{note or 'prometheus found nothing'}, but {'; '.join(knotes) or 'the analyzers failed'}")
        return Collected(found, [n for n in (note, *notes, *knotes) if n], via="+".join(via), note=note)

    def _persistent(self, found: list[Finding], now: datetime) -> list[Finding]:
        """Drop not-ready-only pods seen so for less than the grace (and remember when each was first seen)."""
        since: dict[ResourceRef, datetime] = {}
        out = []
        for f in found:
            if f.ref.kind == "Pod" and not f.evidence.get("restarts") and f.errors \
                    and all(e.startswith("Readiness probe failed") for e in f.errors):
                since[f.ref] = first = self.not_ready_since.get(f.ref, now)
                if (now - first).total_seconds() < NOT_READY_GRACE_S:
                    continue
            out.append(f)
        self.not_ready_since = since
        return out


# -- k8sgpt --------------------------------------------------------------------------------------------------
class K8sGPTCollector:
    """K8sGPT's findings (server, else Result objects), else our analyzers."""

    def __init__(self, client: KubeClient, settings: Settings) -> None:
        from prophet_sre.tools.k8sgpt.source import K8sGPTSource

        self.k8sgpt = K8sGPTSource.from_settings(settings.k8sgpt, client)
        self.kube = AnalyzerSource(client)

    def collect(self, scope: Scope, now: datetime) -> Collected:
        try:
            if self.k8sgpt.available():
                r = self.k8sgpt.findings(scope)
                return Collected(r.findings, [f"k8sgpt: {n}" for n in r.notes], via="k8sgpt")
            why = f"K8sGPT not available ({self.k8sgpt.reason})"
        except ProphetError as e:
            why = f"K8sGPT failed ({e})"
        found, notes, status = _run([self.kube], scope)
        if status.get("analyzer") not in ("ok", "degraded"):
            raise ToolUnavailable(f"{why}, and our analyzers failed too: {'; '.join(notes)}")
        note = f"{why}: findings from Prophet's own analyzers (the same checks)"
        return Collected(found, [note, *notes], via="analyzers", note=note)


# -- hubble --------------------------------------------------------------------------------------------------
class HubbleCollector:
    """East-west anomalies from the relay's recent flows; `now` is the cluster's clock (flows carry it)."""

    def __init__(self, settings: Settings, verdicts: Sequence[str], now: Callable[[], datetime], *,
                 config: Any = None, client: KubeClient | None = None) -> None:
        """`client`: the cluster, to check whether a Service that dropped connections for lack of backends
        still has none (without it every such drop spike counts)."""
        self.client = client
        self.verdicts = tuple(v.upper() for v in verdicts)
        self.address = settings.hubble.address
        self.source: Any = None
        if self.address:
            from prophet_sre.tools.eastwest import EastWestConfig, HubbleSource
            from prophet_sre.tools.hubble import HubbleTool

            tool = HubbleTool(self.address, timeout_s=settings.hubble.timeout_s, now=now)
            self.source = HubbleSource(tool, config=config or EastWestConfig())

    def collect(self, scope: Scope, now: datetime) -> Collected:
        if self.source is None:
            raise ToolUnavailable("no Hubble Relay configured (settings hubble.address, PROPHET_HUBBLE__ADDRESS)")
        r = self.source.findings(scope)
        found = [f for f in r.findings if self.counts(f)]
        notes = [f"hubble: {n}" for n in r.notes]
        if len(found) < len(r.findings):
            notes.append(f"hubble: {len(r.findings) - len(found)} drop finding(s) ignored (DROPPED is not among "
                         f"the trigger's verdicts {list(self.verdicts)})")
        healed = [f for f in found if self.healed(f)]
        if healed:
            found = [f for f in found if f not in healed]
            notes.append("hubble: drops for lack of backends ignored, the Service has ready endpoints now: "
                         + ", ".join(str(f.ref) for f in healed[:5]))
        return Collected(found, notes, via="hubble")

    def healed(self, f: Finding) -> bool:
        """A Service's 'no backends' drops that are over: it has ready endpoints again (pods that were
        starting, a rollout that finished). A Service that still has none stays an incident."""
        reasons = f.evidence.get("reasons")
        if self.client is None or f.analyzer != "eastwest.drops" or f.ref.kind != "Service" \
                or not isinstance(reasons, dict) or set(reasons) != {"SERVICE_BACKEND_NOT_FOUND"}:
            return False
        try:
            ep = self.client.get("endpoints", f.ref.name, f.ref.namespace)
        except ProphetError:
            return False
        return any(o.items(s.get("addresses")) for s in o.items(ep.get("subsets")))

    def counts(self, f: Finding) -> bool:
        return not self.verdicts or f.analyzer != "eastwest.drops" or "DROPPED" in self.verdicts

    def close(self) -> None:
        if self.source is not None:
            self.source.tool.close()


# -- events --------------------------------------------------------------------------------------------------
def _involved(ev: dict[str, Any]) -> ResourceRef | None:
    inv = o.mapping(o.dig(ev, "involvedObject")) or o.mapping(o.dig(ev, "regarding"))
    kind, name = o.text(inv.get("kind")), o.text(inv.get("name"))
    if not kind or not name:
        return None
    return ResourceRef(kind=canonical_kind(kind), namespace=o.text(inv.get("namespace")), name=name)


class EventCollector:
    """Warning events (of `reasons`, or all) last seen after a time, one finding per (object, reason)."""

    def __init__(self, client: KubeClient, reasons: Sequence[str]) -> None:
        self.client = client
        self.reasons = tuple(reasons)

    def collect(self, scope: Scope, now: datetime, since: datetime) -> Collected:
        fields = ["type=Warning"] + ([f"reason={self.reasons[0]}"] if len(self.reasons) == 1 else [])
        events = self.client.list("events", scope.namespace, field_selector=",".join(fields))
        want = {r.lower() for r in self.reasons}
        fresh: list[tuple[datetime, dict[str, Any]]] = []
        for ev in events:
            if o.text(ev.get("type")) != "Warning" or (want and o.text(ev.get("reason")).lower() not in want):
                continue
            last = kev.event_times(ev)[1]
            if last is not None and last > since:
                fresh.append((last, ev))
        fresh.sort(key=lambda p: p[0], reverse=True)
        notes = [f"events: {len(fresh) - MAX_EVENTS} older events not read (limit {MAX_EVENTS})"] \
            if len(fresh) > MAX_EVENTS else []
        groups: dict[tuple[ResourceRef, str], dict[str, Any]] = {}
        for last, ev in fresh[:MAX_EVENTS]:
            ref = _involved(ev)
            if ref is None:
                continue
            reason = o.text(ev.get("reason")) or "Unknown"
            g = groups.setdefault((ref, reason), {"count": 0, "last": last, "message": "", "first": last})
            g["count"] += kev.occurrences(ev)
            if not g["message"]:  # the newest occurrence's words (fresh is newest first)
                g["message"] = " ".join((o.text(ev.get("message")) or o.text(ev.get("note"))).split())
            g["first"] = min(g["first"], kev.event_times(ev)[0] or last)
        parents = _Owners(self.client)
        found = []
        for (ref, reason), g in groups.items():
            times = f" (x{g['count']})" if g["count"] > 1 else ""
            found.append(Finding(
                source=FindingSource.EVENT, ref=ref, analyzer=reason, severity=Severity.WARNING,
                errors=[f"{reason}{times}: {g['message']}"], parent=parents.of(ref),
                evidence={"reason": reason, "count": g["count"], "type": "Warning",
                          "first_seen": g["first"].isoformat(), "last_seen": g["last"].isoformat()}))
        return Collected(found, notes + parents.notes, via="events")


class _Owners:
    """The workload a Pod belongs to: its ownerReferences (a bounded number of reads), else its name."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self.reads = 0
        self.cache: dict[ResourceRef, ResourceRef | None] = {}
        self.notes: list[str] = []

    def of(self, ref: ResourceRef) -> ResourceRef | None:
        if ref.kind != "Pod":
            return None
        if ref not in self.cache:
            self.cache[ref] = self._lookup(ref)
        return self.cache[ref]

    def _lookup(self, ref: ResourceRef) -> ResourceRef | None:
        from prophet_sre.tools.signals import workload_of_pod

        if self.reads < MAX_POD_READS:
            self.reads += 1
            try:
                pod = self.client.get("pods", ref.name, ref.namespace)
            except NotFound:
                pod = None
            except ToolError as e:
                self.notes.append(f"events: cannot read pod {ref}: {e}")
                pod = None
            if pod is not None:
                kind, name = o.workload_of(pod)
                return None if kind == "Pod" else ResourceRef(kind=kind, namespace=ref.namespace, name=name)
        guess = workload_of_pod(ref.namespace, ref.name)  # gone (evicted, replaced) or over the read budget
        return None if guess.kind == "Pod" else guess


__all__ = ["HUBBLE_VERDICTS", "KUBE_SIGNALS", "MAX_EVENTS", "MAX_POD_READS", "NO_PROMETHEUS", "NOT_READY_GRACE_S", "AnomalyCollector",
           "Collected", "EventCollector", "HubbleCollector", "K8sGPTCollector"]
