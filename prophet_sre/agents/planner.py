"""The planner: from a diagnosis to a typed, verifiable `Plan` (the graph's `plan` node calls `plan`).

Deterministic first. The built-in rules (`agents/planning/`) compute concrete actions from the live
cluster, best first, each alternative with the checks that prove it worked. Then:

- runbooks: a runbook action with the same type and target as a rule's keeps the rule's computed
  parameters and credits the runbook; runbook actions no rule has are appended as further alternatives
  after the rules' (the critic judges them);
- memory: an action type + target that fixed a similar incident (similarity >= 0.5) moves to the front;
  one that failed or was rolled back moves behind the others, so it is used only when nothing else is left;
- the plan takes one alternative - its primary action plus the follow-ups it needs - and only escalates
  when no alternative is a real fix. `allowed_actions` (the policy's list, when the caller has it) drops
  what could never be executed, so a drain that is not allowed does not take the cordon down with it.

An LLM may propose other actions elsewhere in the graph; it can only ever produce `Action` variants, and
they go through the same critic.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

from prophet_sre.agents.planning import checks as ck
from prophet_sre.agents.planning.context import Proposal, RuleContext, escalation, read_failed
from prophet_sre.agents.planning.rules import RULES
from prophet_sre.domain import Action, Check, Diagnosis, Finding, Plan
from prophet_sre.errors import ToolError
from prophet_sre.graphs.state import MemoryHint, RunbookHit
from prophet_sre.tools.kube.client import KubeClients

log = logging.getLogger(__name__)
MEMORY_SIMILARITY = 0.5
"""Past incidents less similar than this do not move anything: too different to learn from."""


def propose(ctx: RuleContext) -> list[Proposal]:
    """The category's rule, run defensively: a read that fails or a rule bug becomes an escalation."""
    rule = RULES[ctx.diagnosis.category]
    try:
        out = rule(ctx)
    except ToolError as e:
        return [read_failed(ctx, str(ctx.target), e)]
    except Exception as e:  # noqa: BLE001 - a rule's bug must not take the incident down; it is logged and escalated
        log.exception("planner rule for %s failed", ctx.diagnosis.category)
        return [escalation(ctx.target, f"Prophet's {ctx.diagnosis.category} rule failed ({type(e).__name__}: "
                                       f"{str(e)[:200]}); plan the fix for {ctx.target} by hand.")]
    return out or [escalation(ctx.target, f"No rule applies to {ctx.target}: look at it by hand.")]


def candidates(diagnosis: Diagnosis, findings: Sequence[Finding], *, clients: KubeClients) -> list[Action]:
    """The built-in rules' actions for this diagnosis, best first (each alternative's primary, then its
    follow-ups), computed from the live cluster; no runbooks, no memory."""
    return [a for p in propose(RuleContext(diagnosis, findings, clients)) for a in p.actions]


def plan(diagnosis: Diagnosis, findings: Sequence[Finding], *, clients: KubeClients,
         runbooks: Sequence[RunbookHit] = (), memory: Sequence[MemoryHint] = (),
         allowed_actions: Collection[str] | None = None) -> Plan:
    """One plan: the best alternative's actions (primary first), why, what should happen, and its checks."""
    ctx = RuleContext(diagnosis, findings, clients)
    proposals = merge_runbooks(propose(ctx), runbooks)
    proposals = rank_by_memory(proposals, memory)
    if allowed_actions is not None:
        proposals = restrict(proposals, set(allowed_actions))
    chosen = choose(proposals) or escalation(ctx.target, "Every action that could fix this is outside the allowed "
                                                         f"actions; fix {ctx.target} by hand.")
    return to_plan(diagnosis, chosen, proposals, runbooks)


# -- runbooks ------------------------------------------------------------------------------------------------
def _same(a: Action, b: Action) -> bool:
    return a.type == b.type and a.target.same_object(b.target)


