"""The executor: carry out an approved plan, verify that it worked, and undo it when it did not.

Three plain functions the remediation graph calls (DESIGN.md §5, "execute → verify → rollback"):

- `execute(plan, clients)` runs the plan's actions in order through `tools.actions.prepare`. Before each
  action that writes, `before_write(i, action)` runs - the graph appends the audit *intent* record there,
  so no write can happen without a record of the intent (if it raises, nothing is written and the error
  propagates). After each action, `after_write(record)` gets its `ExecutionRecord`. The first failed
  action stops the plan: later actions were planned for a cluster in which the earlier ones succeeded.
  Each record carries the action's inverse, computed right after it ran from the "before" snapshot.
- `verify(checks, ctx, deadline_s=...)` polls `tools.checks.evaluate` until every check that can be
  evaluated passes, or the deadline passes *on the cluster's clock* (120 s is 120 simulated seconds on a
  simulator running at 50x), and returns the last results: a check must hold at the end, not merely once.
- `rollback(records, clients)` applies the inverses in reverse order; what cannot be undone is reported.

No policy here: the critic decided before `execute` was called. No LLM either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from prophet_sre.domain import Action, Check, Plan
from prophet_sre.errors import ProphetError, ToolError
from prophet_sre.graphs.state import CheckResult, ExecutionRecord
from prophet_sre.tools.actions import ActionSettings, ExecutionResult, PreparedAction, prepare
from prophet_sre.tools.checks import CheckContext, evaluate
from prophet_sre.tools.kube.client import KubeClients

log = logging.getLogger(__name__)

BeforeWrite = Callable[[int, Action], None]
AfterWrite = Callable[[ExecutionRecord], None]
MIN_POLLS = 3
"""`verify` evaluates at least this many times (wall-clock polls), however fast the cluster's clock runs:
a fast simulator must not turn a deadline into a single look."""


def _noop_before(index: int, action: Action) -> None:
    return None


def _noop_after(record: ExecutionRecord) -> None:
    return None


def writes(action: Action) -> bool:
    """Whether executing `action` changes the cluster (an escalation only tells a human)."""
    return action.type != "escalate"


def _prepared(action: Action, clients: KubeClients, settings: ActionSettings | None) -> PreparedAction:
    """Bind the action to exactly its cluster's client (`for_cluster` never falls back to another one)."""
    return prepare(action, clients.for_cluster(action.target.cluster), settings)


def _failed(exc: ProphetError) -> ExecutionResult:
    result = ExecutionResult(ok=False)
    if isinstance(exc, ToolError):
        result.fail(exc)
    else:
        result.error, result.error_type = str(exc), type(exc).__name__
    return result


def _inverse(prepared: PreparedAction, result: ExecutionResult) -> Action | None:
    if not result.before:
        return None
    try:
        return prepared.inverse(result.before)
    except ProphetError as e:
        log.warning("cannot compute the inverse of %s %s: %s", prepared.action.type, prepared.action.target, e)
        return None


def _run(index: int, action: Action, clients: KubeClients, before_write: BeforeWrite,
         settings: ActionSettings | None) -> ExecutionRecord:
    try:
        prepared = _prepared(action, clients, settings)
    except ProphetError as e:  # unknown cluster, bad kubeconfig: nothing was written
        return ExecutionRecord(index=index, action=action, result=_failed(e))
    if writes(action):
        before_write(index, action)  # raising here aborts before any write
    result = prepared.execute()
    return ExecutionRecord(index=index, action=action, result=result, inverse=_inverse(prepared, result))


def execute(plan: Plan, clients: KubeClients, *, before_write: BeforeWrite = _noop_before,
            after_write: AfterWrite = _noop_after, settings: ActionSettings | None = None) -> list[ExecutionRecord]:
    """Run `plan.actions` in order; stop at the first failure; one record per attempted action.

    `before_write(i, action)` runs before each writing action (not before an escalation) and may raise to
    prevent the write; `after_write(record)` runs after every attempted action, escalations included.
    """
    records: list[ExecutionRecord] = []
    for i, action in enumerate(plan.actions):
        record = _run(i, action, clients, before_write, settings)
        records.append(record)
        r = record.result
        log.info("executed %s %s: %s", action.type, action.target,
                 "ok" if r.ok else f"failed ({r.error_type or 'error'}: {r.error})")
        after_write(record)
        if not r.ok:
            skipped = len(plan.actions) - i - 1
            if skipped:
                log.warning("plan stopped at action %d; %d later action(s) not attempted", i, skipped)
            break
    return records


