"""The remediation graph's routing: which path a verdict and a mode lead to, and how an incident ends.

Pure functions of the state (no cluster): the safety-relevant rules are that a `reject` or a dry run
never reaches `execute`, human-in-loop always passes through `approval` before a write, an escalation
alone needs no approval (nothing is written), and a failed verification always rolls back.
"""

from __future__ import annotations

import pytest

from prophet_sre.domain import (
    Check,
    EscalateAction,
    Plan,
    ResourceRef,
    RestartAction,
    RollbackAction,
    Verdict,
)
from prophet_sre.graphs import remediation as r
from prophet_sre.graphs.state import Approval, CheckResult, ExecutionRecord, IncidentState, Outcome
from prophet_sre.tools.actions.results import ExecutionResult

WEB = ResourceRef.parse("demo/deployment/web")
FIX = Plan(actions=[RollbackAction(target=WEB)])
ESCALATE = Plan(actions=[EscalateAction(target=WEB, message="look at it")])


def state(mode: str = "autonomous", decision: str = "approve", plan: Plan = FIX, **kw: object) -> IncidentState:
    return IncidentState(incident_id="inc-1", mode=mode, plan=plan, verdict=Verdict(decision=decision), **kw)


@pytest.mark.parametrize("mode", ["autonomous", "human-in-loop", "dry-run"])
def test_reject_never_executes(mode: str) -> None:
    assert r.route_after_critique(state(mode, "reject")) == "report"
    assert r.route_after_critique(state(mode, "reject", ESCALATE)) == "report"


@pytest.mark.parametrize("decision", ["approve", "needs_approval"])
def test_dry_run_never_executes(decision: str) -> None:
    assert r.route_after_critique(state("dry-run", decision)) == "report"


def test_human_in_loop_always_asks_before_writing() -> None:
    assert r.route_after_critique(state("human-in-loop", "approve")) == "approval"
    assert r.route_after_critique(state("human-in-loop", "needs_approval")) == "approval"


def test_autonomous_acts_on_approve_and_asks_on_needs_approval() -> None:
    assert r.route_after_critique(state("autonomous", "approve")) == "execute"
    assert r.route_after_critique(state("autonomous", "needs_approval")) == "approval"


def test_an_escalation_alone_needs_no_approval() -> None:
    assert r.route_after_critique(state("human-in-loop", "approve", ESCALATE)) == "execute"
    mixed = Plan(actions=[RestartAction(target=WEB), EscalateAction(target=WEB)])
    assert r.route_after_critique(state("human-in-loop", "approve", mixed)) == "approval"


def test_declined_approval_goes_to_report_and_ends_declined() -> None:
    s = state("human-in-loop", approval=Approval(approved=False, by="sre"))
    assert r.route_after_approval(s) == "report"
    assert r.final_outcome(s) == Outcome.DECLINED
    assert r.route_after_approval(state("human-in-loop", approval=Approval(approved=True, by="sre"))) == "execute"


def _executed(ok: bool) -> ExecutionRecord:
    return ExecutionRecord(index=0, action=FIX.actions[0], result=ExecutionResult(ok=ok))


def test_failed_action_or_failed_check_rolls_back() -> None:
    assert r.route_after_execute(state(executions=[_executed(False)])) == "rollback"
    assert r.route_after_execute(state(executions=[_executed(True)])) == "verify"
    bad = CheckResult(check=Check(kind="deployment", target="demo/web"), ok=False, detail="0/2 ready")
    skipped = CheckResult(check=Check(kind="metric", target="up"), ok=False, skipped=True)
    assert r.route_after_verify(state(verification=[bad, skipped])) == "rollback"
    assert r.route_after_verify(state(verification=[skipped])) == "report"


def test_outcomes() -> None:
    good = CheckResult(check=Check(kind="deployment", target="demo/web"), ok=True)
    assert r.final_outcome(state(executions=[_executed(True)], verification=[good])) == Outcome.RESOLVED
    assert r.final_outcome(state("dry-run")) == Outcome.DRY_RUN
    assert r.final_outcome(state(decision="reject")) == Outcome.REJECTED
    esc = ExecutionRecord(index=0, action=ESCALATE.actions[0], result=ExecutionResult(ok=True))
    assert r.final_outcome(state(plan=ESCALATE, executions=[esc])) == Outcome.ESCALATED
    assert r.route_after_plan(state(plan=Plan())) == "report"


def test_looks_again_only_when_something_is_wrong_and_unclear() -> None:
    """`unsure` reads the settings only; a stand-in for the runtime's `Deps` carries them."""
    from types import SimpleNamespace

    from prophet_sre.config import Settings
    from prophet_sre.domain import Category, Diagnosis, Finding, Severity
    from prophet_sre.graphs.state import Trigger

    deps = SimpleNamespace(settings=Settings())
    broken = Finding(source="k8sgpt", analyzer="Pod", ref=WEB, errors=["Back-off pulling image"],
                     severity=Severity.ERROR)
    note = Finding(source="event", analyzer="rollout", ref=WEB, errors=["rolled out"], severity=Severity.INFO)
    unknown = Diagnosis(category=Category.UNKNOWN, summary="no root cause", confidence=0.1)
    sure = Diagnosis(category=Category.IMAGE_PULL, summary="bad tag", confidence=0.9, root_cause=WEB)
    anomaly = Trigger(type="anomaly", reason="5xx")

    def unsure(**kw: object) -> bool:
        return r.unsure(IncidentState(incident_id="inc-1", trigger=anomaly, looks=1, **kw), deps)  # type: ignore[arg-type]

    assert unsure(findings=[broken, note], diagnosis=unknown)
    assert not unsure(findings=[broken, note], diagnosis=sure)
    # nothing above INFO: a healthy cluster is an answer, not a reason to wait and look again
    assert not unsure(findings=[note], diagnosis=unknown)
    assert not unsure(findings=[], diagnosis=unknown)
    assert not r.unsure(IncidentState(incident_id="inc-1", trigger=anomaly, looks=99, findings=[broken],
                                      diagnosis=unknown), deps)  # type: ignore[arg-type]
