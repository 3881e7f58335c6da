"""`drain`: cordon a node, then evict (policy/v1 Eviction) every pod on it that may be moved.

The rules are `kubectl drain`'s, so a human who knows kubectl can predict the outcome:
- DaemonSet pods are skipped when `ignore_daemonsets` (their controller would put them right back),
  otherwise the drain is refused; mirror (static) pods and pods already terminating are skipped;
- pods no controller would recreate, and pods with emptyDir data unless `delete_emptydir_data`, make
  the drain refuse before anything is written (kubectl's `--force` is deliberately not offered);
- evictions go through the API's PodDisruptionBudget check: a 429 is retried with back-off until
  `timeout_s`, after which the result names every pod still blocked and the budget blocking it.
Evicted pods are not restored by the inverse (uncordon): their controllers have already re-created them
elsewhere, which is the point of a drain.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from prophet_sre import errors
from prophet_sre.domain import DrainAction, UncordonAction
from prophet_sre.tools.actions import base, diff, results
from prophet_sre.tools.actions.base import Obj
from prophet_sre.tools.actions.node import unschedulable_request
from prophet_sre.tools.kube import errors as kerr
from prophet_sre.tools.kube import objects as o

MIRROR = "kubernetes.io/config.mirror"


@dataclass
class DrainPlan:
    node: Obj
    evict: list[Obj] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Reasons the drain cannot go ahead at all (kubectl's errors without --force)."""


def _key(pod: Obj) -> str:
    return f"{o.namespace(pod)}/{o.name(pod)}"


