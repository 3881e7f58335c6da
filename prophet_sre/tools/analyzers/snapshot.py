"""Snapshots: `ClusterSnapshot` reads a live cluster once per run; `MemorySnapshot` holds given objects.

`ClusterSnapshot` lists every resource the selected analyzers declare, concurrently, once; builds
name indexes on first use; reads single objects that are outside the lists (a Secret's existence, a
webhook's Service in another namespace) once each and caches them; lists non-Normal events once, with a
field selector, and only if an analyzer asks. Secrets are never listed, and a Secret read for an
existence check keeps only its metadata.

`MemorySnapshot` answers the same questions from dicts - for tests, and for analysing a saved dump.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from prophet_sre.errors import NotFound, ToolError
from prophet_sre.tools.analyzers.base import Obj
from prophet_sre.tools.kube import kinds
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.events import event_times

Key = tuple[str, str]
_EPOCH = datetime.min.replace(tzinfo=UTC)


def index_warnings(events: Iterable[Obj]) -> dict[tuple[str, str, str], list[Obj]]:
    """(kind, namespace, name) -> its non-Normal events, newest first."""
    out: dict[tuple[str, str, str], list[Obj]] = {}
    for ev in events:
        if not isinstance(ev, dict) or o.text(ev.get("type")) in ("Normal", ""):
            continue
        inv = o.mapping(ev.get("involvedObject")) or o.mapping(ev.get("regarding"))
        key = (o.text(inv.get("kind")), o.text(inv.get("namespace")) or o.namespace(ev), o.text(inv.get("name")))
        out.setdefault(key, []).append(ev)
    for lst in out.values():
        lst.sort(key=lambda e: event_times(e)[1] or _EPOCH, reverse=True)
    return out


def _index(objs: Iterable[Obj]) -> dict[Key, Obj]:
    return {(o.namespace(x), o.name(x)): x for x in objs}


class MemorySnapshot:
    """A snapshot over given objects: `{"pods": [...], "events": [...], ...}` and optional log texts."""

    def __init__(self, objects: Mapping[str, list[Any]] | None = None, *, cluster: str = "",
                 namespace: str | None = None, logs: Mapping[tuple[str, str, str, bool], str] | None = None) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self._objects = {k: [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []
                         for k, v in (objects or {}).items()}
        self._logs = dict(logs or {})
        self._warnings = index_warnings(self._objects.get("events", []))
        self.notes: list[str] = []

    def objects(self, resource: str) -> list[Obj]:
        return self._objects.get(resource, [])

    def find(self, resource: str, namespace: str, name: str) -> Obj | None:
        for x in self._objects.get(resource, []):
            if o.name(x) == name and o.namespace(x) == namespace:
                return x
        return None

    def select(self, resource: str, namespace: str, selector: dict[str, str]) -> list[Obj]:
        return [x for x in self._objects.get(resource, [])
                if o.namespace(x) == namespace and o.matches_labels(selector, o.labels(x))]

    def warning_events(self, kind: str, namespace: str, name: str) -> list[Obj]:
        return self._warnings.get((kind, namespace, name), [])

    def logs(self, namespace: str, pod: str, container: str, *, tail: int, previous: bool) -> str:
        try:
            text = self._logs[(namespace, pod, container, previous)]
        except KeyError:
            raise NotFound(f"no logs for {namespace}/{pod} container {container}") from None
        return "\n".join(text.splitlines()[-tail:])


class ClusterSnapshot:
    """A snapshot of a live cluster through a `KubeClient`, each list fetched once per run."""

    def __init__(self, client: KubeClient, *, namespace: str | None = None, concurrency: int | None = None) -> None:
        self.client = client
        self.cluster = client.cluster
        self.namespace = namespace
        self.concurrency = concurrency or client.settings.concurrency
        self.notes: list[str] = []
        self.listed: dict[str, int] = {}
        """Objects listed per resource (for reports and benchmarks)."""
        self._lists: dict[str, list[Obj]] = {}
        self._errors: dict[str, ToolError] = {}
        self._indexes: dict[str, dict[Key, Obj]] = {}
        self._reads: dict[tuple[str, str, str], Obj | None] = {}
        self._selects: dict[tuple[str, str, str], list[Obj]] = {}
        self._warnings: dict[tuple[str, str, str], list[Obj]] | None = None
        self._warning_scopes: set[str | None] = set()
        self._lock = threading.RLock()
        self._loading: dict[str, threading.Lock] = {}

    # -- lists ------------------------------------------------------------------------------------------
    def prefetch(self, resources: Iterable[str]) -> None:
        """List the given resources concurrently (errors are kept and raised when an analyzer asks)."""
        todo = sorted({r for r in resources if r not in self._lists and r not in self._errors},
                      key=lambda r: 0 if r == "pods" else 1)  # the biggest list first
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(todo))) as pool:
            list(pool.map(self._load, todo))

    def _load(self, resource: str) -> None:
        with self._lock:
            lock = self._loading.setdefault(resource, threading.Lock())
        with lock:
            if resource in self._lists or resource in self._errors:
                return
            rk = kinds.BUILTIN[resource]
            try:
                items = self.client.list(rk, self.namespace if rk.namespaced else None)
            except ToolError as e:
                self._errors[resource] = e
                return
            with self._lock:
                self._lists[resource] = items
                self.listed[resource] = len(items)

    def objects(self, resource: str) -> list[Obj]:
        if resource not in self._lists and resource not in self._errors:
            self._load(resource)
        if resource in self._errors:
            raise self._errors[resource]
        return self._lists[resource]

    def _in_scope(self, resource: str, namespace: str) -> bool:
        rk = kinds.BUILTIN.get(resource)
        return rk is not None and (not rk.namespaced or self.namespace is None or namespace == self.namespace)

    def find(self, resource: str, namespace: str, name: str) -> Obj | None:
        if resource in self._lists and self._in_scope(resource, namespace):
            with self._lock:
                idx = self._indexes.get(resource)
                if idx is None:
                    idx = self._indexes[resource] = _index(self._lists[resource])
            return idx.get((namespace, name))
        key = (resource, namespace, name)
        with self._lock:
            if key in self._reads:
                return self._reads[key]
        rk = kinds.BUILTIN[resource]
        try:
            obj: Obj | None = self.client.get(rk, name, namespace or None, metadata_only=resource == "secrets")
        except NotFound:
            obj = None
        if obj is not None and resource == "secrets":
            obj = {"metadata": o.mapping(obj.get("metadata"))}  # existence only: never keep secret data
        with self._lock:
            self._reads[key] = obj
        return obj

    def select(self, resource: str, namespace: str, selector: dict[str, str]) -> list[Obj]:
        if resource in self._lists and self._in_scope(resource, namespace):
            return [x for x in self._lists[resource]
                    if o.namespace(x) == namespace and o.matches_labels(selector, o.labels(x))]
        text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        key = (resource, namespace, text)
        with self._lock:
            if key in self._selects:
                return self._selects[key]
        found = self.client.list(kinds.BUILTIN[resource], namespace, label_selector=text) if selector else []
        with self._lock:
            self._selects[key] = found
        return found

    # -- events and logs ---------------------------------------------------------------------------------
    def warning_events(self, kind: str, namespace: str, name: str) -> list[Obj]:
        scope = self.namespace if self.namespace is None or namespace == self.namespace else namespace
        with self._lock:
            if scope not in self._warning_scopes:
                self._warning_scopes.add(scope)
                try:
                    events = self.client.list("events", scope, field_selector="type!=Normal")
                except ToolError as e:
                    self.notes.append(f"events not readable ({e}); event-based findings are missing")
                    events = []
                self.listed["events"] = self.listed.get("events", 0) + len(events)
                merged = self._warnings or {}
                merged.update(index_warnings(events))
                self._warnings = merged
            return (self._warnings or {}).get((kind, namespace, name), [])

    def logs(self, namespace: str, pod: str, container: str, *, tail: int, previous: bool) -> str:
        return self.client.log(namespace, pod, container=container or None, tail=tail, previous=previous)


__all__ = ["ClusterSnapshot", "MemorySnapshot", "index_warnings"]
