"""What a planning rule works with (`RuleContext`) and what it returns (`Proposal`).

A rule reads the live cluster through the context's client (the diagnosis' cluster), never writes, and
returns alternatives, best first. Each `Proposal` is one complete way to fix the incident: a primary
action, the follow-ups it needs (cordon then drain), the checks that prove it worked, and one line each
of rationale and expected outcome. The planner picks one proposal per plan; the others stay candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prophet_sre.domain import Action, Check, Diagnosis, EscalateAction, Finding, ResourceRef, Risk
from prophet_sre.errors import NotFound, ToolError
from prophet_sre.tools.actions.base import selector_string
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient, KubeClients

log = logging.getLogger(__name__)
Obj = dict[str, Any]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


@dataclass
class Proposal:
    """One way to fix the incident: actions in order (primary first), checks, and why."""

    actions: list[Action]
    checks: list[Check] = field(default_factory=list)
    rationale: str = ""
    expected: str = ""
    runbook_ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Memory notes added while ranking ("failed in incident X")."""

    @property
    def primary(self) -> Action:
        return self.actions[0]

    @property
    def escalates(self) -> bool:
        return all(a.type == "escalate" for a in self.actions)


def escalation(target: ResourceRef, message: str, *, rationale: str = "") -> Proposal:
    """A proposal that only hands the incident to a human, with what they should look at."""
    msg = message if len(message) <= 600 else message[:597] + "..."
    return Proposal([EscalateAction(target=target, risk=Risk.LOW, reason="nothing safe to do automatically",
                                    message=msg)],
                    rationale=rationale or msg, expected="a human takes over the incident")


class RuleContext:
    """The diagnosis, its evidence and a read-only view of the cluster it names (reads cached per call)."""

    def __init__(self, diagnosis: Diagnosis, findings: Sequence[Finding], clients: KubeClients) -> None:
        self.diagnosis = diagnosis
        self.findings = list(findings) or list(diagnosis.evidence)
        self.clients = clients
        self.root = diagnosis.root_cause or self._guess_root()
        self._cache: dict[tuple[str, str, str], Any] = {}
        self._now: datetime | None = None

    # -- the object in question ----------------------------------------------------------------------------
    def _guess_root(self) -> ResourceRef | None:
        """Without a root cause: the object most findings point at (a pod's owner counts for the owner)."""
        counts: dict[ResourceRef, int] = {}
        for f in self.findings:
            ref = f.parent if f.parent is not None and f.ref.kind == "Pod" else f.ref
            counts[ref] = counts.get(ref, 0) + len(f.errors or ["?"])
        return max(counts, key=lambda r: counts[r]) if counts else None

    @property
    def target(self) -> ResourceRef:
        """The root cause, or a stand-in that names the incident's namespace for an escalation."""
        if self.root is not None:
            return self.root
        ns = next((f.ref.namespace for f in self.findings if f.ref.namespace), "")
        return ResourceRef(kind="Namespace", name=ns or "default")

    def client(self, cluster: str | None = None) -> KubeClient:
        return self.clients.for_cluster(self.root.cluster if cluster is None and self.root else (cluster or ""))

    def get(self, kind: str, name: str, namespace: str = "", *, cluster: str | None = None) -> Obj:
        key = (f"{cluster}:{kind}", namespace, name)
        if key not in self._cache:
            self._cache[key] = self.client(cluster).get(kind, name, namespace or None)
        return self._cache[key]  # type: ignore[no-any-return]

    def try_get(self, kind: str, name: str, namespace: str = "", *, cluster: str | None = None) -> Obj | None:
        try:
            return self.get(kind, name, namespace, cluster=cluster)
        except NotFound:
            return None

    def list(self, kind: str, namespace: str | None = None, *, label_selector: str = "", field_selector: str = "",
             cluster: str | None = None) -> list[Obj]:
        key = (f"{cluster}:{kind}", namespace or "*", f"{label_selector}|{field_selector}")
        if key not in self._cache:
            self._cache[key] = self.client(cluster).list(kind, namespace, label_selector=label_selector,
                                                         field_selector=field_selector)
        return self._cache[key]  # type: ignore[no-any-return]

    def now(self) -> datetime:
        if self._now is None:
            self._now = self.client().cluster_now()
        return self._now

    def workload(self) -> tuple[ResourceRef, Obj] | None:
        """The Deployment/StatefulSet/DaemonSet behind the root cause (a Pod or ReplicaSet is followed up to
        its controller), with the live object; None when the root cause is not a workload."""
        ref = self.root
        if ref is None:
            return None
        if ref.kind == "Pod":
            pod = self.try_get("pods", ref.name, ref.namespace)
            if pod is None:
                return None
            kind, name = o.workload_of(pod)
            if kind == "Pod":
                return None
            ref = ResourceRef(cluster=ref.cluster, kind=kind, namespace=ref.namespace, name=name)
        if ref.kind == "ReplicaSet":
            rs = self.try_get("replicasets", ref.name, ref.namespace)
            owner = next((r for r in o.owners(rs) if o.text(r.get("kind")) == "Deployment"), None) if rs else None
            if owner is None:
                return None
            ref = ResourceRef(cluster=ref.cluster, kind="Deployment", namespace=ref.namespace,
                              name=o.text(owner.get("name")))
        if ref.kind not in WORKLOAD_KINDS:
            return None
        obj = self.try_get(ref.kind, ref.name, ref.namespace)
        return (ref, obj) if obj is not None else None

    def pods_of(self, workload: Obj) -> list[Obj]:
        """Live pods the workload's selector matches (never every pod of a namespace for an empty selector)."""
        sel = o.dig(workload, "spec", "selector")
        if o.selector_is_empty(sel):
            return []
        pods = self.list("pods", o.namespace(workload), label_selector=selector_string(sel))
        return [p for p in pods if not o.dig(p, "metadata", "deletionTimestamp")
                and o.text(o.dig(p, "status", "phase")) not in ("Succeeded", "Failed")]

    def errors_text(self) -> str:
        """Every finding's errors and the diagnosis summary, for matching phrases."""
        parts = [self.diagnosis.summary] + [e for f in self.findings for e in f.errors]
        return "\n".join(parts)

    def findings_about(self, ref: ResourceRef) -> list[Finding]:
        return [f for f in self.findings if f.ref.same_object(ref) or (f.parent and f.parent.same_object(ref))]


def match_labels_selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def read_failed(ctx: RuleContext, what: str, err: ToolError) -> Proposal:
    """The cluster could not be read: escalate, saying what could not be read and why."""
    log.warning("planner: reading %s failed: %s", what, err)
    return escalation(ctx.target, f"Prophet could not read {what} to plan a fix ({err}); check access to the "
                                  f"cluster and the object {ctx.target}.")


__all__ = ["Proposal", "RuleContext", "WORKLOAD_KINDS", "escalation", "match_labels_selector", "read_failed",
           "selector_string"]
