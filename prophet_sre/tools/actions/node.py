"""Node actions: `cordon` and `uncordon` (a merge patch of `spec.unschedulable`, as kubectl sends it).

Drain, which cordons and then evicts, is in `drain.py`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from prophet_sre.domain import CordonAction, UncordonAction
from prophet_sre.tools.actions import base, results
from prophet_sre.tools.actions.base import Obj
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.kinds import ResourceKind


def unschedulable_request(kube: KubeClient, node: str, value: bool) -> base.Request:
    return base.write_request("PATCH", kube.resolve("nodes"), "", node, body={"spec": {"unschedulable": value}},
                              content_type=base.MERGE_PATCH)


class _Schedulability(base.SingleWrite):
    """Set `spec.unschedulable` to `desired`; a node already in that state is left alone."""

    desired: ClassVar[bool] = True

    def kind(self) -> ResourceKind:
        return self.kube.resolve("nodes")

    def build(self, live: Obj) -> base.Request | str:
        if (o.dig(live, "spec", "unschedulable") is True) == self.desired:
            return f"node {o.name(live)} is already {'cordoned' if self.desired else 'schedulable'}"
        return unschedulable_request(self.kube, self.action.target.name, self.desired)

    def snapshot(self, obj: Obj) -> dict[str, Any]:
        return {"unschedulable": o.dig(obj, "spec", "unschedulable") is True}

    def inverse(self, before: dict[str, Any]) -> CordonAction | UncordonAction | None:
        if before.get("unschedulable") is self.desired or "unschedulable" not in before:
            return None  # it was already in that state: nothing to undo
        cls = UncordonAction if self.desired else CordonAction
        return cls(target=self.action.target, risk=self.action.risk, reason=f"undo {self.action.type}")

    def reversibility(self) -> str:
        return f"reversible: {'uncordon' if self.desired else 'cordon'}"

    def blast_radius(self) -> results.BlastRadius:
        return results.BlastRadius(nodes=1, detail="no pod is moved; only new scheduling is affected")

    @property
    def namespace(self) -> str:
        return ""


class Cordon(_Schedulability):
    action: CordonAction
    desired = True

    def describe(self) -> str:
        return "mark the node unschedulable; running pods stay"


class Uncordon(_Schedulability):
    action: UncordonAction
    desired = False

    def describe(self) -> str:
        return "mark the node schedulable again"


__all__ = ["Cordon", "Uncordon", "unschedulable_request"]
