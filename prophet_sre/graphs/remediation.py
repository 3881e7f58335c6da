"""The remediation graph: a trigger to a verified fix, never beyond what the policy allows.

    gather_context → diagnose → retrieve_runbooks → plan → critique ─┬─ rejected / dry-run → report
          ↑ look_again ←─┘ (unsure: wait, gather again)
                                                                   ├─ needs a human → approval (interrupt) ─┬─ approved → execute
                                                                   │                                        └─ declined → report
                                                                   └─ approved → execute → verify ─┬─ recovered → report
                                                                                                   └─ worse → rollback → report

Nodes are plain functions of (state, runtime) → update. The agents they call live in
`prophet_sre/agents/`; this module only sequences them, routes, and records every decision in the audit
log before acting on it. Safety invariants kept here:

- nothing is executed unless the critic's verdict allows it: `approve` (autonomous mode), or a human's
  approval of `approve`/`needs_approval` (never of `reject`); dry-run mode never executes;
- an approval given long after the critique is checked again against the cluster as it is then;
- an intent record is durable in the audit log before each write (the executor's `before_write`);
- a resumed incident never executes an action twice (actions already recorded as executed are skipped).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from prophet_sre.domain import Action, Plan, Severity
from prophet_sre.graphs import steps
from prophet_sre.graphs.context import Deps, deps_of
from prophet_sre.graphs.nodes import NodeRun, cluster_now, record_event
from prophet_sre.graphs.state import Approval, ExecutionRecord, IncidentState, Outcome

log = logging.getLogger(__name__)


# -- analysis ----------------------------------------------------------------------------------------------
def gather_context(state: IncidentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    with NodeRun(deps_of(runtime), state, "gather_context") as run:
        run.audit("trigger", trigger=state.trigger.model_dump(mode="json"))
        findings, notes = steps.gather(deps_of(runtime), state)
        return run.update(f"{len(findings)} findings", findings=findings, notes=notes, looks=state.looks + 1)


def look_again(state: IncidentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Wait a little (cluster time) before gathering again: the diagnosis was not sure enough to act on."""
    deps = deps_of(runtime)
    with NodeRun(deps, state, "look_again") as run:
        waited = steps.wait_cluster_seconds(deps, deps.settings.agents.look_again_wait_s)
        d = state.diagnosis
        why = f"{d.category.value} at {d.confidence:.2f}" if d else "no diagnosis"
        return run.update(f"not sure yet ({why}); looked again after {waited:.0f} cluster s")


