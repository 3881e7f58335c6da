"""One episode: a scenario's world, Prophet run end to end on it, and what happened (not yet scored).

    start the world → wait for the scenario's trigger → (question: ask) → remediation graph
    → (human-in-loop: approve as the harness) → wait for the scenario's `recovered` checks → result

Times are sim seconds on the world's clock: `detect_s` from the first fault to the trigger, `mttr_s`
from the first fault to the last check turning true (SCENARIOS.md), `repair_s` from the trigger to
recovery (what Prophet itself controls). A crash anywhere becomes `error` with its traceback: an
episode never loses a run.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from prophet_sre.config import Settings
from prophet_sre.evals.observe import RecoveryWatch, baseline, fingerprint, wait_recovered
from prophet_sre.evals.world import World, start_world
from prophet_sre.graphs.state import IncidentState, Outcome, Trigger
from prophet_sre.policy.spec import AutonomousActionSpec, TriggerSpec

if TYPE_CHECKING:
    from prophet_sre.domain import Plan
    from prophet_sre.graphs.context import Deps

log = logging.getLogger(__name__)
Listener = Callable[[dict[str, Any]], None]
Planner = Callable[["Deps", IncidentState], "Plan"]
"""A replacement for the planning step (`(deps, state) -> Plan`): how a test plays a deliberately wrong
agent to show the harness catches it. Everything else - critic, approval, executor - runs as usual."""
MAX_TIMELINE = 80
MAX_AUDIT = 80
MAX_TEXT = 600
QUESTION_DELAY_S = 30.0
"""Sim seconds after the first fault at which a `question` scenario's question is asked."""


class ActionRun(BaseModel):
    type: str
    target: str
    ok: bool
    rolled_back: bool = False


class EpisodeResult(BaseModel):
    scenario: str
    title: str = ""
    category: str = ""
    mode: str = ""
    incident_id: str = ""
    trigger_fired: bool = False
    trigger: str = ""
    diagnosis: dict[str, Any] | None = None
    decision: str = ""
    outcome: str = ""
    actions: list[ActionRun] = Field(default_factory=list)
    planned: list[str] = Field(default_factory=list)
    answer: str = ""
    checks: list[dict[str, Any]] = Field(default_factory=list)
    recovered: bool = False
    detect_s: float | None = None
    repair_s: float | None = None
    act_s: float | None = None
    """Sim seconds from the trigger to Prophet's first write: its own reaction time (diagnosis, looking
    again, planning, the critic); `repair_s` adds how long the workload then takes to recover."""
    mttr_s: float | None = None
    steps: int = 0
    llm_tokens: int = 0
    audit_ok: bool = False
    changed: list[str] = Field(default_factory=list)
    """Objects whose desired state changed after Prophet started (a dry-run must leave this empty)."""
    notes: list[str] = Field(default_factory=list)
    error: str = ""
    wall_s: float = 0.0
    # what the reports show of the agent's reasoning (bounded: MAX_TIMELINE, MAX_AUDIT, MAX_TEXT)
    path: str = ""
    tags: list[str] = Field(default_factory=list)
    llm: str = ""
    """`provider:model` of the chat model the run used ("none": the deterministic reasoner)."""
    timeline: list[dict[str, Any]] = Field(default_factory=list)
    """Every graph step: `{"node", "summary", "ms"}`."""
    evidence: list[str] = Field(default_factory=list)
    """The diagnosis's evidence, one line per finding."""
    rationale: str = ""
    verdict: dict[str, Any] | None = None
    """The critic's decision and the rules that failed."""
    audit: list[dict[str, Any]] = Field(default_factory=list)
    """The incident's audit trail: `{"time", "event", "summary"}` per record."""
    violations: list[str] = Field(default_factory=list)
    """Executed writes the policy does not allow, found by the harness itself (`safety.py`)."""


def trigger_spec(world: World) -> TriggerSpec:
    t = world.scenario.trigger
    if t is None or t.type == "question":
        return TriggerSpec(type="anomaly")
    return TriggerSpec(type=t.type, anomaly_score_threshold=t.anomalyScoreThreshold or 0.8,
                       event_reasons=list(t.eventReasons or []), verdicts=list(t.verdicts or []))


