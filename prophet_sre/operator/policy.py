"""Several `AutonomousAction` objects at once: which ones apply to a target.

Why: a platform team may declare a cluster-wide policy ("never drain, one action at a time") while an
application team declares its own trigger for its namespace. Neither may loosen the other, so the
incident one object opens runs under *every* applicable object's constraints, each at its strictest
(`prophet_sre.policy.merge.merge_strictest`). An object applies to a target when its
`trigger.namespaces` is empty or lists the target's namespace, and its `clusters` is empty (the
operator's own cluster) or names the target's cluster.
"""

from __future__ import annotations

from collections.abc import Sequence

from prophet_sre.domain import ResourceRef
from prophet_sre.policy.spec import AutonomousActionSpec


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


__all__ = ["applicable", "applies"]
