"""ControllerRevisions and the small helpers the StatefulSet and DaemonSet controllers share.

Both controllers snapshot their pod template into a `ControllerRevision` (the patch
`{"spec":{"template":{..., "$patch":"replace"}}}`), label their pods with the revision they were
made from, and compare that label to decide what is out of date. `kubectl rollout history|undo` for
StatefulSets and DaemonSets reads exactly these objects, so their names, labels and numbers follow
`k8s.io/kubernetes/pkg/controller/history` and the DaemonSet's own snapshot code.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable
from typing import Any

import orjson

from prophet_sre.sim import status as st
from prophet_sre.sim.controllers.base import ControllerContext
from prophet_sre.sim.controllers.cache import Informers, by_controller_uid
from prophet_sre.sim.controllers.common import controller_ref, fnv32a, obj_key, owner_reference, safe_encode
from prophet_sre.sim.store import WatchEvent

Obj = dict[str, Any]
REVISION_LABEL = "controller-revision-hash"
STS_REVISION_HASH = "controller.kubernetes.io/hash"


def template_patch(owner: Obj) -> Obj:
    """`getPatch`: the part of the spec a revision restores (the whole template, replaced)."""
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def template_of(data: Obj) -> Obj:
    """The pod template stored in a revision's data."""
    t = dict(((data or {}).get("spec") or {}).get("template") or {})
    t.pop("$patch", None)
    return t


def compute_hash(value: Any, collision_count: int | None = None) -> str:
    """`controller.ComputeHash`: FNV-32a of the object (plus the collision count), safe-encoded."""
    data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


class Revisions:
    """The ControllerRevisions of one kind of owner, indexed by owner uid."""

    def __init__(self, ctx: ControllerContext, hub: Informers) -> None:
        self.ctx = ctx
        self.rt = ctx.rt("apps", "controllerrevisions")
        self.index = hub.index("apps", "controllerrevisions", "owner", by_controller_uid)

    def owned(self, owner: Obj) -> list[Obj]:
        """Revisions controlled by `owner`, oldest revision number first."""
        out = []
        for k in self.index.get(owner["metadata"]["uid"]):
            r = self.ctx.store.try_get(self.rt, *k)
            if r is not None:
                out.append(r)
        return sorted(out, key=lambda r: (int(r.get("revision") or 0), r["metadata"]["name"]))

    def sync(self, owner: Obj, *, name: str, labels: dict[str, str], annotations: dict[str, str] | None = None,
             ) -> tuple[Obj | None, list[Obj]]:
        """Make sure a revision with the owner's current template exists and is the newest one.

        An identical older revision is re-numbered instead of duplicated (`rollout undo` brings an
        old revision back to the top). Returns (the update revision, all revisions after the sync).
        """
        data = template_patch(owner)
        revs = self.owned(owner)
        top = max((int(r.get("revision") or 0) for r in revs), default=0)
        same = [r for r in revs if r.get("data") == data]
        store = self.ctx.store
        if same:
            rev = same[-1]
            if int(rev.get("revision") or 0) != top:
                upd = copy.deepcopy(rev)
                upd["revision"] = top + 1
                try:
                    rev = store.update(self.rt, upd)
                except st.ApiError:
                    return None, revs
            return rev, self.owned(owner)
        m = owner["metadata"]
        meta: Obj = {"name": name, "namespace": m["namespace"], "labels": dict(labels),
                     "ownerReferences": [owner_reference(owner)]}
        if annotations:
            meta["annotations"] = dict(annotations)
        obj = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": meta, "data": data,
               "revision": top + 1}
        try:
            rev = store.create(self.rt, obj)
        except st.ApiError:
            return None, revs
        return rev, self.owned(owner)

    def truncate(self, owner: Obj, revs: list[Obj], live: set[str]) -> None:
        """Delete the oldest revisions no pod uses, beyond `spec.revisionHistoryLimit`."""
        limit = (owner.get("spec") or {}).get("revisionHistoryLimit")
        limit = 10 if limit is None else int(limit)
        idle = [r for r in revs if r["metadata"]["name"] not in live]
        for r in idle[:max(len(idle) - limit, 0)]:
            try:
                self.ctx.store.delete(self.rt, *obj_key(r))
            except st.ApiError:
                pass


# -- pods and nodes ----------------------------------------------------------------------------------
def owner_keys(ev: WatchEvent, kind: str) -> Iterable[Hashable]:
    """The (namespace, name) of the `kind` controlling the object before and/or after the event."""
    ns = obj_key(ev.obj)[0]
    keys: dict[Hashable, None] = {}
    for o in (ev.obj, ev.old):
        ref = controller_ref(o) if o is not None else None
        if ref is not None and ref.get("kind") == kind:
            keys[(ns, ref.get("name", ""))] = None
    return list(keys)


def tolerates(tolerations: Iterable[Obj], taint: Obj) -> bool:
    """`Toleration.ToleratesTaint` for some toleration of the list."""
    for t in tolerations:
        effect = t.get("effect") or ""
        if effect and effect != taint.get("effect"):
            continue
        key, op = t.get("key") or "", t.get("operator") or "Equal"
        if key and key != taint.get("key"):
            continue
        if op == "Exists" or (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def untolerated(tolerations: list[Obj], taints: Iterable[Obj], effects: tuple[str, ...]) -> Obj | None:
    """The first taint with one of `effects` that no toleration tolerates."""
    for taint in taints:
        if taint.get("effect") in effects and not tolerates(tolerations, taint):
            return taint
    return None


def node_labels_changed(ev: WatchEvent) -> bool:
    """Whether a node event can change where workloads belong (not a heartbeat)."""
    if ev.type != "MODIFIED" or ev.old is None:
        return True
    return (ev.old.get("spec") != ev.obj.get("spec")
            or (ev.old.get("metadata") or {}).get("labels") != (ev.obj.get("metadata") or {}).get("labels"))


class Timers:
    """One pending periodic wake-up per key, however many events also enqueue it.

    A controller that re-checks every N sim seconds returns N from `reconcile`; an event-triggered
    reconcile in between must not start a second chain of timers, or the chains multiply.
    """

    def __init__(self) -> None:
        self._due: dict[Hashable, float] = {}

    def next(self, key: Hashable, now: float, period: float) -> float | None:
        due = self._due.get(key)
        if due is not None and due > now + 1e-6:
            return None
        self._due[key] = now + period
        return period

    def at(self, key: Hashable, now: float, when: float) -> float | None:
        """Wake at sim second `when` unless an earlier wake-up is already pending."""
        due = self._due.get(key)
        if due is not None and now + 1e-6 < due <= when + 1e-6:
            return None
        self._due[key] = when
        return max(when - now, 0.0) + 1e-6

    def forget(self, key: Hashable) -> None:
        self._due.pop(key, None)
