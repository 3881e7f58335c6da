"""A three-tier shop (frontend -> backend -> db) on the in-process harness, with a traffic model driven by hand.

The model is ticked explicitly after each sim second of controller work (`Shop.run`), so a test
decides exactly which sim seconds a fault covers; the harness clock does not move by itself. Pods run
on the plain `DefaultRuntime` (every server healthy and ready), so these tests see only what the
traffic model does; tests that need a behaviour model put their own `serving` function in extras.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from prophet_sre.sim.controllers.runtime import DefaultRuntime
from prophet_sre.sim.flows import FlowLog, FlowRecord
from prophet_sre.sim.knobs import Knobs
from prophet_sre.sim.traffic import TrafficModel

EDGES = [{"from": "shop/frontend", "to": "shop/backend", "rps": 50},
         {"from": "shop/backend", "to": "shop/db", "rps": 50}]


@dataclass
class Shop:
    h: Any  # SimHarness
    model: TrafficModel
    knobs: Knobs
    flowlog: FlowLog

    def run(self, seconds: float) -> None:
        """Advance `seconds` sim seconds: controllers, then one traffic tick per second."""
        for _ in range(int(seconds)):
            self.h.clock.advance(1.0)
            self.h.manager.drain(max_rounds=100_000)
            self.model.tick()

    def now(self) -> float:
        return float(self.h.clock.elapsed())

    def scale(self, name: str, replicas: int) -> None:
        self.h.patch("Deployment", "shop", name, lambda d: d["spec"].__setitem__("replicas", replicas))

    def requests(self, service: str, code: str | None = None, prefix: str = "") -> int:
        return sum(n for (ns, svc, c, _), n in self.model.counters.http_requests.items()
                   if svc == service and (code is None or c == code) and c.startswith(prefix))

    def flows_since(self, mark: int) -> list[FlowRecord]:
        """Flows appended after `mark` (a previous `flowlog.seen_flows`)."""
        fresh = self.flowlog.seen_flows - mark
        return self.flowlog.snapshot()[-fresh:] if fresh else []

    def stats(self, node: str) -> Any:
        return self.model.last.nodes[node]


def build_shop(h: Any, *, seed: int = 7, edges: list[dict[str, Any]] | None = None,
               replicas: tuple[int, int, int] = (2, 2, 1), **model_kw: Any) -> Shop:
    h.create(h.namespace("shop"))
    for name, n in zip(("frontend", "backend", "db"), replicas, strict=True):
        h.create(h.deployment(name, "shop", replicas=n))
        h.create(h.service(name, "shop"))
    want = sum(replicas)
    h.settle(lambda: sum(1 for p in h.list("Pod", "shop") if h.running_ready(p)) == want, max_s=60)
    knobs, flowlog = Knobs(), FlowLog()
    model = TrafficModel(h.ctx, seed=seed, knobs=knobs, flowlog=flowlog, **model_kw)
    model.load(edges if edges is not None else EDGES)
    model.tick()
    return Shop(h, model, knobs, flowlog)


@pytest.fixture
def shop_factory(cluster_factory: Callable[..., Any]) -> Callable[..., Shop]:
    def make(**kw: Any) -> Shop:
        return build_shop(cluster_factory(runtime=DefaultRuntime()), **kw)

    return make


@pytest.fixture
def shop(shop_factory: Callable[..., Shop]) -> Iterator[Shop]:
    yield shop_factory()
