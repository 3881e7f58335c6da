"""The strictest of several `AutonomousAction` specs: no policy may loosen another.

Used wherever more than one policy governs one incident: the operator (a platform team's cluster-wide
object and an application team's namespaced one) and an approval (the policy the incident was opened
under and the one of the process that resumes it). Each constraint is taken at its strictest:

- approval mode: dry-run > human-in-loop > autonomous;
- allowed actions: the intersection (an action must be allowed by all);
- forbidden namespaces: the union; cooldown: the longest; max concurrent: the fewest;
- blast radius: the smallest, per dimension; minimum confidence: the highest, per risk;
- `highRiskNeedsApproval`: true if any says so.

The trigger, LLM and cluster scope stay those of the first spec: they say how the incident was found
and reasoned about, not what may be done.
"""

from __future__ import annotations

from collections.abc import Sequence

from prophet_sre.errors import InvalidInput
from prophet_sre.policy.spec import AutonomousActionSpec, BlastRadiusLimit, Constraints, MinConfidence

MODE_STRICTNESS = {"autonomous": 0, "human-in-loop": 1, "dry-run": 2}


def merge_strictest(specs: Sequence[AutonomousActionSpec]) -> AutonomousActionSpec:
    """One spec: the first one's trigger, LLM and clusters, every constraint at its strictest (module doc)."""
    if not specs:
        raise InvalidInput("merge_strictest needs at least one AutonomousAction spec")
    first = specs[0]
    if len(specs) == 1:
        return first
    cs = [s.constraints for s in specs]
    allowed = [a for a in first.constraints.allowed_actions if all(a in c.allowed_actions for c in cs)]
    forbidden = list(dict.fromkeys(ns for c in cs for ns in c.forbidden_namespaces))
    radius = BlastRadiusLimit(**{f: min(getattr(c.max_blast_radius, f) for c in cs)
                                 for f in BlastRadiusLimit.model_fields})
    confidence = MinConfidence(**{f: max(getattr(c.min_confidence, f) for c in cs)
                                  for f in MinConfidence.model_fields})
    constraints = Constraints(
        allowed_actions=allowed, forbidden_namespaces=forbidden,
        cooldown_seconds=max(c.cooldown_seconds for c in cs), max_concurrent=min(c.max_concurrent for c in cs),
        max_blast_radius=radius, min_confidence=confidence,
        high_risk_needs_approval=any(c.high_risk_needs_approval for c in cs))
    mode = max((s.approval_mode for s in specs), key=MODE_STRICTNESS.__getitem__)
    return first.model_copy(update={"approval_mode": mode, "constraints": constraints})


__all__ = ["MODE_STRICTNESS", "merge_strictest"]
