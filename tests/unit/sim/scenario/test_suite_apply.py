"""Every scenario of the public suite applies to a fresh simulated cluster (or fleet) and its faults fire.

Validation (test_scenario_files.py) says the files are well-formed; this says they work: setup is
admitted object by object, images and traffic are accepted by their models, and every fault finds its
target when its time comes (none ends in `failed`), with no controller raising along the way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prophet_sre.sim.scenario import apply as scenario_apply
from prophet_sre.sim.scenario import load_scenario
from prophet_sre.sim.scenario.loader import read_text

SUITE = Path(__file__).resolve().parents[4] / "evals" / "scenarios"
SINGLE = sorted(p for p in SUITE.glob("*.yaml") if len(load_scenario(p).clusters) == 1)


@pytest.mark.parametrize("path", SINGLE, ids=[p.stem for p in SINGLE])
def test_scenario_applies_and_its_faults_fire(path: Path, cluster: Any, run: Any) -> None:
    sc = load_scenario(path)
    loaded = scenario_apply.load_file(cluster, path)
    assert len(loaded.fault_ids) == len(sc.faults)
    run(cluster, max((f.at for f in sc.faults), default=0) + 2, step=2.0)
    states = [(r.fault.kind, r.state, r.message) for r in cluster.faults.records()]
    assert all(state == "fired" for _, state, _ in states), states
    if sc.traffic:
        assert len(cluster.traffic.edges) == len(sc.traffic)


def test_the_fleet_scenario_applies_to_a_fleet(run: Any) -> None:
    from prophet_sre.sim.fleet import SimFleet

    path = SUITE / "fleet-cluster-degraded.yaml"
    fleet = SimFleet(["mgmt", "aws", "gcp", "azure"], speed=1e-6, tls=False).setup()
    prepared = scenario_apply.prepare_for(fleet.clusters, read_text(path), source=str(path), base_dir=path.parent)
    out = scenario_apply.apply_prepared(fleet.clusters, prepared)
    assert {n: x.objects for n, x in out.items()} == {"mgmt": 0, "aws": 7, "gcp": 7, "azure": 7}
    aws = fleet["aws"]
    [rec] = aws.faults.records()
    assert rec.fault.kind == "cluster_degraded" and fleet["mgmt"].faults.records() == []
    for _ in range(16):
        fleet.clock.advance(2.0)
        for c in fleet.clusters.values():
            c.manager.drain(max_rounds=100_000)
    assert rec.state == "fired"
    assert [(e.kind, e.target) for e in aws.knobs.all()] == [("cluster_degraded", "aws")]
    for c in fleet.clusters.values():
        c.stop()
