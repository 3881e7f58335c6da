"""The store's building blocks: stored entries, watch events, watchers and list continue tokens.

Split from `store.py` so the store itself is only the object lifecycle; these types are what a watch
stream and a paginated list are made of.
"""

from __future__ import annotations

import asyncio
import base64
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from prophet_sre.sim import status as st
from prophet_sre.sim.registry import ResourceType

if TYPE_CHECKING:
    from prophet_sre.sim.store import Store

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects
StorageKey = tuple[str, str]  # (group, plural)

HISTORY_PER_TYPE = 10_000
"""Watch history kept per type: older resourceVersions get 410 Expired (etcd compaction in a real
cluster). Every entry pins a whole object version, so this bounds the memory of a busy simulator."""


@dataclass(slots=True)
class Entry:
    """One stored object plus its lazily serialised JSON."""

    obj: dict[str, Any]
    _raw: bytes | None = None

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = orjson.dumps(self.obj)
        return self._raw


@dataclass(slots=True)
class WatchEvent:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None = None
    storage_key: StorageKey = ("", "")


Admission = Callable[[ResourceType, dict[str, Any], "dict[str, Any] | None", str], None]
"""(rt, new_obj (mutable), old_obj, operation CREATE|UPDATE) -> None; raise ApiError to reject."""

Listener = Callable[[WatchEvent], None]


class Watcher:
    """A watch stream's filter and queue. Events are delivered on the watcher's event loop."""

    def __init__(self, store: Store, skey: StorageKey, namespace: str | None,
                 label_match: Callable[[dict[str, Any]], bool] | None,
                 field_match: Callable[[dict[str, Any]], bool] | None,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.skey = skey
        self.namespace = namespace
        self.label_match = label_match
        self.field_match = field_match
        self.loop = loop
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()
        self.closed = False

    def matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        if self.namespace and obj.get("metadata", {}).get("namespace") != self.namespace:
            return False
        if self.label_match and not self.label_match(obj):
            return False
        return not (self.field_match and not self.field_match(obj))

    def translate(self, ev: WatchEvent) -> tuple[str, dict[str, Any]] | None:
        """Map a store event to what this watcher sees (a selector change is an ADDED or DELETED)."""
        now_in = self.matches(ev.obj) if ev.type != "DELETED" else False
        was_in = self.matches(ev.old) if ev.old is not None else False
        if ev.type == "ADDED":
            return ("ADDED", ev.obj) if now_in else None
        if ev.type == "DELETED":
            return ("DELETED", ev.obj) if self.matches(ev.obj) else None
        if now_in and was_in:
            return ("MODIFIED", ev.obj)
        if now_in:
            return ("ADDED", ev.obj)
        if was_in:
            return ("DELETED", ev.obj)
        return None

    def offer(self, ev: WatchEvent) -> None:
        if self.closed:
            return
        item = self.translate(ev)
        if item is not None:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.store._drop_watcher(self)
            try:
                self.loop.call_soon_threadsafe(self.queue.put_nowait, None)
            except RuntimeError:  # loop already closed
                pass


@dataclass
class _Bucket:
    entries: dict[Key, Entry] = field(default_factory=dict)
    history: deque[WatchEvent] = field(default_factory=lambda: deque(maxlen=HISTORY_PER_TYPE))
    compacted_rv: int = 0
    sorted_keys: list[Key] | None = None
    watchers: set[Watcher] = field(default_factory=set)

    def keys_sorted(self) -> list[Key]:
        if self.sorted_keys is None:
            self.sorted_keys = sorted(self.entries)
        return self.sorted_keys


def encode_continue(rv: int, key: Key) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(key)})).decode()


def decode_continue(token: str) -> tuple[int, Key]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        return int(data["rv"]), (str(data["start"][0]), str(data["start"][1]))
    except Exception as e:  # noqa: BLE001 - any garbage token is the same client error
        raise st.bad_request("continue key is not valid: illegal base64 data or malformed JSON") from e


