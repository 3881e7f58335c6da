"""The operator's reconciler: `AutonomousAction` objects in, incidents run under their policy, status out.

Framework-free on purpose: `kopf_app.py` calls these methods from kopf handlers, and tests call them
directly. One `Controller` per leading replica:

- `observe(obj)` (object created, changed, or seen at start-up): validates the spec with the same model
  `prophet run --policy` uses; an invalid one gets Ready=False / Degraded=True and a Warning Event whose
  message names the bad field; a valid one gets a `TriggerWatch` per cluster of its scope.
- `tick(obj)` (the timer): handles approval annotations, polls the object's triggers, runs each new
  incident with `IncidentRunner.start` under the *effective* policy - this object's spec merged with
  every other applicable object's constraints, the strictest winning (`prophet_sre.policy.merge.merge_strictest`) - and
  writes status and Events.
- `approvals(obj)`: `aiops.prophet.io/approve: <incident id>[,<id>...]` (or `.../reject`) resumes the
  waiting incident from the checkpointer (another process or a dead leader may have started it), then
  removes the annotation and records the decision in the status and an Event. An id that is not waiting
  is reported with a Warning Event and removed too.

De-duplication: each `TriggerWatch` de-duplicates its own findings; across objects and across a
failover, a target with an incident waiting for approval (listed in any object's `pendingApprovals`)
or opened within the de-dup window (cluster clock) opens no new incident.

Incidents run one at a time per process (the critic's `maxConcurrent` still applies across processes).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prophet_sre.config import Settings
from prophet_sre.domain import ResourceRef
from prophet_sre.errors import ConfigError, Conflict, InvalidInput, NotFound, ProphetError
from prophet_sre.graphs.runner import IncidentRunner, open_runner
from prophet_sre.graphs.state import IncidentState, Outcome, Trigger
from prophet_sre.operator import status as st
from prophet_sre.operator.policy import applies
from prophet_sre.policy.merge import merge_strictest
from prophet_sre.policy.spec import AutonomousActionSpec
from prophet_sre.tools.kube.client import KubeClients
from prophet_sre.triggers import TriggerWatch

log = logging.getLogger(__name__)

APPROVE_ANNOTATION = "aiops.prophet.io/approve"
REJECT_ANNOTATION = "aiops.prophet.io/reject"
Key = tuple[str, str]


class OperatorConfig(BaseModel):
    """How the operator runs (CLI flags of `prophet operator`; the policy itself lives in the objects)."""

    model_config = ConfigDict(extra="forbid")

    identity: str = Field(min_length=1)
    """This replica's name (the pod name): Lease holder, status `leader`, audit actor."""
    interval_s: float = Field(default=15.0, gt=0, le=3600)
    """Seconds between two polls of an object's trigger."""
    dedup_window_s: float = Field(default=600.0, ge=0)
    """Cluster seconds during which a target that had an incident opens no new one."""
    namespaces: list[str] = Field(default_factory=list)
    """Namespaces whose AutonomousAction objects are served; empty: the whole cluster."""
    first_lookback_s: float = Field(default=300.0, ge=0)
    """How far back (cluster clock) the first poll of an `event` trigger reads."""


class _Watched:
    def __init__(self, spec: AutonomousActionSpec, generation: int, watches: dict[str, TriggerWatch]) -> None:
        self.spec = spec
        self.generation = generation
        self.watches = watches


