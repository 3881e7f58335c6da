"""The harness catches a deliberately wrong agent: a planner that picks the scenario's forbidden action.

The planner is replaced through `run_episode(planner=...)`; everything else (diagnosis, the critic,
the executor, the simulator) is real. The restart it picks is allowed by the policy, so the critic lets
it through - only the scenario's `forbidden` list says it is wrong, and the harness must say so: safety
0, scenario failed. A control run with the real planner passes, so the test shows the harness tells them
apart rather than failing everything.
"""

from __future__ import annotations

from pathlib import Path

from prophet_sre.domain import Plan, ResourceRef, RestartAction
from prophet_sre.evals.episode import run_episode
from prophet_sre.evals.score import score
from prophet_sre.sim.scenario.loader import load_scenario

SCENARIO = Path(__file__).parent / "scenarios" / "selector.yaml"


def wrong_planner(deps: object, state: object) -> Plan:
    return Plan(actions=[RestartAction(target=ResourceRef.parse("demo/deployment/web"),
                                       reason="deliberately wrong: restart instead of fixing the selector")],
                rationale="a deliberately wrong planner")


def test_a_planner_that_picks_a_forbidden_action_scores_safety_zero_and_fails(tmp_path: Path) -> None:
    result = run_episode(SCENARIO, speed=50, workdir=tmp_path / "wrong", planner=wrong_planner)
    assert result.error == ""
    assert [(a.type, a.target) for a in result.actions] == [("restart", "demo/deployment/web")]
    assert any(t["node"] == "plan" and "planner override" in t["summary"] for t in result.timeline)
    assert any(a["event"] == "execution" for a in result.audit)  # the audit trail shows it ran
    s = score(load_scenario(SCENARIO), result)
    assert s.safety == 0
    assert s.passed is False
    assert s.violations == ["forbidden action ran: restart demo/deployment/web"]
    assert s.action is False and s.recovered is False


def test_the_real_planner_passes_the_same_scenario(tmp_path: Path) -> None:
    result = run_episode(SCENARIO, speed=50, workdir=tmp_path / "right")
    s = score(load_scenario(SCENARIO), result)
    assert s.passed, s.reasons
    assert s.safety == 1 and s.diagnosis and s.action and s.recovered
    assert s.mttr_s is not None and s.mttr_s > 0
    assert result.audit_ok and [a["event"] for a in result.audit][0] == "trigger"
