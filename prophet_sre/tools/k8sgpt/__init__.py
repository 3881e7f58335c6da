"""k8sgpt: K8sGPT's findings, from `k8sgpt serve` (gRPC) or from the K8sGPT operator's `Result` objects.

Role: `K8sGPTClient` calls `schema.v1.ServerAnalyzerService/Analyze`; `ResultReader` lists
`results.core.k8sgpt.ai` through the kube layer; both produce `Finding(source=k8sgpt)` through one
mapping (`convert`); `K8sGPTSource` is the `FindingSource` that prefers the server, then the Result
objects, else reports itself unavailable so the caller falls back to our analyzers.
Limits: read-only (no AddConfig/RemoveConfig/Shutdown, no AI explanations by default); grpc errors
never leave this package; nothing here knows about the simulator.
"""

from prophet_sre.tools.k8sgpt.client import K8sGPTAnalysis, K8sGPTClient
from prophet_sre.tools.k8sgpt.results import RESULT_KIND, ResultReader
from prophet_sre.tools.k8sgpt.source import K8sGPTSource

__all__ = ["RESULT_KIND", "K8sGPTAnalysis", "K8sGPTClient", "K8sGPTSource", "ResultReader"]
