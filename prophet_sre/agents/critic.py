"""The safety critic: checks every action of a plan against the policy and decides whether it may run.

This is what lets an SRE put Prophet on a production cluster. It is deterministic and reads only typed
fields and the API server (the rules themselves live in `critic_rules.py`): the plan's rationale, an
action's `reason` and the diagnosis summary are never consulted, so text injected into a log line, an
event or a model's output cannot change a decision.

Decision, from the rule results:
- any failed *hard* rule (`plan_not_empty`, `action_allowed`, `namespace_allowed`, `not_protected`,
  `target_exists`, `blast_radius`, `cooldown`, `dry_run`), or any rule that could not be checked at all
  (an API failure, an unknown cluster, a bug) -> `reject`;
- otherwise any failed *soft* rule (`confidence`, `high_risk`, `concurrency`: "a human should look, or
  wait for a slot") -> `needs_approval`;
- otherwise `approve`.
A plan of nothing but `escalate` actions is approved: it writes nothing.

The approval mode is not applied here: the graph asks a human even for an `approve` in human-in-loop
mode, and no one can override a `reject`. Anything else that reviews the plan (an LLM critique) is
merged with `stricter()`, which can only tighten the deterministic verdict.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from prophet_sre.agents.critic_rules import CONCURRENCY, PLAN_NOT_EMPTY, ActionCheck, RuleOutcome
from prophet_sre.domain import Diagnosis, Plan, RuleResult, Verdict
from prophet_sre.errors import InvalidInput
from prophet_sre.policy.rules import PolicyLedger
from prophet_sre.policy.spec import AutonomousActionSpec
from prophet_sre.tools.actions import BlastRadius, DryRunResult
from prophet_sre.tools.kube.client import KubeClients

log = logging.getLogger(__name__)

Decision = Literal["approve", "needs_approval", "reject"]
SOFT_RULES = frozenset({"confidence", "high_risk", "concurrency"})
"""Rules whose failure asks a human instead of refusing; every other rule (including any rule added
later and not listed here) is hard - the critic fails closed."""
_SEVERITY: dict[str, int] = {"approve": 0, "needs_approval": 1, "reject": 2}
DIFF_MAX_LINES = 120
"""Lines of the combined dry-run diff in the verdict: enough for a few template changes, and bounded,
because the diff goes to the approval prompt, the audit log and possibly an LLM's context."""


