"""The state of one incident as it moves through the remediation (or query) graph.

One typed object, checkpointed after every node: everything needed to resume a paused incident in
another process lives here, and nothing else does. Runtime dependencies (clients, the policy, the audit
log, a chat model) are *not* state: they come from `graphs.context.Deps` on every invocation, so a
checkpoint never holds a live connection or a secret.

Lists that several nodes extend (`steps`, `notes`) use an `operator.add` reducer: a node returns only
what it adds.
"""

from __future__ import annotations

import operator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prophet_sre.domain import Action, Check, Diagnosis, Finding, Plan, ResourceRef, Verdict
from prophet_sre.tools.actions.results import DryRunResult, ExecutionResult

ApprovalMode = Literal["autonomous", "human-in-loop", "dry-run"]
APPROVAL_MODES: tuple[str, ...] = ("autonomous", "human-in-loop", "dry-run")
TriggerType = Literal["anomaly", "event", "k8sgpt", "hubble", "schedule", "question", "manual"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Trigger(BaseModel):
    """What started the incident: a detector's signal, an event, a question, or a person."""

    model_config = ConfigDict(extra="forbid")

    type: TriggerType = "manual"
    reason: str = ""
    """One line a human reads: `anomaly score 0.93 on shop/deployment/frontend 5xx rate`."""
    namespace: str | None = None
    """Scope of the investigation; None: every namespace."""
    target: ResourceRef | None = None
    """The object the trigger points at, when it points at one."""
    question: str = ""
    """For `type: question` (the query graph)."""
    findings: list[Finding] = Field(default_factory=list)
    """The findings that fired the trigger (they seed the diagnosis)."""
    details: dict[str, Any] = Field(default_factory=dict)


class Outcome(StrEnum):
    """How an incident ended (or where it waits)."""

    RESOLVED = "resolved"  # executed and every verification check passed
    ROLLED_BACK = "rolled_back"  # executed, verification failed, inverse actions applied
    FAILED = "failed"  # an action failed, or verification failed and nothing could be undone
    REJECTED = "rejected"  # the critic vetoed the plan
    DECLINED = "declined"  # a human rejected it
    DRY_RUN = "dry_run"  # dry-run mode: everything but execute
    ESCALATED = "escalated"  # the plan was only an escalation: a human takes over
    NO_ACTION = "no_action"  # nothing wrong enough to act on
    PENDING_APPROVAL = "pending_approval"
    ANSWERED = "answered"  # query graph


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approved: bool
    by: str = "unknown"
    reason: str = ""
    at: datetime = Field(default_factory=utcnow)


class Step(BaseModel):
    """One node's contribution, for the live view, `prophet incidents ID` and the eval's step count."""

    model_config = ConfigDict(extra="forbid")

    node: str
    summary: str
    ms: float = 0.0
    at: datetime = Field(default_factory=utcnow)


class RunbookHit(BaseModel):
    """A runbook retrieved for the diagnosis, with its actions rendered for this incident's target."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str = ""
    score: float = 0.0
    actions: list[Action] = Field(default_factory=list)
    verification: list[Check] = Field(default_factory=list)


class MemoryHint(BaseModel):
    """What happened when an action was taken for a similar past incident."""

    model_config = ConfigDict(extra="forbid")

    incident_id: str
    similarity: float = Field(ge=0.0, le=1.0)
    action_type: str
    target: ResourceRef | None = None
    outcome: Literal["fixed", "failed", "rolled_back"]


class ExecutionRecord(BaseModel):
    """One executed (or rolled back) action: what was asked, what happened, how to undo it."""

    model_config = ConfigDict(extra="forbid")

    index: int
    action: Action
    result: ExecutionResult
    inverse: Action | None = None


class CheckResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: Check
    ok: bool
    detail: str = ""
    skipped: bool = False
    """True when the check could not be evaluated here (a metric check without Prometheus): it neither
    passes nor fails the verification, and the detail says why."""


class IncidentState(BaseModel):
    """Everything the graph knows about one incident."""

    model_config = ConfigDict(extra="forbid")

    incident_id: str
    trigger: Trigger = Field(default_factory=Trigger)
    mode: ApprovalMode = "dry-run"
    policy: dict[str, Any] | None = None
    """The `AutonomousAction` spec (as written, camelCase) the incident was opened under: an approval,
    whichever process gives it, re-checks the plan under this policy (and never a looser one)."""
    findings: list[Finding] = Field(default_factory=list)
    notes: Annotated[list[str], operator.add] = Field(default_factory=list)
    """Degradations and warnings (a source that was down, an LLM that failed and was replaced)."""
    diagnosis: Diagnosis | None = None
    looks: int = 0
    """How many times the evidence was gathered (more than once when the first diagnosis was unsure)."""
    runbooks: list[RunbookHit] = Field(default_factory=list)
    memory: list[MemoryHint] = Field(default_factory=list)
    plan: Plan | None = None
    candidates: list[Action] = Field(default_factory=list)
    """The actions the deterministic planner (rules and runbooks) chose, before any LLM proposal: an
    action an LLM added beyond these always waits for a human."""
    verdict: Verdict | None = None
    dry_runs: list[DryRunResult] = Field(default_factory=list)
    approval: Approval | None = None
    executions: list[ExecutionRecord] = Field(default_factory=list)
    verification: list[CheckResult] = Field(default_factory=list)
    rollbacks: list[ExecutionRecord] = Field(default_factory=list)
    outcome: Outcome | None = None
    answer: str = ""
    """The query graph's answer (cites the evidence by number)."""
    steps: Annotated[list[Step], operator.add] = Field(default_factory=list)
    llm_tokens: int = 0
    started_at: datetime = Field(default_factory=utcnow)
    executed_at: datetime | None = None
    """Cluster time of the first write (verification's `since: remediation`, and MTTR)."""
    finished_at: datetime | None = None


__all__ = [
    "APPROVAL_MODES", "Approval", "ApprovalMode", "CheckResult", "ExecutionRecord", "IncidentState", "MemoryHint",
    "Outcome", "RunbookHit", "Step", "Trigger", "TriggerType", "utcnow",
]
