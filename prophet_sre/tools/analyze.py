"""Findings from every source, in one report: the engine behind `prophet analyze` and the analyze tool.

A `FindingSource` is anything that can say what is wrong: our analyzers (always), and later K8sGPT,
Prometheus, Hubble and Cluster API sources. The protocol is three members - `name`, `available()`,
`findings(scope)` - and the aggregator promises graceful degradation: a source that is not available,
raises, or times out contributes a note to the report, never an exception, so one dead endpoint cannot
hide what the others found. Findings that two sources report identically (same object, same texts) are
kept once, from the first source in order.

Not to be confused with `domain.FindingSource`, the enum naming where one `Finding` came from.

`to_json` renders K8sGPT's `analyze -o json` shape (`provider`, `errors`, `status`, `problems`,
`results[]` with `kind`, `name`, `error[{Text}]`, `parentObject`) plus our `findings`, so people and
scripts used to either tool read the same thing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from prophet_sre.config import Settings
from prophet_sre.domain import Finding
from prophet_sre.errors import ProphetError
from prophet_sre.tools.analyzers import Analysis, Analyzer
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.errors import Op

log = logging.getLogger(__name__)
PROVIDER = "prophet"


@dataclass(frozen=True)
class Scope:
    """What to analyse: a namespace (None: all) and K8sGPT-style filters (empty: the core analyzers)."""

    namespace: str | None = None
    filters: tuple[str, ...] = ()


@dataclass
class SourceResult:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    degraded: bool = False
    """True when the source ran but part of it could not (some analyzers failed, a read was refused)."""


@runtime_checkable
class FindingSource(Protocol):
    """Something that reports findings. Implementations must be cheap to construct; `available()` may
    do I/O (a health check) and may raise a `ProphetError` whose message says why it is unavailable."""

    name: str

    def available(self) -> bool: ...

    def findings(self, scope: Scope) -> SourceResult: ...


class AnalyzerSource:
    """Our K8sGPT-compatible analyzers over a live cluster."""

    name = "analyzer"

    def __init__(self, client: KubeClient, *, registry: dict[str, Analyzer] | None = None) -> None:
        self.client = client
        self.registry = registry

    def available(self) -> bool:
        """The API server answers `/version` (with the client's bounded retries)."""
        self.client.get_json("/version", op=Op("get", "version"))
        return True

    def findings(self, scope: Scope) -> SourceResult:
        r = Analysis(self.client, registry=self.registry, namespace=scope.namespace, filters=scope.filters).run()
        if r.analyzers and len(r.failed) == len(r.analyzers):
            raise ProphetError("every analyzer failed: " + "; ".join(r.notes[-3:]))
        return SourceResult(r.findings, r.notes, degraded=bool(r.failed))


class AnalyzeReport(BaseModel):
    findings: list[Finding] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    sources: dict[str, str] = Field(default_factory=dict)
    """Source name -> ok | degraded | unavailable | failed."""
    duration_s: float = 0.0

    @property
    def usable(self) -> bool:
        """At least one source produced a result (possibly with no findings)."""
        return any(s in ("ok", "degraded") for s in self.sources.values())


def _key(f: Finding) -> tuple[str, str, str, tuple[str, ...]]:
    return (f.ref.kind.lower(), f.ref.namespace, f.ref.name, tuple(sorted(f.errors)))


def analyze(sources: Sequence[FindingSource], scope: Scope) -> AnalyzeReport:
    """Ask every source; collect findings (de-duplicated) and a note for each source that degraded."""
    t0 = time.perf_counter()
    report = AnalyzeReport()
    seen: set[tuple[str, str, str, tuple[str, ...]]] = set()
    for src in sources:
        try:
            if not src.available():
                report.sources[src.name] = "unavailable"
                report.notes.append(f"{src.name}: not available")
                continue
            result = src.findings(scope)
        except ProphetError as e:
            report.sources[src.name] = "failed"
            report.notes.append(f"{src.name}: {e}")
            continue
        except Exception as e:  # noqa: BLE001 - a source's bug is reported, never fatal to the others
            log.exception("finding source %s failed", src.name)
            report.sources[src.name] = "failed"
            report.notes.append(f"{src.name}: failed ({type(e).__name__}: {e})")
            continue
        report.sources[src.name] = "degraded" if result.degraded else "ok"
        report.notes += [f"{src.name}: {n}" for n in result.notes]
        for f in result.findings:
            if _key(f) not in seen:
                seen.add(_key(f))
                report.findings.append(f)
    report.duration_s = time.perf_counter() - t0
    return report


def default_sources(client: KubeClient, settings: Settings | None = None) -> list[FindingSource]:
    """The sources `prophet analyze` asks, in order: our analyzers (always), K8sGPT (its server or its
    operator's Result objects; a finding both report the same way is kept once), Prometheus anomalies and Hubble east-west anomalies (when configured), and the
    Cluster API fleet (when the cluster is a management cluster). A source that cannot run is a note."""
    from prophet_sre.tools.capi.inventory import FleetInventory
    from prophet_sre.tools.capi.source import CapiSource
    from prophet_sre.tools.k8sgpt.source import K8sGPTSource

    s = settings or Settings()
    sources: list[FindingSource] = [AnalyzerSource(client), K8sGPTSource.from_settings(s.k8sgpt, client)]
    if s.prometheus.url:
        from prophet_sre.tools.prometheus import PrometheusTool
        from prophet_sre.tools.signals import AnomalyDetector, PrometheusSource

        tool = PrometheusTool.from_settings(s, cluster_clock=lambda: client.cluster_now().timestamp())
        sources.append(PrometheusSource(AnomalyDetector(tool), threshold=s.prometheus.anomaly_threshold))
    if s.hubble.address:
        from prophet_sre.tools.eastwest import HubbleSource
        from prophet_sre.tools.hubble import HubbleTool

        sources.append(HubbleSource(HubbleTool(s.hubble.address, timeout_s=s.hubble.timeout_s)))
    sources.append(CapiSource(FleetInventory(client)))
    return sources


def k8sgpt_name(f: Finding) -> str:
    """`Result.name` as K8sGPT writes it: `ns/name`, a bare node name, `ns/pod/container` for Log."""
    override = f.evidence.get("k8sgpt_name")
    if isinstance(override, str) and override:
        return override
    return f"{f.ref.namespace}/{f.ref.name}" if f.ref.namespace else f.ref.name


def result(f: Finding) -> dict[str, Any]:
    """One finding as a K8sGPT `Result` (capitalised Failure fields, as its JSON output has them)."""
    return {"kind": f.ref.kind, "name": k8sgpt_name(f),
            "error": [{"Text": t, "KubernetesDoc": "", "Sensitive": []} for t in f.errors],
            "details": "", "parentObject": f"{f.parent.kind}/{f.parent.name}" if f.parent else "",
            "source": f.source.value}


def to_json(report: AnalyzeReport) -> dict[str, Any]:
    """K8sGPT's `-o json` document plus `findings` (our full `Finding` objects) and `sources`."""
    results = [result(f) for f in report.findings]
    problems = sum(len(r["error"]) for r in results)
    return {"provider": PROVIDER, "errors": report.notes or None,
            "status": "ProblemDetected" if problems else "OK", "problems": problems, "results": results,
            "findings": [f.model_dump(mode="json") for f in report.findings], "sources": report.sources}


__all__ = ["PROVIDER", "AnalyzeReport", "AnalyzerSource", "FindingSource", "Scope", "SourceResult", "analyze",
           "default_sources", "k8sgpt_name", "result", "to_json"]
