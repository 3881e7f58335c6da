"""The DaemonSet controller: one pod per eligible node, placed through the default scheduler.

A node is eligible when the template's nodeSelector / required node affinity match it and its
NoSchedule/NoExecute taints are tolerated - counting the tolerations every daemon pod gets
(not-ready and unreachable NoExecute, the pressure and unschedulable NoSchedule taints), which is
why DaemonSets keep running on cordoned and pressured nodes. Like the real controller, it pins each
pod to its node with a `metadata.name` node-affinity term and lets the scheduler bind it, so a full
node shows up as a Pending daemon pod with the scheduler's message. Rolling updates replace pods
within `maxUnavailable`; the counts in `status` are the ones `kubectl get ds` prints.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.cache import ensure_pod_indexes, informers
from prophet_sre.sim.controllers.common import (
    is_active,
    is_available,
    is_deleting,
    is_ready,
    labels_of,
    obj_key,
    pod_phase,
    scaled_value,
    seconds_until_available,
)
from prophet_sre.sim.controllers.history import (
    REVISION_LABEL,
    Revisions,
    compute_hash,
    node_labels_changed,
    owner_keys,
    untolerated,
)
from prophet_sre.sim.controllers.replicaset import pod_from_template
from prophet_sre.sim.controllers.scheduler import node_matches_affinity
from prophet_sre.sim.store import WatchEvent

COMPONENT = "daemonset-controller"
GENERATION_LABEL = "pod-template-generation"
Obj = dict[str, Any]

_DEFAULT_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule"),
)


def daemon_tolerations(pod_spec: Obj) -> list[Obj]:
    """`AddOrUpdateDaemonPodTolerations`: the template's tolerations plus the daemon defaults."""
    tols = list(pod_spec.get("tolerations") or ())
    extra = list(_DEFAULT_TOLERATIONS)
    if pod_spec.get("hostNetwork"):
        extra.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
    for key, effect in extra:
        if not any(t.get("key") == key and t.get("effect") == effect and t.get("operator") == "Exists"
                   and t.get("tolerationSeconds") is None for t in tols):
            tols.append({"key": key, "operator": "Exists", "effect": effect})
    return tols


def node_should_run(ds: Obj, node: Obj) -> tuple[bool, bool]:
    """(should run a new daemon pod here, may keep an existing one): `NodeShouldRunDaemonPod`."""
    template = (ds.get("spec") or {}).get("template") or {}
    pod = {"spec": template.get("spec") or {}}
    if not node_matches_affinity(pod, node):
        return False, False
    tols = daemon_tolerations(pod["spec"])
    taints = (node.get("spec") or {}).get("taints") or ()
    keep = untolerated(tols, taints, ("NoExecute",)) is None
    run = keep and untolerated(tols, taints, ("NoSchedule",)) is None
    return run, keep


