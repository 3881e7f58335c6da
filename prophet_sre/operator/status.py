"""What an `AutonomousAction`'s `status` says, and how the operator writes it (and Events on the object).

The status is for people (`kubectl get aa` shows Ready, incidents and pending approvals) and for the
next leader: `pendingApprovals` lists the incidents waiting for a human, with their target, so a replica
that takes over knows them without having seen them start (the incidents themselves live in the
checkpointer). Counters are read back from the object and incremented, so they survive a failover.

Writes go to the `status` subresource as JSON merge patches; conditions follow the Kubernetes
convention (`lastTransitionTime` moves only when the status of a condition changes). Status and Event
writes are best effort: a failure is logged, never raised into an incident.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from prophet_sre.domain import ResourceRef
from prophet_sre.errors import ProphetError
from prophet_sre.graphs.state import IncidentState, Outcome
from prophet_sre.policy.kube_events import record_event
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.errors import Op

log = logging.getLogger(__name__)

GROUP = "aiops.prophet.io"
VERSION = "v1alpha1"
PLURAL = "autonomousactions"
KIND = "AutonomousAction"
MERGE = {"Content-Type": "application/merge-patch+json"}
MAX_PENDING = 50
"""Pending approvals listed in the status (the oldest beyond it are still in the checkpointer)."""
COUNTER = {Outcome.RESOLVED: "resolved", Outcome.ROLLED_BACK: "rolledBack", Outcome.FAILED: "failed",
           Outcome.REJECTED: "rejected", Outcome.DECLINED: "declined", Outcome.ESCALATED: "escalated",
           Outcome.DRY_RUN: "dryRun", Outcome.NO_ACTION: "noAction"}


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_path(namespace: str, name: str = "", sub: str = "") -> str:
    base = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    return base + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


def object_ref(namespace: str, name: str) -> ResourceRef:
    return ResourceRef(kind=KIND, namespace=namespace, name=name)


def condition(old: list[dict[str, Any]], type_: str, status: bool, reason: str, message: str,
              generation: int | None) -> dict[str, Any]:
    """A condition, keeping `lastTransitionTime` when its status did not change."""
    text = "True" if status else "False"
    prev = next((c for c in old if c.get("type") == type_), None)
    since = prev.get("lastTransitionTime") if prev and prev.get("status") == text else None
    out: dict[str, Any] = {"type": type_, "status": text, "reason": reason, "message": message[:1024],
                           "lastTransitionTime": since or now_text()}
    if generation is not None:
        out["observedGeneration"] = generation
    return out


def readiness(obj: dict[str, Any], error: str | None, notes: list[str] | None = None) -> dict[str, Any]:
    """Ready/Degraded for a spec that validated (error None) or did not (the message says what to fix)."""
    status = obj.get("status") or {}
    old = status.get("conditions") or []
    gen = (obj.get("metadata") or {}).get("generation")
    if error:
        conds = [condition(old, "Ready", False, "InvalidSpec", error, gen),
                 condition(old, "Degraded", True, "InvalidSpec", error, gen)]
    elif notes:
        text = "; ".join(notes)
        conds = [condition(old, "Ready", True, "Watching", "watching; " + text, gen),
                 condition(old, "Degraded", True, "SourceDegraded", text, gen)]
    else:
        conds = [condition(old, "Ready", True, "Watching", "the trigger is being watched", gen),
                 condition(old, "Degraded", False, "AsExpected", "", gen)]
    return {"conditions": conds, "observedGeneration": gen}


def incident_summary(state: IncidentState) -> dict[str, Any]:
    target = state.trigger.target or (state.diagnosis.root_cause if state.diagnosis else None)
    outcome = state.outcome.value if state.outcome else "running"
    plan = ", ".join(f"{a.type} {a.target}" for a in state.plan.actions) if state.plan else ""
    diag = f"{state.diagnosis.category.value}: {state.diagnosis.summary}" if state.diagnosis else ""
    return {"id": state.incident_id, "outcome": outcome, "target": str(target) if target else "",
            "reason": state.trigger.reason[:512], "summary": (f"{diag} | plan: {plan or 'none'}")[:1024],
            "time": now_text()}


def counters_after(status: dict[str, Any], state: IncidentState | None, *, pending: int,
                   approvals: int = 0) -> dict[str, int]:
    """The object's counters plus one incident (`state`, when it is new or just finished)."""
    counters = {k: int(v) for k, v in (status.get("counters") or {}).items() if isinstance(v, int)}
    if state is not None and state.outcome is not None:
        key = COUNTER.get(state.outcome)
        if key:
            counters[key] = counters.get(key, 0) + 1
    counters["pendingApprovals"] = pending
    if approvals:
        counters["approvals"] = counters.get("approvals", 0) + approvals
    return counters


class StatusWriter:
    """Reads and patches the status of `AutonomousAction` objects, and records Events on them."""

    def __init__(self, client: KubeClient, identity: str) -> None:
        self.client = client
        self.identity = identity

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.client.get_json(object_path(namespace, name), op=Op("get", PLURAL, GROUP, namespace, name))
        except ProphetError as e:
            log.warning("cannot read AutonomousAction %s/%s: %s", namespace, name, e)
            return None

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> bool:
        body = {"status": {**status, "leader": self.identity}}
        try:
            self.client.request("PATCH", object_path(namespace, name, "status"),
                                op=Op("patch", f"{PLURAL}/status", GROUP, namespace, name), body=body, headers=MERGE)
            return True
        except ProphetError as e:
            log.warning("cannot write the status of AutonomousAction %s/%s: %s", namespace, name, e)
            return False

    def patch_metadata(self, namespace: str, name: str, annotations: dict[str, str | None]) -> bool:
        try:
            self.client.request("PATCH", object_path(namespace, name),
                                op=Op("patch", PLURAL, GROUP, namespace, name),
                                body={"metadata": {"annotations": annotations}}, headers=MERGE)
            return True
        except ProphetError as e:
            log.warning("cannot update the annotations of AutonomousAction %s/%s: %s", namespace, name, e)
            return False

    def event(self, namespace: str, name: str, reason: str, message: str, *, warning: bool = False,
              incident_id: str = "") -> None:
        record_event(self.client, object_ref(namespace, name), reason=reason, message=message,
                     type="Warning" if warning else "Normal", incident_id=incident_id)


__all__ = ["COUNTER", "GROUP", "KIND", "MAX_PENDING", "PLURAL", "VERSION", "StatusWriter", "condition",
           "counters_after", "incident_summary", "now_text", "object_path", "object_ref", "readiness"]
