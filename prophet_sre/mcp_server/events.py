"""The live feed behind `GET /mcp/stream`: incidents, decisions, actions and audit records as they happen.

Two sources, one fan-out:
- the graph's step events (`Deps.on_event`, called from the worker threads that run incidents), mapped
  to `incident` / `decision` / `action` / `step` events;
- the audit log, followed on disk, so records written by *other* processes (`prophet approve` in a
  shell, an operator replica) reach the stream too, as `audit` events.

Each subscriber has a bounded queue: a slow reader loses its oldest events (and is told how many in the
next event's `dropped`), it never slows an incident or grows memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from prophet_sre.mcp_server.redact import redact_data

log = logging.getLogger(__name__)

EVENT_TYPES = ("incident", "decision", "action", "step", "audit")
_NODE_TYPES = {"gather_context": "incident", "report": "incident", "answer": "incident",
               "critique": "decision", "approval": "decision",
               "execute": "action", "verify": "action", "rollback": "action"}


class _Subscriber:
    def __init__(self, loop: asyncio.AbstractEventLoop, size: int, types: frozenset[str]) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=size)
        self.types = types
        self.dropped = 0

    def offer(self, event: dict[str, Any]) -> None:  # on the subscriber's loop
        if event["type"] not in self.types:
            return
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait({**event, "dropped": self.dropped} if self.dropped else event)


class EventBroker:
    """Thread-safe publish, async subscribe."""

    def __init__(self, queue_size: int = 256) -> None:
        self.queue_size = queue_size
        self._subs: set[_Subscriber] = set()
        self._lock = threading.Lock()
        self.published = 0

    def publish(self, event: dict[str, Any]) -> None:
        """Send `event` (with `type` and `time` filled in) to every subscriber; callable from any thread."""
        event = redact_data({"time": datetime.now(UTC).isoformat(), **event})
        with self._lock:
            self.published += 1
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, event)
            except RuntimeError:  # the subscriber's loop is closed
                with self._lock:
                    self._subs.discard(sub)

    def on_graph_event(self, event: dict[str, Any]) -> None:
        """`Deps.on_event`: a graph step becomes an incident/decision/action/step event."""
        node = str(event.get("node", ""))
        self.publish({"type": _NODE_TYPES.get(node, "step"), **event})

    @contextlib.asynccontextmanager
    async def subscribe(self, types: frozenset[str] = frozenset(EVENT_TYPES)) -> AsyncIterator[_Subscriber]:
        sub = _Subscriber(asyncio.get_running_loop(), self.queue_size, types)
        with self._lock:
            self._subs.add(sub)
        try:
            yield sub
        finally:
            with self._lock:
                self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)


class AuditFollower:
    """Publishes every record appended to the audit log (by any process) as an `audit` event."""

    def __init__(self, path: Path, broker: EventBroker, *, poll_s: float = 0.5) -> None:
        self.path = path
        self.broker = broker
        self.poll_s = poll_s
        self._offset = path.stat().st_size if path.exists() else 0
        self._partial = b""

    def poll(self) -> int:
        """Read what was appended since the last poll; the number of records published."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return 0
        if size < self._offset:  # rotated or replaced: start over
            self._offset, self._partial = 0, b""
        if size == self._offset:
            return 0
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read(size - self._offset)
        self._offset = size
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        n = 0
        for line in lines:
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            self.broker.publish(audit_event(doc))
            n += 1
        return n

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.poll)
            except OSError as e:  # pragma: no cover - a disk problem must not kill the server
                log.warning("audit follower: %s", e)
            await asyncio.sleep(self.poll_s)


def audit_event(doc: dict[str, Any]) -> dict[str, Any]:
    """An audit record as a compact event (the full record stays in the log: `prophet://audit`)."""
    result = doc.get("result") or {}
    plan = doc.get("plan") or {}
    out: dict[str, Any] = {"type": "audit", "id": doc.get("id"), "event": doc.get("event"),
                           "incident": doc.get("incident_id"), "actor": doc.get("actor"),
                           "record_time": doc.get("time")}
    if plan.get("actions"):
        out["actions"] = [f"{a.get('type')} {_ref(a.get('target'))}" for a in plan["actions"]][:10]
    if doc.get("approval"):
        out["approval"] = {k: doc["approval"].get(k) for k in ("approved", "by", "reason")}
    if isinstance(result, dict):
        out["result"] = {k: v for k, v in result.items() if isinstance(v, str | int | float | bool)}
    return out


def _ref(ref: Any) -> str:
    if isinstance(ref, dict):
        ns = ref.get("namespace", "")
        return f"{ns}/{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"
    return str(ref)


def sse(event: dict[str, Any]) -> bytes:
    """One Server-Sent Event frame."""
    return b"event: " + str(event.get("type", "message")).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


__all__ = ["EVENT_TYPES", "AuditFollower", "EventBroker", "audit_event", "sse"]
