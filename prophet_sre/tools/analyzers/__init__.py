"""analyzers: our own K8sGPT-compatible analyzers over raw Kubernetes objects.

Role: find what is broken in a cluster and say it in K8sGPT's exact words, so findings read the same
whether they came from `k8sgpt` or from us (and we are the fallback when K8sGPT is not installed).
`REGISTRY` maps K8sGPT's analyzer names (which are also the filter names) to `Analyzer` declarations;
`Analysis` runs a selection over one shared snapshot. Limits: read-only; no AI explanation; the
integration analyzers (Gateway API, OLM, Kyverno, Trivy ...) are not implemented.
"""

from prophet_sre.tools.analyzers import admission, autoscaling, batch, cluster, log, network, pod, workloads
from prophet_sre.tools.analyzers.base import Analyzer, Snapshot
from prophet_sre.tools.analyzers.runner import Analysis, AnalysisResult
from prophet_sre.tools.analyzers.snapshot import ClusterSnapshot, MemorySnapshot

_BY_NAME = {a.name: a for a in (pod.ANALYZER, *workloads.ANALYZERS, *batch.ANALYZERS, *network.ANALYZERS,
                                *cluster.ANALYZERS, *admission.ANALYZERS, *autoscaling.ANALYZERS, *log.ANALYZERS)}
CORE = ("Pod", "DaemonSet", "Deployment", "ReplicaSet", "PersistentVolumeClaim", "Service", "Ingress", "StatefulSet",
        "Job", "CronJob", "Node", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ConfigMap")
"""K8sGPT's core analyzers, in its order: what runs when no filter is given."""
OPTIONAL = ("HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Log")
REGISTRY: dict[str, Analyzer] = {name: _BY_NAME[name] for name in CORE + OPTIONAL}

__all__ = ["CORE", "OPTIONAL", "REGISTRY", "Analysis", "AnalysisResult", "Analyzer", "ClusterSnapshot",
           "MemorySnapshot", "Snapshot"]