def merge_runbooks(proposals: list[Proposal], runbooks: Sequence[RunbookHit]) -> list[Proposal]:
    """Credit runbooks whose actions the rules already computed; append the others' actions after them."""
    out = list(proposals)
    extras: list[Proposal] = []
    for hit in runbooks:
        unmatched: list[Action] = []
        for action in hit.actions:
            owners = [p for p in proposals if any(_same(action, a) for a in p.actions)]
            for p in owners:
                if hit.id not in p.runbook_ids:
                    p.runbook_ids.append(hit.id)
            if not owners:
                unmatched.append(action)
        if unmatched:
            extras.append(Proposal(unmatched, list(hit.verification), runbook_ids=[hit.id],
                                   rationale=f"from runbook {hit.id}" + (f" ({hit.title})" if hit.title else ""),
                                   expected=f"what runbook {hit.id} describes"))
    return out + extras


# -- memory --------------------------------------------------------------------------------------------------
def _memory_score(p: Proposal, memory: Sequence[MemoryHint]) -> float:
    score = 0.0
    if p.escalates:
        return score
    for h in memory:
        if h.similarity < MEMORY_SIMILARITY or h.action_type != p.primary.type:
            continue
        if h.target is not None and not h.target.same_object(p.primary.target):
            continue
        if h.outcome == "fixed":
            score += h.similarity
            p.notes.append(f"{h.action_type} on {p.primary.target} fixed similar incident {h.incident_id} "
                           f"(similarity {h.similarity:.2f})")
        else:
            score -= h.similarity
            p.notes.append(f"{h.action_type} on {p.primary.target} {h.outcome.replace('_', ' ')} in similar incident "
                           f"{h.incident_id} (similarity {h.similarity:.2f})")
    return score


def rank_by_memory(proposals: list[Proposal], memory: Sequence[MemoryHint]) -> list[Proposal]:
    """Stable re-rank: what fixed a similar incident first, what failed there last."""
    if not memory:
        return proposals
    scored = [(_memory_score(p, memory), i, p) for i, p in enumerate(proposals)]
    band = [(0 if s > 0 else 1 if s == 0 else 2, -s if s > 0 else 0.0, i, p) for s, i, p in scored]
    band.sort(key=lambda b: (b[0], b[1], b[2]))
    ranked = [p for *_, p in band]
    demoted = {id(p) for s, _, p in scored if s < 0}
    real_alternatives = [p for p in ranked if not p.escalates and id(p) not in demoted]
    if real_alternatives:  # an alternative exists: what failed before is out (and the plan says why)
        dropped = [n for p in ranked if id(p) in demoted for n in p.notes]
        ranked = [p for p in ranked if id(p) not in demoted]
        for p in ranked:
            p.notes += [f"set aside: {n}" for n in dropped]
    return ranked


def restrict(proposals: list[Proposal], allowed: set[str]) -> list[Proposal]:
    """Drop follow-ups the policy does not allow, and alternatives whose primary it does not allow."""
    out = []
    for p in proposals:
        if p.primary.type != "escalate" and p.primary.type not in allowed:
            continue
        kept = [a for a in p.actions if a.type == "escalate" or a.type in allowed]
        if len(kept) < len(p.actions):
            p.notes.append("left out (not allowed): " + ", ".join(a.type for a in p.actions if a not in kept))
            p.actions = kept
        out.append(p)
    return out


def choose(proposals: list[Proposal]) -> Proposal | None:
    """The first real fix in rank order; an escalation only when there is none."""
    return next((p for p in proposals if not p.escalates), proposals[0] if proposals else None)


def to_plan(diagnosis: Diagnosis, chosen: Proposal, proposals: list[Proposal],
            runbooks: Sequence[RunbookHit]) -> Plan:
    verification: list[Check] = list(chosen.checks)
    if not chosen.escalates:
        for hit in runbooks:
            if hit.id in chosen.runbook_ids:
                verification += hit.verification
    others = [p.primary for p in proposals if p is not chosen and not p.escalates]
    rationale = f"{diagnosis.category.value}: {chosen.rationale}"
    if chosen.notes:
        rationale += " Memory: " + "; ".join(chosen.notes) + "."
    if others:
        rationale += " Alternatives: " + "; ".join(f"{a.type} {a.target}" for a in others[:3]) + "."
    return Plan(actions=list(chosen.actions), rationale=rationale.strip(), runbook_ids=list(chosen.runbook_ids),
                expected_outcome=chosen.expected, verification=ck.dedupe(verification) if not chosen.escalates else [])


__all__ = ["MEMORY_SIMILARITY", "candidates", "choose", "merge_runbooks", "plan", "propose", "rank_by_memory",
           "restrict", "to_plan"]
