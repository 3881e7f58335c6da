"""The simulator's object store: what etcd plus the apiserver's registry layer do for a real cluster.

Objects are plain JSON dicts, stored copy-on-write: a stored dict is never mutated again, so readers
may hold it without copying and the cached JSON bytes of an entry stay valid. One global, monotonic
resourceVersion orders every write; a bounded history per resource type serves watches from an old
resourceVersion and answers 410 Expired once that history is compacted away.

The store knows the generic object lifecycle (uid, generation, finalizers, deletionTimestamp,
optimistic concurrency). Kind-specific behaviour - defaulting, validation, IP allocation, quota - is
plugged in as admission functions; controllers learn about writes through `subscribe`.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import random
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.clock import SimClock, rfc3339
from prophet_sre.sim.registry import Registry, ResourceType
from prophet_sre.sim.store_watch import (  # noqa: F401 - re-exported: controllers import them from here
    HISTORY_PER_TYPE,
    Admission,
    Entry,
    Key,
    Listener,
    StorageKey,
    Watcher,
    WatchEvent,
    _Bucket,
    decode_continue,
    encode_continue,
)

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata")
    if not isinstance(m, dict):
        m = {}
        obj["metadata"] = m
    return m


_OMITEMPTY_META = ("labels", "annotations", "ownerReferences", "finalizers", "managedFields")


def _drop_empty_meta(meta: dict[str, Any]) -> None:
    """ObjectMeta's maps and lists are `omitempty`: a real server never stores or returns `labels: {}` or
    `ownerReferences: []` (e.g. after `kubectl label x key-` or the GC orphaning a dependent)."""
    for k in _OMITEMPTY_META:
        if k in meta and meta[k] in ({}, [], None):
            del meta[k]


class Store:
    """In-memory object storage with watch, optimistic concurrency and finalizer-aware deletion."""

    def __init__(self, registry: Registry, clock: SimClock) -> None:
        self.registry = registry
        self.clock = clock
        self._lock = threading.RLock()
        self._buckets: dict[StorageKey, _Bucket] = {}
        self._rv = 1
        self._admission: list[Admission] = []
        self._listeners: list[Listener] = []
        self._rng = random.Random()

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def add_admission(self, fn: Admission) -> None:
        self._admission.append(fn)

    def subscribe(self, fn: Listener) -> None:
        """Call `fn(event)` after every committed write (outside the store lock)."""
        self._listeners.append(fn)

    def _bucket(self, rt: ResourceType) -> _Bucket:
        b = self._buckets.get(rt.storage_key)
        if b is None:
            b = self._buckets.setdefault(rt.storage_key, _Bucket())
        return b

    def _commit(self, rt: ResourceType, typ: str, obj: dict[str, Any], old: dict[str, Any] | None) -> WatchEvent:
        """Under the lock: assign the next rv, store, record history, fan out to watchers."""
        self._rv += 1
        rv = self._rv
        _meta(obj)["resourceVersion"] = str(rv)
        b = self._bucket(rt)
        key = (obj["metadata"].get("namespace", "") or "", obj["metadata"]["name"])
        if typ == "DELETED":
            if b.entries.pop(key, None) is not None:
                b.sorted_keys = None
        else:
            if key not in b.entries:
                b.sorted_keys = None
            b.entries[key] = Entry(obj)
        ev = WatchEvent(rv, typ, obj, old, rt.storage_key)
        if len(b.history) == b.history.maxlen:
            b.compacted_rv = b.history[0].rv
        b.history.append(ev)
        for w in list(b.watchers):
            w.offer(ev)
        return ev

    def _notify(self, events: Iterable[WatchEvent]) -> None:
        for ev in events:
            for fn in self._listeners:
                fn(ev)

    def _admit(self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, op: str) -> None:
        for fn in self._admission:
            fn(rt, obj, old, op)
        _drop_empty_meta(_meta(obj))

    # -- reads ---------------------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        entry = self._buckets.get(rt.storage_key, _Bucket()).entries.get((namespace or "", name))
        if entry is None:
            raise st.not_found(rt, name)
        return entry.obj

    def get_entry(self, rt: ResourceType, namespace: str, name: str) -> Entry | None:
        b = self._buckets.get(rt.storage_key)
        return b.entries.get((namespace or "", name)) if b else None

    def try_get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        e = self.get_entry(rt, namespace, name)
        return e.obj if e else None

    def objects(self, rt: ResourceType, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every stored object of a type (optionally one namespace), unsorted; for controllers."""
        b = self._buckets.get(rt.storage_key)
        if b is None:
            return []
        with self._lock:
            vals = list(b.entries.values())
        if namespace:
            return [e.obj for e in vals if e.obj["metadata"].get("namespace") == namespace]
        return [e.obj for e in vals]

    def count(self, rt: ResourceType) -> int:
        b = self._buckets.get(rt.storage_key)
        return len(b.entries) if b else 0

    def list_entries(self, rt: ResourceType, namespace: str | None = None,
                     match: Callable[[dict[str, Any]], bool] | None = None, limit: int = 0,
                     continue_token: str = "") -> tuple[list[Entry], int, str, int | None]:
        """(entries, list rv, continue token, remaining count or None) in (namespace, name) order."""
        with self._lock:
            b = self._buckets.get(rt.storage_key)
            rv = self._rv
            if b is None:
                return [], rv, "", None
            keys = b.keys_sorted()
            start = 0
            if continue_token:
                token_rv, start_key = decode_continue(continue_token)
                rv = token_rv if token_rv <= self._rv else rv
                start = bisect.bisect_right(keys, start_key)
            elif namespace:
                start = bisect.bisect_left(keys, (namespace, ""))
            entries = b.entries
            out: list[Entry] = []
            token = ""
            remaining: int | None = None
            i = start
            n = len(keys)
            while i < n:
                k = keys[i]
                if namespace and k[0] != namespace:
                    if k[0] > namespace:
                        break
                    i += 1
                    continue
                e = entries[k]
                if match is None or match(e.obj):
                    if limit and len(out) >= limit:
                        last = out[-1].obj["metadata"]
                        token = encode_continue(rv, (last.get("namespace", "") or "", last["name"]))
                        remaining = self._count_rest(keys, entries, i, namespace, match)
                        break
                    out.append(e)
                i += 1
            return out, rv, token, remaining

    @staticmethod
    def _count_rest(keys: list[Key], entries: dict[Key, Entry], i: int, namespace: str | None,
                    match: Callable[[dict[str, Any]], bool] | None) -> int:
        n = 0
        for k in keys[i:]:
            if namespace and k[0] != namespace:
                continue
            if match is None or match(entries[k].obj):
                n += 1
        return n

    # -- writes --------------------------------------------------------------------------------
    def _generate_name(self, prefix: str) -> str:
        return prefix + "".join(self._rng.choice(_NAME_CHARS) for _ in range(5))

    def create(self, rt: ResourceType, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = _meta(obj)
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        if rt.namespaced:
            ns = meta.get("namespace") or ""
            if not ns:
                raise st.bad_request("the namespace of the provided object does not match the namespace sent on "
                                     "the request")
            self._check_namespace_open(rt, ns, str(meta.get("name") or ""))
        else:
            meta.pop("namespace", None)
        with self._lock:
            if not meta.get("name"):
                if meta.get("generateName"):
                    for _ in range(10):
                        cand = self._generate_name(str(meta["generateName"]))
                        if self.get_entry(rt, meta.get("namespace", ""), cand) is None:
                            break
                    meta["name"] = cand
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = rfc3339(self.clock.now())
            meta.pop("resourceVersion", None)
            meta.pop("deletionTimestamp", None)
            meta.pop("deletionGracePeriodSeconds", None)
            meta.pop("selfLink", None)
            if tracks_generation(rt):
                meta["generation"] = 1
            else:
                meta.pop("generation", None)
            self._admit(rt, obj, None, "CREATE")
            if not meta.get("name"):
                raise st.invalid({"message": f'{rt.kind} "" is invalid: metadata.name: Required value: name or '
                                             "generateName is required",
                                  "details": {"kind": rt.kind, "causes": [
                                      {"reason": "FieldValueRequired", "message": "Required value: name or "
                                       "generateName is required", "field": "metadata.name"}]}})
            if self.get_entry(rt, meta.get("namespace", ""), meta["name"]) is not None:
                raise st.already_exists(rt, meta["name"])
            if dry_run:
                return obj
            ev = self._commit(rt, "ADDED", obj, None)
        self._notify([ev])
        return obj

    def _check_namespace_open(self, rt: ResourceType, ns: str, name: str = "") -> None:
        ns_rt = self.registry.get("", "v1", "namespaces")
        assert ns_rt is not None
        nso = self.try_get(ns_rt, "", ns)
        if nso is None:
            raise st.ApiError(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"})
        if nso["metadata"].get("deletionTimestamp") and rt.kind not in ("Event",):
            # NamespaceLifecycle admission: NewForbidden(qualified resource, name as sent - empty for generateName)
            raise st.forbidden(f'{rt.qualified} "{name}" is forbidden: unable to create new content in namespace '
                               f"{ns} because it is being terminated", rt, name)

    def update(self, rt: ResourceType, obj: dict[str, Any], *, subresource: str = "", dry_run: bool = False,
               check_rv: bool = True) -> dict[str, Any]:
        """PUT semantics. `subresource="status"` takes only .status; the main resource keeps .status."""
        obj = copy.deepcopy(obj)
        meta = _meta(obj)
        ns = (meta.get("namespace") or "") if rt.namespaced else ""
        name = meta.get("name", "")
        with self._lock:
            old = self.try_get(rt, ns, name)
            if old is None:
                raise st.not_found(rt, name)
            ometa = old["metadata"]
            sent_rv = meta.get("resourceVersion")
            if check_rv and sent_rv and sent_rv != ometa.get("resourceVersion"):
                raise st.conflict(rt, name)
            new = self._merge_for_update(rt, old, obj, subresource)
            self._admit(rt, new, old, "UPDATE")
            if _unchanged(old, new):
                return old  # GuaranteedUpdate writes nothing: same resourceVersion, no watch event
            if dry_run:
                return new
            events = self._write_or_finalize(rt, new, old)
        self._notify(events)
        return new

    def _merge_for_update(self, rt: ResourceType, old: dict[str, Any], obj: dict[str, Any],
                          subresource: str) -> dict[str, Any]:
        ometa = old["metadata"]
        if subresource == "status":
            new = dict(old)
            new["metadata"] = dict(ometa)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
            return copy.deepcopy(new)
        new = obj
        meta = new["metadata"]
        new["apiVersion"] = rt.api_version
        new["kind"] = rt.kind
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if k in ometa:
                meta[k] = ometa[k]
            else:
                meta.pop(k, None)
        if rt.namespaced:
            meta["namespace"] = ometa.get("namespace")
        if "status" in rt.subresources or rt.kind in ("Namespace",):
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        if tracks_generation(rt) and _spec_changed(old, new):
            meta["generation"] = int(ometa.get("generation", 1)) + 1
        # A terminating object may only lose finalizers, never gain new ones.
        if ometa.get("deletionTimestamp"):
            allowed = set(ometa.get("finalizers") or [])
            meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f in allowed]
            if not meta["finalizers"]:
                meta.pop("finalizers")
        return new

    def _write_or_finalize(self, rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> list[WatchEvent]:
        """Store an update; if it removed the last finalizer of a terminating object, remove the object."""
        meta = new["metadata"]
        had = bool(old["metadata"].get("finalizers")) or _namespace_finalizers(rt, old)
        # shouldDeleteDuringUpdate: only once the grace period is over (a terminating pod's kubelet is
        # still to confirm the kill while deletionGracePeriodSeconds > 0)
        if (had and meta.get("deletionTimestamp") and not meta.get("finalizers")
                and not _namespace_finalizers(rt, new) and not meta.get("deletionGracePeriodSeconds")):
            ev1 = self._commit(rt, "MODIFIED", new, old)
            gone = copy.deepcopy(new)
            return [ev1, self._commit(rt, "DELETED", gone, new)]
        return [self._commit(rt, "MODIFIED", new, old)]

    def delete(self, rt: ResourceType, namespace: str, name: str, *, propagation: str | None = None,
               precondition_uid: str | None = None, precondition_rv: str | None = None,
               grace_period_s: int | None = None, dry_run: bool = False) -> dict[str, Any]:
        """DELETE semantics: finalizers and graceful pod termination defer the removal."""
        with self._lock:
            old = self.try_get(rt, namespace, name)
            if old is None:
                raise st.not_found(rt, name)
            ometa = old["metadata"]
            if precondition_uid and precondition_uid != ometa.get("uid"):
                raise st.ApiError(409, "Conflict",
                                  f'Operation cannot be fulfilled on {rt.qualified} "{name}": Precondition failed: '
                                  f"UID in precondition: {precondition_uid}, UID in object meta: {ometa.get('uid')}")
            if precondition_rv and precondition_rv != ometa.get("resourceVersion"):
                raise st.ApiError(409, "Conflict",
                                  f'Operation cannot be fulfilled on {rt.qualified} "{name}": Precondition failed: '
                                  f"ResourceVersion in precondition: {precondition_rv}, ResourceVersion in object "
                                  f"meta: {ometa.get('resourceVersion')}")
            new = copy.deepcopy(old)
            meta = new["metadata"]
            finalizers = list(meta.get("finalizers") or [])
            if propagation is None:
                propagation = "Background"
            # Foreground always adds the finalizer; the GC removes it once no blocking dependents remain.
            if propagation == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            if propagation == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            graceful = (rt.kind == "Pod" and not rt.group and (old.get("spec") or {}).get("nodeName")
                        and grace_period_s != 0
                        and _pod_is_active(old))
            if ometa.get("deletionTimestamp"):
                if graceful or finalizers or _namespace_finalizers(rt, old):
                    if grace_period_s == 0 and rt.kind == "Pod" and not finalizers:
                        pass  # force deletion of an already terminating pod
                    else:
                        return old
            needs_wait = bool(finalizers) or bool(graceful) or _namespace_finalizers(rt, old)
            if needs_wait:
                grace = 0
                if graceful:
                    grace = grace_period_s if grace_period_s is not None else int(
                        (old.get("spec") or {}).get("terminationGracePeriodSeconds", 30) or 0)
                meta["deletionTimestamp"] = rfc3339(self.clock.now())
                meta["deletionGracePeriodSeconds"] = grace
                if finalizers:
                    meta["finalizers"] = finalizers
                if rt.kind == "Namespace" and not rt.group:
                    new.setdefault("status", {})["phase"] = "Terminating"
                if dry_run:
                    return new
                events = [self._commit(rt, "MODIFIED", new, old)]
            else:
                if dry_run:
                    return new
                events = [self._commit(rt, "DELETED", new, old)]
        self._notify(events)
        return new

    def finalize_delete(self, rt: ResourceType, namespace: str, name: str) -> None:
        """Remove an object whose termination is complete (kubelet after grace, namespace controller).

        This is the kubelet's final `DELETE gracePeriodSeconds=0`: an object that still carries finalizers
        is not removed but only gets `deletionGracePeriodSeconds: 0`; the update that takes off its last
        finalizer then removes it (`_write_or_finalize`), as kube-apiserver does.
        """
        with self._lock:
            old = self.try_get(rt, namespace, name)
            if old is None:
                return
            new = copy.deepcopy(old)
            if old["metadata"].get("finalizers"):
                if old["metadata"].get("deletionGracePeriodSeconds") == 0:
                    return
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                events = [self._commit(rt, "MODIFIED", new, old)]
            else:
                events = [self._commit(rt, "DELETED", new, old)]
        self._notify(events)

    def compact(self, rv: int | None = None) -> int:
        """Forget watch history up to `rv` (default: everything), like etcd compaction."""
        with self._lock:
            target = self._rv if rv is None else rv
            for b in self._buckets.values():
                while b.history and b.history[0].rv <= target:
                    b.history.popleft()
                b.compacted_rv = max(b.compacted_rv, target)
            return target

    # -- watch ---------------------------------------------------------------------------------
    def watch(self, rt: ResourceType, *, namespace: str | None, resource_version: str | None,
              label_match: Callable[[dict[str, Any]], bool] | None = None,
              field_match: Callable[[dict[str, Any]], bool] | None = None,
              loop: asyncio.AbstractEventLoop) -> Watcher:
        """Start a watch. rv unset or "0": synthetic ADDED for the current state first."""
        w = Watcher(self, rt.storage_key, namespace, label_match, field_match, loop)
        with self._lock:
            b = self._bucket(rt)
            if resource_version in (None, "", "0"):
                for e in list(b.entries.values()):
                    if w.matches(e.obj):
                        w.queue.put_nowait(("ADDED", e.obj))
            else:
                try:
                    since = int(resource_version)
                except ValueError as e:
                    raise st.bad_request(f'invalid resource version "{resource_version}"') from e
                if since < b.compacted_rv:
                    raise st.gone(f"too old resource version: {since} ({self._rv})")
                for ev in b.history:
                    if ev.rv > since:
                        item = w.translate(ev)
                        if item is not None:
                            w.queue.put_nowait(item)
            b.watchers.add(w)
        return w

    def _drop_watcher(self, w: Watcher) -> None:
        with self._lock:
            b = self._buckets.get(w.skey)
            if b is not None:
                b.watchers.discard(w)

    def drop_type(self, rt: ResourceType) -> None:
        """Delete every object of a type (a CRD was removed)."""
        with self._lock:
            b = self._buckets.get(rt.storage_key)
            if b is None:
                return
            events = [self._commit(rt, "DELETED", copy.deepcopy(e.obj), e.obj) for e in list(b.entries.values())]
            for w in list(b.watchers):
                w.close()
        self._notify(events)

    def iter_types(self) -> Iterator[StorageKey]:
        return iter(list(self._buckets))


GENERATION_KINDS = frozenset({
    "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "ReplicationController", "Job", "CronJob",
    "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Ingress", "CustomResourceDefinition",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
})


def tracks_generation(rt: ResourceType) -> bool:
    """Whether kube-apiserver maintains metadata.generation for this kind (all custom resources do)."""
    return rt.crd or rt.kind in GENERATION_KINDS


def _spec_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    for k in set(old) | set(new):
        if k in ("metadata", "status", "apiVersion", "kind"):
            continue
        if old.get(k) != new.get(k):
            return True
    return False


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "resourceVersion"}
    if meta.get("managedFields"):
        meta["managedFields"] = [{k: v for k, v in e.items() if k != "time"} if isinstance(e, dict) else e
                                 for e in meta["managedFields"]]
    return {**obj, "metadata": meta}


def _unchanged(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether an update would store the same object (managedFields timestamps alone do not count)."""
    return _comparable(old) == _comparable(new)


def _namespace_finalizers(rt: ResourceType, obj: dict[str, Any]) -> bool:
    return rt.kind == "Namespace" and not rt.group and bool((obj.get("spec") or {}).get("finalizers"))


def _pod_is_active(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
