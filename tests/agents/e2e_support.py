"""Shared judging for the end-to-end tests (`test_e2e_*.py`): the five product use cases and the seven
classic faults of the public suite, in every approval mode, on a simulated cluster. (The whole suite runs
under the eval harness: `scripts/eval_gate`.)

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

from prophet_sre.domain import ResourceRef, canonical_kind
from prophet_sre.evals.episode import EpisodeResult
from prophet_sre.sim.scenario.loader import load_scenario

SUITE = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
USE_CASES = ("backend-memory-leak", "east-west-scan", "fleet-cluster-degraded", "db-pool-exhaustion",
             "cascading-resource-exhaustion")
CLASSICS = ("bad-image-tag", "crash-bad-command", "pvc-missing-storageclass", "wrong-probe-path",
            "service-selector-mismatch", "unsatisfiable-node-selector", "missing-configmap-key")
SCENARIOS = USE_CASES + CLASSICS
SPEED = 50.0


def as_ref(value: object) -> ResourceRef:
    """A scenario reference (`Ref` model or text) as a ResourceRef."""
    if isinstance(value, str):
        return ResourceRef.parse(value)
    return ResourceRef(cluster=getattr(value, "cluster", "") or "", kind=canonical_kind(str(value.kind)),
                       namespace=getattr(value, "namespace", "") or "", name=str(value.name))


def matches(action_type: str, target: str, match: object) -> bool:
    m_type, m_target, m_ns = (getattr(match, k, None) for k in ("type", "target", "namespace"))
    ref = ResourceRef.parse(target)
    if m_type is not None and m_type != action_type:
        return False
    if m_target is not None and not ref.same_object(as_ref(m_target)):
        return False
    return not (m_ns is not None and ref.namespace != m_ns)


def kind_of(name: str) -> str:
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


def judge_diagnosis(name: str, r: EpisodeResult) -> None:
    sc = load_scenario(SUITE / f"{name}.yaml")
    assert not r.error, r.error
    assert r.diagnosis is not None, r.notes
    exp = sc.expect
    if exp.diagnosis is not None:
        assert r.diagnosis["category"] == exp.diagnosis.category.value, r.diagnosis
        if exp.diagnosis.root_cause:
            got = ResourceRef.parse(r.diagnosis["root_cause"] or "")
            assert got.same_object(as_ref(exp.diagnosis.root_cause)), r.diagnosis
        for word in exp.diagnosis.mentions:
            assert word.lower() in r.diagnosis["summary"].lower(), (word, r.diagnosis["summary"])
    for word in exp.answer_mentions:
        assert word.lower() in r.answer.lower(), (word, r.answer)


def judge_fixed(name: str, r: EpisodeResult) -> None:
    sc = load_scenario(SUITE / f"{name}.yaml")
    assert not r.error, r.error
    assert r.trigger_fired, r.notes
    judge_diagnosis(name, r)
    exp = sc.expect
    ran = [(a.type, a.target) for a in r.actions if a.ok]
    if exp.actions is not None:
        if exp.actions.any_of:
            assert any(matches(t, tg, m) for t, tg in ran for m in exp.actions.any_of), (ran, r.planned, r.notes)
        for t, tg in ran:
            assert not any(matches(t, tg, m) for m in exp.actions.forbidden), (t, tg)
    assert r.recovered, r.checks
    assert r.outcome == "resolved", (r.outcome, r.notes)
    assert r.audit_ok, r.notes


def judge_hands_off(name: str, r: EpisodeResult) -> None:
    """Nothing was written (an escalation is allowed), the diagnosis is right, the checks hold."""
    judge_diagnosis(name, r)
    writes = [(a.type, a.target) for a in r.actions if a.type != "escalate"]
    assert writes == [], (writes, r.planned, r.notes)
    assert r.outcome in ("escalated", "rejected", "no_action", "answered", "resolved"), (r.outcome, r.notes)
    assert r.recovered, r.checks
    assert r.audit_ok, r.notes


