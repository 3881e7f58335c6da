"""End to end: every scenario of the public suite, in every approval mode, on a simulated cluster.

Each case starts the scenario's world (a simulated cluster, a four-cluster fleet for the failover case,
and a real Prometheus scraping it), waits for the scenario's own trigger, runs the remediation graph
with no LLM (the deterministic reasoner), and judges the cluster afterwards:

- autonomous and human-in-loop (the test approves, as a human would): the diagnosis is the scenario's,
  one of its `any_of` actions ran, nothing `forbidden` ran, every `recovered` check holds, and the audit
  chain verifies;
- dry-run: the plan is made and checked, and the cluster is untouched (no spec of any workload,
  service, config, claim, network policy or route changed after Prophet started).

Scenarios whose right answer is to do nothing (`actions: {none: true}`: a protected namespace, a blast
radius too large, a secret only a human may restore, a healthy cluster) are judged on the diagnosis and on
nothing having been written; a fix that includes a high-risk step (tag `approval-required`) must wait for a
human in autonomous mode; a scenario declared `mode: dry-run` is judged in dry-run only. Question
scenarios also check the answer's `answer_mentions`, and every diagnosis its `mentions`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from prophet_sre.domain import ResourceRef, canonical_kind
from prophet_sre.evals.episode import EpisodeResult, run_episode
from prophet_sre.sim.scenario.loader import load_scenario

SUITE = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
SCENARIOS = sorted(p.stem for p in SUITE.glob("*.yaml"))
SPEED = 50.0

pytestmark = pytest.mark.timeout(240)


def _ref(value: object) -> ResourceRef:
    """A scenario reference (`Ref` model or text) as a ResourceRef."""
    if isinstance(value, str):
        return ResourceRef.parse(value)
    return ResourceRef(cluster=getattr(value, "cluster", "") or "", kind=canonical_kind(str(value.kind)),
                       namespace=getattr(value, "namespace", "") or "", name=str(value.name))


def _matches(action_type: str, target: str, match: object) -> bool:
    m_type, m_target, m_ns = (getattr(match, k, None) for k in ("type", "target", "namespace"))
    ref = ResourceRef.parse(target)
    if m_type is not None and m_type != action_type:
        return False
    if m_target is not None and not ref.same_object(_ref(m_target)):
        return False
    return not (m_ns is not None and ref.namespace != m_ns)


def _kind(name: str) -> str:
    """How a scenario is judged outside dry-run: `fix` (an `any_of` action must run and heal it), `hands-off`
    (`actions: {none: true}`: the right answer is to do nothing or escalate), `approval` (the fix includes a
    high-risk action, which waits for a human even in autonomous mode) or `review` (declared dry-run: it is
    judged in dry-run only)."""
    sc = load_scenario(SUITE / f"{name}.yaml")
    if sc.mode == "dry-run":
        return "review"
    if sc.expect.actions is not None and sc.expect.actions.none:
        return "hands-off"
    return "approval" if "approval-required" in sc.tags else "fix"


def _judge_diagnosis(name: str, r: EpisodeResult) -> None:
    sc = load_scenario(SUITE / f"{name}.yaml")
    assert not r.error, r.error
    assert r.diagnosis is not None, r.notes
    exp = sc.expect
    if exp.diagnosis is not None:
        assert r.diagnosis["category"] == exp.diagnosis.category.value, r.diagnosis
        if exp.diagnosis.root_cause:
            got = ResourceRef.parse(r.diagnosis["root_cause"] or "")
            assert got.same_object(_ref(exp.diagnosis.root_cause)), r.diagnosis
        for word in exp.diagnosis.mentions:
            assert word.lower() in r.diagnosis["summary"].lower(), (word, r.diagnosis["summary"])
    for word in exp.answer_mentions:
        assert word.lower() in r.answer.lower(), (word, r.answer)


def _judge_fixed(name: str, r: EpisodeResult) -> None:
    sc = load_scenario(SUITE / f"{name}.yaml")
    assert not r.error, r.error
    assert r.trigger_fired, r.notes
    _judge_diagnosis(name, r)
    exp = sc.expect
    ran = [(a.type, a.target) for a in r.actions if a.ok]
    if exp.actions is not None:
        if exp.actions.any_of:
            assert any(_matches(t, tg, m) for t, tg in ran for m in exp.actions.any_of), (ran, r.planned, r.notes)
        for t, tg in ran:
            assert not any(_matches(t, tg, m) for m in exp.actions.forbidden), (t, tg)
    assert r.recovered, r.checks
    assert r.outcome == "resolved", (r.outcome, r.notes)
    assert r.audit_ok, r.notes


def _judge_hands_off(name: str, r: EpisodeResult) -> None:
    """Nothing was written (an escalation is allowed), the diagnosis is right, the checks hold."""
    _judge_diagnosis(name, r)
    writes = [(a.type, a.target) for a in r.actions if a.type != "escalate"]
    assert writes == [], (writes, r.planned, r.notes)
    assert r.outcome in ("escalated", "rejected", "no_action", "answered", "resolved"), (r.outcome, r.notes)
    assert r.recovered, r.checks
    assert r.audit_ok, r.notes


@pytest.mark.parametrize("name", SCENARIOS)
def test_autonomous_fixes_it(name: str, tmp_path: Path) -> None:
    kind = _kind(name)
    if kind == "review":
        pytest.skip("declared dry-run: judged by test_dry_run_changes_nothing")
    r = run_episode(SUITE / f"{name}.yaml", speed=SPEED, mode="autonomous", workdir=tmp_path)
    if kind == "hands-off":
        _judge_hands_off(name, r)
    elif kind == "approval":  # a high-risk step: even autonomous Prophet waits for a human, and writes nothing
        _judge_diagnosis(name, r)
        assert r.outcome == "pending_approval", (r.outcome, r.notes)
        assert r.actions == [], r.actions
    else:
        _judge_fixed(name, r)


@pytest.mark.parametrize("name", SCENARIOS)
def test_human_in_loop_waits_then_fixes_it(name: str, tmp_path: Path) -> None:
    kind = _kind(name)
    if kind == "review":
        pytest.skip("declared dry-run: judged by test_dry_run_changes_nothing")
    r = run_episode(SUITE / f"{name}.yaml", speed=SPEED, mode="human-in-loop", workdir=tmp_path)
    if kind == "hands-off":
        _judge_hands_off(name, r)
        return
    _judge_fixed(name, r)
    assert r.decision in ("approve", "needs_approval")


@pytest.mark.parametrize("name", SCENARIOS)
def test_dry_run_changes_nothing(name: str, tmp_path: Path) -> None:
    r = run_episode(SUITE / f"{name}.yaml", speed=SPEED, mode="dry-run", workdir=tmp_path)
    assert not r.error, r.error
    _judge_diagnosis(name, r)
    allowed = ("dry_run", "rejected") + (("escalated", "no_action") if _kind(name) == "hands-off" else ())
    assert r.outcome in allowed, r.outcome
    assert r.planned, "a dry run still shows the plan"
    assert r.actions == []
    assert r.changed == [], r.changed
    assert r.audit_ok, r.notes
