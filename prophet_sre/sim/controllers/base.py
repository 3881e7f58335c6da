"""The controller runtime of the simulator: work queues driven by store events and the sim clock.

A controller names the resource types it watches, maps each store event to the keys it must look at,
and reconciles one key at a time. It may ask to look again after some *sim* seconds (a back-off, a
probe period, a rollout step); the manager converts that into wall time at the clock's speed, so a
sim running at 20x replays ten minutes of controller behaviour in thirty seconds.

Controllers write through the same `Store` the API uses (never around it), so every change they make
is visible to watches, bumps resourceVersions and passes admission, just as with a real
kube-controller-manager.
"""

from __future__ import annotations

import abc
import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prophet_sre.sim.clock import SimClock
from prophet_sre.sim.registry import Registry, ResourceType
from prophet_sre.sim.store import Store, WatchEvent

if TYPE_CHECKING:
    from prophet_sre.sim.events import EventRecorder
    from prophet_sre.sim.logs import PodLogs

log = logging.getLogger(__name__)


@dataclass
class ControllerContext:
    """What every controller gets: the store, the types, the clock, the event recorder, pod logs."""

    store: Store
    registry: Registry
    clock: SimClock
    events: EventRecorder
    logs: PodLogs
    cluster_name: str = "main"
    extras: dict[str, Any] = field(default_factory=dict)

    def rt(self, group: str, plural: str) -> ResourceType:
        """The storage ResourceType of a built-in or CRD type; KeyError if unknown."""
        rt = self.registry.storage_type(group, plural)
        if rt is None:
            raise KeyError(f"{plural}.{group}" if group else plural)
        return rt


class Controller(abc.ABC):
    """Base class. Subclasses set `name` and `watches`, and implement `reconcile`."""

    name: str = "controller"
    watches: tuple[tuple[str, str], ...] = ()
    """Storage keys (group, plural) whose events this controller receives."""
    resync_s: float | None = None
    """Sim seconds between full resyncs (`resync()` is called); None = never."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.manager: ControllerManager | None = None

    # -- what subclasses override ----------------------------------------------------------------
    def keys_for(self, ev: WatchEvent) -> Iterable[Hashable]:
        """Map a store event to work keys. Default: (namespace, name) of the object itself."""
        m = ev.obj.get("metadata", {})
        return [(m.get("namespace", "") or "", m.get("name", ""))]

    @abc.abstractmethod
    def reconcile(self, key: Hashable) -> float | None:
        """Bring `key` towards its desired state. Return sim seconds to look again, or None."""

    def resync(self) -> Iterable[Hashable]:
        """Keys to reconcile on a periodic resync."""
        return ()

    def start(self) -> None:  # noqa: B027 - an optional hook; most controllers need no start-up work
        """Called once when the manager starts (before any event)."""

    # -- helpers ---------------------------------------------------------------------------------
    def enqueue(self, key: Hashable, after_s: float = 0.0) -> None:
        if self.manager is not None:
            self.manager.enqueue(self, key, after_s)


class ControllerManager:
    """Runs controllers on one asyncio loop: a FIFO per controller plus a timer heap on sim time."""

    def __init__(self, ctx: ControllerContext, controllers: list[Controller]) -> None:
        self.ctx = ctx
        self.controllers = controllers
        self._by_key: dict[tuple[str, str], list[Controller]] = {}
        for c in controllers:
            c.manager = self
            for sk in c.watches:
                self._by_key.setdefault(sk, []).append(c)
        self._queues: dict[str, dict[Hashable, None]] = {c.name: {} for c in controllers}
        self._timers: list[tuple[float, int, str, Hashable]] = []
        self._seq = itertools.count()
        self._names = {c.name: c for c in controllers}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._next_resync: dict[str, float] = {}
        self.errors = 0
        ctx.store.subscribe(self._on_event)

    def add(self, controller: Controller) -> None:
        """Register one more controller before `start` (how sim/fleet plugs its controller into a cluster)."""
        controller.manager = self
        self.controllers.append(controller)
        self._queues[controller.name] = {}
        self._names[controller.name] = controller
        for sk in controller.watches:
            self._by_key.setdefault(sk, []).append(controller)

    def _on_event(self, ev: WatchEvent) -> None:
        for c in self._by_key.get(ev.storage_key, ()):
            try:
                for key in c.keys_for(ev):
                    self._queues[c.name][key] = None
            except Exception:  # noqa: BLE001 - a controller bug must not break API writes
                self.errors += 1
                log.exception("%s: keys_for failed", c.name)
        self._poke()

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            loop.call_soon_threadsafe(wake.set)

    def enqueue(self, controller: Controller, key: Hashable, after_s: float = 0.0) -> None:
        if after_s <= 0:
            self._queues[controller.name][key] = None
        else:
            due = self.ctx.clock.elapsed() + after_s
            heapq.heappush(self._timers, (due, next(self._seq), controller.name, key))
        self._poke()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._wake = asyncio.Event()
        for c in self.controllers:
            c.start()
            if c.resync_s:
                self._next_resync[c.name] = self.ctx.clock.elapsed() + c.resync_s
        self._task = loop.create_task(self._run(), name="sim-controllers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass

    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def drain(self, max_rounds: int = 1000) -> int:
        """Process queued work synchronously until idle (tests and the benchmark use this)."""
        for c in self.controllers:
            if c.resync_s and c.name not in self._next_resync:
                self._next_resync[c.name] = self.ctx.clock.elapsed() + c.resync_s
        done = 0
        for _ in range(max_rounds):
            self._fire_timers()
            n = self._process_once()
            done += n
            if n == 0:
                break
        return done

    def _fire_timers(self) -> None:
        now = self.ctx.clock.elapsed()
        while self._timers and self._timers[0][0] <= now:
            _, _, name, key = heapq.heappop(self._timers)
            self._queues[name][key] = None
        for name, due in list(self._next_resync.items()):
            if due <= now:
                c = self._names[name]
                for key in c.resync():
                    self._queues[name][key] = None
                self._next_resync[name] = now + (c.resync_s or 1.0)

    def _process_once(self, budget_s: float = 0.05) -> int:
        n = 0
        start = time.monotonic()
        for c in self.controllers:
            q = self._queues[c.name]
            while q:
                key = next(iter(q))
                del q[key]
                n += 1
                try:
                    again = c.reconcile(key)
                except Exception:  # noqa: BLE001 - keep the other controllers running
                    self.errors += 1
                    log.exception("%s: reconcile %r failed", c.name, key)
                    again = 1.0
                if again is not None:
                    self.enqueue(c, key, again)
                if time.monotonic() - start > budget_s:
                    return n
        return n

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._fire_timers()
            n = self._process_once()
            if n:
                await asyncio.sleep(0)  # let API requests in between batches
                continue
            timeout = 0.5
            if self._timers:
                due_in = self._timers[0][0] - self.ctx.clock.elapsed()
                timeout = max(0.0, min(timeout, self.ctx.clock.wall_seconds(due_in)))
            if self._next_resync:
                due_in = min(self._next_resync.values()) - self.ctx.clock.elapsed()
                timeout = max(0.0, min(timeout, self.ctx.clock.wall_seconds(due_in)))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(timeout, 0.001))
            except TimeoutError:
                pass
