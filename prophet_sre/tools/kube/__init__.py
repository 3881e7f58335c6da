"""kube: Prophet's one access layer to Kubernetes API servers, and the read tools built on it.

Role: build clients from kubeconfig contexts or in-cluster config (`KubeClient`, `KubeClients`), send
typed requests (no shell, every call with a timeout) and translate every failure into
`prophet_sre.errors` in one place (`errors.py`); on top, the bounded read tools (`KubeReads`).
Limits: reads only - writes live in `tools/actions/`; objects are raw JSON dicts, read through the
safe accessors of `objects.py`; nothing here knows about the simulator.
"""

from prophet_sre.tools.kube.client import KubeClient, KubeClients, Page
from prophet_sre.tools.kube.errors import Op, retry_on_conflict
from prophet_sre.tools.kube.kinds import ResourceKind
from prophet_sre.tools.kube.reads import KubeReads, to_ref
from prophet_sre.tools.kube.transport import ApiClientTransport, FunctionTransport, RawResponse, Transport

__all__ = [
    "ApiClientTransport", "FunctionTransport", "KubeClient", "KubeClients", "KubeReads", "Op", "Page",
    "RawResponse", "ResourceKind", "Transport", "retry_on_conflict", "to_ref",
]
