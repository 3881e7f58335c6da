"""`K8sGPTClient`: a client of `k8sgpt serve` over gRPC (`schema.v1.ServerAnalyzerService/Analyze`).

Why a gRPC client rather than running the `k8sgpt` binary: `k8sgpt serve` is how K8sGPT runs in a
cluster (the operator deploys it and calls exactly this RPC), and a typed RPC has a deadline and typed
errors where a subprocess has neither.

Failure modes, mapped here and nowhere else (grpc exceptions never leave this module):

    channel does not connect within connect_timeout_s   ->  ToolUnavailable (fast: a down server must not
                                                            hold up the analyzers we fall back to)
    UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
    ABORTED, CANCELLED                                  ->  ToolUnavailable
    PERMISSION_DENIED, UNAUTHENTICATED                  ->  Forbidden
    NOT_FOUND                                           ->  NotFound
    UNIMPLEMENTED                                       ->  ToolError (the address is not `k8sgpt serve`)
    anything else, or AnalyzeResponse.error set         ->  ToolError (the analysis itself failed)

Server texts are cut to 256 characters before they reach a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from prophet_sre.config import K8sGPTSettings
from prophet_sre.domain import Finding
from prophet_sre.errors import ConfigError, Forbidden, NotFound, ToolError, ToolUnavailable
from prophet_sre.protos.k8sgpt import k8sgpt_pb2 as pb
from prophet_sre.protos.k8sgpt import k8sgpt_pb2_grpc as pb_grpc
from prophet_sre.tools.k8sgpt import convert

MAX_SERVER_MESSAGE = 256
PROBE_METHOD = "/schema.v1.ServerAnalyzerService/ProphetConnectivityProbe"
"""Deliberately not a real method: see `K8sGPTClient.ping`."""
_TEMPORARY = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                        grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED, grpc.StatusCode.CANCELLED})


@dataclass(frozen=True)
class K8sGPTAnalysis:
    """What one Analyze call returned, beyond the findings: K8sGPT's own verdict and its warnings."""

    findings: list[Finding] = field(default_factory=list)
    status: str = "OK"
    """`OK` or `ProblemDetected`, as the server said."""
    problems: int = 0
    """The server's count of error entries across all results."""
    warnings: list[str] = field(default_factory=list)
    """`AnalyzeResponse.errors`: e.g. a filter name that does not exist."""


def parse_address(address: str) -> tuple[str, bool]:
    """(`host:port`, use TLS) from `host:port`, `http://` or `grpc://` (plaintext), `tls://` or `https://`."""
    text = address.strip()
    tls = text.startswith(("tls://", "https://"))
    for prefix in ("tls://", "https://", "http://", "grpc://"):
        text = text.removeprefix(prefix)
    text = text.rstrip("/")
    if not text:
        raise ConfigError(f"k8sgpt.address {address!r}: expected host:port, e.g. k8sgpt.k8sgpt:8080")
    return text, tls