def target_node(pod: Obj) -> str:
    """The node a daemon pod is for: bound, or pinned by its `metadata.name` affinity term."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    terms = ((((spec.get("affinity") or {}).get("nodeAffinity") or {})
              .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or ())
    for t in terms:
        for f in t.get("matchFields") or ():
            if f.get("key") == "metadata.name" and f.get("operator") == "In" and len(f.get("values") or ()) == 1:
                return str(f["values"][0])
    return ""


class DaemonSetController(Controller):
    name = COMPONENT
    watches = (("apps", "daemonsets"), ("", "pods"), ("", "nodes"))

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.hub = informers(ctx)
        ensure_pod_indexes(self.hub)
        self.ds_rt = ctx.rt("apps", "daemonsets")
        self.pod_rt = ctx.rt("", "pods")
        self.node_rt = ctx.rt("", "nodes")
        self.revisions = Revisions(ctx, self.hub)
        self._backoff: dict[Hashable, float] = {}

    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        if ev.storage_key == ("apps", "daemonsets"):
            return [obj_key(ev.obj)]
        if ev.storage_key == ("", "nodes"):
            if not node_labels_changed(ev):
                return ()
            return [obj_key(d) for d in self.ctx.store.objects(self.ds_rt)]
        return owner_keys(ev, "DaemonSet")

    def reconcile(self, key: Hashable) -> float | None:
        ns, name = key  # type: ignore[misc]
        ds = self.ctx.store.try_get(self.ds_rt, ns, name)
        if ds is None:
            self._backoff.pop(key, None)
            return None
        collision = (ds.get("status") or {}).get("collisionCount")
        tmpl_hash = compute_hash((ds.get("spec") or {}).get("template") or {}, collision)
        labels = dict((((ds.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})
        labels[REVISION_LABEL] = tmpl_hash
        rev, revs = self.revisions.sync(ds, name=f"{name}-{tmpl_hash}", labels=labels,
                                        annotations=ds["metadata"].get("annotations"))
        nodes = sorted(self.ctx.store.objects(self.node_rt), key=lambda n: n["metadata"]["name"])
        failed = False
        if not is_deleting(ds) and rev is not None:
            failed = self._manage(ds, nodes, tmpl_hash)
        again = self._update_status(ds, nodes, tmpl_hash)
        live = {f"{name}-{labels_of(p).get(REVISION_LABEL, '')}" for p in self._pods(ds)}
        if rev is not None:
            self.revisions.truncate(ds, revs, live | {rev["metadata"]["name"]})
        if failed:
            delay = min(self._backoff.get(key, 0.5) * 2, 60.0)
            self._backoff[key] = delay
            return delay if again is None else min(again, delay)
        self._backoff.pop(key, None)
        return again

    def _pods(self, ds: Obj) -> list[Obj]:
        out = []
        for k in self.hub.get("", "pods", "owner", ds["metadata"]["uid"]):
            p = self.ctx.store.try_get(self.pod_rt, *k)
            if p is not None:
                out.append(p)
        return sorted(out, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))

    def _by_node(self, ds: Obj) -> dict[str, list[Obj]]:
        out: dict[str, list[Obj]] = {}
        for p in self._pods(ds):
            if not is_deleting(p):
                out.setdefault(target_node(p), []).append(p)
        return out

    def _manage(self, ds: Obj, nodes: list[Obj], tmpl_hash: str) -> bool:
        """Create, delete and replace daemon pods; True when an API call failed."""
        by_node = self._by_node(ds)
        names = {n["metadata"]["name"] for n in nodes}
        create: list[str] = []
        delete: list[Obj] = [p for node, ps in by_node.items() if node not in names for p in ps]
        for node in nodes:
            nname = node["metadata"]["name"]
            run, keep = node_should_run(ds, node)
            pods = by_node.get(nname, [])
            if not keep:
                delete += pods
                continue
            failed = [p for p in pods if pod_phase(p) == "Failed"]
            for p in failed:
                self.ctx.events.warning(ds, "FailedDaemonPod", f"Found failed daemon pod {p['metadata']['namespace']}/"
                                        f"{p['metadata']['name']} on node {nname}, will try to kill it",
                                        component=COMPONENT)
            delete += failed
            alive = [p for p in pods if p not in failed]
            if not alive and run:
                create.append(nname)
            delete += alive[1:]  # duplicates: keep the oldest
        bad = False
        for p in delete:
            bad |= not self._delete(ds, p)
        for nname in create:
            bad |= not self._create(ds, nname, tmpl_hash)
        if not bad and ((ds.get("spec") or {}).get("updateStrategy") or {}).get("type", "RollingUpdate") == \
                "RollingUpdate":
            bad = self._rolling_update(ds, nodes, tmpl_hash)
        return bad

    def _rolling_update(self, ds: Obj, nodes: list[Obj], tmpl_hash: str) -> bool:
        """Delete out-of-date pods while the number of unavailable nodes stays within maxUnavailable."""
        spec = ds.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = self.ctx.clock.now()
        by_node = self._by_node(ds)
        desired = [n["metadata"]["name"] for n in nodes if node_should_run(ds, n)[0]]
        ru = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
        budget = scaled_value(ru.get("maxUnavailable"), len(desired), True, default="1") or 1
        unavailable, old_ok, old_bad = 0, [], []
        for nname in desired:
            pods = by_node.get(nname, [])
            available = any(is_available(p, min_ready, now) for p in pods)
            if not pods or not available:
                unavailable += 1
            for p in pods:
                if labels_of(p).get(REVISION_LABEL) != tmpl_hash:
                    (old_ok if is_available(p, min_ready, now) else old_bad).append(p)
        bad = False
        for p in old_bad:  # already unavailable: replacing them costs nothing
            bad |= not self._delete(ds, p)
        for p in old_ok[:max(budget - unavailable, 0)]:
            bad |= not self._delete(ds, p)
        return bad

    def _create(self, ds: Obj, node: str, tmpl_hash: str) -> bool:
        pod = pod_from_template(ds)
        pod["metadata"]["labels"].update({REVISION_LABEL: tmpl_hash,
                                          GENERATION_LABEL: str(ds["metadata"].get("generation", 1))})
        spec = pod["spec"]
        spec["tolerations"] = daemon_tolerations(spec)
        affinity = copy.deepcopy(spec.get("affinity") or {})
        node_aff = affinity.setdefault("nodeAffinity", {})
        node_aff["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [node]}]}]}
        spec["affinity"] = affinity
        try:
            created = self.ctx.store.create(self.pod_rt, pod)
        except st.ApiError as e:
            self.ctx.events.warning(ds, "FailedCreate", f"Error creating: {e.message}", component=COMPONENT)
            return False
        self.ctx.events.normal(ds, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}",
                               component=COMPONENT)
        return True

    def _delete(self, ds: Obj, pod: Obj) -> bool:
        try:
            self.ctx.store.delete(self.pod_rt, *obj_key(pod))
        except st.ApiError as e:
            if e.code == 404:
                return True
            self.ctx.events.warning(ds, "FailedDelete", f"Error deleting: {e.message}", component=COMPONENT)
            return False
        self.ctx.events.normal(ds, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}", component=COMPONENT)
        return True

    def _update_status(self, ds: Obj, nodes: list[Obj], tmpl_hash: str) -> float | None:
        spec = ds.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = self.ctx.clock.now()
        by_node = self._by_node(ds)
        desired = current = mis = ready = available = updated = 0
        waits: list[float] = []
        for node in nodes:
            run, _ = node_should_run(ds, node)
            pods = [p for p in by_node.get(node["metadata"]["name"], []) if is_active(p)]
            if not run:
                mis += bool(pods)
                continue
            desired += 1
            if not pods:
                continue
            current += 1
            p = pods[0]
            if is_ready(p):
                ready += 1
                if is_available(p, min_ready, now):
                    available += 1
                elif (w := seconds_until_available(p, min_ready, now)) is not None:
                    waits.append(w)
            updated += labels_of(p).get(REVISION_LABEL) == tmpl_hash
        old = ds.get("status") or {}
        status: Obj = {"currentNumberScheduled": current, "desiredNumberScheduled": desired,
                       "numberAvailable": available, "numberMisscheduled": mis, "numberReady": ready,
                       "numberUnavailable": desired - available,
                       "observedGeneration": ds["metadata"].get("generation", 1), "updatedNumberScheduled": updated}
        keep = ("currentNumberScheduled", "desiredNumberScheduled", "numberMisscheduled", "numberReady")
        status = {k: v for k, v in status.items() if v or k in keep}
        if old.get("collisionCount") is not None:
            status["collisionCount"] = old["collisionCount"]
        if status != old:
            try:
                self.ctx.store.update(self.ds_rt, {**ds, "status": status}, subresource="status", check_rv=False)
            except st.ApiError:
                return 0.5
        return min(waits) + 0.01 if waits else None
