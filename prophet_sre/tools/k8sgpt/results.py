"""The K8sGPT operator's `Result` objects (`results.core.k8sgpt.ai/v1alpha1`), read through the kube layer.

Why read them: where the operator runs, it already calls `k8sgpt serve` on a schedule and stores each
problem as a `Result` in the namespace of its `K8sGPT` resource, so listing them is free (no analysis
run) and they carry `parentObject`, which the gRPC answer loses. They are as fresh as the operator's
last run (`spec.analysis.interval`), and label selectors cannot be applied to them: a `Result` knows its
target's kind and name, not its labels.

Shape (protocols.md §2.5): `spec{kind, name, error[]{text, sensitive[]}, details, parentObject, backend}`,
`status{lifecycle, webhook, contentHash}`; the object is named after `spec.name` without `-` and `/`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prophet_sre.domain import Finding
from prophet_sre.errors import NotFound
from prophet_sre.tools.k8sgpt import convert
from prophet_sre.tools.kube import objects
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.kinds import ResourceKind

RESULT_KIND = ResourceKind("core.k8sgpt.ai", "v1alpha1", "results", "Result", True, (), "result")
"""Fixed rather than discovered: the operator has served only v1alpha1, and a fixed kind lets us tell
"CRD not installed" (404 on the list) from any other failure without a discovery round trip."""


class ResultReader:
    """Lists `Result` objects (in `namespace`, or all namespaces) and maps them to findings."""

    def __init__(self, kube: KubeClient, namespace: str | None = None) -> None:
        self.kube = kube
        self.namespace = namespace

    def served(self) -> bool:
        """Whether the API server serves the Result CRD (one list call of one item). Forbidden propagates:
        a CRD we may not read is a permission to grant, not a missing feature."""
        try:
            next(self.kube.pages(RESULT_KIND, self.namespace, page_size=1), None)
        except NotFound:
            return False
        return True

    def objects(self) -> list[dict[str, Any]]:
        """The raw Result objects; NotFound (with what to install) when the CRD is not served."""
        try:
            return self.kube.list(RESULT_KIND, self.namespace)
        except NotFound as e:
            raise NotFound("the K8sGPT operator's Result CRD (results.core.k8sgpt.ai/v1alpha1) is not served "
                           "here; install the k8sgpt-operator or configure k8sgpt.address") from e

    def findings(self, namespace: str | None = None, filters: Sequence[str] = ()) -> list[Finding]:
        """Findings for targets in `namespace` (None: all) whose analyzer is in `filters` (empty: any)."""
        out = []
        for obj in self.objects():
            f = to_finding(obj, cluster=self.kube.cluster)
            if f is not None and convert.keep(f, namespace, filters):
                out.append(f)
        return out


def to_finding(obj: dict[str, Any], *, cluster: str = "") -> Finding | None:
    """One Result object as a Finding (None when it records no error)."""
    spec = objects.mapping(obj.get("spec"))
    texts = [objects.text(e.get("text")) for e in objects.items(spec.get("error"))]
    evidence: dict[str, Any] = {"result": f"{objects.namespace(obj)}/{objects.name(obj)}"}
    for key, value in (("backend", spec.get("backend")),
                       ("lifecycle", objects.dig(obj, "status", "lifecycle"))):
        if objects.text(value):
            evidence[key] = objects.text(value)
    return convert.to_finding(objects.text(spec.get("kind")), objects.text(spec.get("name")), texts,
                              parent_object=objects.text(spec.get("parentObject")),
                              details=objects.text(spec.get("details")), cluster=cluster, evidence=evidence)


__all__ = ["RESULT_KIND", "ResultReader", "to_finding"]