class K8sGPTClient:
    """One `k8sgpt serve` endpoint. Thread-safe (one gRPC channel, shared)."""

    def __init__(self, address: str, *, timeout_s: float = 60.0, connect_timeout_s: float = 2.0,
                 cluster: str = "", backend: str = "", channel: grpc.Channel | None = None) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.cluster = cluster
        """`ResourceRef.cluster` of every finding (the context name when several clusters are in play)."""
        self.backend = backend
        """AI backend name sent with each request; only matters with explain=True (empty: the server's)."""
        if channel is None:
            target, tls = parse_address(address)
            channel = (grpc.secure_channel(target, grpc.ssl_channel_credentials()) if tls
                       else grpc.insecure_channel(target))
        self._channel = channel
        self._analyzer = pb_grpc.ServerAnalyzerServiceStub(channel)
        self._config = pb_grpc.ServerConfigServiceStub(channel)
        self._probe = channel.unary_unary(PROBE_METHOD)

    @classmethod
    def from_settings(cls, settings: K8sGPTSettings, *, cluster: str = "") -> K8sGPTClient | None:
        """A client for `settings.address`, or None when no server is configured."""
        if not settings.address:
            return None
        return cls(settings.address, timeout_s=settings.timeout_s, connect_timeout_s=settings.connect_timeout_s,
                   cluster=cluster)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> K8sGPTClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls ------------------------------------------------------------------------------------------
    def ping(self) -> None:
        """Return once the server answers at all; ToolUnavailable after `connect_timeout_s` otherwise.

        The probe is a call to a method no server implements, sent with `wait_for_ready`: it waits for
        the connection (bounded by the connect timeout) and is answered UNIMPLEMENTED by the server's
        gRPC layer without running anything, unlike Analyze (a full analysis) or ListIntegrations
        (which may look at the cluster). `grpc.channel_ready_future` would do the waiting too, but it
        leaves a polling thread behind that fails when the channel is closed.
        """
        try:
            self._probe(b"", timeout=self.connect_timeout_s, wait_for_ready=True)
        except grpc.RpcError as e:
            code = e.code() if isinstance(e, grpc.Call) else grpc.StatusCode.UNKNOWN
            if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
                raise ToolUnavailable(f"k8sgpt serve at {self.address} did not accept a connection within "
                                      f"{self.connect_timeout_s:g}s; is it running (default port 8080)?",
                                      retry_after_s=self.connect_timeout_s) from e
            # any other answer (UNIMPLEMENTED, expected) came from a connected server

    def analysis(self, namespace: str = "", filters: Sequence[str] = (), label_selector: str = "",
                 explain: bool = False, *, anonymize: bool = False, nocache: bool = False, language: str = "",
                 max_concurrency: int = 0) -> K8sGPTAnalysis:
        """Run K8sGPT's analyzers (`filters` empty: its core set) over `namespace` (empty: all)."""
        request = pb.AnalyzeRequest(backend=self.backend, namespace=namespace, explain=explain,
                                    anonymize=anonymize, nocache=nocache, language=language,
                                    max_concurrency=max_concurrency, output="json", filters=list(filters),
                                    label_selector=label_selector)
        response: pb.AnalyzeResponse = self._call(self._analyzer.Analyze, request, "Analyze")
        if response.HasField("error") and (response.error.message or response.error.code):
            raise ToolError(f"k8sgpt serve at {self.address} could not analyze: "
                            f"{_cap(response.error.message) or 'no message'} (code {response.error.code})")
        findings = [f for r in response.results if (f := self._finding(r)) is not None]
        status = response.status or ("ProblemDetected" if findings else "OK")
        return K8sGPTAnalysis(findings=findings, status=status, problems=response.problems,
                              warnings=[_cap(w) for w in response.errors])

    def analyze(self, namespace: str = "", filters: Sequence[str] = (), label_selector: str = "",
                explain: bool = False) -> list[Finding]:
        """The findings of one analysis (see `analysis` for K8sGPT's status, problem count and warnings)."""
        return self.analysis(namespace, filters, label_selector, explain).findings

    def integrations(self) -> dict[str, Any]:
        """`ServerConfigService.ListIntegrations`: which integrations the server has on (only Trivy today)."""
        resp: pb.ListIntegrationsResponse = self._call(self._config.ListIntegrations,
                                                       pb.ListIntegrationsRequest(), "ListIntegrations")
        trivy = resp.trivy
        return {"trivy": {"enabled": trivy.enabled, "skip_install": trivy.skip_install,
                          "namespace": trivy.namespace}}

    def _call(self, method: Any, request: Any, name: str) -> Any:
        # Ping first: a refused port fails fast anyway, but a host that swallows packets would hold the
        # call until its (long) analysis deadline; the ping bounds that by the connect timeout.
        self.ping()
        try:
            return method(request, timeout=self.timeout_s)
        except grpc.RpcError as e:
            raise self._error(e, name) from e

    def _error(self, e: grpc.RpcError, method: str) -> ToolError:
        code = e.code() if isinstance(e, grpc.Call) else grpc.StatusCode.UNKNOWN
        details = _cap(e.details() or "") if isinstance(e, grpc.Call) else ""
        where = f"k8sgpt serve at {self.address} ({method})"
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return ToolUnavailable(f"{where} did not answer within {self.timeout_s:g}s; narrow the namespace "
                                   "or filters, or raise k8sgpt.timeout_s", retry_after_s=self.timeout_s)
        if code in _TEMPORARY:
            return ToolUnavailable(f"{where} is unavailable: {code.name}" + (f": {details}" if details else ""))
        if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
            return Forbidden(f"{where} refused the call: {code.name}" + (f": {details}" if details else ""))
        if code == grpc.StatusCode.NOT_FOUND:
            return NotFound(f"{where}: {details or 'not found'}")
        if code == grpc.StatusCode.UNIMPLEMENTED:
            return ToolError(f"{where} is not implemented there; is {self.address} really `k8sgpt serve`?")
        return ToolError(f"{where} failed: {code.name}" + (f": {details}" if details else ""))

    def _finding(self, r: pb.Result) -> Finding | None:
        return convert.to_finding(r.kind, r.name, [e.text for e in r.error], parent_object=r.parent_object,
                                  details=r.details, cluster=self.cluster)


def _cap(text: str) -> str:
    return text[:MAX_SERVER_MESSAGE]


__all__ = ["K8sGPTAnalysis", "K8sGPTClient", "MAX_SERVER_MESSAGE", "parse_address"]
