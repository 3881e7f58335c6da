"""`escalate`: hand the incident to a human. Never a write to the target.

Executing it returns the rendered message and, when `ActionSettings.record_escalation_event` is on,
records a Kubernetes Event (reason `ProphetEscalation`, type Warning) on the target, so whoever runs
`kubectl describe` on it sees that Prophet gave up and why. Failing to record the Event does not fail
the escalation: the message is the escalation, the Event only a breadcrumb.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prophet_sre import errors
from prophet_sre.domain import EscalateAction
from prophet_sre.tools.actions import base, results
from prophet_sre.tools.actions.base import Obj
from prophet_sre.tools.kube import objects as o

REASON = "ProphetEscalation"
MAX_MESSAGE = 1024
"""Event messages beyond ~1 KiB are truncated by kubectl describe anyway."""


class Escalate(base.PreparedAction):
    action: EscalateAction

    def message(self) -> str:
        a = self.action
        text = a.message or a.reason or "automated remediation stopped; a human decision is needed"
        return f"Prophet escalates {a.target}: {text}"

    def describe(self) -> str:
        return f"no change to the cluster; tell a human: {self.message()}"

    def reversibility(self) -> str:
        return "nothing to undo (no write)"

    def event(self, involved: Obj) -> base.Request:
        t = self.action.target
        ns = t.namespace or "default"
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        ref = {"kind": t.kind, "name": t.name, **({"namespace": t.namespace} if t.namespace else {})}
        for key in ("apiVersion", "kind"):
            if involved.get(key):
                ref[key] = involved[key]
        uid = o.text(o.dig(involved, "metadata", "uid"))
        if uid:
            ref["uid"] = uid
        body = {"apiVersion": "v1", "kind": "Event",
                "metadata": {"generateName": f"{t.name}.", "namespace": ns},
                "involvedObject": ref, "reason": REASON, "type": "Warning",
                "message": self.message()[:MAX_MESSAGE], "source": {"component": "prophet"},
                "reportingComponent": "prophet", "reportingInstance": "prophet",
                "firstTimestamp": now, "lastTimestamp": now, "count": 1}
        return base.write_request("POST", self.kube.resolve("events"), ns, "", body=body)

    def _involved(self) -> Obj:
        t = self.action.target
        try:
            return self.kube.get(t.kind, t.name, t.namespace or None)
        except errors.ToolError:
            return {}  # the Event still names the target; only its uid is missing

    def requests(self) -> list[base.Request]:
        return [self.event({})] if self.settings.record_escalation_event else []

    def _dry_run(self, result: results.DryRunResult) -> None:
        result.diff = "(no change)"
        result.notes.append(self.message())

    def _execute(self, result: results.ExecutionResult) -> None:
        result.changed["message"] = self.message()
        if not self.settings.record_escalation_event:
            return
        try:
            ev = base.send(self.kube, self.event(self._involved()))
        except errors.ToolError as e:
            result.notes.append(f"the {REASON} Event was not recorded: {e}")
            return
        result.changed["event"] = f"{o.namespace(ev)}/{o.name(ev)}"

    def inverse(self, before: dict[str, Any]) -> None:
        return None

    def blast_radius(self) -> results.BlastRadius:
        return results.BlastRadius(detail="no change to the cluster")


__all__ = ["REASON", "Escalate"]
