"""Built-in workload signals as named PromQL templates, scored for anomalies, and a `FindingSource`.

Each `Signal` is data: a PromQL template over the series real exporters publish (kube-state-metrics,
cAdvisor, an instrumented app's `http_requests_total` / `http_request_duration_seconds`, `db_pool_*`),
the entity it is computed per (a Service, or a pod folded into its workload), and the floors the
anomaly score needs (see `prophet_sre.tools.anomaly` for the formula). `AnomalyDetector` runs one range
query per signal over baseline + recent window, folds pods into workloads, scores every series and
returns an `AnomalyReport`; `PrometheusSource` turns the workloads over an `anomalyScoreThreshold` into
`Finding`s (`source=prometheus`, `analyzer=<signal>`).

Pods map to workloads through kube-state-metrics' own owner series (`kube_pod_owner`, and
`kube_replicaset_owner` for Deployments), taken with `max_over_time` over the whole window so pods
that were replaced during it still count; when those series are missing the pod-template-hash suffix
is stripped from the ReplicaSet name, which is how Deployments name them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from prophet_sre import errors
from prophet_sre.domain import Finding, FindingSource, ResourceRef, Severity
from prophet_sre.tools import anomaly, envelope
from prophet_sre.tools import budget as bud
from prophet_sre.tools.analyze import Scope, SourceResult
from prophet_sre.tools.prometheus import PrometheusTool, RangeSeries, escape_label

DEFAULT_THRESHOLD = 0.8
"""The default `anomalyScoreThreshold`: about four robust sigmas above normal (see anomaly.py)."""
_HASHED = re.compile(r"^(?P<name>.+)-[0-9a-z]{5,10}$")


@dataclass(frozen=True)
class Signal:
    """One named PromQL template. `{ns}` is a namespace matcher, `{rate}` the rate window."""

    name: str
    title: str
    entity: Literal["service", "pod"]
    template: str
    unit: Literal["ratio", "percent", "seconds", "count"]
    floor: float
    """Smallest absolute change that matters (the scale's floor, in the signal's unit)."""
    rel_floor: float = 0.0
    """Smallest relative change that matters, as a share of the baseline median."""
    nominal: float | None = None
    """The healthy level when the baseline is too short to measure (None: wait for a baseline)."""
    fold: Literal["max", "sum"] = "max"
    """How the pods of one workload combine (restarts add up; ratios take the worst pod)."""

    def promql(self, namespace: str | None, rate_s: float) -> str:
        ns = f'namespace="{escape_label(namespace)}"' if namespace else 'namespace!=""'
        return self.template.format(ns=ns, rate=f"{max(1, round(rate_s))}s")

    def show(self, value: float | None) -> str:
        if value is None:
            return "n/a"
        if self.unit == "percent":
            return f"{value * 100:.0f}%"
        if self.unit == "seconds":
            return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}s"
        if self.unit == "count":
            return f"{value:.3g}"
        return f"{value:.2f}"


SIGNALS: tuple[Signal, ...] = (
    Signal("error_ratio", "error ratio", "service",
           '(sum by (namespace, service) (rate(http_requests_total{{code=~"5..",{ns}}}[{rate}]))'
           " or sum by (namespace, service) (rate(http_requests_total{{{ns}}}[{rate}])) * 0)"
           " / sum by (namespace, service) (rate(http_requests_total{{{ns}}}[{rate}]))",
           "ratio", floor=0.01, rel_floor=0.1, nominal=0.0),
    Signal("latency_p99", "p99 latency", "service",
           "histogram_quantile(0.99, sum by (namespace, service, le) "
           "(rate(http_request_duration_seconds_bucket{{{ns}}}[{rate}])))",
           "seconds", floor=0.005, rel_floor=0.2),
    Signal("restarts", "restarts", "pod",
           "sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total{{{ns}}}[{rate}]))",
           "count", floor=0.5, nominal=0.0, fold="sum"),
    Signal("memory_vs_limit", "memory of limit", "pod",
           'max by (namespace, pod) (container_memory_working_set_bytes{{container!="",container!="POD",{ns}}}'
           ' / (container_spec_memory_limit_bytes{{container!="",container!="POD",{ns}}} > 0))',
           "percent", floor=0.05, rel_floor=0.1),
    Signal("cpu_throttling", "CPU throttled periods", "pod",
           'sum by (namespace, pod) (rate(container_cpu_cfs_throttled_periods_total{{container!="",{ns}}}[{rate}]))'
           ' / sum by (namespace, pod) (rate(container_cpu_cfs_periods_total{{container!="",{ns}}}[{rate}]))',
           "percent", floor=0.05, rel_floor=0.2, nominal=0.0),
    Signal("db_pool_saturation", "DB pool in use", "service",
           "max by (namespace, service) (db_pool_connections_in_use{{{ns}}} / (db_pool_connections_max{{{ns}}} > 0))",
           "percent", floor=0.05, rel_floor=0.1),
    Signal("db_pool_timeouts", "DB pool timeouts/s", "service",
           "sum by (namespace, service) (rate(db_pool_timeouts_total{{{ns}}}[{rate}]))",
           "count", floor=0.05, rel_floor=0.2, nominal=0.0),
)
SIGNALS_BY_NAME = {s.name: s for s in SIGNALS}


@dataclass(frozen=True)
class Windows:
    """Baseline and recent windows (seconds), the `rate()` window and the query step.

    Defaults suit a Prometheus scraping every 15-30 s: a 20-minute baseline covers normal variation
    without reaching back into last hour's deploy, two recent minutes (eight samples at a 15 s step)
    make the recent median robust, and `rate(...[1m])` is the usual dashboard window."""

    baseline_s: float = 1200.0
    recent_s: float = 120.0
    rate_s: float = 60.0
    step_s: float = 15.0


class AnomalyDetector:
    """Scores every built-in signal per workload/service against its own baseline."""

    def __init__(self, tool: PrometheusTool, *, signals: Sequence[Signal] = SIGNALS, windows: Windows = Windows(),
                 params: anomaly.ScoreParams = anomaly.ScoreParams(), clock: Any = time.time) -> None:
        self.tool = tool
        self.signals = tuple(signals)
        self.windows = windows
        self.params = params
        self.clock = clock

    def scores(self, namespace: str | None = None) -> tuple[list[anomaly.SignalScore], list[str]]:
        """All (workload, signal) scores and notes on signals without data. Raises `ToolUnavailable`."""
        w = self.windows
        now = float(self.clock())
        start = now - w.recent_s - w.baseline_s
        out: list[anomaly.SignalScore] = []
        notes: list[str] = []
        owners: dict[tuple[str, str], ResourceRef] | None = None
        for sig in self.signals:
            promql = sig.promql(namespace, w.rate_s)
            try:
                series = self.tool.series(promql, start=start, end=now, step_s=w.step_s)
            except errors.InvalidQuery as e:  # a template the server cannot run (an old Prometheus)
                notes.append(f"{sig.name}: {e}")
                continue
            if not series:
                notes.append(f"{sig.name}: no series (exporter missing?)")
                continue
            if sig.entity == "pod" and owners is None:
                owners = self._owners(namespace, now - start)
            for ref, points in self._entities(sig, series, owners or {}):
                base, rec = anomaly.split_points(points, now=now, recent_s=w.recent_s, baseline_s=w.baseline_s)
                sc = anomaly.robust_score(base, rec, floor=sig.floor, rel_floor=sig.rel_floor, nominal=sig.nominal,
                                          params=self.params)
                out.append(anomaly.SignalScore(signal=sig.name, ref=ref, score=sc, promql=promql,
                                               message=self._message(sig, ref, sc)))
        return out, notes

    def report(self, namespace: str | None = None, *, threshold: float = DEFAULT_THRESHOLD) -> anomaly.AnomalyReport:
        scores, notes = self.scores(namespace)
        return anomaly.build_report(scores, threshold=threshold, baseline_s=self.windows.baseline_s,
                                    recent_s=self.windows.recent_s, notes=notes)

    def report_tool(self, namespace: str | None = None, *,
                    threshold: float = DEFAULT_THRESHOLD) -> envelope.ToolResult[Any]:
        """The anomaly report as an envelope: workloads over `threshold` with their strongest signal."""
        params = {"namespace": namespace, "threshold": threshold}

        def run() -> envelope.ToolResult[Any]:
            rep = self.report(namespace, threshold=threshold)
            text, omitted = rep.render(self.tool.budget)
            return envelope.ok("anomalies", params, text=text, data=rep, omitted=omitted, no_data=rep.scored == 0)
        return bud.enforce(envelope.run_tool("anomalies", params, run), self.tool.budget)

    # -- helpers ----------------------------------------------------------------------------------------
    def _message(self, sig: Signal, ref: ResourceRef, sc: anomaly.Score) -> str:
        where = f"on service {ref.name}" if ref.kind == "Service" else f"in {ref.kind.lower()} {ref.name}"
        per = f" per {self.windows.rate_s:g}s" if sig.name == "restarts" else ""
        return f"{sig.title} {sig.show(sc.value)}{per} (baseline {sig.show(sc.baseline)}) {where}"

    def _entities(self, sig: Signal, series: list[RangeSeries],
                  owners: dict[tuple[str, str], ResourceRef]) -> list[tuple[ResourceRef, list[tuple[float, float]]]]:
        if sig.entity == "service":
            return [(ResourceRef(kind="Service", namespace=s.labels.get("namespace", ""),
                                 name=s.labels.get("service", "")), s.points) for s in series if s.labels.get("service")]
        grouped: dict[ResourceRef, dict[float, list[float]]] = {}
        for s in series:
            ns, pod = s.labels.get("namespace", ""), s.labels.get("pod", "")
            if not pod:
                continue
            ref = owners.get((ns, pod)) or workload_of_pod(ns, pod)
            bucket = grouped.setdefault(ref, {})
            for t, v in s.points:
                bucket.setdefault(t, []).append(v)
        combine = sum if sig.fold == "sum" else max
        return [(ref, [(t, float(combine(vs))) for t, vs in sorted(b.items())]) for ref, b in grouped.items()]

    def _owners(self, namespace: str | None, span_s: float) -> dict[tuple[str, str], ResourceRef]:
        """(namespace, pod) -> owning workload, from kube-state-metrics' owner series over the window."""
        ns = f'namespace="{escape_label(namespace)}"' if namespace else 'namespace!=""'
        span = f"{max(60, round(span_s))}s"
        pods = self.tool.instant(f"max by (namespace, pod, owner_kind, owner_name) "
                                 f"(max_over_time(kube_pod_owner{{{ns}}}[{span}]))")
        sets = self.tool.instant(f"max by (namespace, replicaset, owner_kind, owner_name) "
                                 f"(max_over_time(kube_replicaset_owner{{{ns}}}[{span}]))")
        rs_owner = {(s.labels.get("namespace", ""), s.labels.get("replicaset", "")):
                    (s.labels.get("owner_kind", ""), s.labels.get("owner_name", "")) for s in sets}
        out: dict[tuple[str, str], ResourceRef] = {}
        for s in pods:
            ns_, pod = s.labels.get("namespace", ""), s.labels.get("pod", "")
            kind, name = s.labels.get("owner_kind", ""), s.labels.get("owner_name", "")
            if kind == "ReplicaSet":
                kind, name = rs_owner.get((ns_, name)) or _deployment_of(name)
            if not kind or kind == "<none>" or not name or name == "<none>":
                kind, name = "Pod", pod
            out[(ns_, pod)] = ResourceRef(kind=kind, namespace=ns_, name=name)
        return out


