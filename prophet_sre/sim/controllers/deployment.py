"""The deployment controller: Deployments own ReplicaSets, one per pod template revision.

It follows kube-controller-manager's algorithm step for step (rolling update within maxSurge and
maxUnavailable, Recreate, proportional scaling, adoption of a matching old ReplicaSet on rollback,
revision history cleanup, Progressing/Available conditions with the progress deadline), because what
users and agents see - `kubectl rollout status/history/undo`, the ScalingReplicaSet events, the
conditions - is exactly what this produces on a real cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable
from datetime import datetime
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.controllers import deployment_status as ds
from prophet_sre.sim.controllers import deployment_util as du
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.cache import by_controller_uid, by_namespace, informers, orphans_by_namespace
from prophet_sre.sim.controllers.common import (
    controller_ref,
    get_condition,
    is_deleting,
    labels_of,
    obj_key,
    owner_reference,
    selector,
)
from prophet_sre.sim.store import WatchEvent

COMPONENT = "deployment-controller"
Obj = dict[str, Any]


def _created(rs: Obj) -> tuple[str, str]:
    return (rs["metadata"].get("creationTimestamp", ""), rs["metadata"]["name"])


def _active(rss: Iterable[Obj | None]) -> list[Obj]:
    return [r for r in rss if r is not None and du.replicas_of(r) > 0]


class _Retry(Exception):
    """A write lost a race (conflict, object gone): look again shortly."""


class DeploymentController(Controller):
    name = COMPONENT
    watches = (("apps", "deployments"), ("apps", "replicasets"), ("", "pods"))

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        hub = informers(ctx)
        self.rs_by_owner = hub.index("apps", "replicasets", "owner", by_controller_uid)
        self.rs_orphans = hub.index("apps", "replicasets", "orphans", orphans_by_namespace)
        self.d_by_ns = hub.index("apps", "deployments", "ns", by_namespace)
        self.d_rt = ctx.rt("apps", "deployments")
        self.rs_rt = ctx.rt("apps", "replicasets")

    # -- events -> keys ------------------------------------------------------------------------------
    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        sk = ev.storage_key
        if sk == ("apps", "deployments"):
            return [obj_key(ev.obj)]
        if sk == ("apps", "replicasets"):
            keys = []
            for o in (ev.obj, ev.old):
                ref = controller_ref(o) if o is not None else None
                if ref is not None:
                    if ref.get("kind") == "Deployment":
                        keys.append((obj_key(o)[0], ref["name"]))
                elif o is ev.obj and ev.type != "DELETED":
                    keys.extend(self._deployments_selecting(ev.obj))
            return keys
        # pods: only the end of an old pod matters (Recreate waits for it)
        gone = ev.type == "DELETED" or (ev.old is not None and (ev.obj.get("status") or {}).get("phase") in (
            "Succeeded", "Failed") and (ev.old.get("status") or {}).get("phase") != ev.obj["status"]["phase"])
        if not gone:
            return ()
        ref = controller_ref(ev.obj)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return ()
        rs = self.ctx.store.try_get(self.rs_rt, obj_key(ev.obj)[0], ref["name"])
        dref = controller_ref(rs) if rs else None
        return [(obj_key(rs)[0], dref["name"])] if rs and dref and dref.get("kind") == "Deployment" else ()

    def _deployments_selecting(self, rs: Obj) -> list[tuple[str, str]]:
        ns = obj_key(rs)[0]
        out = []
        for k in self.d_by_ns.get(ns):
            d = self.ctx.store.try_get(self.d_rt, *k)
            if d is not None and selector((d.get("spec") or {}).get("selector")).matches(labels_of(rs)):
                out.append(k)
        return out

    # -- the sync loop -------------------------------------------------------------------------------
    def reconcile(self, key: Hashable) -> float | None:
        ns, name = key  # type: ignore[misc]
        d = self.ctx.store.try_get(self.d_rt, ns, name)
        if d is None:
            return None
        try:
            rss = self._claim(d)
            if is_deleting(d):
                return self._sync(d, rss, status_only=True)
            d = self._check_paused_conditions(d)
            if d["spec"].get("paused"):
                return self._sync(d, rss)
            scaling, d = self._is_scaling_event(d, rss)
            if scaling:
                return self._sync(d, rss)
            if du.is_rolling(d):
                return self._rollout_rolling(d, rss)
            return self._rollout_recreate(d, rss)
        except _Retry:
            return 0.5

    @property
    def now(self) -> datetime:
        return self.ctx.clock.now()

    # -- ownership -------------------------------------------------------------------------------------
    def _claim(self, d: Obj) -> list[Obj]:
        """Owned ReplicaSets, adopting matching orphans and releasing ones that stopped matching."""
        store = self.ctx.store
        ns = d["metadata"]["namespace"]
        sel = selector(d["spec"].get("selector"))
        out = []
        for k in self.rs_by_owner.get(d["metadata"]["uid"]):
            rs = store.try_get(self.rs_rt, *k)
            if rs is None:
                continue
            if not sel.matches(labels_of(rs)) and not is_deleting(d):
                upd = copy.deepcopy(rs)
                upd["metadata"]["ownerReferences"] = [r for r in rs["metadata"].get("ownerReferences") or ()
                                                      if r.get("uid") != d["metadata"]["uid"]]
                self._write(upd)
                continue
            out.append(rs)
        if not is_deleting(d):
            for k in self.rs_orphans.get(ns):
                rs = store.try_get(self.rs_rt, *k)
                if rs is None or controller_ref(rs) or is_deleting(rs) or not sel.matches(labels_of(rs)):
                    continue
                upd = copy.deepcopy(rs)
                upd["metadata"]["ownerReferences"] = list(rs["metadata"].get("ownerReferences") or ()) + [
                    owner_reference(d)]
                out.append(self._write(upd))
        return out

    # -- writes ------------------------------------------------------------------------------------------
    def _write(self, rs: Obj) -> Obj:
        try:
            return self.ctx.store.update(self.rs_rt, rs)
        except st.ApiError as e:
            raise _Retry() from e

    def _write_deployment(self, d: Obj, *, status: bool) -> Obj:
        try:
            if status:
                return self.ctx.store.update(self.d_rt, d, subresource="status", check_rv=False)
            return self.ctx.store.update(self.d_rt, d)
        except st.ApiError as e:
            raise _Retry() from e

    def _with_status(self, d: Obj, status: Obj) -> Obj:
        if status == (d.get("status") or {}):
            return d
        return self._write_deployment({**d, "status": status}, status=True)

    def _scale(self, d: Obj, rs: Obj, new_scale: int) -> tuple[bool, Obj]:
        """`scaleReplicaSetAndRecordEvent`: resize, refresh the replicas annotations, tell the user."""
        old_scale = du.replicas_of(rs)
        upd = copy.deepcopy(rs)
        ann_changed = du.set_replicas_annotations(upd, du.replicas_of(d), du.replicas_of(d) + du.max_surge(d))
        if old_scale == new_scale and not ann_changed:
            return False, rs
        upd["spec"]["replicas"] = new_scale
        rs = self._write(upd)
        if old_scale != new_scale:
            op = "up" if new_scale > old_scale else "down"
            self.ctx.events.normal(d, "ScalingReplicaSet",
                                   f"Scaled {op} replica set {rs['metadata']['name']} from {old_scale} to {new_scale}",
                                   component=COMPONENT)
        return old_scale != new_scale, rs

    # -- revisions and the new ReplicaSet ---------------------------------------------------------------
    def _all_rss(self, d: Obj, rss: list[Obj], create: bool) -> tuple[Obj, Obj | None, list[Obj]]:
        """`getAllReplicaSetsAndSyncRevision`: find (or create) the RS of the current template."""
        d = self.ctx.store.try_get(self.d_rt, *obj_key(d)) or d
        rss = sorted(self._refresh(rss), key=_created)
        template = d["spec"].get("template") or {}
        new_rs = next((r for r in rss if du.equal_ignore_hash((r.get("spec") or {}).get("template") or {},
                                                               template)), None)
        old = [r for r in rss if r is not new_rs]
        new_revision = max((du.revision_of(r) for r in old), default=0) + 1
        if new_rs is not None:
            upd = copy.deepcopy(new_rs)
            changed = du.set_new_rs_annotations(d, upd, new_revision, exists=True)
            mrs = int(d["spec"].get("minReadySeconds") or 0)
            if int(upd["spec"].get("minReadySeconds") or 0) != mrs:
                upd["spec"]["minReadySeconds"] = mrs
                changed = True
            if changed:
                new_rs = self._write(upd)
            d = self._set_revision(d, str(du.revision_of(new_rs)))
            if get_condition(d, "Progressing") is None and ds.has_deadline(d):
                d = self._with_status(d, ds.with_progressing(
                    d, "FoundNewReplicaSet", f'Found new replica set "{new_rs["metadata"]["name"]}"', self.now))
            return d, new_rs, old
        if not create:
            return d, None, old
        return self._create_new_rs(d, old, new_revision)

    def _create_new_rs(self, d: Obj, old: list[Obj], revision: int) -> tuple[Obj, Obj | None, list[Obj]]:
        rs = du.new_rs_object(d, revision)
        rs["spec"]["replicas"] = du.new_rs_replicas(d, old, None)
        store = self.ctx.store
        try:
            created = store.create(self.rs_rt, rs)
        except st.ApiError as e:
            if e.reason != "AlreadyExists":
                raise _Retry() from e
            existing = store.try_get(self.rs_rt, d["metadata"]["namespace"], rs["metadata"]["name"])
            ref = controller_ref(existing) if existing else None
            if existing is not None and ref and ref.get("uid") == d["metadata"]["uid"] and du.equal_ignore_hash(
                    existing["spec"].get("template") or {}, d["spec"].get("template") or {}):
                return d, existing, old
            status = dict(d.get("status") or {})
            status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
            self._with_status(d, status)
            raise _Retry() from e
        n = du.replicas_of(created)
        if n > 0:
            self.ctx.events.normal(d, "ScalingReplicaSet",
                                   f"Scaled up replica set {created['metadata']['name']} from 0 to {n}",
                                   component=COMPONENT)
        d = self._set_revision(d, str(revision))
        if ds.has_deadline(d):
            d = self._with_status(d, ds.with_progressing(
                d, "NewReplicaSetCreated", f'Created new replica set "{created["metadata"]["name"]}"', self.now))
        return d, created, old

    def _set_revision(self, d: Obj, revision: str) -> Obj:
        ann = d["metadata"].get("annotations") or {}
        if ann.get(du.REVISION) == revision:
            return d
        upd = copy.deepcopy(d)
        upd["metadata"].setdefault("annotations", {})[du.REVISION] = revision
        return self._write_deployment(upd, status=False)

    # -- strategies ----------------------------------------------------------------------------------
    def _rollout_rolling(self, d: Obj, rss: list[Obj]) -> float | None:
        d, new_rs, old = self._all_rss(d, rss, create=True)
        all_rss = old + ([new_rs] if new_rs else [])
        if new_rs is not None and du.replicas_of(new_rs) != du.replicas_of(d):
            target = du.replicas_of(d) if du.replicas_of(new_rs) > du.replicas_of(d) else \
                du.new_rs_replicas(d, all_rss, new_rs)
            scaled, new_rs = self._scale(d, new_rs, target)
            all_rss = old + [new_rs]
            if scaled:
                return self._sync_rollout_status(d, all_rss, new_rs)
        if self._reconcile_old(d, old, new_rs):
            return self._sync_rollout_status(d, self._refresh(all_rss), new_rs)
        if du.is_complete(d, d.get("status") or {}):
            self._cleanup(d, old)
        return self._sync_rollout_status(d, all_rss, new_rs)

    def _refresh(self, rss: list[Obj]) -> list[Obj]:
        out = []
        for r in rss:
            cur = self.ctx.store.try_get(self.rs_rt, *obj_key(r))
            if cur is not None:
                out.append(cur)
        return out

    def _reconcile_old(self, d: Obj, old: list[Obj], new_rs: Obj | None) -> bool:
        """`reconcileOldReplicaSets`: scale old RSs down as far as maxUnavailable allows."""
        old_count = du.sum_spec(old)
        if old_count == 0:
            return False
        all_rss = old + ([new_rs] if new_rs else [])
        min_available = du.replicas_of(d) - du.max_unavailable(d)
        new_unavailable = (du.replicas_of(new_rs) - du.sum_status([new_rs], "availableReplicas")) if new_rs else 0
        max_scaled_down = du.sum_spec(all_rss) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        total = 0
        # first the unhealthy replicas of old RSs: removing them cannot hurt availability
        old_sorted = sorted(_active(old), key=_created)
        kept: list[Obj] = []
        for rs in old_sorted:
            avail = du.sum_status([rs], "availableReplicas")
            if total >= max_scaled_down or du.replicas_of(rs) == 0 or avail == du.replicas_of(rs):
                kept.append(rs)
                continue
            n = min(max_scaled_down - total, du.replicas_of(rs) - avail)
            _, rs = self._scale(d, rs, du.replicas_of(rs) - n)
            total += n
            kept.append(rs)
        # then healthy ones, oldest first, down to minAvailable
        all_now = kept + ([new_rs] if new_rs else [])
        available = du.sum_status(all_now, "availableReplicas")
        budget = available - min_available
        done = 0
        for rs in kept:
            if budget <= 0 or done >= budget:
                break
            if du.replicas_of(rs) == 0:
                continue
            n = min(du.replicas_of(rs), budget - done)
            self._scale(d, rs, du.replicas_of(rs) - n)
            done += n
        return total + done > 0

    def _rollout_recreate(self, d: Obj, rss: list[Obj]) -> float | None:
        d, new_rs, old = self._all_rss(d, rss, create=False)
        scaled = False
        for rs in _active(old):
            s, _ = self._scale(d, rs, 0)
            scaled = scaled or s
        if scaled:
            return self._sync_rollout_status(d, self._refresh(old) + ([new_rs] if new_rs else []), new_rs)
        if self._old_pods_running(old):
            return self._sync_rollout_status(d, old + ([new_rs] if new_rs else []), new_rs)
        if new_rs is None:
            d, new_rs, old = self._all_rss(d, rss, create=True)
        if new_rs is not None and du.replicas_of(new_rs) != du.replicas_of(d):
            _, new_rs = self._scale(d, new_rs, du.replicas_of(d))
        if du.is_complete(d, d.get("status") or {}):
            self._cleanup(d, old)
        return self._sync_rollout_status(d, old + ([new_rs] if new_rs else []), new_rs)

    def _old_pods_running(self, old: list[Obj]) -> bool:
        hub = informers(self.ctx)
        pod_rt = self.ctx.rt("", "pods")
        for rs in old:
            if int((rs.get("status") or {}).get("replicas") or 0) > 0:
                return True
            for k in hub.index("", "pods", "owner", by_controller_uid).get(rs["metadata"]["uid"]):
                p = self.ctx.store.try_get(pod_rt, *k)
                if p is not None and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                    return True
        return False

    # -- scaling while paused or resized (proportional scaling) ---------------------------------------
    def _is_scaling_event(self, d: Obj, rss: list[Obj]) -> tuple[bool, Obj]:
        d, new_rs, old = self._all_rss(d, rss, create=False)
        for rs in _active(old + [new_rs] if new_rs else old):
            want = du.desired_annotation(rs)
            if want is not None and want != du.replicas_of(d):
                return True, d
        return False, d

    def _sync(self, d: Obj, rss: list[Obj], status_only: bool = False) -> float | None:
        d, new_rs, old = self._all_rss(d, rss, create=False)
        if not status_only:
            self._proportional_scale(d, new_rs, old)
            if d["spec"].get("paused"):
                self._cleanup(d, old)
        all_rss = self._refresh(old + ([new_rs] if new_rs else []))
        new_rs = next((r for r in all_rss if new_rs and r["metadata"]["uid"] == new_rs["metadata"]["uid"]), None)
        self._with_status(d, ds.calculate_status(d, all_rss, new_rs, self.now))
        return None

    def _proportional_scale(self, d: Obj, new_rs: Obj | None, old: list[Obj]) -> None:
        want = du.replicas_of(d)
        old_newest_first = sorted(old, key=_created, reverse=True)
        active = _active(old_newest_first + [new_rs])
        if new_rs is not None or old:
            target = None
            if not active:
                target = new_rs if new_rs is not None else old_newest_first[0]
            elif len(active) == 1:
                target = active[0]
            if target is not None:
                if du.replicas_of(target) != want:
                    self._scale(d, target, want)
                return
        if new_rs is not None and du.desired_annotation(new_rs) == want and du.replicas_of(new_rs) == want and \
                du.sum_status([new_rs], "availableReplicas") == want:
            for rs in _active(old):
                self._scale(d, rs, 0)
            return
        if du.is_rolling(d):
            for rs, size in ds.proportional_sizes(d, active, _created):
                self._scale(d, rs, size)

    def _cleanup(self, d: Obj, old: list[Obj]) -> None:
        """Delete the oldest zero-sized ReplicaSets beyond revisionHistoryLimit."""
        limit = d["spec"].get("revisionHistoryLimit", 10)
        if limit is None:
            return
        cleanable = [r for r in old if not is_deleting(r)]
        diff = len(cleanable) - int(limit)
        if diff <= 0:
            return
        cleanable.sort(key=lambda r: (du.revision_of(r), _created(r)))
        for rs in cleanable[:diff]:
            s = rs.get("status") or {}
            if int(s.get("replicas") or 0) or du.replicas_of(rs) or \
                    rs["metadata"].get("generation", 1) > int(s.get("observedGeneration") or 0):
                continue
            try:
                self.ctx.store.delete(self.rs_rt, *obj_key(rs))
            except st.ApiError:
                pass

    # -- status --------------------------------------------------------------------------------------
    def _sync_rollout_status(self, d: Obj, all_rss: list[Obj], new_rs: Obj | None) -> float | None:
        d = self.ctx.store.try_get(self.d_rt, *obj_key(d)) or d
        status = ds.rollout_status(d, all_rss, new_rs, self.now)
        self._with_status(d, status)
        return ds.requeue_after(d, status, self.now)

    def _check_paused_conditions(self, d: Obj) -> Obj:
        status = ds.paused_status(d, self.now)
        return d if status is None else self._with_status(d, status)
