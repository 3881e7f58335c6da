"""What each node does, as plain functions of (deps, state): the glue between the graph and the agents.

Kept apart from `remediation.py` so the query graph, the operator and the eval harness reuse the same
steps, and so each step's degradation rule sits next to it: an LLM that fails leaves the deterministic
result in place (with a note), a runbook index that fails leaves the built-in rules, a source that fails
is a note. Only the audit log and the critic are never skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from prophet_sre.agents import critic, executor, planner
from prophet_sre.agents import diagnoser as diag
from prophet_sre.agents.gather import gather as gather_evidence
from prophet_sre.domain import Action, Diagnosis, Finding, Plan, RuleResult, Verdict
from prophet_sre.graphs.context import Deps
from prophet_sre.graphs.nodes import cluster_now, record_event
from prophet_sre.graphs.state import CheckResult, ExecutionRecord, IncidentState, MemoryHint, RunbookHit
from prophet_sre.tools.actions.results import DryRunResult

if TYPE_CHECKING:
    from prophet_sre.graphs.nodes import NodeRun

log = logging.getLogger(__name__)


def gather(deps: Deps, state: IncidentState) -> tuple[list[Finding], list[str]]:
    got = gather_evidence(deps.clients, deps.settings, state.trigger, clusters=deps.policy.clusters)
    return got.findings, [*deps.notes, *got.notes]


def wait_cluster_seconds(deps: Deps, seconds: float) -> float:
    """Sleep until the cluster's clock has advanced `seconds` (a simulator runs faster than the wall clock);
    bounded by the same number of wall seconds, so an unreadable clock cannot stall an incident."""
    start = cluster_now(deps)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        waited = (cluster_now(deps) - start).total_seconds()
        if waited >= seconds:
            return waited
        time.sleep(min(0.2, max(0.02, seconds / 50)))
    return (cluster_now(deps) - start).total_seconds()


def diagnose(deps: Deps, state: IncidentState) -> tuple[Diagnosis, list[str], int]:
    baseline = diag.diagnose(state.findings, state.trigger)
    if deps.llm is None:
        return baseline, [], 0
    from prophet_sre.agents.llm import llm_diagnose

    diagnosis, usage = llm_diagnose(deps.llm, trigger=state.trigger, findings=state.findings, baseline=baseline,
                                    tools=deps.read_tools, spec=deps.llm_spec, spent=state.llm_tokens)
    return diagnosis, list(usage.warnings), usage.tokens


def retrieve(deps: Deps, state: IncidentState) -> tuple[list[RunbookHit], list[MemoryHint], list[str]]:
    if deps.knowledge is None or state.diagnosis is None:
        return [], [], []
    cluster = state.diagnosis.root_cause.cluster if state.diagnosis.root_cause else None
    try:
        hits = deps.knowledge.runbooks_for(state.diagnosis, state.findings, k=3, cluster=cluster or None)
        hints = deps.knowledge.memory_hints(state.diagnosis, state.findings)
    except Exception as e:  # noqa: BLE001 - runbooks are an aid, the built-in rules still plan
        log.warning("runbook retrieval failed: %s", e)
        return [], [], [f"runbook retrieval failed ({e}); planning from built-in rules"]
    return hits, hints, []


def plan(deps: Deps, state: IncidentState) -> tuple[Plan, list[Action], list[str], int]:
    """The plan, and the deterministic candidates it started from (rules and runbooks)."""
    assert state.diagnosis is not None
    built = planner.plan(state.diagnosis, state.findings, clients=deps.clients, runbooks=state.runbooks,
                         memory=state.memory, allowed_actions=deps.policy.constraints.allowed_actions)
    if deps.llm is None or not built.actions:
        return built, list(built.actions), [], 0
    from prophet_sre.agents.llm import llm_propose

    actions, usage = llm_propose(deps.llm, diagnosis=state.diagnosis, candidates=list(built.actions),
                                 spec=deps.llm_spec, spent=state.llm_tokens)
    return (built.model_copy(update={"actions": actions}), list(built.actions), list(usage.warnings),
            usage.tokens)


def novel_actions(plan: Plan, candidates: list[Action]) -> Verdict | None:
    """A `needs_approval` opinion when the plan holds actions no rule or runbook proposed (an LLM added
    them): the model read untrusted cluster text, so what it invents is for a human to accept."""
    novel = [i for i, a in enumerate(plan.actions) if a not in candidates and a.type != "escalate"]
    if not novel:
        return None
    reasons = [RuleResult(rule="llm_novel_action", passed=False, action_index=i,
                          detail=f"{plan.actions[i].type} {plan.actions[i].target} was proposed by the LLM, not by a "
                                 "rule or runbook: a human decides") for i in novel]
    return Verdict(decision="needs_approval", reasons=reasons)


def critique(deps: Deps, state: IncidentState) -> tuple[Verdict, list[DryRunResult], list[str], int]:
    assert state.plan is not None and state.diagnosis is not None
    result = critic.critique(state.plan, state.diagnosis, spec=deps.policy, clusters=deps.clients,
                             ledger=deps.ledger, now=cluster_now(deps), incident_id=state.incident_id)
    verdict = result.verdict
    opinion = novel_actions(state.plan, state.candidates) if deps.llm is not None else None
    if opinion is not None:
        verdict = critic.stricter(verdict, opinion)
    if deps.llm is None or verdict.decision == "reject":
        return verdict, list(result.dry_runs), [], 0
    from prophet_sre.agents.llm import llm_critique

    opinion, usage = llm_critique(deps.llm, plan=state.plan, diagnosis=state.diagnosis, verdict=verdict,
                                  spec=deps.llm_spec, spent=state.llm_tokens)
    return critic.stricter(verdict, opinion), list(result.dry_runs), list(usage.warnings), usage.tokens


def _executed_indices(deps: Deps, incident_id: str) -> set[int]:
    """Actions of this incident already recorded as executed: a resumed or retried incident skips them."""
    done: set[int] = set()
    for rec in deps.audit.records(incident_id):
        if rec.event == "execution" and rec.result and rec.result.get("phase") == "execute":
            idx = rec.result.get("action_index")
            if isinstance(idx, int):
                done.add(idx)
    return done


def execute(deps: Deps, state: IncidentState, run: NodeRun) -> list[ExecutionRecord]:
    """Each action in order, an intent record before its write, an execution record and Event after."""
    assert state.plan is not None
    done = _executed_indices(deps, state.incident_id)
    before_write, after_write = _hooks(deps, state, run, phase="execute")
    records: list[ExecutionRecord] = []
    for i, action in enumerate(state.plan.actions):
        if i in done:
            log.warning("incident %s: action %d already executed; not repeating it", state.incident_id, i)
            continue
        got = executor.execute(Plan(actions=[action]), deps.clients,
                               before_write=lambda _i, a, i=i: before_write(i, a),
                               after_write=lambda rec, i=i: after_write(rec.model_copy(update={"index": i})))
        rec = got[0].model_copy(update={"index": i})
        records.append(rec)
        if not rec.result.ok:
            break
    return records


def _hooks(deps: Deps, state: IncidentState, run: NodeRun, *, phase: str) -> tuple[Callable[[int, Action], None],
                                                                                   Callable[[ExecutionRecord], None]]:
    """The executor's hooks: a durable intent record before each write; after it, the execution (or
    rollback) record, the policy ledger's cooldown entry and a Kubernetes Event on the target."""
    def before_write(index: int, a: Action) -> None:
        run.audit("intent", plan=Plan(actions=[a]), result={"action_index": index, "phase": phase})

    def after_write(rec: ExecutionRecord) -> None:
        run.audit("execution" if phase == "execute" else "rollback",
                  result={"action_index": rec.index, "phase": phase, "ok": rec.result.ok,
                          "changed": rec.result.changed, "error": rec.result.error,
                          "inverse": rec.inverse.model_dump(mode="json") if rec.inverse else None})
        if rec.action.type == "escalate":
            return
        if rec.result.ok and phase == "execute":
            deps.ledger.record_action(state.incident_id, rec.action.target, rec.action.type, cluster_now(deps))
        verb = "rolled back with" if phase == "rollback" else "applied"
        msg = (f"incident {state.incident_id}: {verb} {rec.action.type}"
               + (f" ({rec.action.reason})" if rec.action.reason else "")
               + ("" if rec.result.ok else f" - FAILED: {rec.result.error}"))
        record_event(deps, rec.action.target, reason="ProphetAction" if phase == "execute" else "ProphetRollback",
                     message=msg, warning=not rec.result.ok, incident_id=state.incident_id)

    return before_write, after_write


def verify(deps: Deps, state: IncidentState) -> list[CheckResult]:
    from prophet_sre.tools.checks import CheckContext

    assert state.plan is not None
    agents = deps.settings.agents
    ctx = CheckContext(clients=deps.clients, prometheus=deps.prometheus, since=state.executed_at)
    return executor.verify(state.plan.verification, ctx, deadline_s=agents.verify_deadline_s,
                           poll_s=agents.verify_poll_s, hold_s=agents.verify_hold_s)


def rollback(deps: Deps, state: IncidentState, run: NodeRun) -> list[ExecutionRecord]:
    before_write, after_write = _hooks(deps, state, run, phase="rollback")
    return executor.rollback(state.executions, deps.clients, before_write=before_write, after_write=after_write)


def remember(deps: Deps, state: IncidentState) -> list[str]:
    if deps.knowledge is None or state.diagnosis is None:
        return []
    try:
        deps.knowledge.remember(state)
    except Exception as e:  # noqa: BLE001 - memory is an aid; the incident itself is done
        log.warning("incident memory not updated: %s", e)
        return [f"incident memory not updated ({e})"]
    return []


__all__ = ["critique", "diagnose", "execute", "gather", "plan", "remember", "retrieve", "rollback", "verify"]