class Controller:
    """Reconciles `AutonomousAction` objects (see the module docstring)."""

    def __init__(self, settings: Settings, config: OperatorConfig, *, clients: KubeClients | None = None,
                 llm: Any = None, knowledge: Any = None, on_event: Callable[[dict[str, Any]], None] | None = None,
                 watch_options: dict[str, Any] | None = None) -> None:
        """`llm` / `knowledge` / `on_event` go to every runner (tests pass a scripted model and
        `knowledge=False`); `watch_options` to every `TriggerWatch` (e.g. shrunk detector windows)."""
        self.settings = settings.model_copy(update={"agents": settings.agents.model_copy(
            update={"identity": config.identity})})
        self.config = config
        self.clients = clients or KubeClients(settings.kube)
        self.kube = self.clients.for_cluster("")
        self.status = st.StatusWriter(self.kube, config.identity)
        self._llm = llm
        self._knowledge = knowledge
        self._on_event = on_event
        self._watch_options = watch_options or {}
        self._objects: dict[Key, _Watched] = {}
        self._invalid: dict[Key, int] = {}  # generation last reported invalid (one Event per generation)
        self._lock = threading.RLock()
        self._key_locks: dict[Key, threading.RLock] = {}
        self._run_lock = threading.Lock()
        self._stack = ExitStack()
        self._runners: dict[str, IncidentRunner] = {}
        self._recent: dict[str, datetime] = {}  # target -> cluster time its latest incident opened
        self._pending: dict[str, set[str]] = {}  # incident id -> what it is about, across objects
        self.stopped = threading.Event()
        """Set when this replica must stop acting (the lease was lost): ticks become no-ops."""

    # -- objects -----------------------------------------------------------------------------------------
    @staticmethod
    def key(obj: dict[str, Any]) -> Key:
        meta = obj.get("metadata") or {}
        return str(meta.get("namespace") or ""), str(meta.get("name") or "")

    def _key_lock(self, key: Key) -> threading.RLock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.RLock())

    def specs(self) -> dict[Key, AutonomousActionSpec]:
        with self._lock:
            return {k: w.spec for k, w in self._objects.items()}

    def observe(self, obj: dict[str, Any]) -> AutonomousActionSpec | None:
        """Validate an object's spec and (re)build its trigger watches; None when the spec is invalid."""
        key = self.key(obj)
        ns, name = key
        generation = int((obj.get("metadata") or {}).get("generation") or 0)
        self._learn_pending(obj)
        try:
            spec = AutonomousActionSpec.from_custom_resource(obj)
            watches = self._watches(spec)
        except ConfigError as e:
            self.forget(ns, name)
            message = str(e)
            log.warning("%s", message)
            self.status.patch_status(ns, name, st.readiness(obj, message))
            with self._lock:
                first = self._invalid.get(key) != generation
                self._invalid[key] = generation
            if first:
                self.status.event(ns, name, "InvalidSpec", message, warning=True)
            return None
        with self._lock:
            old = self._objects.pop(key, None)
            self._invalid.pop(key, None)
            self._objects[key] = _Watched(spec, generation, watches)
        if old is not None:
            for w in old.watches.values():
                w.close()
        notes = [n for w in watches.values() for n in w.init_notes]
        self.status.patch_status(ns, name, st.readiness(obj, None, notes))
        if old is None or old.generation != generation:
            scope = ", ".join(spec.trigger.namespaces) or "all namespaces"
            self.status.event(ns, name, "Watching", f"watching {spec.trigger.type} triggers in {scope}; "
                              f"approval mode {spec.approval_mode}; allowed actions "
                              f"{', '.join(spec.constraints.allowed_actions) or 'none'}")
        return spec

    def _watches(self, spec: AutonomousActionSpec) -> dict[str, TriggerWatch]:
        out = {}
        for cluster in spec.clusters or [""]:
            if cluster:
                self.clients.for_cluster(cluster)  # an unknown context is a ConfigError-like NotFound now
            out[cluster] = TriggerWatch(spec.trigger, self.clients, self.settings, cluster=cluster,
                                        forbidden_namespaces=spec.constraints.forbidden_namespaces,
                                        dedup_window_s=self.config.dedup_window_s,
                                        first_lookback_s=self.config.first_lookback_s, **self._watch_options)
        return out

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            old = self._objects.pop((namespace, name), None)
        if old is not None:
            for w in old.watches.values():
                w.close()

    def _learn_pending(self, obj: dict[str, Any]) -> None:
        """Pending approvals another replica (or an earlier life of this one) recorded in the status."""
        for p in (obj.get("status") or {}).get("pendingApprovals") or []:
            if isinstance(p, dict) and p.get("incidentId"):
                about = {str(p[k]) for k in ("target", "rootCause") if p.get(k)}
                with self._lock:
                    self._pending.setdefault(str(p["incidentId"]), about)

    # -- the timer ---------------------------------------------------------------------------------------
    def tick(self, obj: dict[str, Any]) -> list[IncidentState]:
        """Approvals, then one poll of the object's triggers and the incidents it opens."""
        if self.stopped.is_set():
            return []
        key = self.key(obj)
        generation = int((obj.get("metadata") or {}).get("generation") or 0)
        with self._lock:
            watched = self._objects.get(key)
        if watched is None or watched.generation != generation:
            if self.observe(obj) is None:
                return []
            with self._lock:
                watched = self._objects[key]
        out: list[IncidentState] = []
        with self._key_lock(key):
            self.approvals(obj)
            for cluster, watch in watched.watches.items():
                for trigger in watch.poll():
                    if self.stopped.is_set():
                        return out
                    if self._duplicate(trigger, cluster):
                        continue
                    out.append(self.run_incident(key, trigger))
        return out

    def _duplicate(self, trigger: Trigger, cluster: str) -> bool:
        target = str(trigger.target) if trigger.target else ""
        if not target:
            return False
        now = self._cluster_now(cluster)
        with self._lock:
            if any(target in about for about in self._pending.values()):
                log.info("trigger on %s: an incident already waits for approval there", target)
                return True
            seen = self._recent.get(target)
            if seen is not None and now - seen < timedelta(seconds=self.config.dedup_window_s):
                log.info("trigger on %s: an incident was opened there %s ago", target, now - seen)
                return True
            self._recent[target] = now
        return False

    def _cluster_now(self, cluster: str = "") -> datetime:
        return self.clients.for_cluster(cluster).cluster_now()

    # -- incidents ---------------------------------------------------------------------------------------
    def effective_policy(self, key: Key, target: ResourceRef | None) -> AutonomousActionSpec:
        """The object's spec with every applicable object's constraints merged in, strictest winning."""
        specs = self.specs()
        own = specs.get(key)
        if own is None:
            raise NotFound(f"AutonomousAction {key[0]}/{key[1]} is not being served (invalid or deleted)")
        ns, cluster = (target.namespace, target.cluster) if target is not None else ("", "")
        others = [s for k, s in sorted(specs.items()) if k != key and applies(s, ns, cluster)]
        return merge_strictest([own, *others])

    def _runner(self, policy: AutonomousActionSpec) -> IncidentRunner:
        llm_key = policy.llm.model_dump_json()
        if llm_key not in self._runners:
            self._runners[llm_key] = self._stack.enter_context(open_runner(
                self.settings, policy, clients=self.clients, llm=self._llm, knowledge=self._knowledge,
                on_event=self._on_event))
        runner = self._runners[llm_key]
        runner.deps.policy = policy
        return runner

    def run_incident(self, key: Key, trigger: Trigger) -> IncidentState:
        ns, name = key
        policy = self.effective_policy(key, trigger.target)
        self.status.event(ns, name, "IncidentOpened", trigger.reason or f"{trigger.type} trigger")
        with self._run_lock:
            runner = self._runner(policy)
            state = runner.start(trigger, mode=policy.approval_mode)
            if state.outcome == Outcome.PENDING_APPROVAL:
                about = _about(state)
                with self._lock:
                    twin = next((i for i, a in self._pending.items() if a & about), None)
                if twin is not None:  # the same problem seen through another symptom: one request is enough
                    state = runner.resume(state.incident_id, approved=False, by=self.config.identity,
                                          reason=f"duplicate of incident {twin}, which waits for approval")
        log.info("incident %s on %s: %s", state.incident_id, trigger.target,
                 state.outcome.value if state.outcome else "running")
        self._after(key, state, opened=True)
        return state

    def _after(self, key: Key, state: IncidentState, *, opened: bool = False, approvals: int = 0) -> None:
        """Status and Events once an incident started, waits, or finished."""
        ns, name = key
        summary = st.incident_summary(state)
        waiting = state.outcome == Outcome.PENDING_APPROVAL
        with self._lock:
            if waiting:
                self._pending[state.incident_id] = _about(state)
            else:
                self._pending.pop(state.incident_id, None)
        obj = self.status.get(ns, name) or {}
        status = obj.get("status") or {}
        pending = self._pending_list(status, state)
        finished = state if (not waiting) else None
        counters = st.counters_after(status, finished, pending=len(pending), approvals=approvals)
        if opened:
            counters["incidents"] = counters.get("incidents", 0) + 1
        self.status.patch_status(ns, name, {"lastIncident": summary, "pendingApprovals": pending,
                                            "counters": counters})
        if waiting:
            self.status.event(ns, name, "ApprovalRequired",
                              f"incident {state.incident_id} on {summary['target']} waits for approval: "
                              f"{summary['summary']}. Approve with: kubectl annotate autonomousaction {name} -n {ns} "
                              f"{APPROVE_ANNOTATION}={state.incident_id}", incident_id=state.incident_id)
        else:
            outcome = state.outcome.value if state.outcome else "running"
            bad = state.outcome in (Outcome.FAILED, Outcome.ROLLED_BACK, Outcome.REJECTED, Outcome.ESCALATED)
            self.status.event(ns, name, "Incident" + outcome.title().replace("_", ""),
                              f"incident {state.incident_id} on {summary['target']}: {outcome}: {summary['summary']}",
                              warning=bad, incident_id=state.incident_id)

    def _pending_list(self, status: dict[str, Any], state: IncidentState) -> list[dict[str, Any]]:
        """The status's pending approvals, minus those no longer waiting, plus `state` if it waits."""
        out: list[dict[str, Any]] = []
        for p in status.get("pendingApprovals") or []:
            if not isinstance(p, dict) or p.get("incidentId") == state.incident_id:
                continue
            if self._still_pending(str(p.get("incidentId") or "")):
                out.append(p)
        if state.outcome == Outcome.PENDING_APPROVAL:
            plan = ", ".join(f"{a.type} {a.target}" for a in state.plan.actions) if state.plan else ""
            root = state.diagnosis.root_cause if state.diagnosis else None
            out.append({"incidentId": state.incident_id, "target": st.incident_summary(state)["target"],
                        "rootCause": str(root) if root else "", "plan": plan[:512], "since": st.now_text()})
        return out[-st.MAX_PENDING:]

    def _still_pending(self, incident_id: str) -> bool:
        if not incident_id:
            return False
        runner = next(iter(self._runners.values()), None)
        if runner is None:
            return incident_id in self._pending
        try:
            return runner.pending_request(incident_id) is not None
        except ProphetError:
            return False

    # -- approvals ---------------------------------------------------------------------------------------
    def approvals(self, obj: dict[str, Any]) -> list[IncidentState]:
        """Act on the approve/reject annotations of an object (see the module docstring)."""
        if self.stopped.is_set():
            return []
        key = self.key(obj)
        with self._key_lock(key):
            return self._approvals(key, obj)

    def _approvals(self, key: Key, obj: dict[str, Any]) -> list[IncidentState]:
        ns, name = key
        if (obj.get("metadata") or {}).get("annotations"):
            obj = self.status.get(ns, name) or obj  # fresh: another handler may have handled it meanwhile
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        out: list[IncidentState] = []
        for annotation, approved in ((APPROVE_ANNOTATION, True), (REJECT_ANNOTATION, False)):
            value = str(annotations.get(annotation) or "").strip()
            if not value:
                continue
            with self._lock:
                watched = self._objects.get(key)
            if watched is None:
                self.observe(obj)
            done = True
            for incident_id in [v.strip() for v in value.split(",") if v.strip()]:
                try:
                    out.append(self.resume(key, incident_id, approved=approved,
                                           by=f"annotation {annotation} on {ns}/{name}"))
                except Conflict as e:  # another process is resuming it right now: try again next time
                    log.info("%s", e)
                    done = False
                except (InvalidInput, NotFound) as e:
                    self.status.event(ns, name, "ApprovalIgnored", f"{annotation}={incident_id}: {e}",
                                      warning=True, incident_id=incident_id)
            if done:
                self.status.patch_metadata(ns, name, {annotation: None})
        return out

    def resume(self, key: Key, incident_id: str, *, approved: bool, by: str) -> IncidentState:
        """Resume a waiting incident with a decision, under the effective policy for its target."""
        ns, name = key
        with self._lock:
            target_text = next(iter(sorted(self._pending.get(incident_id, set()))), "")
        with self._run_lock:
            probe = self._runner(self.effective_policy(key, None))
            request = probe.pending_request(incident_id)
            if request is None:
                state = probe.get(incident_id)  # NotFound when there is no such incident
                raise InvalidInput(f"incident {incident_id} is not waiting for approval (outcome: "
                                   f"{state.outcome.value if state.outcome else 'running'})")
            state = probe.get(incident_id)
            target = state.trigger.target
            if target is None and target_text:
                try:
                    target = ResourceRef.parse(target_text)
                except ValueError:
                    target = None
            self.status.event(ns, name, "Approved" if approved else "Rejected",
                              f"incident {incident_id} {'approved' if approved else 'rejected'} by {by}",
                              incident_id=incident_id)
            state = self._runner(self.effective_policy(key, target)).resume(
                incident_id, approved=approved, by=by, reason="via the AutonomousAction annotation")
        if target is not None:  # its fix needs time to show: no new incident on it within the window
            with self._lock:
                self._recent[str(target)] = self._cluster_now(target.cluster)
        self._after(key, state, approvals=1)
        return state

    def close(self) -> None:
        with self._lock:
            objects = list(self._objects.values())
            self._objects.clear()
        for w in objects:
            for watch in w.watches.values():
                watch.close()
        self._stack.close()
        self._runners.clear()


def _about(state: IncidentState) -> set[str]:
    """What an incident is about: its trigger's target, the diagnosed root cause, the plan's targets."""
    refs = [state.trigger.target, state.diagnosis.root_cause if state.diagnosis else None]
    refs += [a.target for a in state.plan.actions] if state.plan else []
    return {str(r) for r in refs if r is not None}


__all__ = ["APPROVE_ANNOTATION", "REJECT_ANNOTATION", "Controller", "OperatorConfig"]
