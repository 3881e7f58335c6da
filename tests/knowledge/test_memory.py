"""Incident memory changes a decision: after A failed and B fixed a similar incident, B is preferred.

Incidents are real `IncidentState`s stored in an embedded Chroma; the planner's use of memory is
`memory.rerank(actions, hints)` over the actions the runbook offers for the new incident.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from knowledge_support import diagnosis, finding, knowledge

from prophet_sre.domain import Action, Plan, ResourceRef, RestartAction, RollbackAction, SetResourcesAction
from prophet_sre.graphs.state import ExecutionRecord, IncidentState, Outcome
from prophet_sre.knowledge import Knowledge
from prophet_sre.knowledge.memory import rerank
from prophet_sre.tools.actions.results import ExecutionResult

BACKEND = ResourceRef.parse("shop/deployment/backend")


def leak(incident_id: str, name: str = "backend") -> tuple:
    d = diagnosis("oom", f"{name} is OOMKilled repeatedly after its latest rollout; memory grows until the limit",
                  f"shop/deployment/{name}")
    f = [finding(f"shop/pod/{name}-6f7d8-x2k4q", f"the last termination reason is OOMKilled container={name} "
                 f"pod={name}-6f7d8-x2k4q", parent=f"shop/deployment/{name}", restarts=5,
                 limits={"memory": "256Mi"})]
    return d, f


def finished(incident_id: str, actions: list[Action], outcome: Outcome, *, ok: list[bool] | None = None,
             name: str = "backend") -> IncidentState:
    d, f = leak(incident_id, name)
    state = IncidentState(incident_id=incident_id, diagnosis=d, findings=f, plan=Plan(actions=actions),
                          outcome=outcome)
    state.executions = [ExecutionRecord(index=i, action=a, result=ExecutionResult(ok=True if ok is None else ok[i]))
                        for i, a in enumerate(actions)]
    state.finished_at = state.started_at + timedelta(seconds=95)
    return state


@pytest.fixture()
def kb(tmp_path: Path) -> Knowledge:
    return knowledge(tmp_path)


def test_memory_makes_the_planner_prefer_what_fixed_a_similar_incident(kb: Knowledge) -> None:
    d, f = leak("new")
    offered = kb.runbooks_for(d, f)[0].actions  # oom-memory-leak-after-release: rollback first, then set_resources
    assert [a.type for a in offered][:2] == ["rollback", "set_resources"]
    assert rerank(offered, kb.memory_hints(d, f)) == offered  # no memory yet: the runbook's order

    # A (rollback) was tried and rolled back; then B (set_resources) fixed the same kind of incident
    kb.remember(finished("inc-1", [RollbackAction(target=BACKEND)], Outcome.ROLLED_BACK))
    kb.remember(finished("inc-2", [SetResourcesAction(target=BACKEND, limits={"memory": "512Mi"})],
                         Outcome.RESOLVED))
    hints = kb.memory_hints(d, f)
    assert {(h.incident_id, h.action_type, h.outcome) for h in hints} == {
        ("inc-1", "rollback", "rolled_back"), ("inc-2", "set_resources", "fixed")}
    assert all(0.55 <= h.similarity <= 1.0 for h in hints)
    ranked = [a.type for a in rerank(offered, hints)]
    assert ranked[0] == "set_resources" and ranked[-1] == "rollback"  # B first; A below even the escalation


def test_a_failed_action_in_a_resolved_incident_counts_as_failed(kb: Knowledge) -> None:
    # one incident: A's execution failed, B then fixed it
    kb.remember(finished("inc-3", [RestartAction(target=BACKEND), RollbackAction(target=BACKEND)],
                         Outcome.RESOLVED, ok=[False, True]))
    d, f = leak("next", name="cart")  # a similar incident on another Deployment
    hints = kb.memory_hints(d, f)
    assert {(h.action_type, h.outcome) for h in hints} == {("restart", "failed"), ("rollback", "fixed")}
    cart = ResourceRef.parse("shop/deployment/cart")
    ranked = rerank([RestartAction(target=cart), RollbackAction(target=cart)], hints)
    assert [a.type for a in ranked] == ["rollback", "restart"]


def test_unrelated_or_inconclusive_incidents_give_no_hints(kb: Knowledge) -> None:
    kb.remember(finished("inc-4", [RollbackAction(target=BACKEND)], Outcome.DRY_RUN))  # nothing ran
    dns = IncidentState(incident_id="inc-5", outcome=Outcome.RESOLVED,
                        diagnosis=diagnosis("dns", "NXDOMAIN for paymnts", "shop/deployment/api"),
                        findings=[finding("shop/pod/api-1", "pod shop/api-1 got 120 NXDOMAIN answers")])
    kb.remember(dns)
    d, f = leak("next")
    assert kb.memory_hints(d, f) == []
    assert kb.memory.count() == 2
    # remembering the same incident again replaces it
    kb.remember(dns)
    assert kb.memory.count() == 2
