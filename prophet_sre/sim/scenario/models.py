"""The scenario document (SCENARIOS.md, format v1) as strict pydantic models.

Every model forbids unknown fields and every closed set is an enum or a `Literal`, so a typo is an
error that names the field and lists what is allowed (the loader formats pydantic's errors that way).
Checks that need more than one field (the scenario's category against its expected diagnosis, a
question trigger without a question) live in validators here; checks that need the setup manifests
(does this target exist?) live in `references.py`.

The format is a public contract: fields may be added (optional, with a default) but never renamed
or removed. Fields added beyond SCENARIOS.md are marked "extension" below.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from prophet_sre.domain import Category
from prophet_sre.sim.scenario.checks import Check
from prophet_sre.sim.scenario.fault_specs import Duration, Fault, Spec
from prophet_sre.sim.scenario.refs import LABEL_RE, NsName, Ref

API_VERSION = "prophet.io/v1"
KEBAB_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
TAG_RE = re.compile(r"^[a-z][a-z0-9_-]*$")

ACTION_TYPES = ("restart", "scale", "rollback", "delete_pod", "set_resources", "patch", "recreate", "cordon",
                "uncordon", "drain", "quarantine", "adjust_hpa", "scale_nodes", "failover", "escalate")
"""The `Action` variants of DESIGN.md §4 (what `expect.actions` entries may name)."""
ActionType = Literal["restart", "scale", "rollback", "delete_pod", "set_resources", "patch", "recreate", "cordon",
                     "uncordon", "drain", "quarantine", "adjust_hpa", "scale_nodes", "failover", "escalate"]

def _label(value: str, what: str) -> str:
    if not LABEL_RE.match(value):
        raise ValueError(f"{what} {value!r} is not a DNS label (lower-case letters, digits, '-')")
    return value


ClusterName = Annotated[str, Field(min_length=1, max_length=63)]


class SetupItem(Spec):
    """Kubernetes objects created before the faults: a manifest file or inline YAML documents."""

    file: str | None = Field(default=None, min_length=1)
    """Relative to the scenario file."""
    inline: str | None = None
    clusters: list[ClusterName] | None = None
    """Extension: the clusters to create these objects in (default: the scenario's first cluster)."""

    @model_validator(mode="after")
    def _one_source(self) -> SetupItem:
        if (self.file is None) == (self.inline is None):
            raise ValueError("a setup entry needs exactly one of: file, inline")
        for c in self.clusters or ():
            _label(c, "cluster name")
        return self


class TrafficEdge(Spec):
    """Who calls whom and how much: `{from: shop/frontend, to: shop/backend, rps: 50}`.

    Ends are `NS/NAME` (a Service or workload of that name) or `NS/KIND/NAME` (KIND one of service,
    deployment, statefulset, daemonset, pod), optionally prefixed `CLUSTER:` - the traffic model's forms.
    """

    from_: str = Field(alias="from")
    to: str
    rps: float = Field(ge=0)
    method: str = Field(default="GET", pattern=r"^[A-Za-z]+$")
    path: str = Field(default="/", pattern=r"^/")
    port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("from_", "to")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        traffic_end(v)
        return v

    def ends(self) -> tuple[Ref, Ref]:
        return traffic_end(self.from_), traffic_end(self.to)


TRAFFIC_KINDS = {"service": "service", "services": "service", "svc": "service", "deployment": "deployment",
                 "deployments": "deployment", "deploy": "deployment", "statefulset": "statefulset",
                 "statefulsets": "statefulset", "sts": "statefulset", "daemonset": "daemonset",
                 "daemonsets": "daemonset", "ds": "daemonset", "pod": "pod", "pods": "pod", "po": "pod"}


def traffic_end(text: str) -> Ref:
    """`shop/backend` -> Ref(kind "*"), `shop/svc/backend` -> Ref(kind "service"): one end of an edge."""
    if text.count("/") == 1:
        ns_name = NsName.parse(text)
        return Ref(ns_name.cluster, ns_name.namespace, "*", ns_name.name)
    if text.count("/") != 2:
        raise ValueError(f"{text!r} is not a traffic end; expected NS/NAME or NS/KIND/NAME (optionally CLUSTER:)")
    ref = Ref.parse(text)
    kind = TRAFFIC_KINDS.get(ref.kind)
    if kind is None:
        raise ValueError(f"kind {ref.kind!r} in {text!r} cannot send or receive traffic; allowed: service, "
                         "deployment, statefulset, daemonset, pod")
    return Ref(ref.cluster, ref.namespace, kind, ref.name)


class Trigger(Spec):
    """What starts Prophet in an eval run."""

    type: Literal["anomaly", "event", "k8sgpt", "hubble", "question"]
    anomalyScoreThreshold: float | None = Field(default=None, ge=0, le=1)
    """type anomaly: fire when the anomaly score reaches this (default: the harness's, 0.8)."""
    query: str | None = Field(default=None, min_length=1)
    """Extension, type anomaly: the PromQL series the anomaly score is computed on."""
    question: str | None = Field(default=None, min_length=1)
    """type question: what the user asks."""
    eventReasons: list[Annotated[str, Field(min_length=1)]] | None = None
    """type event: the Event reasons that trigger (e.g. [OOMKilling, BackOff])."""
    analyzers: list[Annotated[str, Field(min_length=1)]] | None = None
    """Extension, type k8sgpt: the K8sGPT analyzers whose results trigger (e.g. [Pod, Service])."""
    verdicts: list[Literal["DROPPED", "ERROR", "AUDIT", "REDIRECTED", "TRACED", "TRANSLATED"]] | None = None
    """Extension, type hubble: the flow verdicts that trigger (default: DROPPED)."""

    @model_validator(mode="after")
    def _fields_for_type(self) -> Trigger:
        owners = {"anomalyScoreThreshold": "anomaly", "query": "anomaly", "question": "question",
                  "eventReasons": "event", "analyzers": "k8sgpt", "verdicts": "hubble"}
        for name, owner in owners.items():
            if getattr(self, name) is not None and self.type != owner:
                raise ValueError(f"{name} belongs to type: {owner}, not type: {self.type}")
        if self.type == "question" and not self.question:
            raise ValueError("type: question needs a question")
        return self


class DiagnosisExpect(Spec):
    """The diagnosis that is right."""

    category: Category
    root_cause: Ref | None = None
    mentions: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    """Words the summary must contain (case-insensitive)."""


class ActionMatch(Spec):
    """Matches an executed action when every field it gives matches."""

    type: ActionType | None = None
    target: Ref | None = None
    namespace: str | None = None

    @model_validator(mode="after")
    def _something(self) -> ActionMatch:
        if self.type is None and self.target is None and self.namespace is None:
            raise ValueError("an action match needs at least one of: type, target, namespace")
        if self.namespace is not None:
            _label(self.namespace, "namespace")
        return self


class ActionsExpect(Spec):
    """`any_of` (at least one executed) and `forbidden` (none executed); or `none: true` (no writes)."""

    any_of: list[ActionMatch] = Field(default_factory=list)
    forbidden: list[ActionMatch] = Field(default_factory=list)
    none: bool = False

    @model_validator(mode="after")
    def _none_alone(self) -> ActionsExpect:
        if self.none and self.any_of:
            raise ValueError("none: true means no write action at all; it cannot have any_of")
        return self


class Expect(Spec):
    """How a run is scored."""

    diagnosis: DiagnosisExpect | None = None
    actions: ActionsExpect | None = None
    recovered: list[Check] = Field(default_factory=list)
    within: Duration | None = None
    """Sim time from the first fault to recovery."""
    answer_mentions: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    """For type: question - words the answer must contain."""


class Scenario(Spec):
    """One scenario file."""

    apiVersion: Literal["prophet.io/v1"]
    kind: Literal["Scenario"]
    id: str = Field(min_length=1, max_length=63)
    title: str = Field(min_length=1)
    category: Category
    tags: list[str] = Field(default_factory=list)
    clusters: list[ClusterName] = Field(default_factory=lambda: ["main"], min_length=1)
    setup: list[SetupItem] = Field(default_factory=list)
    images: dict[Annotated[str, Field(min_length=1)], dict[str, Any]] = Field(default_factory=dict)
    """Image reference -> behaviour, merged over the built-in catalog (validated by `images.py`)."""
    traffic: list[TrafficEdge] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)
    trigger: Trigger | None = None
    mode: Literal["autonomous", "human-in-loop", "dry-run"] = "autonomous"
    expect: Expect = Field(default_factory=Expect)

    @field_validator("id")
    @classmethod
    def _kebab(cls, v: str) -> str:
        if not KEBAB_RE.match(v):
            raise ValueError(f"id {v!r} is not kebab-case (lower-case words joined by '-', e.g. backend-memory-leak)")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        for t in v:
            if not TAG_RE.match(t):
                raise ValueError(f"tag {t!r} must be lower-case letters, digits, '_' or '-' (it is a pytest marker)")
        if len(set(v)) != len(v):
            raise ValueError("tags repeat")
        return v

    @field_validator("clusters")
    @classmethod
    def _clusters(cls, v: list[str]) -> list[str]:
        for c in v:
            _label(c, "cluster name")
        if len(set(v)) != len(v):
            raise ValueError("cluster names repeat")
        return v

    @property
    def default_cluster(self) -> str:
        return self.clusters[0]

    def first_fault_at(self) -> float | None:
        """Sim seconds (after the scenario starts) of the earliest fault, for MTTR."""
        return min((f.at for f in self.faults), default=None)


__all__ = ["ACTION_TYPES", "API_VERSION", "TRAFFIC_KINDS", "ActionMatch", "ActionsExpect", "DiagnosisExpect", "Expect",
           "Scenario", "SetupItem", "TrafficEdge", "Trigger", "traffic_end"]
