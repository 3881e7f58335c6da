"""Prophet's domain contracts (DESIGN.md §4), shared by tools, agents, MCP server, operator and evals.

Everything that crosses a boundary is a pydantic v2 model defined here: `ResourceRef` names a thing,
`Finding` is one piece of evidence, `Diagnosis` the root cause, `Action` a typed remediation step (a
discriminated union: an LLM or a runbook can only ever produce one of these shapes), `Plan` a list of
actions with verification checks, `Verdict` the safety critic's decision, `AuditRecord` one line of
the hash-chained audit log. Behaviour (executing an action, computing its inverse against the live
cluster) lives in `tools/actions/`; this module is data only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Category(StrEnum):
    """What kind of problem a diagnosis names; the scenario's `category` is the right answer.

    A closed set: scenario files and the diagnoser's structured output are validated against it, so a
    new category is a change here (and in the runbooks that cover it), never a free-form string.
    """

    OOM = "oom"
    CRASHLOOP = "crashloop"
    IMAGE_PULL = "image_pull"
    BAD_ROLLOUT = "bad_rollout"
    UNSCHEDULABLE = "unschedulable"
    PROBE_MISCONFIG = "probe_misconfig"
    SERVICE_SELECTOR = "service_selector"
    PVC_PENDING = "pvc_pending"
    CONFIG_MISSING = "config_missing"
    RESOURCE_EXHAUSTION = "resource_exhaustion"
    QUOTA = "quota"
    NODE_FAILURE = "node_failure"
    DNS = "dns"
    NETWORK_THREAT = "network_threat"
    CLUSTER_DEGRADED = "cluster_degraded"
    RBAC = "rbac"
    UNKNOWN = "unknown"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class FindingSource(StrEnum):
    ANALYZER = "analyzer"
    K8SGPT = "k8sgpt"
    PROMETHEUS = "prometheus"
    HUBBLE = "hubble"
    EVENT = "event"
    CAPI = "capi"


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


_REF = re.compile(r"^(?:(?P<cluster>[^:/]+):)?(?P<ns>[^/]*)/(?P<kind>[^/]+)/(?P<name>[^/]+)$")


class ResourceRef(BaseModel):
    """One way to name a thing everywhere: `NS/KIND/NAME`, `CLUSTER:NS/KIND/NAME`, `/node/NAME`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster: str = ""
    kind: str
    namespace: str = ""
    name: str

    @classmethod
    def parse(cls, text: str) -> ResourceRef:
        """Parse the scenario/CLI form; kinds are case-insensitive (`deployment` == `Deployment`)."""
        m = _REF.match(text.strip())
        if not m:
            raise ValueError(f"not a resource reference: {text!r} (expected NS/KIND/NAME, CLUSTER:NS/KIND/NAME "
                             "or /node/NAME)")
        return cls(cluster=m["cluster"] or "", kind=canonical_kind(m["kind"]), namespace=m["ns"], name=m["name"])

    def __str__(self) -> str:
        base = f"{self.namespace}/{self.kind.lower()}/{self.name}"
        return f"{self.cluster}:{base}" if self.cluster else base

    def same_object(self, other: ResourceRef) -> bool:
        """Equal ignoring case of the kind and an unset cluster on either side."""
        return (self.kind.lower() == other.kind.lower() and self.name == other.name
                and self.namespace == other.namespace
                and (not self.cluster or not other.cluster or self.cluster == other.cluster))


_KINDS = {k.lower(): k for k in (
    "Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "Service", "Endpoints",
    "ConfigMap", "Secret", "Node", "Namespace", "PersistentVolumeClaim", "PersistentVolume", "StorageClass",
    "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Ingress", "ServiceAccount", "Role",
    "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ResourceQuota", "LimitRange", "Event",
    "CiliumNetworkPolicy", "Cluster", "MachineDeployment", "Machine", "HTTPRoute", "AutonomousAction",
)}
_KINDS.update({"deploy": "Deployment", "po": "Pod", "svc": "Service", "pvc": "PersistentVolumeClaim",
               "hpa": "HorizontalPodAutoscaler", "sts": "StatefulSet", "ds": "DaemonSet", "cm": "ConfigMap",
               "rs": "ReplicaSet", "md": "MachineDeployment", "no": "Node", "ns": "Namespace"})


def canonical_kind(kind: str) -> str:
    return _KINDS.get(kind.lower(), kind[:1].upper() + kind[1:])


def known_kind(kind: str) -> str | None:
    """The canonical kind of a name or short name Prophet knows (`deploy` -> `Deployment`), else None."""
    return _KINDS.get(kind.lower())


class Finding(BaseModel):
    """One piece of evidence: what a tool saw wrong about one object, in the source's own words."""

    model_config = ConfigDict(extra="forbid")

    source: FindingSource
    ref: ResourceRef
    errors: list[str] = Field(default_factory=list)
    severity: Severity = Severity.ERROR
    evidence: dict[str, Any] = Field(default_factory=dict)
    parent: ResourceRef | None = None
    analyzer: str = ""
    """Which analyzer or signal produced it (K8sGPT's analyzer name, a PromQL signal, a detector)."""


class Diagnosis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Category
    summary: str
    root_cause: ResourceRef | None = None
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    evidence: list[Finding] = Field(default_factory=list)
    runbook_ids: list[str] = Field(default_factory=list)


# -- actions ---------------------------------------------------------------------------------------------
class _ActionBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: ResourceRef
    risk: Risk = Risk.LOW
    reason: str = ""


class RestartAction(_ActionBase):
    """`kubectl rollout restart` of a Deployment, StatefulSet or DaemonSet."""

    type: Literal["restart"] = "restart"


