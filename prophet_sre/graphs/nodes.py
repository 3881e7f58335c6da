"""Shared plumbing of the graphs' nodes: timing a step, writing audit records, emitting events.

Every node of both graphs goes through `NodeRun`: it times the node, appends a `Step` for the live
view and the eval's step count, and writes the node's decision to the audit log (DESIGN.md: every node
appends to the audit log). Audit failures are not swallowed: an incident whose decisions cannot be
recorded must not go on to write to a cluster.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from prophet_sre.domain import AuditRecord, ResourceRef
from prophet_sre.graphs.context import Deps
from prophet_sre.graphs.state import IncidentState, Step, utcnow

log = logging.getLogger(__name__)


class NodeRun:
    """One node's run: `with NodeRun(deps, state, "diagnose") as run: ...; return run.update(...)`."""

    def __init__(self, deps: Deps, state: IncidentState, node: str) -> None:
        self.deps, self.state, self.node = deps, state, node
        self.summary = ""
        self._t0 = time.perf_counter()

    def __enter__(self) -> NodeRun:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def audit(self, event: str, **fields: Any) -> AuditRecord:
        record = AuditRecord(id="", actor=self.deps.identity, event=event, incident_id=self.state.incident_id,
                             **fields)
        return self.deps.audit.append(record)

    def update(self, summary: str, **changes: Any) -> dict[str, Any]:
        """The node's state update, with its `Step`; also sent to the event sink."""
        ms = (time.perf_counter() - self._t0) * 1000
        self.deps.emit({"incident": self.state.incident_id, "node": self.node, "summary": summary,
                        "ms": round(ms, 1), "time": utcnow().isoformat()})
        return {**changes, "steps": [Step(node=self.node, summary=summary, ms=ms)]}


def cluster_now(deps: Deps, cluster: str = "") -> datetime:
    """The cluster's clock (cooldowns and verification deadlines use it); local UTC when unreachable."""
    try:
        return deps.clients.for_cluster(cluster).cluster_now()
    except Exception as e:  # noqa: BLE001 - a clock is never worth failing an incident for
        log.warning("cannot read the clock of cluster %r (%s); using local time", cluster or "default", e)
        return utcnow()


def record_event(deps: Deps, target: ResourceRef | None, *, reason: str, message: str,
                 warning: bool = False, incident_id: str = "") -> None:
    """A Kubernetes Event on the object (best effort: the audit log is the record that must not fail)."""
    if target is None:
        return
    from prophet_sre.policy.audit import record_event as write_event

    try:
        kube = deps.clients.for_cluster(target.cluster)
    except Exception as e:  # noqa: BLE001
        log.warning("no client for cluster %r: event %s not written (%s)", target.cluster, reason, e)
        return
    write_event(kube, target, reason=reason, message=message, type="Warning" if warning else "Normal",
                incident_id=incident_id)


__all__ = ["NodeRun", "cluster_now", "record_event"]