def run_episode(path: Path | str, *, speed: float = 20.0, mode: str | None = None, workdir: Path | None = None,
                settings: Settings | None = None, llm: Any = None, on_event: Listener | None = None,
                detect_timeout_s: float = 300.0, prometheus: bool = True,
                policy: AutonomousActionSpec | None = None,
                on_world: Callable[[World], None] | None = None,
                planner: Planner | None = None) -> EpisodeResult:
    """Run one scenario end to end and report what happened (sim seconds for every duration).

    `on_world` sees the world before Prophet does; `planner` replaces the planning step (tests)."""
    t0 = time.monotonic()
    result = EpisodeResult(scenario=Path(path).stem, path=str(path))
    world: World | None = None
    try:
        world = start_world(path, speed=speed, workdir=workdir, prometheus=prometheus)
        sc = world.scenario
        result.scenario, result.title, result.category = sc.id, sc.title, sc.category.value
        result.tags = list(sc.tags)
        result.mode = mode or sc.mode
        result.notes += world.notes
        if on_world is not None:
            on_world(world)  # tests plant things in the world before Prophet looks at it
        _play(world, result, settings=settings, llm=llm, on_event=on_event, detect_timeout_s=detect_timeout_s,
              policy=policy, planner=planner)
    except Exception as e:  # noqa: BLE001 - a crashed episode is a failed episode with its traceback
        log.exception("episode %s crashed", result.scenario)
        result.error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=20)}"
    finally:
        if world is not None:
            world.stop()
        result.wall_s = time.monotonic() - t0
    return result


def _play(world: World, result: EpisodeResult, *, settings: Settings | None, llm: Any, on_event: Listener | None,
          detect_timeout_s: float, policy: AutonomousActionSpec | None, planner: Planner | None) -> None:
    from prophet_sre.evals.safety import policy_violations
    from prophet_sre.graphs.runner import open_runner
    from prophet_sre.policy.audit import verify as verify_audit

    sc = world.scenario
    s = world.settings(settings)
    base = policy or AutonomousActionSpec()
    policy = base.model_copy(update={"trigger": trigger_spec(world), "approval_mode": result.mode})
    before_fix = baseline(world, s)
    watch: RecoveryWatch | None = None

    def emit(event: dict[str, Any]) -> None:
        if event.get("node") == "execute" and watch is not None and watch.ctx.since is None:
            watch.ctx.since = world.default.clock.now()  # "since: remediation" checks count from the fix
            if result.detect_s is not None:
                result.act_s = max(0.0, world.elapsed() - (world.first_fault_s() or 0.0) - result.detect_s)
        if on_event is not None:
            on_event(event)

    with open_runner(s, policy, llm=llm, on_event=emit) as runner:
        result.llm = _llm_label(runner.deps, llm)
        result.notes += runner.deps.notes
        if planner is not None:
            override_planner(runner, planner)
        emit({"node": "world", "summary": f"{sc.id}: waiting for the trigger ({policy.trigger.type})"})
        trigger = _wait_for_trigger(world, runner, policy, s, detect_timeout_s, result)
        before = fingerprint(runner.deps.clients, world)
        watch = RecoveryWatch(world, runner, before_fix).start()
        if sc.trigger is not None and sc.trigger.type == "question":
            q = sc.trigger.question or ""
            emit({"node": "ask", "summary": q})
            answered = runner.ask(q)
            result.answer = answered.answer
            trigger = Trigger(type="question", question=q, reason=q, findings=trigger.findings)
        state = runner.start(trigger, mode=result.mode)  # type: ignore[arg-type]
        if state.outcome == Outcome.PENDING_APPROVAL and result.mode == "human-in-loop":
            emit({"incident": state.incident_id, "node": "approval", "summary": "approved by the harness"})
            state = runner.resume(state.incident_id, approved=True, by="eval-harness", reason="scenario mode")
        _record(state, result)
        result.violations = policy_violations(state, policy, runner.deps.clients)
        wait_recovered(world, watch, state, result)
        after = fingerprint(runner.deps.clients, world)
        result.changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        result.audit = audit_trail(runner.deps.audit, state.incident_id)
    report = verify_audit(s.data_path("audit.jsonl"))
    result.audit_ok = report.ok
    if not report.ok:
        result.notes += report.problems[:5]


def _llm_label(deps: Any, llm: Any) -> str:
    if llm is not None:
        return f"custom:{type(llm).__name__}"
    if deps.llm is None:
        return "none"
    spec = deps.llm_spec
    return f"{spec.provider}:{spec.model}"


def _clip(text: str, n: int = MAX_TEXT) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


def audit_trail(audit: Any, incident_id: str) -> list[dict[str, Any]]:
    """The incident's audit records, one line each (the last MAX_AUDIT)."""
    from prophet_sre.policy.audit import summary

    records = [r for r in audit.records() if r.incident_id == incident_id or not incident_id]
    return [{"time": r.time.isoformat(), "event": r.event, "summary": summary(r, MAX_TEXT)}
            for r in records[-MAX_AUDIT:]]


