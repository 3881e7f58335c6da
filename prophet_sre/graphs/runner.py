"""Run incidents: start one from a trigger, resume one with a human's decision, ask a question.

The one entry point every front end uses (`prophet run|approve|reject|ask|demo`, the MCP server, the
operator, the eval harness). Each incident is a LangGraph thread whose id is the incident id, so a paused
incident can be resumed by any process that opens the same checkpointer: `prophet approve ID` after a
restart, or another operator replica after a failover.

Running and resuming are exclusive: a lock file per incident under the data directory stops two
processes from running the same incident at once (the second gets a Conflict), and the execute step skips
actions the audit log already records as executed, so an approval can never run a plan twice. A resume
first runs an incident whose process died before its approval request was checkpointed up to that
request again (only steps that write nothing to the cluster are re-run).
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command

from prophet_sre.errors import Conflict, InvalidInput, NotFound
from prophet_sre.graphs import query, remediation
from prophet_sre.graphs.context import Deps
from prophet_sre.graphs.state import Approval, ApprovalMode, IncidentState, Outcome, Trigger
from prophet_sre.policy.merge import merge_strictest
from prophet_sre.policy.spec import AutonomousActionSpec

log = logging.getLogger(__name__)
BEFORE_APPROVAL = frozenset({"gather_context", "diagnose", "look_again", "retrieve_runbooks", "plan", "critique",
                             "approval"})
"""Remediation steps that come before a human's decision (none of them writes to the cluster)."""


def new_incident_id(prefix: str = "inc") -> str:
    return f"{prefix}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


class IncidentRunner:
    def __init__(self, deps: Deps, checkpointer: BaseCheckpointSaver) -> None:
        self.deps = deps
        self.remediation = remediation.build().compile(checkpointer=checkpointer)
        self.query = query.build().compile(checkpointer=checkpointer)

    @staticmethod
    def _config(incident_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": incident_id}, "recursion_limit": 50}

    def start(self, trigger: Trigger, *, mode: ApprovalMode | None = None,
              incident_id: str | None = None) -> IncidentState:
        """Run a new incident until it finishes or waits for approval."""
        incident_id = incident_id or new_incident_id()
        initial = IncidentState(incident_id=incident_id, trigger=trigger,
                                mode=mode or self.deps.policy.approval_mode,
                                policy=self.deps.policy.model_dump(mode="json", by_alias=True))
        with self._exclusive(incident_id):  # `prophet approve` must not continue it while it runs here
            self.remediation.invoke(initial, self._config(incident_id), context=self.deps)
        return self.get(incident_id)

    def ask(self, question: str, *, namespace: str | None = None) -> IncidentState:
        """Answer a question (read-only); the answer is in `state.answer`."""
        incident_id = new_incident_id("q")
        initial = IncidentState(incident_id=incident_id, mode="dry-run",
                                trigger=Trigger(type="question", question=question, namespace=namespace,
                                                reason=question[:200]))
        self.query.invoke(initial, self._config(incident_id), context=self.deps)
        state = self.query.get_state(self._config(incident_id))
        return IncidentState.model_validate(state.values)

    def get(self, incident_id: str) -> IncidentState:
        snap = self.remediation.get_state(self._config(incident_id))
        if not snap.values:
            snap = self.query.get_state(self._config(incident_id))
        if not snap.values:
            raise NotFound(f"no incident {incident_id!r} in the checkpoint store (see `prophet incidents`)")
        state = IncidentState.model_validate(snap.values)
        if snap.next == ("approval",) and state.outcome is None:
            state = state.model_copy(update={"outcome": Outcome.PENDING_APPROVAL})
        return state

    def pending_request(self, incident_id: str) -> dict[str, Any] | None:
        """The approval request an incident waits on, or None."""
        snap = self.remediation.get_state(self._config(incident_id))
        if snap.next != ("approval",) or not snap.interrupts:
            return None
        value = snap.interrupts[0].value
        return value if isinstance(value, dict) else {"request": value}

    def resume(self, incident_id: str, *, approved: bool, by: str, reason: str = "") -> IncidentState:
        """Give a human's decision to an incident waiting for approval, and run it to the end."""
        with self._exclusive(incident_id):
            self._run_up_to_approval(incident_id)
            state = self.get(incident_id)
            if state.outcome != Outcome.PENDING_APPROVAL or self.pending_request(incident_id) is None:
                raise InvalidInput(f"incident {incident_id} is not waiting for approval "
                                   f"(outcome: {state.outcome.value if state.outcome else 'running'})")
            decision = Approval(approved=approved, by=by, reason=reason)
            self.remediation.invoke(Command(resume=decision.model_dump(mode="json")), self._config(incident_id),
                                    context=self._resuming(state))
            return self.get(incident_id)

    def _run_up_to_approval(self, incident_id: str) -> None:
        """Run an incident whose process died before its approval request was checkpointed up to that
        request again. The critique's decision (what `prophet incidents` shows as waiting) is audited
        inside its step, the step's checkpoint is written after it: a kill in between leaves a thread
        that no process continues. Only steps before the approval are re-run - none writes to the
        cluster - so an action can never run twice this way."""
        snap = self.remediation.get_state(self._config(incident_id))
        if not snap.values or snap.interrupts or not snap.next or not set(snap.next) <= BEFORE_APPROVAL:
            return
        state = IncidentState.model_validate(snap.values)
        log.warning("incident %s stopped before %s (its process died?): running it up to the approval request",
                    incident_id, ", ".join(snap.next))
        self.remediation.invoke(None, self._config(incident_id), context=self._resuming(state))

    def _resuming(self, state: IncidentState) -> Deps:
        """The dependencies to resume `state` with: under the policy it was opened under, made stricter by
        this process's own when one was given (an approval never runs under a looser policy than the one
        that asked for it, nor under the built-in default in its place)."""
        if not state.policy:
            return self.deps  # opened before incidents recorded their policy
        opened_under = AutonomousActionSpec.model_validate(state.policy)
        policy = merge_strictest([opened_under, self.deps.policy]) if self.deps.policy_given else opened_under
        return replace(self.deps, policy=policy)

    @contextmanager
    def _exclusive(self, incident_id: str) -> Iterator[None]:
        path = self.deps.settings.data_path("locks", f"{incident_id}.lock")
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                raise Conflict(f"incident {incident_id} is being run or resumed by another process") from e
            yield
        finally:
            os.close(fd)


@contextmanager
def open_runner(settings: Any, policy: Any = None, **deps_kw: Any) -> Iterator[IncidentRunner]:
    """Settings → dependencies → checkpointer → runner, closed on exit (what every front end needs)."""
    from prophet_sre.graphs.checkpoint import open_checkpointer
    from prophet_sre.graphs.context import build_deps

    deps = build_deps(settings, policy, **deps_kw)
    try:
        with open_checkpointer(settings) as saver:
            yield IncidentRunner(deps, saver)
    finally:
        deps.clients.close()


__all__ = ["IncidentRunner", "new_incident_id", "open_runner"]
