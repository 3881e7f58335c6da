"""The garbage collector: cascading deletion through ownerReferences, for every type including CRDs.

It keeps an owner-uid -> dependents graph from store events (the real GC's graph builder) and acts on
three occasions: an owner disappeared (background cascade: dependents whose every owner is gone are
deleted), an owner is being deleted with `foregroundDeletion` (its dependents go first, and the
finalizer comes off once no dependent with `blockOwnerDeletion` remains), or with `orphan` (the
dependents lose their references to it, then the finalizer comes off). This is what makes
`kubectl delete deploy web` with each `--cascade` mode behave as on a real cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.controllers.common import is_deleting
from prophet_sre.sim.registry import ResourceType
from prophet_sre.sim.store import WatchEvent

Obj = dict[str, Any]
Ref = tuple[tuple[str, str], str, str]  # (storage key, namespace, name)
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


class GarbageCollector(Controller):
    name = "garbage-collector-controller"
    watches = ()  # every type, CRDs included: we subscribe to the store directly

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.dependents: dict[str, set[Ref]] = {}
        self._owners_of: dict[Ref, tuple[str, ...]] = {}
        self._rt_cache: dict[tuple[str, str], ResourceType | None] = {}
        for rt in list(ctx.registry):
            if rt.storage:
                for obj in ctx.store.objects(rt):
                    self._index(rt.storage_key, obj, None)
        ctx.store.subscribe(self._on_event)

    # -- the graph ---------------------------------------------------------------------------------
    def _index(self, skey: tuple[str, str], obj: Obj, gone: bool | None) -> Ref:
        m = obj.get("metadata") or {}
        ref: Ref = (skey, m.get("namespace", "") or "", m.get("name", ""))
        new = () if gone else tuple(r.get("uid", "") for r in m.get("ownerReferences") or ())
        old = self._owners_of.get(ref, ())
        if new != old:
            for uid in old:
                deps = self.dependents.get(uid)
                if deps is not None:
                    deps.discard(ref)
                    if not deps:
                        del self.dependents[uid]
            for uid in new:
                self.dependents.setdefault(uid, set()).add(ref)
            if new:
                self._owners_of[ref] = new
            else:
                self._owners_of.pop(ref, None)
        return ref

    def _on_event(self, ev: WatchEvent) -> None:
        if ev.storage_key == ("", "events"):
            return
        m = ev.obj.get("metadata") or {}
        ref = self._index(ev.storage_key, ev.obj, ev.type == "DELETED")
        uid = m.get("uid", "")
        if ev.type == "DELETED":
            if uid in self.dependents:
                self.enqueue(("owner-gone", uid))
            for r in m.get("ownerReferences") or ():  # an owner may be waiting for this one to go
                rt = self._rt(r.get("apiVersion", ""), r.get("kind", ""))
                if rt is not None:
                    self.enqueue(("finalize", (rt.storage_key, ref[1] if rt.namespaced else "", r.get("name", ""))))
            return
        refs = m.get("ownerReferences") or ()
        old_refs = ((ev.old or {}).get("metadata") or {}).get("ownerReferences") or ()
        if refs and (ev.type == "ADDED" or refs != old_refs):
            self.enqueue(("dependent", ref))
        fins = m.get("finalizers") or ()
        if m.get("deletionTimestamp") and (FOREGROUND in fins or ORPHAN in fins):
            self.enqueue(("finalize", ref))

    def _rt(self, api_version: str, kind: str) -> ResourceType | None:
        k = (api_version, kind)
        if k not in self._rt_cache:
            rt = self.ctx.registry.by_kind(api_version, kind)
            if rt is not None and not rt.storage:
                rt = self.ctx.registry.storage_type(rt.group, rt.plural)
            self._rt_cache[k] = rt
        return self._rt_cache[k]

    def _get(self, ref: Ref) -> tuple[ResourceType | None, Obj | None]:
        rt = self.ctx.registry.storage_type(*ref[0])
        return rt, (self.ctx.store.try_get(rt, ref[1], ref[2]) if rt else None)

    def _owner(self, dep_ns: str, oref: Obj) -> Obj | None:
        """The live owner an ownerReference points at (same uid), or None when it is absent."""
        rt = self._rt(oref.get("apiVersion", ""), oref.get("kind", ""))
        if rt is None:
            self._rt_cache.pop((oref.get("apiVersion", ""), oref.get("kind", "")), None)  # maybe a CRD, later
            return None
        obj = self.ctx.store.try_get(rt, dep_ns if rt.namespaced else "", oref.get("name", ""))
        return obj if obj is not None and obj["metadata"].get("uid") == oref.get("uid") else None

    # -- work ------------------------------------------------------------------------------------------
    def reconcile(self, key: Hashable) -> float | None:
        kind, arg = key  # type: ignore[misc]
        if kind == "owner-gone":
            for dep in sorted(self.dependents.get(arg, ())):
                self._attempt_delete(dep)
            return None
        if kind == "dependent":
            return self._attempt_delete(arg)
        return self._finalize(arg)

    def _attempt_delete(self, ref: Ref) -> float | None:
        """`attemptToDeleteItem`: delete a dependent none of whose owners is alive and solid."""
        rt, obj = self._get(ref)
        if rt is None or obj is None or is_deleting(obj) and not (obj["metadata"].get("finalizers")):
            return None
        refs = obj["metadata"].get("ownerReferences") or []
        if not refs:
            return None
        solid, dangling, waiting = [], [], []
        for r in refs:
            owner = self._owner(ref[1], r)
            if owner is None:
                dangling.append(r)
            elif is_deleting(owner) and FOREGROUND in (owner["metadata"].get("finalizers") or ()):
                waiting.append(r)
            else:
                solid.append(r)
        if solid:
            if dangling or waiting:
                drop = {r.get("uid") for r in dangling + waiting}
                upd = copy.deepcopy(obj)
                upd["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") not in drop]
                self._update(rt, upd)
            return None
        if is_deleting(obj):
            return None
        fins = obj["metadata"].get("finalizers") or ()
        if waiting and ref_has_dependents(self, obj):
            policy = "Foreground"
        elif ORPHAN in fins:
            policy = "Orphan"
        elif FOREGROUND in fins:
            policy = "Foreground"
        else:
            policy = "Background"
        try:
            self.ctx.store.delete(rt, ref[1], ref[2], propagation=policy, precondition_uid=obj["metadata"]["uid"])
        except st.ApiError:
            pass
        return None

    def _finalize(self, ref: Ref) -> float | None:
        """An owner being deleted with `foregroundDeletion` or `orphan`."""
        rt, obj = self._get(ref)
        if rt is None or obj is None or not is_deleting(obj):
            return None
        m = obj["metadata"]
        fins = list(m.get("finalizers") or ())
        deps = [(d, o) for d in sorted(self.dependents.get(m["uid"], ())) for o in [self._get(d)[1]] if o is not None]
        if ORPHAN in fins:
            for dep_ref, dep in deps:
                drt = self.ctx.registry.storage_type(*dep_ref[0])
                upd = copy.deepcopy(dep)
                upd["metadata"]["ownerReferences"] = [r for r in dep["metadata"].get("ownerReferences") or ()
                                                      if r.get("uid") != m["uid"]]
                if drt is not None and not self._update(drt, upd):
                    return 0.5
            return self._remove_finalizer(rt, obj, ORPHAN)
        if FOREGROUND in fins:
            blocking = [(d, o) for d, o in deps if any(r.get("uid") == m["uid"] and r.get("blockOwnerDeletion")
                                                      for r in o["metadata"].get("ownerReferences") or ())]
            if not blocking:
                return self._remove_finalizer(rt, obj, FOREGROUND)
            for dep_ref, dep in blocking:
                if not is_deleting(dep):
                    self._attempt_delete(dep_ref)
            return None  # the dependents' DELETED events bring us back here
        return None

    def _remove_finalizer(self, rt: ResourceType, obj: Obj, fin: str) -> float | None:
        upd = copy.deepcopy(obj)
        upd["metadata"]["finalizers"] = [f for f in obj["metadata"].get("finalizers") or () if f != fin]
        return None if self._update(rt, upd) else 0.5

    def _update(self, rt: ResourceType, obj: Obj) -> bool:
        try:
            self.ctx.store.update(rt, obj)
            return True
        except st.ApiError as e:
            return e.code == 404


def ref_has_dependents(gc: GarbageCollector, obj: Obj) -> bool:
    return bool(gc.dependents.get(obj["metadata"].get("uid", "")))