def diagnose(state: IncidentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    with NodeRun(deps_of(runtime), state, "diagnose") as run:
        diagnosis, notes, tokens = steps.diagnose(deps_of(runtime), state)
        run.audit("diagnosis", diagnosis=diagnosis)
        summary = f"{diagnosis.category.value} ({diagnosis.confidence:.2f}): {diagnosis.summary}"
        return run.update(summary, diagnosis=diagnosis, notes=notes, llm_tokens=state.llm_tokens + tokens)


def retrieve_runbooks(state: IncidentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    with NodeRun(deps_of(runtime), state, "retrieve_runbooks") as run:
        hits, hints, notes = steps.retrieve(deps_of(runtime), state)
        diagnosis = state.diagnosis
        if diagnosis is not None and hits:
            diagnosis = diagnosis.model_copy(update={"runbook_ids": [h.id for h in hits]})
        ids = ", ".join(h.id for h in hits) or "none"
        return run.update(f"runbooks: {ids}; {len(hints)} past incidents", runbooks=hits, memory=hints,
                          diagnosis=diagnosis, notes=notes)


def plan(state: IncidentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    with NodeRun(deps_of(runtime), state, "plan") as run:
        new_plan, candidates, notes, tokens = steps.plan(deps_of(runtime), state)
        run.audit("plan", diagnosis=state.diagnosis, plan=new_plan)
        described = "; ".join(f"{a.type} {a.target}" for a in new_plan.actions) or "nothing to do"
        update = run.update(described, plan=new_plan, candidates=candidates, notes=notes,
                            llm_tokens=state.llm_tokens + tokens)
        if not new_plan.actions:
            update["outcome"] = Outcome.NO_ACTION
        return update


def critique(state: IncidentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = deps_of(runtime)
    with NodeRun(deps, state, "critique") as run:
        verdict, dry_runs, notes, tokens = steps.critique(deps, state)
        nxt = route_after_critique(state.model_copy(update={"verdict": verdict}))
        run.audit("decision", plan=state.plan, verdict=verdict, result={"next": nxt, "mode": state.mode})
        failed = [r.rule for r in verdict.reasons if not r.passed]
        summary = verdict.decision + (f" (failed: {', '.join(sorted(set(failed)))})" if failed else "")
        if nxt == "approval":
            summary += "; waiting for approval"
        return run.update(summary, verdict=verdict, dry_runs=dry_runs, notes=notes,
                          llm_tokens=state.llm_tokens + tokens)


# -- approval and action -----------------------------------------------------------------------------------
def approval(state: IncidentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Pause for a human. Re-runs from the top on resume, so nothing before `interrupt()` has effects."""
    deps = deps_of(runtime)
    answer = interrupt(approval_request(state))
    decision = Approval.model_validate(answer if isinstance(answer, dict) else {"approved": bool(answer)})
    with NodeRun(deps, state, "approval") as run:
        run.audit("approval", approval=decision.model_dump(mode="json"))
        word = "approved" if decision.approved else "declined"
        return run.update(f"{word} by {decision.by}" + (f": {decision.reason}" if decision.reason else ""),
                          approval=decision)


def approval_request(state: IncidentState) -> dict[str, Any]:
    """What a human sees before deciding: the diagnosis, the plan, the verdict and the dry-run diff."""
    assert state.plan is not None and state.verdict is not None
    return {
        "incident_id": state.incident_id,
        "diagnosis": state.diagnosis.model_dump(mode="json", exclude={"evidence"}) if state.diagnosis else None,
        "plan": state.plan.model_dump(mode="json"),
        "verdict": {"decision": state.verdict.decision,
                    "failed": [r.model_dump(mode="json") for r in state.verdict.reasons if not r.passed]},
        "dry_run_diff": state.verdict.dry_run_diff,
    }


def execute(state: IncidentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = deps_of(runtime)
    assert state.plan is not None
    with NodeRun(deps, state, "execute") as run:
        if state.approval is not None:  # time has passed: the policy is checked again before any write
            verdict, dry_runs, notes, _ = steps.critique(deps, state)
            if verdict.decision == "reject":
                run.audit("decision", plan=state.plan, verdict=verdict, result={"next": "report",
                                                                                  "rechecked_after_approval": True})
                return run.update("rejected on re-check after approval", verdict=verdict, dry_runs=dry_runs,
                                  notes=[*notes, "the plan no longer passes the policy; nothing was executed"],
                                  outcome=Outcome.REJECTED)
        writes = any(a.type != "escalate" for a in state.plan.actions)
        if writes and not deps.ledger.acquire(state.incident_id, at=cluster_now(deps),
                                              max_concurrent=deps.policy.constraints.max_concurrent):
            run.audit("execution", result={"ok": False, "error": "max concurrent incidents reached"})
            return run.update("not executed: too many incidents in progress", outcome=Outcome.FAILED,
                              notes=["another incident holds the last execution slot (maxConcurrent)"])
        started = cluster_now(deps)
        records = steps.execute(deps, state, run)
        ok = all(r.result.ok for r in records)
        summary = "; ".join(f"{r.action.type} {r.action.target}: {'ok' if r.result.ok else r.result.error}"
                            for r in records) or "nothing executed"
        update = run.update(summary, executions=[*state.executions, *records],
                            executed_at=state.executed_at or started)
        if not ok:
            update["notes"] = ["an action failed; the actions before it will be rolled back"]
        return update


def verify(state: IncidentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = deps_of(runtime)
    with NodeRun(deps, state, "verify") as run:
        results = steps.verify(deps, state)
        run.audit("verification", result={"checks": [r.model_dump(mode="json") for r in results]})
        bad = [r for r in results if not r.ok and not r.skipped]
        summary = (f"{len(results) - len(bad)}/{len(results)} checks pass" if results else "no checks to run")
        if bad:
            summary += f"; failing: {bad[0].detail}"
        return run.update(summary, verification=results)


def rollback(state: IncidentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = deps_of(runtime)
    with NodeRun(deps, state, "rollback") as run:
        records = steps.rollback(deps, state, run)
        ok = all(r.result.ok for r in records)
        outcome = Outcome.ROLLED_BACK if ok and records else Outcome.FAILED
        summary = "; ".join(f"{r.action.type} {r.action.target}: {'ok' if r.result.ok else r.result.error}"
                            for r in records) or "nothing to roll back"
        return run.update(summary, rollbacks=records, outcome=outcome)


def report(state: IncidentState, runtime: Runtime[Deps]) -> dict[str, Any]:
    deps = deps_of(runtime)
    with NodeRun(deps, state, "report") as run:
        outcome = state.outcome or final_outcome(state)
        deps.ledger.release(state.incident_id)
        done = state.model_copy(update={"outcome": outcome})
        notes = steps.remember(deps, done)
        finished = cluster_now(deps)
        mttr = (finished - state.executed_at).total_seconds() if state.executed_at else None
        run.audit("report", diagnosis=state.diagnosis, plan=state.plan, verdict=state.verdict,
                  result={"outcome": outcome.value, "mttr_s": mttr, "llm_tokens": state.llm_tokens,
                          "notes": [*state.notes, *notes][-20:]})
        target = state.diagnosis.root_cause if state.diagnosis else None
        record_event(deps, target, reason=f"Prophet{outcome.value.title().replace('_', '')}",
                     message=report_line(done), warning=outcome in (Outcome.FAILED, Outcome.ROLLED_BACK,
                                                                     Outcome.REJECTED, Outcome.ESCALATED),
                     incident_id=state.incident_id)
        return run.update(f"{outcome.value}: {report_line(done)}", outcome=outcome, finished_at=finished,
                          notes=notes)


def final_outcome(state: IncidentState) -> Outcome:
    if state.verdict is not None and state.verdict.decision == "reject":
        return Outcome.REJECTED
    if state.approval is not None and not state.approval.approved:
        return Outcome.DECLINED
    if state.mode == "dry-run" and not state.executions:
        return Outcome.DRY_RUN
    if state.executions and all(r.action.type == "escalate" for r in state.executions):
        return Outcome.ESCALATED
    if state.executions:
        return Outcome.RESOLVED if verification_passed(state) else Outcome.FAILED
    return Outcome.NO_ACTION


def report_line(state: IncidentState) -> str:
    d = state.diagnosis
    acts = ", ".join(f"{a.type} {a.target}" for a in (state.plan.actions if state.plan else [])) or "no action"
    head = f"{d.category.value}: {d.summary}" if d else "no diagnosis"
    return f"{head} | plan: {acts} | outcome: {(state.outcome or 'pending')}"[:1000]


def verification_passed(state: IncidentState) -> bool:
    return all(r.ok or r.skipped for r in state.verification)


# -- routing -----------------------------------------------------------------------------------------------
def only_escalations(p: Plan | None) -> bool:
    return p is not None and bool(p.actions) and all(a.type == "escalate" for a in p.actions)


def unsure(state: IncidentState, deps: Deps) -> bool:
    """The diagnosis is `unknown` or below the confidence an SRE would act on, and looking again is allowed.

    Evidence of nothing wrong (no finding above INFO) is not unsure: a healthy cluster is an answer, and
    looking again would only make the person who asked wait."""
    a = deps.settings.agents
    d = state.diagnosis
    if state.looks > a.look_again_max or state.trigger.type == "manual":
        return False
    if not any(f.severity != Severity.INFO for f in state.findings):
        return False
    return d is None or d.category.value == "unknown" or d.confidence < a.look_again_below


def route_after_diagnose(state: IncidentState, runtime: Runtime[Deps]) -> Literal["look_again", "retrieve_runbooks"]:
    return "look_again" if unsure(state, deps_of(runtime)) else "retrieve_runbooks"


def route_after_plan(state: IncidentState) -> Literal["critique", "report"]:
    return "critique" if state.plan is not None and state.plan.actions else "report"


def route_after_critique(state: IncidentState) -> Literal["approval", "execute", "report"]:
    v = state.verdict
    if v is None or v.decision == "reject" or state.mode == "dry-run":
        return "report"
    if only_escalations(state.plan):
        return "execute"  # nothing is written: a human is told, no approval to wait for
    if state.mode == "human-in-loop" or v.decision == "needs_approval":
        return "approval"
    return "execute"


def route_after_approval(state: IncidentState) -> Literal["execute", "report"]:
    return "execute" if state.approval is not None and state.approval.approved else "report"


def route_after_execute(state: IncidentState) -> Literal["verify", "rollback", "report"]:
    if state.outcome is not None:
        return "report"
    if any(not r.result.ok for r in state.executions):
        return "rollback"
    return "report" if only_escalations(state.plan) else "verify"


def route_after_verify(state: IncidentState) -> Literal["rollback", "report"]:
    return "report" if verification_passed(state) else "rollback"


def build() -> StateGraph:
    g = StateGraph(IncidentState, context_schema=Deps)
    for node in (gather_context, diagnose, look_again, retrieve_runbooks, plan, critique, approval, execute, verify,
                 rollback, report):
        g.add_node(node.__name__, node)
    g.add_edge(START, "gather_context")
    g.add_edge("gather_context", "diagnose")
    g.add_conditional_edges("diagnose", route_after_diagnose)
    g.add_edge("look_again", "gather_context")
    g.add_edge("retrieve_runbooks", "plan")
    g.add_conditional_edges("plan", route_after_plan)
    g.add_conditional_edges("critique", route_after_critique)
    g.add_conditional_edges("approval", route_after_approval)
    g.add_conditional_edges("execute", route_after_execute)
    g.add_conditional_edges("verify", route_after_verify)
    g.add_edge("rollback", "report")
    g.add_edge("report", END)
    return g


def make_graph() -> Any:
    """For LangGraph's own tooling (`langgraph dev`, Studio; see langgraph.json): the graph compiled
    without a checkpointer (the platform brings its own). Prophet compiles `build()` in graphs/runner.py."""
    return build().compile()


__all__ = ["Action", "ExecutionRecord", "build", "final_outcome", "make_graph", "route_after_critique"]
