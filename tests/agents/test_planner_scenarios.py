"""The planner on every scenario of `evals/scenarios/`, against a real simulated cluster (speed 50).

For each scenario: once its faults have fired, the Diagnosis the scenario expects (category, root cause;
the analyzers' findings as evidence) goes to `plan(...)`. The plan's first action must be one the scenario
accepts and none may be forbidden; then the plan's actions are executed with `prepare(action).execute()`
and the cluster must heal - the scenario's `recovered` checks that kube reads can judge (deployments
available, pods ready, endpoints, PVC phase, object fields, no pod showing the failure reason). The plan's
own verification checks must be valid scenario check forms, must cover the object that was broken, and
must hold after the fix (they are what the verify node will wait for).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from planner_world import (
    SUITE,
    assert_plan_fits,
    check_parts,
    diagnosis_for,
    holds,
    metric_holds,
    past_faults,
    recovered_checks,
    start,
    wait_for,
    wait_recovered,
)
from pydantic import TypeAdapter

from prophet_sre.agents.planner import plan
from prophet_sre.domain import Plan
from prophet_sre.sim.scenario.checks import Check as ScenarioCheck
from prophet_sre.tools.actions import prepare
from prophet_sre.tools.kube.client import KubeClient

pytestmark = pytest.mark.timeout(180)
CHECK_FORMS = TypeAdapter(ScenarioCheck)

# scenario -> (sim seconds to let the fault show, check kinds the plan's verification must include)
SINGLE = {
    "backend-memory-leak": (60, {"deployment", "no_pod_reason"}),
    "bad-image-tag": (20, {"deployment", "no_pod_reason", "object"}),
    "crash-bad-command": (30, {"deployment", "no_pod_reason"}),
    "missing-configmap-key": (20, {"deployment", "object", "no_pod_reason"}),
    "pvc-missing-storageclass": (20, {"pvc", "deployment"}),
    "service-selector-mismatch": (10, {"service", "object"}),
    "unsatisfiable-node-selector": (20, {"deployment", "pods"}),
    "wrong-probe-path": (30, {"deployment", "pods"}),
    "cascading-resource-exhaustion": (60, {"pods", "deployment"}),
    "db-pool-exhaustion": (30, {"deployment", "metric"}),
    "east-west-scan": (20, {"pods"}),
}


def _valid_checks(p: Plan) -> None:
    for c in p.verification:
        doc = {c.kind: c.target, **c.expect}
        CHECK_FORMS.validate_python(doc)


def _execute(p: Plan, client: KubeClient) -> None:
    for a in p.actions:
        result = prepare(a, client).execute()
        assert result.ok, (a, result.error)


@pytest.mark.parametrize("name", sorted(SINGLE))
def test_plan_fixes_scenario(name: str, tmp_path: Path) -> None:
    wait_s, kinds = SINGLE[name]
    cluster, clients, client = start(name, tmp_path)
    try:
        past_faults(cluster, wait_s)
        diagnosis = diagnosis_for(name, client)
        p = plan(diagnosis, diagnosis.evidence, clients=clients)
        assert_plan_fits(name, p.actions)
        assert p.rationale and p.expected_outcome
        assert all(a.reason for a in p.actions)
        _valid_checks(p)
        assert kinds <= {c.kind for c in p.verification}, p.verification
        # before the fix the plan's checks must not all pass already: they can detect a failure
        evaluable = [check_parts(c) for c in p.verification]
        metrics = [c for c in evaluable if c[0] == "metric" and metric_holds(cluster, c[1], c[2], 1.0) is not None]
        assert any(holds(client, *c) is False for c in evaluable) or \
            any(metric_holds(cluster, c[1], c[2]) is False for c in metrics), p.verification
        _execute(p, client)
        wait_recovered(client, recovered_checks(name), timeout=90)
        wait_recovered(client, [c for c in evaluable if c[0] != "no_pod_reason"], timeout=60)
        for c in metrics:  # the rates the plan watches recover too (bounded polling over sim windows)
            wait_for(lambda c=c: metric_holds(cluster, c[1], c[2]), timeout=60, what=f"metric {c[1]} {c[2]}")
    finally:
        clients.close()
        cluster.stop()


def test_plan_fails_over_a_degraded_fleet_cluster(tmp_path: Path) -> None:
    """fleet-cluster-degraded: a 4-cluster fleet (mgmt + aws/gcp/azure, one kubeconfig, a context each)."""
    from prophet_sre.config import KubeSettings
    from prophet_sre.domain import Diagnosis, ResourceRef
    from prophet_sre.sim.fleet import SimFleet
    from prophet_sre.sim.fleet.cli import load_scenarios
    from prophet_sre.tools.analyze import Scope, analyze
    from prophet_sre.tools.capi import CapiSource, FleetInventory
    from prophet_sre.tools.kube.client import KubeClients

    name = "fleet-cluster-degraded"
    sim = SimFleet(("mgmt", "aws", "gcp", "azure"), speed=50.0, workers=2).setup()
    for c in sim.clusters.values():
        c.traffic.max_flows_per_s = 100.0
    load_scenarios(sim, [SUITE / f"{name}.yaml"])
    sim.start()
    clients = KubeClients(KubeSettings(kubeconfig=sim.write_kubeconfig(tmp_path / "config")))
    try:
        mgmt = clients.for_cluster("mgmt")
        inv = FleetInventory(mgmt)
        wait_for(lambda: inv.health(probe=False).get("aws").state != "healthy", timeout=60,
                 what="Cluster aws to degrade")
        report = analyze([CapiSource(inv)], Scope())
        diagnosis = Diagnosis(category="cluster_degraded", summary="cluster aws degraded", confidence=0.9,
                              root_cause=ResourceRef.parse("mgmt:fleet/cluster/aws"), evidence=report.findings)
        p = plan(diagnosis, diagnosis.evidence, clients=clients)
        assert_plan_fits(name, p.actions)
        assert p.actions[0].weights == {"aws": 0, "gcp": 1, "azure": 1}  # type: ignore[union-attr]
        _valid_checks(p)
        assert any(holds(mgmt, *check_parts(c)) is False for c in p.verification if c.kind == "object")
        for a in p.actions:
            assert prepare(a, clients).execute().ok
        assert sim.traffic_shares()["aws"] == 0.0
        wait_recovered(mgmt, [check_parts(c) for c in p.verification], timeout=30)
    finally:
        clients.close()
        sim.stop()