def _deployment_of(replicaset: str) -> tuple[str, str]:
    m = _HASHED.match(replicaset)
    return ("Deployment", m["name"]) if m else ("ReplicaSet", replicaset)


def workload_of_pod(namespace: str, pod: str) -> ResourceRef:
    """Best guess without owner series: `name-<rs hash>-<pod hash>` is a Deployment's pod, else the pod."""
    parts = pod.rsplit("-", 2)
    if len(parts) == 3 and _HASHED.match(f"x-{parts[1]}") and len(parts[2]) == 5:
        return ResourceRef(kind="Deployment", namespace=namespace, name=parts[0])
    return ResourceRef(kind="Pod", namespace=namespace, name=pod)


def severity_of(score: float) -> Severity:
    return Severity.CRITICAL if score >= 0.99 else Severity.ERROR


def to_finding(s: anomaly.SignalScore, windows: Windows) -> Finding:
    """One signal over the threshold as a Finding; `evidence` carries the numbers and the query."""
    sc = s.score
    return Finding(source=FindingSource.PROMETHEUS, analyzer=s.signal, ref=s.ref, errors=[s.message],
                   severity=severity_of(sc.score),
                   evidence={"promql": s.promql, "value": sc.value, "baseline": sc.baseline, "score": sc.score,
                             "z": sc.z, "mad": sc.mad, "recent_s": windows.recent_s, "baseline_s": windows.baseline_s})


class PrometheusSource:
    """`FindingSource` (tools/analyze.py) over the anomaly detector: every signal over the threshold."""

    name = "prometheus"

    def __init__(self, detector: AnomalyDetector, *, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.detector = detector
        self.threshold = threshold

    def available(self) -> bool:
        """The server answers a trivial query (raises `ToolUnavailable` with the reason otherwise)."""
        return self.detector.tool.check()

    def findings(self, scope: Scope) -> SourceResult:
        rep = self.detector.report(scope.namespace, threshold=self.threshold)
        found = [to_finding(s, self.detector.windows) for w in rep.workloads for s in w.signals
                 if s.score.score >= self.threshold]
        return SourceResult(findings=found, notes=rep.notes)


__all__ = ["DEFAULT_THRESHOLD", "SIGNALS", "SIGNALS_BY_NAME", "AnomalyDetector", "PrometheusSource", "Signal",
           "Windows", "severity_of", "to_finding", "workload_of_pod"]
