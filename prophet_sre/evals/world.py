"""A running simulated world for one scenario: its cluster (or fleet), a kubeconfig, and a Prometheus.

`prophet demo`, the end-to-end tests and the eval harness all need the same thing: the scenario's
clusters up and serving the Kubernetes API, its faults scheduled on the sim clock, a real Prometheus
scraping the simulator when the binary is installed, and `Settings` pointing Prophet at all of it (with
its own data directory, so runs never share an audit log or a policy ledger).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from prophet_sre.config import Settings
from prophet_sre.errors import ToolUnavailable
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.sim.scenario.loader import load_scenario
from prophet_sre.sim.scenario.models import Scenario

log = logging.getLogger(__name__)


@dataclass
class World:
    scenario: Scenario
    path: Path
    clusters: dict[str, SimCluster]
    kubeconfig: Path
    workdir: Path
    fleet: Any = None
    prometheus: Any = None
    notes: list[str] = field(default_factory=list)
    loaded_s: float | None = None
    """Sim seconds when the scenario was loaded (after the start-up): its faults count from here."""

    @property
    def default(self) -> SimCluster:
        return next(iter(self.clusters.values()))

    def elapsed(self) -> float:
        """Sim seconds since the world started (the clock every fault's `at` is measured on)."""
        return self.default.clock.elapsed()

    def first_fault_s(self) -> float | None:
        """Sim seconds when the first fault fired; before it fires, when it is due (the scenario's faults
        are scheduled at loading + `at`); for a scenario without faults, when it was loaded."""
        fired = [t for c in self.clusters.values() if (t := c.faults.first_fault_s()) is not None]
        if fired:
            return min(fired)
        due = [r.due_s for c in self.clusters.values() for r in c.faults.records() if r.state == "scheduled"]
        if due:
            return min(due)
        return self.loaded_s

    def settings(self, base: Settings | None = None) -> Settings:
        """Settings for Prophet in this world: kubeconfig, Prometheus, Hubble, a private data dir."""
        s = base or Settings()
        return s.model_copy(update={
            "data_dir": self.workdir / "data",
            "kube": s.kube.model_copy(update={"kubeconfig": self.kubeconfig, "context": None}),
            "prometheus": s.prometheus.model_copy(update={"url": self.prometheus.url if self.prometheus else None,
                                                          "time_scale": self.default.clock.speed}),
            "hubble": s.hubble.model_copy(update={"address": self.default.hubble_address}),
        })

    def stop(self) -> None:
        if self.prometheus is not None:
            self.prometheus.stop()
        if self.fleet is not None:
            self.fleet.stop()
        else:
            for c in self.clusters.values():
                c.stop()


def start_world(path: Path | str, *, speed: float = 20.0, workdir: Path | None = None, prometheus: bool = True,
                workers: int = 2, flow_budget: float | None = 200.0) -> World:
    """Start the scenario's clusters (a fleet when it names several) and load the scenario into them.

    Order matters at high speed: Prometheus starts first (it applies its targets ~5 wall seconds after
    start), the clusters next, and the scenario - whose faults are scheduled relative to its loading - only
    once Prometheus has scraped every cluster, so the metrics cover the fault from its first second."""
    path = Path(path)
    scenario = load_scenario(path)
    workdir = workdir or Path(tempfile.mkdtemp(prefix=f"prophet-{scenario.id}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    fleet = None
    if len(scenario.clusters) > 1:
        from prophet_sre.sim.fleet import SimFleet

        fleet = SimFleet(tuple(scenario.clusters), speed=speed, workers=workers).setup()
        clusters = dict(fleet.clusters)
    else:
        name = scenario.clusters[0]
        clusters = {name: SimCluster(ClusterOptions(name=name, speed=speed, workers=workers))}
    _budget(clusters, flow_budget)
    world = World(scenario, path, clusters, workdir / "kubeconfig", workdir, fleet=fleet)
    if prometheus:
        _start_prometheus(world, speed)
    try:
        if fleet is not None:
            fleet.start()
            fleet.write_kubeconfig(world.kubeconfig)
        else:
            world.default.start()
            world.default.write_kubeconfig(world.kubeconfig)
        if world.prometheus is not None and not world.prometheus.wait_for_scrapes(timeout_s=30):
            world.notes.append("Prometheus had not scraped every cluster after 30 s; early metrics are missing")
        _load(world)
    except BaseException:
        world.stop()
        raise
    return world


def _start_prometheus(world: World, speed: float) -> None:
    from prophet_sre.sim.prometheus import PrometheusServer

    # a scrape every ~10 cluster seconds, at most once per 0.2 wall s (a busy machine misses shorter ones)
    server = PrometheusServer([c.metrics_url for c in world.clusters.values()], root=world.workdir / "prometheus",
                              scrape_interval_s=max(0.2, min(1.0, 10.0 / speed)))
    try:
        server.start()
        world.prometheus = server
    except ToolUnavailable as e:
        world.notes.append(f"no Prometheus: {e}; metric evidence and metric checks are skipped")
        log.warning("%s", world.notes[-1])


def _load(world: World) -> None:
    world.loaded_s = world.elapsed()
    if world.fleet is not None:
        from prophet_sre.sim.fleet.cli import load_scenarios

        load_scenarios(world.fleet, [world.path])
    else:
        from prophet_sre.sim.scenario import apply as scenario_apply

        # on the cluster's loop thread, as the control API loads scenarios: the images' behaviour is merged
        # before any controller can start a pod of the setup objects
        world.default.call_in_loop(partial(scenario_apply.load_file, world.default, world.path,
                                           cluster_name=world.scenario.clusters[0]))


def _budget(clusters: dict[str, SimCluster], flow_budget: float | None) -> None:
    """Cap sampled flows per sim second: at high speeds full flow sampling starves the API server."""
    if flow_budget is None:
        return
    for c in clusters.values():
        traffic = getattr(c, "traffic", None)
        if traffic is not None:
            traffic.max_flows_per_s = flow_budget


__all__ = ["World", "start_world"]