class Drain(base.PreparedAction):
    action: DrainAction

    @property
    def namespace(self) -> str:
        return ""

    def describe(self) -> str:
        return (f"cordon the node and evict its pods honouring PodDisruptionBudgets (retrying refused evictions "
                f"for up to {self.action.timeout_s}s); controllers re-create the pods on other nodes")

    def reversibility(self) -> str:
        return "partly reversible: uncordon; evicted pods are not restored (their controllers re-created them)"

    def plan(self) -> DrainPlan:
        node = self.kube.get("nodes", self.action.target.name)
        pods = self.kube.list("pods", None, field_selector=f"spec.nodeName={o.name(node)}")
        plan = DrainPlan(node)
        for pod in sorted(pods, key=_key):
            key, ctl = _key(pod), next((r for r in o.owners(pod) if r.get("controller") is True), None)
            finished = o.text(o.dig(pod, "status", "phase")) in ("Succeeded", "Failed")
            if MIRROR in o.annotations(pod):
                plan.skipped.append(f"{key}: mirror pod (managed by the kubelet)")
            elif o.dig(pod, "metadata", "deletionTimestamp"):
                plan.skipped.append(f"{key}: already terminating")
            elif ctl is not None and o.text(ctl.get("kind")) == "DaemonSet":
                if self.action.ignore_daemonsets:
                    plan.skipped.append(f"{key}: DaemonSet-managed")
                else:
                    plan.refused.append(f"{key}: cannot delete DaemonSet-managed Pods (set ignore_daemonsets)")
            elif ctl is None and not finished:
                plan.refused.append(f"{key}: cannot delete Pods that declare no controller (nothing would "
                                    "re-create it)")
            elif not self.action.delete_emptydir_data and not finished and any(
                    "emptyDir" in v for v in o.items(o.dig(pod, "spec", "volumes"))):
                plan.refused.append(f"{key}: cannot delete Pods with local storage (set delete_emptydir_data)")
            else:
                plan.evict.append(pod)
        return plan

    def eviction(self, pod: Obj) -> base.Request:
        ns, name = o.namespace(pod), o.name(pod)
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}}
        path = self.kube.resolve("pods").path(ns, name, "eviction")
        return base.Request("POST", path, kerr.Op("create", "pods/eviction", "", ns, name), body, base.JSON)

    def requests(self) -> list[base.Request]:
        plan = self.plan()
        cordon = [] if o.dig(plan.node, "spec", "unschedulable") is True else [
            unschedulable_request(self.kube, o.name(plan.node), True)]
        return cordon + [self.eviction(p) for p in plan.evict]

    def _checked_plan(self) -> DrainPlan:
        plan = self.plan()
        if plan.refused:
            raise errors.ToolError(f"cannot drain node {o.name(plan.node)}: " + "; ".join(plan.refused))
        return plan

    def _dry_run(self, result: results.DryRunResult) -> None:
        plan = self._checked_plan()
        parts = []
        if o.dig(plan.node, "spec", "unschedulable") is not True:
            after = base.send(self.kube, unschedulable_request(self.kube, o.name(plan.node), True), dry_run=True)
            parts.append(self.diff(f"Node {o.name(plan.node)}", plan.node, after))
        for pod in plan.evict:
            try:
                base.send(self.kube, self.eviction(pod), dry_run=True)
                parts.append(f"--- Pod {_key(pod)} (evicted)")
            except errors.ToolUnavailable as e:
                parts.append(f"--- Pod {_key(pod)} (eviction refused now, retried for up to "
                             f"{self.action.timeout_s}s: {self._blocker(pod, str(e))})")
        result.notes += plan.skipped
        result.diff = diff.bound("\n".join(parts).splitlines(), self.settings.diff_max_lines) or "(no change)"

    def _execute(self, result: results.ExecutionResult) -> None:
        plan = self._checked_plan()
        node = o.name(plan.node)
        was = o.dig(plan.node, "spec", "unschedulable") is True
        result.before = {"unschedulable": was, "pods": [_key(p) for p in plan.evict]}
        result.notes += plan.skipped
        if not was:
            answer = base.send(self.kube, unschedulable_request(self.kube, node, True))
            result.changed[f"Node {node}"] = o.text(o.dig(answer, "metadata", "resourceVersion"))
        evicted: list[str] = []
        result.changed["evicted"] = evicted
        deadline = time.monotonic() + self.action.timeout_s
        blocked = self._evict_all(plan.evict, evicted, deadline)
        result.after = {"unschedulable": True, "evicted": evicted}
        terminating = self._wait_gone([p for p in plan.evict if _key(p) in evicted], deadline)
        if terminating:
            result.notes.append(f"still terminating at the deadline: {', '.join(terminating)}")
        if blocked:
            result.changed["blocked"] = [{"pod": k, "reason": why} for k, why in blocked.items()]
            result.error = (f"drain of node {node} incomplete after {self.action.timeout_s}s: {len(blocked)} "
                            f"pod(s) could not be evicted: "
                            + "; ".join(f"{k} - {why}" for k, why in blocked.items()))

    def _evict_all(self, pods: list[Obj], evicted: list[str], deadline: float) -> dict[str, str]:
        """Evict until none is left or the deadline passes; {pod: why it is still blocked}."""
        pending = {_key(p): p for p in pods}
        blocked: dict[str, str] = {}
        delay = self.settings.eviction_backoff_s
        while pending:
            for key, pod in list(pending.items()):
                try:
                    base.send(self.kube, self.eviction(pod))
                except errors.NotFound:
                    pass  # already gone: as good as evicted
                except errors.ToolUnavailable as e:  # 429 from a PodDisruptionBudget, or the server is busy
                    blocked[key] = str(e)
                    continue
                evicted.append(key)
                pending.pop(key)
                blocked.pop(key, None)
            remaining = deadline - time.monotonic()
            if not pending or remaining <= 0:
                break
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, self.settings.eviction_backoff_max_s)
        return {k: self._blocker(pending[k], why) for k, why in blocked.items() if k in pending}

    def _blocker(self, pod: Obj, message: str) -> str:
        """Which PodDisruptionBudget blocks `pod`, with its numbers; else the server's message."""
        for pdb in self.kube.list("poddisruptionbudgets", o.namespace(pod)):
            selector = o.dig(pdb, "spec", "selector")
            if selector is not None and o.matches_selector(selector, o.labels(pod)):
                s = o.mapping(pdb.get("status"))
                return (f"blocked by PodDisruptionBudget {o.namespace(pdb)}/{o.name(pdb)} (disruptionsAllowed "
                        f"{o.num(s.get('disruptionsAllowed'))}, currentHealthy {o.num(s.get('currentHealthy'))}, "
                        f"desiredHealthy {o.num(s.get('desiredHealthy'))})")
        return message

    def _wait_gone(self, pods: list[Obj], deadline: float) -> list[str]:
        """Wait (until the deadline) for evicted pods to be deleted, as kubectl drain does."""
        left = {_key(p): o.text(o.dig(p, "metadata", "uid")) for p in pods}

        def check() -> bool | None:
            for key, uid in list(left.items()):
                ns, name = key.split("/", 1)
                try:
                    pod = self.kube.get("pods", name, ns)
                except errors.NotFound:
                    pod = None
                if pod is None or o.text(o.dig(pod, "metadata", "uid")) != uid:
                    left.pop(key)
            return True if not left else None

        self.wait_until(check, timeout_s=max(deadline - time.monotonic(), 0.0))
        return sorted(left)

    def inverse(self, before: dict[str, Any]) -> UncordonAction | None:
        if before.get("unschedulable") is not False:
            return None
        return UncordonAction(target=self.action.target, risk=self.action.risk,
                              reason="undo drain: uncordon (evicted pods are not restored)")

    def blast_radius(self) -> results.BlastRadius:
        plan = self.plan()
        return results.BlastRadius(pods=len(plan.evict), nodes=1,
                                namespaces=sorted({o.namespace(p) for p in plan.evict}),
                                detail=f"{len(plan.evict)} pods evicted, {len(plan.skipped)} skipped, "
                                       f"{len(plan.refused)} refusing the drain")


__all__ = ["Drain", "DrainPlan"]
