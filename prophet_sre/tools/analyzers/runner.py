"""`Analysis`: run the selected analyzers over one shared snapshot of the cluster.

Selection works like K8sGPT's: no filters means the core analyzers; filters name analyzers exactly as
K8sGPT does (`Pod`, `PersistentVolumeClaim`, ...; case-insensitive here) and may include the opt-in
ones; an unknown filter is reported, not fatal. Every resource the selected analyzers declare is listed
once, concurrently, before any analyzer runs. An analyzer that cannot read what it needs (RBAC, a kind
the server does not serve) or that fails in any other way becomes a note - the others still report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from prophet_sre.domain import Finding
from prophet_sre.errors import ToolError
from prophet_sre.tools.analyzers.base import Analyzer, Snapshot
from prophet_sre.tools.analyzers.snapshot import ClusterSnapshot
from prophet_sre.tools.kube.client import KubeClient

log = logging.getLogger(__name__)


@dataclass
class AnalysisResult:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Unknown filters, analyzers that could not run and why, reads that degraded (events unreadable)."""
    analyzers: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    listed: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0


def select(registry: Mapping[str, Analyzer], filters: Sequence[str]) -> tuple[list[Analyzer], list[str]]:
    """(analyzers to run, unknown filter names); no filters: the core analyzers in registry order."""
    if not filters:
        return [a for a in registry.values() if a.core], []
    by_lower = {name.lower(): a for name, a in registry.items()}
    chosen: dict[str, Analyzer] = {}
    unknown: list[str] = []
    for f in filters:
        a = by_lower.get(f.strip().lower())
        if a is None:
            unknown.append(f)
        else:
            chosen.setdefault(a.name, a)
    return list(chosen.values()), unknown


class Analysis:
    """One analysis run: `Analysis(client, namespace="shop", filters=["Pod"]).run()`."""

    def __init__(self, client: KubeClient | None = None, *, registry: Mapping[str, Analyzer] | None = None,
                 namespace: str | None = None, filters: Sequence[str] = (), snapshot: Snapshot | None = None,
                 concurrency: int | None = None) -> None:
        if client is None and snapshot is None:
            raise ValueError("Analysis needs a client or a snapshot")
        self.client = client
        self.registry = registry
        """None: the built-in `analyzers.REGISTRY`; tests and plug-ins pass their own."""
        self.namespace = namespace
        self.filters = list(filters)
        self.snapshot = snapshot
        self.concurrency = concurrency

    def run(self) -> AnalysisResult:
        t0 = time.perf_counter()
        if self.registry is None:
            from prophet_sre.tools.analyzers import REGISTRY

            self.registry = REGISTRY
        selected, unknown = select(self.registry, self.filters)
        result = AnalysisResult(analyzers=[a.name for a in selected])
        result.notes += [f'"{f}" filter does not exist. Please run prophet analyze --list-filters.' for f in unknown]
        snap = self.snapshot
        if snap is None:
            assert self.client is not None
            cluster_snap = ClusterSnapshot(self.client, namespace=self.namespace, concurrency=self.concurrency)
            cluster_snap.prefetch({r for a in selected for r in a.needs})
            snap = cluster_snap
        for a in selected:
            try:
                result.findings += a.run(snap)
            except ToolError as e:
                result.failed.append(a.name)
                result.notes.append(f"{a.name} analyzer skipped: {e}")
            except Exception as e:  # noqa: BLE001 - one analyzer's bug must not hide the others' findings
                log.exception("analyzer %s failed", a.name)
                result.failed.append(a.name)
                result.notes.append(f"{a.name} analyzer failed: {type(e).__name__}: {e}")
        result.notes += list(getattr(snap, "notes", []))
        result.listed = dict(getattr(snap, "listed", {}))
        result.findings.sort(key=lambda f: (f.ref.kind, f.ref.namespace, f.ref.name, f.analyzer))
        result.duration_s = time.perf_counter() - t0
        return result


__all__ = ["Analysis", "AnalysisResult", "select"]
