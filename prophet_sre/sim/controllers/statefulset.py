"""The StatefulSet controller: stable pod identities `<set>-<ordinal>`, their claims, ordered rollouts.

It follows `stateful_set_control.go`: with `OrderedReady` it creates one pod at a time and waits for
it to be Running and Ready (and deletes in reverse order, one at a time); with `Parallel` it does
not wait. Claims from `volumeClaimTemplates` (`<template>-<set>-<ordinal>`) are created before the
pod and never deleted with it, which is why a StatefulSet's data survives pod deletion - and why a
claim stuck Pending blocks pod 0 forever. Rolling updates replace pods from the highest ordinal down
to `partition`, one at a time. A missing governing Service is not this controller's concern (real
StatefulSets run without it; K8sGPT reports it).
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.cache import ensure_pod_indexes, informers
from prophet_sre.sim.controllers.common import (
    is_available,
    is_deleting,
    is_ready,
    is_terminal,
    obj_key,
    owner_reference,
    pod_phase,
    seconds_until_available,
)
from prophet_sre.sim.controllers.history import (
    REVISION_LABEL,
    STS_REVISION_HASH,
    Revisions,
    compute_hash,
    owner_keys,
    template_of,
    template_patch,
)
from prophet_sre.sim.store import WatchEvent

COMPONENT = "statefulset-controller"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
Obj = dict[str, Any]


def ordinal_of(set_name: str, pod: Obj) -> int | None:
    """The ordinal in `<set>-<ordinal>`, or None for a pod that is not one of the set's identities."""
    name = pod["metadata"]["name"]
    prefix = set_name + "-"
    if not name.startswith(prefix) or not name[len(prefix):].isdigit():
        return None
    return int(name[len(prefix):])


def claim_name(template: Obj, set_name: str, ordinal: int) -> str:
    return f"{(template.get('metadata') or {}).get('name', '')}-{set_name}-{ordinal}"