class ScaleAction(_ActionBase):
    type: Literal["scale"] = "scale"
    replicas: int = Field(ge=0, le=10_000)


class RollbackAction(_ActionBase):
    """`kubectl rollout undo` semantics: the previous revision, or `to_revision`."""

    type: Literal["rollback"] = "rollback"
    to_revision: int | None = Field(default=None, ge=1)


class DeletePodAction(_ActionBase):
    type: Literal["delete_pod"] = "delete_pod"
    grace_period_s: int | None = Field(default=None, ge=0)


class SetResourcesAction(_ActionBase):
    type: Literal["set_resources"] = "set_resources"
    container: str = ""
    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)


class PatchAction(_ActionBase):
    """A JSON Patch (RFC 6902) on one object: the long tail (selectors, probes, node selectors, images)."""

    type: Literal["patch"] = "patch"
    patch: list[dict[str, Any]] = Field(min_length=1)


class RecreateAction(_ActionBase):
    """Delete and create again with a corrected manifest (immutable fields such as a PVC's class)."""

    type: Literal["recreate"] = "recreate"
    manifest: dict[str, Any]


class CordonAction(_ActionBase):
    type: Literal["cordon"] = "cordon"


class UncordonAction(_ActionBase):
    type: Literal["uncordon"] = "uncordon"


class DrainAction(_ActionBase):
    type: Literal["drain"] = "drain"
    ignore_daemonsets: bool = True
    delete_emptydir_data: bool = False
    timeout_s: int = Field(default=120, ge=1, le=3600)


class QuarantineAction(_ActionBase):
    """Isolate pods (target: a Pod, or a workload whose pods all get isolated) with a network policy."""

    type: Literal["quarantine"] = "quarantine"
    mode: Literal["auto", "cilium", "networkpolicy"] = "auto"
    label: str = "prophet.io/quarantine"
    release: bool = False
    """[actions] True: undo a quarantine (remove the label; the policy goes once no pod carries it). This is
    the inverse of a quarantine, which no other variant can express (it deletes the policy)."""


class AdjustHPAAction(_ActionBase):
    type: Literal["adjust_hpa"] = "adjust_hpa"
    min_replicas: int | None = Field(default=None, ge=1)
    max_replicas: int | None = Field(default=None, ge=1)
    target_cpu_percent: int | None = Field(default=None, ge=1, le=1000)


class ScaleNodesAction(_ActionBase):
    """Scale a Cluster API MachineDeployment (adds or removes nodes of a workload cluster)."""

    type: Literal["scale_nodes"] = "scale_nodes"
    replicas: int = Field(ge=0, le=1000)


class FailoverAction(_ActionBase):
    """Shift traffic between clusters: new per-cluster weights of the global traffic object."""

    type: Literal["failover"] = "failover"
    weights: dict[str, int]

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, int]) -> dict[str, int]:
        if not v or any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError("weights must be non-negative and not all zero")
        return v


class EscalateAction(_ActionBase):
    """Hand the incident to a human; never a write."""

    type: Literal["escalate"] = "escalate"
    message: str = ""


Action = Annotated[
    RestartAction | ScaleAction | RollbackAction | DeletePodAction | SetResourcesAction | PatchAction
    | RecreateAction | CordonAction | UncordonAction | DrainAction | QuarantineAction | AdjustHPAAction
    | ScaleNodesAction | FailoverAction | EscalateAction,
    Field(discriminator="type"),
]
ACTION_TYPES: tuple[str, ...] = (
    "restart", "scale", "rollback", "delete_pod", "set_resources", "patch", "recreate", "cordon", "uncordon",
    "drain", "quarantine", "adjust_hpa", "scale_nodes", "failover", "escalate",
)


class Check(BaseModel):
    """A verification check of a plan (same forms as a scenario's `expect.recovered`)."""

    model_config = ConfigDict(extra="allow")

    kind: str
    """deployment | statefulset | daemonset | pod | pods | service | pvc | no_pod_reason | metric | object"""
    target: str = ""
    expect: dict[str, Any] = Field(default_factory=dict)


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actions: list[Action] = Field(default_factory=list)
    rationale: str = ""
    runbook_ids: list[str] = Field(default_factory=list)
    expected_outcome: str = ""
    verification: list[Check] = Field(default_factory=list)


class RuleResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str
    passed: bool
    detail: str = ""
    action_index: int | None = None


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "needs_approval", "reject"]
    reasons: list[RuleResult] = Field(default_factory=list)
    dry_run_diff: str = ""


class AuditRecord(BaseModel):
    """One line of the append-only, hash-chained audit log."""

    model_config = ConfigDict(extra="forbid")

    id: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    actor: str = "prophet"
    event: str = "decision"
    """intent | decision | approval | execution | verification | rollback | report"""
    incident_id: str = ""
    trigger: dict[str, Any] = Field(default_factory=dict)
    diagnosis: Diagnosis | None = None
    plan: Plan | None = None
    verdict: Verdict | None = None
    approval: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    prev_hash: str = ""
    hash: str = ""


__all__ = [
    "ACTION_TYPES", "Action", "AdjustHPAAction", "AuditRecord", "Category", "Check", "CordonAction",
    "DeletePodAction", "Diagnosis", "DrainAction", "EscalateAction", "FailoverAction", "Finding", "FindingSource",
    "PatchAction", "Plan", "QuarantineAction", "RecreateAction", "ResourceRef", "RestartAction", "Risk",
    "RollbackAction", "RuleResult", "ScaleAction", "ScaleNodesAction", "SetResourcesAction", "Severity",
    "UncordonAction", "Verdict", "canonical_kind", "known_kind",
]