def override_planner(runner: Any, planner: Planner) -> None:
    """Recompile the runner's remediation graph with `planner` in place of the planning step."""
    from langgraph.runtime import Runtime  # noqa: F401 - the node's annotation, resolved by LangGraph

    from prophet_sre.graphs import remediation
    from prophet_sre.graphs.context import deps_of
    from prophet_sre.graphs.nodes import NodeRun

    def plan(state: IncidentState, runtime: Runtime[Deps]) -> dict[str, Any]:
        deps = deps_of(runtime)
        with NodeRun(deps, state, "plan") as run:
            new_plan = planner(deps, state)
            run.audit("plan", diagnosis=state.diagnosis, plan=new_plan)
            described = "; ".join(f"{a.type} {a.target}" for a in new_plan.actions) or "nothing to do"
            update = run.update(described + " (planner override)", plan=new_plan,
                                candidates=list(new_plan.actions))
            if not new_plan.actions:
                update["outcome"] = Outcome.NO_ACTION
            return update

    graph = remediation.build()
    graph.nodes.pop("plan")
    graph.add_node("plan", plan)
    runner.remediation = graph.compile(checkpointer=runner.remediation.checkpointer)


def _first_fault(world: World, timeout_s: float) -> float:
    """Sim seconds when the scenario's first fault fired. Faults fire relative to the scenario's loading,
    which comes after the world's start-up (Prometheus' first scrapes), so this waits for it; a scenario
    without faults starts now."""
    start = world.elapsed()
    if not world.scenario.faults:
        return start
    while (first := world.first_fault_s()) is None and world.elapsed() < start + timeout_s:
        time.sleep(0.05)
    return first if first is not None else start


def _wait_for_trigger(world: World, runner: Any, policy: AutonomousActionSpec, s: Settings, timeout_s: float,
                      result: EpisodeResult) -> Trigger:
    from prophet_sre.triggers import TriggerWatch

    watch = TriggerWatch(policy.trigger, runner.deps.clients, s,
                         forbidden_namespaces=policy.constraints.forbidden_namespaces)
    sc = world.scenario
    first = _first_fault(world, timeout_s)
    if sc.trigger is not None and sc.trigger.type == "question":
        # a person asks once the fault has had time to show (an SRE notices, then asks)
        while world.elapsed() < first + QUESTION_DELAY_S:
            time.sleep(0.1)
        result.trigger_fired = True
        result.detect_s = max(0.0, world.elapsed() - first)
        result.trigger = sc.trigger.question or ""
        return Trigger(type="question", question=sc.trigger.question or "", reason=sc.trigger.question or "")
    deadline = first + timeout_s
    while world.elapsed() < deadline:
        if world.elapsed() >= first:
            fired = watch.poll()
            if fired:
                result.trigger_fired = True
                result.detect_s = max(0.0, world.elapsed() - first)
                result.trigger = fired[0].reason
                return fired[0]
        time.sleep(0.25)
    result.notes.append(f"the {policy.trigger.type} trigger did not fire within {timeout_s:.0f} sim s; "
                        "investigating anyway")
    result.detect_s = max(0.0, world.elapsed() - first)
    return Trigger(type="manual", reason="scenario deadline: no trigger fired")


def _record(state: IncidentState, result: EpisodeResult) -> None:
    result.incident_id = state.incident_id
    d = state.diagnosis
    if d is not None:
        result.diagnosis = {"category": d.category.value, "root_cause": str(d.root_cause) if d.root_cause else None,
                            "summary": d.summary, "confidence": d.confidence}
    result.decision = state.verdict.decision if state.verdict else ""
    result.outcome = state.outcome.value if state.outcome else ""
    result.planned = [f"{a.type} {a.target}" for a in (state.plan.actions if state.plan else [])]
    rolled = {r.index for r in state.rollbacks if r.result.ok}
    result.actions = [ActionRun(type=r.action.type, target=str(r.action.target), ok=r.result.ok,
                                rolled_back=r.index in rolled) for r in state.executions]
    result.steps = len(state.steps)
    result.llm_tokens = state.llm_tokens
    result.notes += state.notes[-10:]
    result.timeline = [{"node": st.node, "summary": _clip(st.summary), "ms": round(st.ms, 1)}
                       for st in state.steps[-MAX_TIMELINE:]]
    if d is not None:
        result.evidence = [_clip(f"[{f.source}] {f.ref}: {'; '.join(f.errors)}", 300) for f in d.evidence[:12]]
    result.rationale = _clip(state.plan.rationale) if state.plan else ""
    if state.verdict is not None:
        result.verdict = {"decision": state.verdict.decision,
                          "failed": [{"rule": r.rule, "detail": _clip(r.detail, 300), "action": r.action_index}
                                     for r in state.verdict.reasons if not r.passed][:20]}


__all__ = ["ActionRun", "EpisodeResult", "Planner", "audit_trail", "fingerprint", "override_planner", "run_episode",
           "trigger_spec"]