def revision_of(pod: Obj) -> str:
    return ((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL, "")


def running_and_ready(pod: Obj) -> bool:
    return pod_phase(pod) == "Running" and is_ready(pod)


class StatefulSetController(Controller):
    name = COMPONENT
    watches = (("apps", "statefulsets"), ("", "pods"))

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.hub = informers(ctx)
        ensure_pod_indexes(self.hub)
        self.sts_rt = ctx.rt("apps", "statefulsets")
        self.pod_rt = ctx.rt("", "pods")
        self.pvc_rt = ctx.rt("", "persistentvolumeclaims")
        self.revisions = Revisions(ctx, self.hub)
        self._backoff: dict[Hashable, float] = {}

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.storage_key == ("apps", "statefulsets"):
            return [obj_key(ev.obj)]
        return owner_keys(ev, "StatefulSet")

    # -- reconcile -----------------------------------------------------------------------------------
    def reconcile(self, key: Hashable) -> float | None:
        ns, name = key  # type: ignore[misc]
        sts = self.ctx.store.try_get(self.sts_rt, ns, name)
        if sts is None:
            self._backoff.pop(key, None)
            return None
        update_rev, revs = self.revisions.sync(
            sts, name=f"{name}-{compute_hash(template_patch(sts), (sts.get('status') or {}).get('collisionCount'))}",
            labels=self._revision_labels(sts))
        if update_rev is None:
            return 0.5
        update_name = update_rev["metadata"]["name"]
        names = {r["metadata"]["name"]: r for r in revs}
        current_name = (sts.get("status") or {}).get("currentRevision") or update_name
        if current_name not in names:
            current_name = update_name
        pods = self._pods(sts)
        failure = None
        if not is_deleting(sts):
            failure = self._manage(sts, pods, names[current_name], update_rev)
            pods = self._pods(sts)
        again = self._update_status(sts, pods, current_name, update_name)
        self.revisions.truncate(sts, revs, {current_name, update_name} | {revision_of(p) for p in pods.values()})
        if failure:
            delay = min(self._backoff.get(key, 0.5) * 2, 60.0)
            self._backoff[key] = delay
            return delay if again is None else min(again, delay)
        self._backoff.pop(key, None)
        return again

    @staticmethod
    def _revision_labels(sts: Obj) -> dict[str, str]:
        labels = dict((((sts.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})
        labels[STS_REVISION_HASH] = compute_hash(template_patch(sts), (sts.get("status") or {}).get("collisionCount"))
        return labels

    def _pods(self, sts: Obj) -> dict[int, Obj]:
        """The set's pods by ordinal (owned by this incarnation of the set)."""
        out: dict[int, Obj] = {}
        for k in self.hub.get("", "pods", "owner", sts["metadata"]["uid"]):
            p = self.ctx.store.try_get(self.pod_rt, *k)
            if p is not None and (o := ordinal_of(sts["metadata"]["name"], p)) is not None:
                out[o] = p
        return out

    # -- the update algorithm ------------------------------------------------------------------------
    def _manage(self, sts: Obj, pods: dict[int, Obj], current: Obj, update: Obj) -> bool:
        """One pass of `updateStatefulSet`; True when a create or delete failed."""
        spec = sts.get("spec") or {}
        replicas = 1 if spec.get("replicas") is None else int(spec["replicas"])
        start = int((spec.get("ordinals") or {}).get("start") or 0)
        ordered = (spec.get("podManagementPolicy") or "OrderedReady") == "OrderedReady"
        strategy = spec.get("updateStrategy") or {}
        rolling = (strategy.get("type") or "RollingUpdate") == "RollingUpdate"
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0) if rolling else replicas
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = self.ctx.clock.now()

        def healthy(p: Obj) -> bool:
            return running_and_ready(p) and not is_deleting(p) and is_available(p, min_ready, now)

        for i in range(replicas):
            ordinal = start + i
            pod = pods.get(ordinal)
            if pod is not None and is_terminal(pod) and not is_deleting(pod):
                if not self._delete(sts, pod):
                    return True
                pod = None
                if ordered:
                    return False
            if pod is None:
                older = current["metadata"]["name"] != update["metadata"]["name"]
                rev = current if rolling and older and ordinal < partition else update
                if not self._create(sts, ordinal, rev):
                    return True
                if ordered:
                    return False
                continue
            if ordered and (is_deleting(pod) or not healthy(pod)):
                return False
        condemned = sorted((o for o in pods if not start <= o < start + replicas), reverse=True)
        for ordinal in condemned:
            pod = pods[ordinal]
            if is_deleting(pod):
                if ordered:
                    return False
                continue
            if ordered and not healthy(pod) and ordinal != condemned[0]:
                return False
            if not self._delete(sts, pod):
                return True
            if ordered:
                return False
        if not rolling:
            return False
        update_name = update["metadata"]["name"]
        for i in range(replicas - 1, max(partition, 0) - 1, -1):
            pod = pods.get(start + i)
            if pod is None:
                return False
            if revision_of(pod) != update_name and not is_deleting(pod):
                return not self._delete(sts, pod)
            if not healthy(pod):
                return False
        return False

    def _create(self, sts: Obj, ordinal: int, revision: Obj) -> bool:
        m = sts["metadata"]
        set_name, ns = m["name"], m["namespace"]
        pod_name = f"{set_name}-{ordinal}"
        spec = sts.get("spec") or {}
        events = self.ctx.events
        for tmpl in spec.get("volumeClaimTemplates") or ():
            cname = claim_name(tmpl, set_name, ordinal)
            if self.ctx.store.try_get(self.pvc_rt, ns, cname) is not None:
                continue
            labels = dict((tmpl.get("metadata") or {}).get("labels") or {})
            labels.update((spec.get("selector") or {}).get("matchLabels") or {})
            cmeta: Obj = {"name": cname, "namespace": ns, "labels": labels}
            if (tmpl.get("metadata") or {}).get("annotations"):
                cmeta["annotations"] = dict(tmpl["metadata"]["annotations"])
            if ((spec.get("persistentVolumeClaimRetentionPolicy") or {}).get("whenDeleted") == "Delete"):
                cmeta["ownerReferences"] = [owner_reference(sts, controller=False, block=False)]
            claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": cmeta,
                     "spec": copy.deepcopy(tmpl.get("spec") or {})}
            try:
                self.ctx.store.create(self.pvc_rt, claim)
            except st.ApiError as e:
                events.warning(sts, "FailedCreate", f"create Claim {cname} for Pod {pod_name} in StatefulSet "
                                                    f"{set_name} failed error: {e.message}", component=COMPONENT)
                return False
            events.normal(sts, "SuccessfulCreate", f"create Claim {cname} Pod {pod_name} in StatefulSet {set_name} "
                                                   "success", component=COMPONENT)
        pod = self._pod_object(sts, ordinal, revision)
        try:
            self.ctx.store.create(self.pod_rt, pod)
        except st.ApiError as e:
            if e.reason == "AlreadyExists":
                return True
            events.warning(sts, "FailedCreate", f"create Pod {pod_name} in StatefulSet {set_name} failed error: "
                                                f"{e.message}", component=COMPONENT)
            return False
        events.normal(sts, "SuccessfulCreate", f"create Pod {pod_name} in StatefulSet {set_name} successful",
                      component=COMPONENT)
        return True

    def _pod_object(self, sts: Obj, ordinal: int, revision: Obj) -> Obj:
        """`newVersionedStatefulSetPod`: the revision's template with the pod's identity and claims."""
        m, spec = sts["metadata"], sts.get("spec") or {}
        template = template_of(revision.get("data") or {})
        tmeta = template.get("metadata") or {}
        name = f"{m['name']}-{ordinal}"
        labels = dict(tmeta.get("labels") or {})
        labels.update({REVISION_LABEL: revision["metadata"]["name"], POD_NAME_LABEL: name,
                       POD_INDEX_LABEL: str(ordinal)})
        meta: Obj = {"name": name, "namespace": m["namespace"], "labels": labels,
                     "ownerReferences": [owner_reference(sts)]}
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        pspec = copy.deepcopy(template.get("spec") or {})
        pspec["hostname"] = name
        if spec.get("serviceName"):
            pspec["subdomain"] = spec["serviceName"]
        claims = {(t.get("metadata") or {}).get("name", ""): claim_name(t, m["name"], ordinal)
                  for t in spec.get("volumeClaimTemplates") or ()}
        if claims:
            volumes = [v for v in pspec.get("volumes") or () if v.get("name") not in claims]
            volumes += [{"name": vol, "persistentVolumeClaim": {"claimName": cname}}
                        for vol, cname in sorted(claims.items())]
            pspec["volumes"] = volumes
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pspec}

    def _delete(self, sts: Obj, pod: Obj) -> bool:
        name = pod["metadata"]["name"]
        set_name = sts["metadata"]["name"]
        try:
            self.ctx.store.delete(self.pod_rt, *obj_key(pod), precondition_uid=pod["metadata"].get("uid"))
        except st.ApiError as e:
            if e.code == 404:
                return True
            self.ctx.events.warning(sts, "FailedDelete", f"delete Pod {name} in StatefulSet {set_name} failed "
                                                         f"error: {e.message}", component=COMPONENT)
            return False
        self.ctx.events.normal(sts, "SuccessfulDelete", f"delete Pod {name} in StatefulSet {set_name} successful",
                               component=COMPONENT)
        return True

    # -- status --------------------------------------------------------------------------------------
    def _update_status(self, sts: Obj, pods: dict[int, Obj], current: str, update: str) -> float | None:
        spec = sts.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = self.ctx.clock.now()
        replicas = ready = available = cur = upd = 0
        waits: list[float] = []
        for p in pods.values():
            replicas += 1
            if running_and_ready(p):
                ready += 1
                if is_available(p, min_ready, now):
                    available += 1
                elif (w := seconds_until_available(p, min_ready, now)) is not None:
                    waits.append(w)
            if not is_deleting(p):
                cur += revision_of(p) == current
                upd += revision_of(p) == update
        rolling = ((spec.get("updateStrategy") or {}).get("type") or "RollingUpdate") == "RollingUpdate"
        if rolling and upd == replicas and ready == replicas:
            current, cur = update, upd  # completeRollingUpdate
        old = sts.get("status") or {}
        status: Obj = {"availableReplicas": available, "collisionCount": int(old.get("collisionCount") or 0),
                       "currentReplicas": cur, "currentRevision": current,
                       "observedGeneration": sts["metadata"].get("generation", 1), "readyReplicas": ready,
                       "replicas": replicas, "updateRevision": update, "updatedReplicas": upd}
        status = {k: v for k, v in status.items() if v or k in ("replicas", "availableReplicas", "collisionCount")}
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        if status != old:
            try:
                self.ctx.store.update(self.sts_rt, {**sts, "status": status}, subresource="status", check_rv=False)
            except st.ApiError:
                return 0.5
        return min(waits) + 0.01 if waits else None
