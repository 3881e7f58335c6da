"""The CronJob controller (v2): Jobs `<cronjob>-<scheduled unix minutes>` on the sim clock.

On every sync it works out the most recent scheduled time since the last one (or creation), honours
`startingDeadlineSeconds`, `concurrencyPolicy` (Allow / Forbid / Replace) and `suspend`, creates the
Job from `jobTemplate`, keeps `status.active` / `lastScheduleTime` / `lastSuccessfulTime` current,
prunes finished Jobs beyond the history limits, and sleeps until the next activation - so advancing
the sim clock past a schedule produces the Job exactly as a real controller would.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable
from datetime import datetime
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.clock import parse_time, rfc3339
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.cache import by_controller_uid, informers
from prophet_sre.sim.controllers.common import get_condition, is_deleting, obj_key, owner_reference
from prophet_sre.sim.controllers.cronsched import CronError, parse, time_zone
from prophet_sre.sim.controllers.history import Timers, owner_keys
from prophet_sre.sim.controllers.job import finished
from prophet_sre.sim.store import WatchEvent

COMPONENT = "cronjob-controller"
SCHEDULED_AT = "batch.kubernetes.io/cronjob-scheduled-timestamp"
Obj = dict[str, Any]


def job_name(cronjob: str, scheduled: datetime) -> str:
    """`getJobName`: the scheduled time in minutes since the epoch, so reruns are idempotent."""
    return f"{cronjob}-{int(scheduled.timestamp()) // 60}"


def _ref(job: Obj) -> Obj:
    m = job["metadata"]
    return {"apiVersion": "batch/v1", "kind": "Job", "name": m["name"], "namespace": m["namespace"],
            "resourceVersion": m.get("resourceVersion", ""), "uid": m["uid"]}


class CronJobController(Controller):
    name = COMPONENT
    watches = (("batch", "cronjobs"), ("batch", "jobs"))

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.hub = informers(ctx)
        self.jobs_by_owner = self.hub.index("batch", "jobs", "owner", by_controller_uid)
        self.cj_rt = ctx.rt("batch", "cronjobs")
        self.job_rt = ctx.rt("batch", "jobs")
        self.timers = Timers()

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.storage_key == ("batch", "cronjobs"):
            if ev.old is not None and ev.old.get("spec") == ev.obj.get("spec") and ev.type == "MODIFIED":
                return ()  # our own status write
            return [obj_key(ev.obj)]
        if ev.type == "MODIFIED" and ev.old is not None and finished(ev.old) == finished(ev.obj):
            return ()
        return owner_keys(ev, "CronJob")

    def _jobs(self, cj: Obj) -> list[Obj]:
        out = []
        for k in self.jobs_by_owner.get(cj["metadata"]["uid"]):
            j = self.ctx.store.try_get(self.job_rt, *k)
            if j is not None:
                out.append(j)
        return out

    def reconcile(self, key: Hashable) -> float | None:
        ns, name = key  # type: ignore[misc]
        cj = self.ctx.store.try_get(self.cj_rt, ns, name)
        if cj is None:
            self.timers.forget(key)
            return None
        status = copy.deepcopy(cj.get("status") or {})
        jobs = self._jobs(cj)
        self._sync_active(cj, status, jobs)
        self._cleanup(cj, jobs)
        again = None
        if not is_deleting(cj) and not (cj.get("spec") or {}).get("suspend"):
            again = self._schedule(key, cj, status)
        for k in ("active",):
            if not status.get(k):
                status.pop(k, None)
        if status != (cj.get("status") or {}):
            try:
                self.ctx.store.update(self.cj_rt, {**cj, "status": status}, subresource="status", check_rv=False)
            except st.ApiError:
                return 1.0
        return again

    def _sync_active(self, cj: Obj, status: Obj, jobs: list[Obj]) -> None:
        """Drop finished or vanished Jobs from `status.active`; record the last success."""
        by_uid = {j["metadata"]["uid"]: j for j in jobs}
        active = []
        for ref in status.get("active") or ():
            j = by_uid.get(ref.get("uid", ""))
            if j is None:
                continue
            done = finished(j)
            if done:
                self.ctx.events.normal(cj, "SawCompletedJob", f"Saw completed job: {j['metadata']['name']}, "
                                       f"condition: {done}", component=COMPONENT)
                continue
            active.append(_ref(j))
        listed = {r["uid"] for r in active}
        for j in jobs:
            if not finished(j) and not is_deleting(j) and j["metadata"]["uid"] not in listed:
                self.ctx.events.warning(cj, "UnexpectedJob", "Saw a job that the controller did not create or "
                                        f"forgot: {j['metadata']['name']}", component=COMPONENT)
        status["active"] = active
        done_times = [t for j in jobs if finished(j) == "Complete"
                      and (t := parse_time((j.get("status") or {}).get("completionTime")))]
        if done_times:
            last = max(done_times)
            prev = parse_time(status.get("lastSuccessfulTime"))
            if prev is None or last > prev:
                status["lastSuccessfulTime"] = rfc3339(last)

    def _cleanup(self, cj: Obj, jobs: list[Obj]) -> None:
        """Delete the oldest finished Jobs beyond `successfulJobsHistoryLimit` / `failedJobsHistoryLimit`."""
        spec = cj.get("spec") or {}
        for kind, field, default in (("Complete", "successfulJobsHistoryLimit", 3),
                                     ("Failed", "failedJobsHistoryLimit", 1)):
            limit = spec.get(field)
            limit = default if limit is None else int(limit)
            done = sorted((j for j in jobs if finished(j) == kind and not is_deleting(j)),
                          key=lambda j: (self._finish_time(j), j["metadata"]["name"]))
            for j in done[:max(len(done) - limit, 0)]:
                self._delete(cj, j)

    @staticmethod
    def _finish_time(job: Obj) -> str:
        s = job.get("status") or {}
        cond = get_condition(job, finished(job) or "") or {}
        return s.get("completionTime") or cond.get("lastTransitionTime") or s.get("startTime") or ""

    def _delete(self, cj: Obj, job: Obj) -> bool:
        try:
            self.ctx.store.delete(self.job_rt, *obj_key(job), propagation="Background")
        except st.ApiError as e:
            return e.code == 404
        self.ctx.events.normal(cj, "SuccessfulDelete", f"Deleted job {job['metadata']['name']}", component=COMPONENT)
        return True

    # -- scheduling ----------------------------------------------------------------------------------
    def _schedule(self, key: Hashable, cj: Obj, status: Obj) -> float | None:
        spec = cj.get("spec") or {}
        events = self.ctx.events
        tz = time_zone(spec.get("timeZone"))
        if tz is None:
            events.warning(cj, "UnknownTimeZone", f'invalid timeZone: "{spec.get("timeZone")}": unknown time zone '
                                                  f'{spec.get("timeZone")}', component=COMPONENT)
            return None
        try:
            sched = parse(spec.get("schedule") or "")
        except CronError as e:
            events.warning(cj, "UnparseableSchedule", f'unparseable schedule: "{spec.get("schedule")}" : {e}',
                           component=COMPONENT)
            return None
        now = self.ctx.clock.now()
        elapsed = self.ctx.clock.elapsed()
        earliest = parse_time(status.get("lastScheduleTime")) or parse_time(cj["metadata"].get("creationTimestamp"))
        assert earliest is not None
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None:
            floor = now.timestamp() - int(deadline)
            if earliest.timestamp() < floor:
                earliest = datetime.fromtimestamp(floor, earliest.tzinfo)
        scheduled, missed = sched.most_recent(earliest, now, tz)
        nxt = sched.next(now, tz)
        wake = None if nxt is None else self.timers.at(key, elapsed, elapsed + (nxt - now).total_seconds())
        if scheduled is None:
            return wake
        if missed > 100:
            events.warning(cj, "TooManyMissedTimes", "too many missed start times. Set or decrease "
                           ".spec.startingDeadlineSeconds or check clock skew", component=COMPONENT)
        if deadline is not None and (now - scheduled).total_seconds() > int(deadline):
            events.warning(cj, "MissSchedule", "Missed scheduled time to start a job: "
                           f"{scheduled.strftime('%a, %d %b %Y %H:%M:%S +0000')}", component=COMPONENT)
            return wake
        name = job_name(cj["metadata"]["name"], scheduled)
        if self.ctx.store.try_get(self.job_rt, cj["metadata"]["namespace"], name) is not None:
            return wake  # already started (or already done) for this time
        policy = spec.get("concurrencyPolicy") or "Allow"
        if status.get("active") and policy == "Forbid":
            events.normal(cj, "JobAlreadyActive", "Not starting job because prior execution is running and "
                                                  "concurrency policy is Forbid", component=COMPONENT)
            return wake
        if status.get("active") and policy == "Replace":
            for ref in list(status["active"]):
                job = self.ctx.store.try_get(self.job_rt, ref.get("namespace", ""), ref.get("name", ""))
                if job is not None and self._delete(cj, job):
                    status["active"].remove(ref)
        job = self._create(cj, name, scheduled, tz)
        if job is None:
            return wake if wake is not None else 1.0
        status.setdefault("active", []).append(_ref(job))
        status["lastScheduleTime"] = rfc3339(scheduled)
        return wake

    def _create(self, cj: Obj, name: str, scheduled: datetime, tz: Any) -> Obj | None:
        template = (cj.get("spec") or {}).get("jobTemplate") or {}
        tmeta = template.get("metadata") or {}
        annotations = dict(tmeta.get("annotations") or {})
        annotations[SCHEDULED_AT] = scheduled.astimezone(tz).isoformat().replace("+00:00", "Z")
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": name, "namespace": cj["metadata"]["namespace"],
                            "labels": dict(tmeta.get("labels") or {}), "annotations": annotations,
                            "ownerReferences": [owner_reference(cj)]},
               "spec": copy.deepcopy(template.get("spec") or {})}
        if not job["metadata"]["labels"]:
            del job["metadata"]["labels"]
        try:
            created = self.ctx.store.create(self.job_rt, job)
        except st.ApiError as e:
            if e.reason == "AlreadyExists":
                return None
            self.ctx.events.warning(cj, "FailedCreate", f"Error creating job: {e.message}", component=COMPONENT)
            return None
        self.ctx.events.normal(cj, "SuccessfulCreate", f"Created job {name}", component=COMPONENT)
        return created
