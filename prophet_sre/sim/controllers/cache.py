"""Secondary indexes over the store, kept current from its write events (the informer indexers).

Controllers must not list every pod on every event: with 10,000 pods that is quadratic. Instead each
controller asks for the few keys it needs - pods on a node, pods owned by a ReplicaSet, services in a
namespace selecting a label - from an index updated incrementally as writes commit.

The hub subscribes to the store once, when the first controller asks for it. Controllers are built
before the `ControllerManager` subscribes, so indexes are up to date whenever `keys_for` or
`reconcile` runs. An index maps to object keys only; readers fetch the current object from the store
(cheap, copy-on-write) and must tolerate a key whose object has just gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from prophet_sre.sim.controllers.common import Key, controller_ref, obj_key
from prophet_sre.sim.store import Store, WatchEvent

IndexFn = Callable[[dict[str, Any]], Iterable[Hashable]]
StorageKey = tuple[str, str]


class Index:
    """index value -> set of object keys, plus the reverse map to update on change."""

    def __init__(self, fn: IndexFn) -> None:
        self.fn = fn
        self._fwd: dict[Hashable, set[Key]] = {}
        self._rev: dict[Key, tuple[Hashable, ...]] = {}

    def _set(self, key: Key, obj: dict[str, Any] | None) -> None:
        new = tuple(dict.fromkeys(self.fn(obj))) if obj is not None else ()
        old = self._rev.get(key, ())
        if new == old:
            return
        for v in old:
            s = self._fwd.get(v)
            if s is not None:
                s.discard(key)
                if not s:
                    del self._fwd[v]
        for v in new:
            self._fwd.setdefault(v, set()).add(key)
        if new:
            self._rev[key] = new
        else:
            self._rev.pop(key, None)

    def get(self, value: Hashable) -> list[Key]:
        s = self._fwd.get(value)
        return list(s) if s else []

    def count(self, value: Hashable) -> int:
        s = self._fwd.get(value)
        return len(s) if s else 0

    def values(self) -> list[Hashable]:
        return list(self._fwd)


class Informers:
    """All indexes of one store, by storage key (group, plural)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.RLock()
        self._indexes: dict[StorageKey, dict[str, Index]] = {}
        store.subscribe(self._on_event)

    def _on_event(self, ev: WatchEvent) -> None:
        idxs = self._indexes.get(ev.storage_key)
        if not idxs:
            return
        key = obj_key(ev.obj)
        obj = None if ev.type == "DELETED" else ev.obj
        with self._lock:
            for idx in idxs.values():
                idx._set(key, obj)

    def index(self, group: str, plural: str, name: str, fn: IndexFn) -> Index:
        """The named index over a type, created (and filled from the store) on first use."""
        with self._lock:
            by_name = self._indexes.setdefault((group, plural), {})
            idx = by_name.get(name)
            if idx is None:
                idx = Index(fn)
                rt = self.store.registry.storage_type(group, plural)
                if rt is not None:
                    for obj in self.store.objects(rt):
                        idx._set(obj_key(obj), obj)
                by_name[name] = idx
            return idx

    def get(self, group: str, plural: str, name: str, value: Hashable) -> list[Key]:
        with self._lock:
            return self._indexes[(group, plural)][name].get(value)

    def count(self, group: str, plural: str, name: str, value: Hashable) -> int:
        with self._lock:
            return self._indexes[(group, plural)][name].count(value)


def informers(ctx: Any) -> Informers:
    """The hub shared by all controllers of one `ControllerContext`."""
    hub = ctx.extras.get("informers")
    if hub is None:
        hub = ctx.extras["informers"] = Informers(ctx.store)
    return hub


# -- the standard index functions -------------------------------------------------------------------
def by_namespace(obj: dict[str, Any]) -> Iterable[Hashable]:
    return (obj_key(obj)[0],)


def by_controller_uid(obj: dict[str, Any]) -> Iterable[Hashable]:
    ref = controller_ref(obj)
    return (ref["uid"],) if ref and ref.get("uid") else ()


def orphans_by_namespace(obj: dict[str, Any]) -> Iterable[Hashable]:
    return () if controller_ref(obj) else (obj_key(obj)[0],)


def by_node_name(obj: dict[str, Any]) -> Iterable[Hashable]:
    node = (obj.get("spec") or {}).get("nodeName")
    return (node,) if node else ()


def by_namespace_label(obj: dict[str, Any]) -> Iterable[Hashable]:
    """(namespace, key, value) for every label: "which pods carry app=web in shop?"."""
    ns = obj_key(obj)[0]
    return [(ns, k, v) for k, v in ((obj.get("metadata") or {}).get("labels") or {}).items()]


def by_service_selector(obj: dict[str, Any]) -> Iterable[Hashable]:
    """(namespace, key, value) for every pair of a Service's `spec.selector` map."""
    ns = obj_key(obj)[0]
    sel = (obj.get("spec") or {}).get("selector") or {}
    return [(ns, k, v) for k, v in sel.items()] if isinstance(sel, dict) else ()


def by_match_labels(obj: dict[str, Any]) -> Iterable[Hashable]:
    """(namespace, key, value) per `spec.selector.matchLabels` pair; (namespace, None, None) when the
    selector has no pairs (it must then be checked against every candidate)."""
    ns = obj_key(obj)[0]
    ml = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return [(ns, k, v) for k, v in ml.items()] if ml else [(ns, None, None)]


def pods_selected(hub: Informers, namespace: str, match_labels: dict[str, str]) -> list[Key] | None:
    """Candidate pods for an equality selector via its rarest pair; None when it has no pairs."""
    best: list[Key] | None = None
    for k, v in match_labels.items():
        cand = hub.get("", "pods", "ns_label", (namespace, k, v))
        if best is None or len(cand) < len(best):
            best = cand
        if not best:
            return []
    return best


def ensure_pod_indexes(hub: Informers) -> None:
    """Create the pod indexes several controllers share."""
    hub.index("", "pods", "ns_label", by_namespace_label)
    hub.index("", "pods", "owner", by_controller_uid)
    hub.index("", "pods", "node", by_node_name)
    hub.index("", "pods", "ns", by_namespace)
    hub.index("", "pods", "orphans", orphans_by_namespace)