def verify(checks: Sequence[Check], ctx: CheckContext, *, deadline_s: float, poll_s: float = 1.0,
           clock: Callable[[], datetime] | None = None, hold_s: float = 0.0) -> list[CheckResult]:
    """Poll the checks until all that can be evaluated pass, or `deadline_s` passes on the cluster's clock.

    Returns the last evaluation: a check that passed earlier and fails now is failed. Skipped checks (a
    metric check without Prometheus) neither pass nor hold up the verification. At least `MIN_POLLS`
    evaluations happen before giving up, `poll_s` wall seconds apart.

    `hold_s` (cluster seconds, default 0: return at the first all-pass) makes the checks prove that they
    hold: once all pass, polling continues until they have passed at every poll for `hold_s`; any failure
    restarts that window. A fix that only looks good until the next OOM kill then fails verification. At
    the deadline the last results are returned as they are.
    """
    if deadline_s < 0 or hold_s < 0:
        raise ValueError(f"deadline_s and hold_s must be >= 0 (got {deadline_s}, {hold_s})")
    if not checks:
        return []
    now = clock or _cluster_clock(ctx)
    start = now()
    deadline = start + timedelta(seconds=deadline_s)
    polls = 0
    passing_since: datetime | None = None
    while True:
        results = [evaluate(c, ctx) for c in checks]
        polls += 1
        pending = [r for r in results if not r.ok and not r.skipped]
        if not pending and hold_s <= 0:
            log.info("verification passed after %d poll(s)", polls)
            return results
        t = now()
        if not pending:
            passing_since = passing_since or t
            if t - passing_since >= timedelta(seconds=hold_s):
                log.info("verification passed and held for %g s after %d poll(s)", hold_s, polls)
                return results
        else:
            passing_since = None
        if t >= deadline and polls >= MIN_POLLS:
            log.info("verification deadline (%g s) passed; %d check(s) failing: %s", deadline_s, len(pending),
                     "; ".join(r.detail for r in pending[:3]))
            return results
        time.sleep(poll_s)


def _cluster_clock(ctx: CheckContext) -> Callable[[], datetime]:
    """The default cluster's clock; if the cluster cannot be asked, its last answer plus wall time elapsed."""
    last: list[tuple[datetime, float]] = []

    def now() -> datetime:
        try:
            value = ctx.clients.for_cluster("").cluster_now()
        except ProphetError as e:
            if not last:
                log.warning("cannot read the cluster's clock (%s); measuring the deadline in wall time", e)
                last.append((datetime.now(UTC), time.monotonic()))
            at, mono = last[-1]
            return at + timedelta(seconds=time.monotonic() - mono)
        last[:] = [(value, time.monotonic())]
        return value
    return now


def rollback(records: Sequence[ExecutionRecord], clients: KubeClients, *, before_write: BeforeWrite = _noop_before,
             after_write: AfterWrite = _noop_after, settings: ActionSettings | None = None) -> list[ExecutionRecord]:
    """Apply the inverses of `records` in reverse order; one record per executed record that wrote.

    A record without an inverse is reported as a failed record (`error: "no inverse: <reversibility>"`)
    and skipped; a failing inverse does not stop the others (undo as much as possible). Escalations, and
    actions that failed before writing anything, changed nothing and are passed over. Each returned record has the *original* record's index, the inverse as
    its action, and the inverse of the inverse (re-applying the fix) as its own inverse.
    """
    out: list[ExecutionRecord] = []
    for rec in reversed(records):
        if not writes(rec.action) or (not rec.result.ok and not rec.result.changed and rec.inverse is None):
            continue  # an escalation, or an action that failed before writing anything: nothing to undo
        if rec.inverse is None:
            result = ExecutionResult(ok=False, error=f"no inverse: {_reversibility(rec.action, clients, settings)}")
            record = ExecutionRecord(index=rec.index, action=rec.action, result=result)
        else:
            record = _run(rec.index, rec.inverse, clients, before_write, settings)
        out.append(record)
        r = record.result
        log.info("rollback of %s %s: %s", rec.action.type, rec.action.target,
                 "ok" if r.ok else f"failed ({r.error})")
        after_write(record)
    return out


def _reversibility(action: Action, clients: KubeClients, settings: ActionSettings | None) -> str:
    try:
        return _prepared(action, clients, settings).reversibility()
    except ProphetError as e:
        return f"unknown ({e})"


__all__ = ["MIN_POLLS", "AfterWrite", "BeforeWrite", "execute", "rollback", "verify", "writes"]
