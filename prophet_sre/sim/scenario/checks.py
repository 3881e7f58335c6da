"""The check forms of `expect.recovered` (SCENARIOS.md, "Checks"): one model per form.

A check is a mapping whose *form key* (`deployment`, `pods`, `metric`, ...) says what it checks; the
discriminator picks the model by that key, so an error inside a check lists only that form's fields.
Evaluating checks against a cluster is the eval harness's job; this module only says what is valid.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from prophet_sre.sim.scenario.fault_specs import Spec
from prophet_sre.sim.scenario.refs import ApiPath, Namespace, NsName


class DeploymentCheck(Spec):
    """Every desired replica is updated, ready and available."""

    deployment: NsName
    available: bool = True


class StatefulSetCheck(Spec):
    """All replicas ready."""

    statefulset: NsName
    ready: bool = True


class DaemonSetCheck(Spec):
    """All scheduled pods ready."""

    daemonset: NsName
    ready: bool = True


class PodCheck(Spec):
    """The pod is Running and Ready."""

    pod: NsName
    ready: bool = True


class PodsCheck(Spec):
    """`ready` pods (or `all`) matching the label selector in the namespace are ready."""

    pods: Namespace
    selector: str = Field(min_length=1)
    ready: Annotated[int, Field(ge=0)] | Literal["all"]


class ServiceCheck(Spec):
    """The Service has at least one ready endpoint."""

    service: NsName
    has_endpoints: bool = True


class PvcCheck(Spec):
    """The claim has that phase."""

    pvc: NsName
    phase: Literal["Pending", "Bound", "Lost"]


class NoPodReasonCheck(Spec):
    """No pod in the namespace shows that waiting/terminated reason since `since`."""

    no_pod_reason: str = Field(min_length=1)
    namespace: Namespace
    since: Literal["remediation", "start"] = "remediation"
    """`remediation`: after the first action; `start`: at any time after the first fault."""


class MetricCheck(Spec):
    """A PromQL query on the sim's metrics is below and/or above a bound."""

    metric: str = Field(min_length=1)
    below: float | None = None
    above: float | None = None

    @model_validator(mode="after")
    def _bound(self) -> MetricCheck:
        if self.below is None and self.above is None:
            raise ValueError("a metric check needs below: X or above: X")
        return self


class ObjectCheck(Spec):
    """A field of any object (selected by a kubectl-style JSONPath) equals a value."""

    object: ApiPath
    jsonpath: str = Field(min_length=1)
    equals: Any


class UnchangedCheck(Spec):
    """The object's spec is what setup left (do-nothing scenarios)."""

    unchanged: ApiPath


CHECK_FORMS: dict[str, type[Spec]] = {
    "deployment": DeploymentCheck, "statefulset": StatefulSetCheck, "daemonset": DaemonSetCheck,
    "pod": PodCheck, "pods": PodsCheck, "service": ServiceCheck, "pvc": PvcCheck,
    "no_pod_reason": NoPodReasonCheck, "metric": MetricCheck, "object": ObjectCheck, "unchanged": UnchangedCheck,
}
"""Form key -> model, in the table's order."""

FORMS_TEXT = ", ".join(CHECK_FORMS)


def _form(value: Any) -> str | None:
    if isinstance(value, Spec):
        return next((k for k, m in CHECK_FORMS.items() if isinstance(value, m)), None)
    if not isinstance(value, dict):
        return None
    keys = [k for k in CHECK_FORMS if k in value]
    return keys[0] if len(keys) == 1 else None


Check = Annotated[
    Annotated[DeploymentCheck, Tag("deployment")] | Annotated[StatefulSetCheck, Tag("statefulset")]
    | Annotated[DaemonSetCheck, Tag("daemonset")] | Annotated[PodCheck, Tag("pod")]
    | Annotated[PodsCheck, Tag("pods")] | Annotated[ServiceCheck, Tag("service")] | Annotated[PvcCheck, Tag("pvc")]
    | Annotated[NoPodReasonCheck, Tag("no_pod_reason")] | Annotated[MetricCheck, Tag("metric")]
    | Annotated[ObjectCheck, Tag("object")] | Annotated[UnchangedCheck, Tag("unchanged")],
    Discriminator(_form, custom_error_type="check_form",
                  custom_error_message=f"a check is a mapping with exactly one form key; allowed: {FORMS_TEXT}"),
]
"""One `expect.recovered` entry."""


def check_form(check: Spec) -> str:
    """The form key of a parsed check (`deployment`, `pods`, ...)."""
    form = _form(check)
    assert form is not None
    return form


__all__ = [
    "CHECK_FORMS", "Check", "DaemonSetCheck", "DeploymentCheck", "MetricCheck", "NoPodReasonCheck", "ObjectCheck",
    "PodCheck", "PodsCheck", "PvcCheck", "ServiceCheck", "StatefulSetCheck", "UnchangedCheck", "check_form",
]
