"""Several `AutonomousAction` objects at once: which ones apply to a target, and the strictest of them.

Why: a platform team may declare a cluster-wide policy ("never drain, one action at a time") while an
application team declares its own trigger for its namespace. Neither may loosen the other, so the
incident one object opens runs under *every* applicable object's constraints, each at its strictest:

- approval mode: dry-run > human-in-loop > autonomous;
- allowed actions: the intersection (an action must be allowed by all);
- forbidden namespaces: the union; cooldown: the longest; max concurrent: the fewest;
- blast radius: the smallest, per dimension; minimum confidence: the highest, per risk;
- `highRiskNeedsApproval`: true if any says so.

The trigger, LLM and cluster scope stay those of the object that opened the incident: they say how it
was found and reasoned about, not what may be done. An object applies to a target when its
`trigger.namespaces` is empty or lists the target's namespace, and its `clusters` is empty (the
operator's own cluster) or names the target's cluster.
"""

from __future__ import annotations

from collections.abc import Sequence

from prophet_sre.domain import ResourceRef
from prophet_sre.errors import InvalidInput
from prophet_sre.policy.spec import AutonomousActionSpec, BlastRadiusLimit, Constraints, MinConfidence

MODE_STRICTNESS = {"autonomous": 0, "human-in-loop": 1, "dry-run": 2}


def applies(spec: AutonomousActionSpec, namespace: str, cluster: str = "") -> bool:
    """Whether `spec` governs objects in `namespace` ("" for cluster-scoped ones) of `cluster`."""
    if spec.trigger.namespaces and namespace not in spec.trigger.namespaces:
        return False
    if spec.clusters:
        return cluster in spec.clusters
    return not cluster


def applicable(specs: Sequence[AutonomousActionSpec], target: ResourceRef | None,
               namespace: str = "") -> list[AutonomousActionSpec]:
    """The specs that govern `target` (or, without a target, `namespace`)."""
    ns = target.namespace if target is not None else namespace
    cluster = target.cluster if target is not None else ""
    return [s for s in specs if applies(s, ns, cluster)]


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


__all__ = ["MODE_STRICTNESS", "applicable", "applies", "merge_strictest"]
