"""`K8sGPTSource`: K8sGPT as one `FindingSource` of the analyze tool, with its own fallback order.

1. `k8sgpt serve` over gRPC, when an address is configured and it connects within the connect timeout:
   a fresh analysis of exactly the requested scope.
2. Otherwise the operator's `Result` objects, when their CRD is served: the operator's latest run,
   filtered to the scope (marked degraded if we got here because a configured server was down).
3. Otherwise `available()` is False (with `reason` saying why), and the aggregator keeps going with the
   other sources - our own analyzers, which implement the same checks.
"""

from __future__ import annotations

from typing import Literal

from prophet_sre.config import K8sGPTSettings
from prophet_sre.errors import ToolError, ToolUnavailable
from prophet_sre.tools import analyze
from prophet_sre.tools.k8sgpt.client import K8sGPTClient
from prophet_sre.tools.k8sgpt.results import ResultReader
from prophet_sre.tools.kube.client import KubeClient

Mode = Literal["grpc", "results"]


class K8sGPTSource:
    """K8sGPT's findings from a server or from Result objects; see the module docstring for the order."""

    name = "k8sgpt"

    def __init__(self, client: K8sGPTClient | None = None, results: ResultReader | None = None) -> None:
        self.client = client
        self.results = results
        self.mode: Mode | None = None
        """Which way `findings` reads, decided by the latest `available()`."""
        self.reason = ""
        """Why the server (or everything) was not usable at the latest `available()`; empty when it was."""

    @classmethod
    def from_settings(cls, settings: K8sGPTSettings, kube: KubeClient | None) -> K8sGPTSource:
        """The server from `settings.address` (if any) and Result objects through `kube` (if given)."""
        results = ResultReader(kube, settings.results_namespace) if kube is not None else None
        return cls(K8sGPTClient.from_settings(settings, cluster=kube.cluster if kube else ""), results)

    def available(self) -> bool:
        """Pick the mode: a connecting server, else a served Result CRD; False when neither."""
        reasons: list[str] = []
        if self.client is not None:
            try:
                self.client.ping()
            except ToolError as e:
                reasons.append(str(e))
            else:
                self.mode, self.reason = "grpc", ""
                return True
        if self.results is not None:
            try:
                served = self.results.served()
            except ToolError as e:
                reasons.append(f"cannot read Result objects: {e}")
            else:
                if served:
                    self.mode, self.reason = "results", "; ".join(reasons)
                    return True
                reasons.append("the K8sGPT operator's Result CRD (results.core.k8sgpt.ai) is not installed")
        if not reasons:
            reasons.append("no k8sgpt.address configured and no cluster to read Result objects from")
        self.mode, self.reason = None, "; ".join(reasons)
        return False

    def findings(self, scope: analyze.Scope) -> analyze.SourceResult:
        if self.mode is None and not self.available():
            raise ToolUnavailable(f"k8sgpt: {self.reason}")
        if self.mode == "grpc" and self.client is not None:
            try:
                a = self.client.analysis(scope.namespace or "", scope.filters)
            except ToolUnavailable as e:  # went away (or timed out) since available(): Results, if any
                if self.results is None or not self.results.served():
                    raise
                self.mode, self.reason = "results", str(e)
            else:
                notes = [f"k8sgpt serve at {self.client.address}: {a.status}, {a.problems} problem(s)"]
                return analyze.SourceResult(a.findings, notes + [f"k8sgpt warning: {w}" for w in a.warnings])
        if self.results is None:
            raise ToolUnavailable(f"k8sgpt: {self.reason or 'no Result reader'}")
        found = self.results.findings(scope.namespace, scope.filters)
        notes = [f"from the K8sGPT operator's Result objects ({len(found)} in scope; as fresh as its last run)"]
        if self.reason:
            notes.insert(0, f"server not used: {self.reason}")
        return analyze.SourceResult(found, notes, degraded=bool(self.reason))


__all__ = ["K8sGPTSource", "Mode"]
