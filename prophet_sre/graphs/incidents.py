"""The list of incidents, read from the audit log: what happened, what waits for a human.

The audit log already records every step of every incident, in order, durably, across processes, so it
is also the incident index (no second store to keep consistent). The checkpointer holds the full state
of one incident (`IncidentRunner.get`); this module answers "which incidents are there".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel

from prophet_sre.domain import AuditRecord


class IncidentSummary(BaseModel):
    id: str
    started: datetime
    updated: datetime
    trigger: str = ""
    category: str = ""
    root_cause: str = ""
    summary: str = ""
    actions: list[str] = []
    decision: str = ""
    outcome: str = ""
    """Final outcome from the report record; `pending_approval` while a human is awaited; `running` else."""
    mttr_s: float | None = None


def summarize(records: Iterable[AuditRecord]) -> list[IncidentSummary]:
    """One summary per incident, most recently updated first."""
    by_id: dict[str, IncidentSummary] = {}
    for r in records:
        if not r.incident_id:
            continue
        s = by_id.get(r.incident_id)
        if s is None:
            s = by_id[r.incident_id] = IncidentSummary(id=r.incident_id, started=r.time, updated=r.time,
                                                       outcome="running")
        s.updated = r.time
        if r.event == "trigger" and r.trigger:
            s.trigger = str(r.trigger.get("reason") or r.trigger.get("question") or r.trigger.get("type", ""))
        if r.diagnosis is not None:
            d = r.diagnosis
            s.category, s.summary = d.category.value, d.summary
            s.root_cause = str(d.root_cause) if d.root_cause else ""
        if r.plan is not None and r.event in ("plan", "decision", "report"):
            s.actions = [f"{a.type} {a.target}" for a in r.plan.actions]
        if r.verdict is not None:
            s.decision = r.verdict.decision
        if r.event == "decision" and r.result and r.result.get("next") == "approval":
            s.outcome = "pending_approval"
        elif r.event == "approval":
            s.outcome = "running"
        elif r.event == "answer":
            s.outcome = "answered"
        elif r.event == "report" and r.result:
            s.outcome = str(r.result.get("outcome", ""))
            mttr = r.result.get("mttr_s")
            s.mttr_s = float(mttr) if isinstance(mttr, int | float) else None
    return sorted(by_id.values(), key=lambda s: s.updated, reverse=True)


__all__ = ["IncidentSummary", "summarize"]
