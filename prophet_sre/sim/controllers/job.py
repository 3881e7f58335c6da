"""The Job controller (and the TTL-after-finished controller): pods until enough succeed, or give up.

Follows `pkg/controller/job` of 1.3x: pods carry the `batch.kubernetes.io/job-tracking` finalizer
until they are counted in `status.succeeded` / `status.failed`; failures are retried with the
exponential pod back-off (10 s doubling, at most 6 min) until `backoffLimit` is exceeded; success and
failure first set the interim condition (`SuccessCriteriaMet` / `FailureTarget`), terminate the pods
that are left, and only then the terminal one (`Complete` with `completionTime` / `Failed`) - which
is what `kubectl wait --for=condition=complete` and `kubectl get jobs` read. `Indexed` jobs give
each pod its completion index.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.clock import parse_time, rfc3339
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.cache import ensure_pod_indexes, informers
from prophet_sre.sim.controllers.common import get_condition, is_deleting, is_ready, obj_key, pod_phase
from prophet_sre.sim.controllers.history import Timers, owner_keys
from prophet_sre.sim.controllers.replicaset import pod_from_template
from prophet_sre.sim.store import WatchEvent

COMPONENT = "job-controller"
TRACKING = "batch.kubernetes.io/job-tracking"
INDEX_KEY = "batch.kubernetes.io/job-completion-index"
BACKOFF_S, MAX_BACKOFF_S = 10.0, 360.0
Obj = dict[str, Any]
_TERMINAL = {"Complete", "Failed"}


def finished(job: Obj) -> str | None:
    """"Complete" or "Failed" once the Job has a terminal condition."""
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("type") in _TERMINAL and c.get("status") == "True":
            return str(c["type"])
    return None


def _compress(indexes: Iterable[int]) -> str:
    """`1,3-5,7`: the completedIndexes format."""
    out: list[str] = []
    run: list[int] = []
    for i in sorted(set(indexes)):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [i]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(out)


def _expand(text: str) -> set[int]:
    out: set[int] = set()
    for part in filter(None, (text or "").split(",")):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


def _killed(pod: Obj) -> bool:
    """A deleted pod whose containers are gone (the kubelet's final delete), held only by finalizers."""
    return is_deleting(pod) and pod["metadata"].get("deletionGracePeriodSeconds") == 0


def _index(pod: Obj) -> int | None:
    v = (pod["metadata"].get("annotations") or {}).get(INDEX_KEY)
    return int(v) if v is not None and str(v).isdigit() else None


class JobController(Controller):
    name = COMPONENT
    watches = (("batch", "jobs"), ("", "pods"))

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.hub = informers(ctx)
        ensure_pod_indexes(self.hub)
        self.job_rt = ctx.rt("batch", "jobs")
        self.pod_rt = ctx.rt("", "pods")
        self.timers = Timers()
        self._gone: dict[str, set[str]] = {}  # job uid -> uids of tracked pods removed before counting
        self._last_fail: dict[str, float] = {}

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.storage_key == ("batch", "jobs"):
            return [obj_key(ev.obj)]
        if ev.type == "DELETED" and TRACKING in (ev.obj["metadata"].get("finalizers") or ()) \
                and pod_phase(ev.obj) not in ("Succeeded", "Failed"):
            ref = next((r for r in ev.obj["metadata"].get("ownerReferences") or () if r.get("kind") == "Job"), None)
            if ref is not None:
                self._gone.setdefault(ref.get("uid", ""), set()).add(ev.obj["metadata"]["uid"])
        return owner_keys(ev, "Job")

    # -- reconcile -----------------------------------------------------------------------------------
    def reconcile(self, key: Hashable) -> float | None:
        ns, name = key  # type: ignore[misc]
        job = self.ctx.store.try_get(self.job_rt, ns, name)
        pods = self._pods(job) if job is not None else []
        if job is None or is_deleting(job):
            for p in pods:
                self._untrack(p)
            return None
        now = self.ctx.clock.elapsed()
        done = finished(job)
        if done:
            for p in pods:
                self._untrack(p)
            return self._ttl(key, job, now)
        spec = job.get("spec") or {}
        status = copy.deepcopy(job.get("status") or {})
        uid = job["metadata"]["uid"]
        indexed = spec.get("completionMode") == "Indexed"
        completed = _expand(status.get("completedIndexes", ""))
        newly_failed = 0
        for p in pods:  # count pods that finished, then let them go
            if TRACKING not in (p["metadata"].get("finalizers") or ()):
                continue
            phase = pod_phase(p)
            if phase == "Succeeded":
                idx = _index(p)
                if not indexed or (idx is not None and idx not in completed):
                    status["succeeded"] = int(status.get("succeeded") or 0) + 1
                    if idx is not None:
                        completed.add(idx)
            elif phase == "Failed" or _killed(p):
                newly_failed += 1
            else:
                continue
            self._untrack(p)
        newly_failed += len(self._gone.pop(uid, set()))
        if newly_failed:
            status["failed"] = int(status.get("failed") or 0) + newly_failed
            self._last_fail[uid] = now
        if indexed:
            status["completedIndexes"] = _compress(completed)
        pods = self._pods(job)
        active = [p for p in pods if pod_phase(p) not in ("Succeeded", "Failed") and not is_deleting(p)]
        terminating = [p for p in pods if is_deleting(p) and pod_phase(p) not in ("Succeeded", "Failed")
                       and not _killed(p)]
        if not status.get("startTime") and not spec.get("suspend"):
            status["startTime"] = rfc3339(self.ctx.clock.now())
        again = self._decide(job, spec, status, active, terminating, completed, now)
        self._write_status(job, status, active, terminating)
        return again

    def _decide(self, job: Obj, spec: Obj, status: Obj, active: list[Obj], terminating: list[Obj],
                completed: set[int], now: float) -> float | None:
        """Interim and terminal conditions, then the pods to create or delete."""
        succeeded = int(status.get("succeeded") or 0)
        failed = int(status.get("failed") or 0)
        if spec.get("template", {}).get("spec", {}).get("restartPolicy") == "OnFailure":
            failed += sum(int(cs.get("restartCount") or 0) for p in active
                          for cs in (p.get("status") or {}).get("containerStatuses") or ())
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism") if spec.get("parallelism") is not None else 1)
        start = parse_time(status.get("startTime"))
        deadline = spec.get("activeDeadlineSeconds")
        conds = status.setdefault("conditions", [])
        target = next((c for c in conds if c["type"] in ("FailureTarget", "SuccessCriteriaMet")), None)
        if target is None:
            if failed > int(spec.get("backoffLimit") if spec.get("backoffLimit") is not None else 6):
                target = self._cond(conds, "FailureTarget", "BackoffLimitExceeded",
                                    "Job has reached the specified backoff limit")
            elif deadline is not None and start is not None and \
                    (self.ctx.clock.now() - start).total_seconds() >= int(deadline):
                target = self._cond(conds, "FailureTarget", "DeadlineExceeded",
                                    "Job was active longer than specified deadline")
            elif (completions is not None and succeeded >= int(completions)) or \
                    (completions is None and succeeded > 0 and not active):
                target = self._cond(conds, "SuccessCriteriaMet", "CompletionsReached",
                                    "Reached expected number of succeeded pods")
        if target is not None:
            for p in active:
                self._delete(job, p)
            if active or terminating:
                return None  # the pods' removal brings us back
            terminal = "Complete" if target["type"] == "SuccessCriteriaMet" else "Failed"
            self._cond(conds, terminal, target["reason"], target["message"])
            if terminal == "Complete":
                status["completionTime"] = rfc3339(self.ctx.clock.now())
                self.ctx.events.normal(job, "Completed", "Job completed", component=COMPONENT)
            else:
                self.ctx.events.warning(job, target["reason"], target["message"], component=COMPONENT)
            return None
        suspended = next((c for c in conds if c["type"] == "Suspended"), None)
        if spec.get("suspend"):
            if suspended is None or suspended.get("status") != "True":
                self._cond(conds, "Suspended", "JobSuspended", "Job suspended")
                self.ctx.events.normal(job, "Suspended", "Job suspended", component=COMPONENT)
            for p in active:
                self._delete(job, p)
            return None
        if suspended is not None and suspended.get("status") == "True":
            self._cond(conds, "Suspended", "JobResumed", "Job resumed", status="False")
            self.ctx.events.normal(job, "Resumed", "Job resumed", component=COMPONENT)
            status["startTime"] = rfc3339(self.ctx.clock.now())
        if completions is None:  # a work queue: once one pod succeeded, no new ones are started
            want = len(active) if succeeded else parallelism
        else:
            want = min(parallelism, int(completions) - succeeded)
        if len(active) > want:
            for p in sorted(active, key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)[
                    :len(active) - want]:
                self._delete(job, p)
            return None
        missing = want - len(active)
        waits = []
        if deadline is not None and start is not None:
            waits.append(int(deadline) - (self.ctx.clock.now() - start).total_seconds())
        if missing > 0 and failed:
            ready_at = self._last_fail.get(job["metadata"]["uid"], 0.0) + min(
                BACKOFF_S * 2 ** (int(status.get("failed") or 0) - 1), MAX_BACKOFF_S)
            if now < ready_at - 1e-9:
                waits.append(ready_at - now)
                missing = 0
        if missing > 0:
            busy = completed | {i for p in active if (i := _index(p)) is not None}
            free = [i for i in range(int(completions or 0)) if i not in busy]
            for n in range(missing):
                idx = free[n] if spec.get("completionMode") == "Indexed" and n < len(free) else None
                if not self._create(job, idx):
                    waits.append(1.0)
                    break
        if not waits:
            return None
        return self.timers.at(obj_key(job), now, now + max(min(waits), 0.0))

    def _cond(self, conds: list[Obj], type_: str, reason: str, message: str, *, status: str = "True") -> Obj:
        """Add (or replace in place) a condition, as `ensureJobConditionStatus` does."""
        ts = rfc3339(self.ctx.clock.now())
        c = {"type": type_, "status": status, "lastProbeTime": ts, "lastTransitionTime": ts, "reason": reason,
             "message": message}
        for i, old in enumerate(conds):
            if old.get("type") == type_:
                conds[i] = c
                return c
        conds.append(c)
        return c

    # -- pods ------------------------------------------------------------------------------------------
    def _pods(self, job: Obj) -> list[Obj]:
        out = []
        for k in self.hub.get("", "pods", "owner", job["metadata"]["uid"]):
            p = self.ctx.store.try_get(self.pod_rt, *k)
            if p is not None:
                out.append(p)
        return out

    def _create(self, job: Obj, index: int | None) -> bool:
        pod = pod_from_template(job)
        meta, spec = pod["metadata"], pod["spec"]
        meta["finalizers"] = list(meta.get("finalizers") or ()) + [TRACKING]
        if index is not None:
            meta["generateName"] = f"{job['metadata']['name']}-{index}-"
            meta.setdefault("annotations", {})[INDEX_KEY] = str(index)
            meta["labels"][INDEX_KEY] = str(index)
            spec["hostname"] = f"{job['metadata']['name']}-{index}"
            for c in spec.get("containers") or ():
                env = [e for e in c.get("env") or () if e.get("name") != "JOB_COMPLETION_INDEX"]
                c["env"] = env + [{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                    "apiVersion": "v1", "fieldPath": f"metadata.annotations['{INDEX_KEY}']"}}}]
        try:
            created = self.ctx.store.create(self.pod_rt, pod)
        except st.ApiError as e:
            self.ctx.events.warning(job, "FailedCreate", f"Error creating: {e.message}", component=COMPONENT)
            return False
        self.ctx.events.normal(job, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
                               component=COMPONENT)
        return True

    def _delete(self, job: Obj, pod: Obj) -> None:
        try:
            self.ctx.store.delete(self.pod_rt, *obj_key(pod))
        except st.ApiError:
            return
        self.ctx.events.normal(job, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                               component=COMPONENT)

    def _untrack(self, pod: Obj) -> None:
        fins = pod["metadata"].get("finalizers") or []
        if TRACKING not in fins:
            return
        upd = copy.deepcopy(pod)
        upd["metadata"]["finalizers"] = [f for f in fins if f != TRACKING]
        try:
            self.ctx.store.update(self.pod_rt, upd, check_rv=False)
        except st.ApiError:
            pass

    # -- status and TTL --------------------------------------------------------------------------------
    def _write_status(self, job: Obj, status: Obj, active: list[Obj], terminating: list[Obj]) -> None:
        live = [p for p in active if not is_deleting(p)]
        status["active"] = len(live)
        status["ready"] = sum(1 for p in live if is_ready(p))
        status["terminating"] = len(terminating)
        status["uncountedTerminatedPods"] = {}
        if not status.get("conditions"):
            status.pop("conditions", None)
        for k in ("active", "succeeded", "failed"):
            if not status.get(k):
                status.pop(k, None)
        if status != (job.get("status") or {}):
            try:
                self.ctx.store.update(self.job_rt, {**job, "status": status}, subresource="status", check_rv=False)
            except st.ApiError:
                pass

    def _ttl(self, key: Hashable, job: Obj, now: float) -> float | None:
        """The TTL-after-finished controller: delete a finished Job `ttlSecondsAfterFinished` later."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return None
        cond = get_condition(job, finished(job) or "")
        at = parse_time((job.get("status") or {}).get("completionTime") or (cond or {}).get("lastTransitionTime"))
        if at is None:
            return None
        left = int(ttl) - (self.ctx.clock.now() - at).total_seconds()
        if left > 0:
            return self.timers.at(key, now, now + left)
        try:
            self.ctx.store.delete(self.job_rt, *obj_key(job), propagation="Foreground",
                                  precondition_uid=job["metadata"]["uid"])
        except st.ApiError:
            pass
        return None