class CritiqueResult(BaseModel):
    """The verdict, plus what it was based on: one dry-run result and one blast radius per action."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    dry_runs: list[DryRunResult] = Field(default_factory=list)
    blast: list[BlastRadius] = Field(default_factory=list)


def stricter(base: Verdict, other: Verdict) -> Verdict:
    """`base` tightened by `other`: the stricter decision (reject > needs_approval > approve), the reasons of
    both (base's first), base's dry-run diff (other's only when base has none). Never looser than `base`."""
    decision = base.decision if _SEVERITY[base.decision] >= _SEVERITY[other.decision] else other.decision
    return Verdict(decision=decision, reasons=[*base.reasons, *other.reasons],
                   dry_run_diff=base.dry_run_diff or other.dry_run_diff)


def critique(plan: Plan, diagnosis: Diagnosis, *, spec: AutonomousActionSpec, clusters: KubeClients,
             ledger: PolicyLedger, now: datetime, incident_id: str = "") -> CritiqueResult:
    """Check every action of `plan` against `spec.constraints`; `now` is the cluster's clock.

    Never raises for anything found while checking (a failing API, an unknown cluster): that becomes a
    failed rule and a `reject`. Raises `InvalidInput` only for a naive `now`, a caller's bug.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInput("critique(now=...) must be timezone-aware: pass the cluster's clock "
                           "(KubeClient.cluster_now())")
    constraints = spec.constraints
    outcomes: list[RuleOutcome] = [RuleOutcome(RuleResult(
        rule=PLAN_NOT_EMPTY, passed=bool(plan.actions),
        detail=f"{len(plan.actions)} action(s)" if plan.actions else "the plan has no actions"))]
    dry_runs: list[DryRunResult] = []
    blast: list[BlastRadius] = []
    for i, action in enumerate(plan.actions):
        check = ActionCheck(i, action, constraints=constraints, clusters=clusters, ledger=ledger, now=now,
                            diagnosis=diagnosis)
        outcomes += check.run()
        dry_runs.append(_dry_run_of(check))
        blast.append(_blast_of(check))
    outcomes.append(_concurrency(plan, constraints.max_concurrent, ledger, now, incident_id))
    verdict = Verdict(decision=_decide(outcomes), reasons=[x.result for x in outcomes],
                      dry_run_diff=_combined_diff(plan, dry_runs))
    failed = [f"{r.rule}[{r.action_index}]" if r.action_index is not None else r.rule
              for r in verdict.reasons if not r.passed]
    log.info("critic: %s for incident %s (%d actions)%s", verdict.decision, incident_id or "-", len(plan.actions),
             f"; failed: {', '.join(failed)}" if failed else "")
    return CritiqueResult(verdict=verdict, dry_runs=dry_runs, blast=blast)


def _decide(outcomes: list[RuleOutcome]) -> Decision:
    failed = [x for x in outcomes if not x.result.passed]
    if any(x.errored or x.result.rule not in SOFT_RULES for x in failed):
        return "reject"
    return "needs_approval" if failed else "approve"


def _concurrency(plan: Plan, max_concurrent: int, ledger: PolicyLedger, now: datetime, incident_id: str) -> RuleOutcome:
    """Plan-wide: a slot must be free (other incidents holding unexpired leases < maxConcurrent)."""
    if not any(a.type != "escalate" for a in plan.actions):
        return RuleOutcome(RuleResult(rule=CONCURRENCY, passed=True, detail="no write action: no execution slot needed"))
    try:
        others = [i for i in ledger.active(now) if i != incident_id]
    except Exception as e:  # noqa: BLE001 - an unreadable ledger must not let the plan through
        return RuleOutcome(RuleResult(rule=CONCURRENCY, passed=False,
                                  detail=f"could not check: {type(e).__name__}: {e}"), errored=True)
    ok = len(others) < max_concurrent
    shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    detail = (f"{len(others)} other incident(s) executing{': ' + shown if others else ''}; "
              f"maxConcurrent {max_concurrent}")
    return RuleOutcome(RuleResult(rule=CONCURRENCY, passed=ok, detail=detail if ok else f"no free slot: {detail}"))


def _dry_run_of(check: ActionCheck) -> DryRunResult:
    if check.original.type == "escalate":
        return DryRunResult(ok=True, diff="(no change)", notes=["escalate writes nothing to its target"])
    try:
        return check.dry_run_result
    except Exception as e:  # noqa: BLE001 - already a failed rule; here it is only reported
        return DryRunResult(ok=False, error=f"dry-run not possible: {e}", error_type=type(e).__name__)


def _blast_of(check: ActionCheck) -> BlastRadius:
    if check.original.type == "escalate":
        return BlastRadius(detail="no change to the cluster")
    try:
        return check.blast
    except Exception as e:  # noqa: BLE001
        return BlastRadius(detail=f"unknown: {type(e).__name__}: {e}")


def _combined_diff(plan: Plan, dry_runs: list[DryRunResult]) -> str:
    lines: list[str] = []
    for i, (action, d) in enumerate(zip(plan.actions, dry_runs, strict=True)):
        lines.append(f"# [{i}] {action.type} {action.target}")
        if d.ok:
            lines += (d.diff or "(no change)").splitlines()
        else:
            lines.append(f"dry-run failed: {d.error or 'no reason given'}")
    if len(lines) > DIFF_MAX_LINES:
        lines = lines[:DIFF_MAX_LINES - 1] + [f"... ({len(lines) - DIFF_MAX_LINES + 1} more lines)"]
    return "\n".join(lines)


__all__ = ["DIFF_MAX_LINES", "SOFT_RULES", "CritiqueResult", "critique", "stricter"]
