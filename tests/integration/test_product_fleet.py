"""fleet-cluster-degraded as an SRE meets it: a whole cluster goes bad; only moving global traffic helps.

The scenario runs on a 4-cluster fleet (`mgmt` with Cluster API and the global HTTPRoute, workload
clusters `aws`, `gcp`, `azure` each running the shop) and degrades `aws` 30 sim seconds in: its worker
kubelets stop, its requests get slow and fail. With real kubectl, one kubeconfig, a context per cluster:

- the fault: `kubectl --context mgmt get cluster aws` says Available False (workers unavailable), the
  aws nodes are NotReady, aws' frontend answers 5xx, while gcp and azure are fine; the global route
  still sends aws a third of the traffic (`fleet_traffic_share` on the management cluster's /metrics);
- wrong: scaling the frontend inside aws - the new pods cannot be placed, nothing changes for users;
- right: `kubectl --context mgmt patch httproute global-shop` setting aws' weight to 0 - aws gets no
  global traffic (`SimFleet.traffic_shares()`, the metric, the route's jsonpath), gcp and azure serve.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from product_support import (
    FLOW_BUDGET,
    SPEED,
    SUITE,
    Kube,
    is_ready,
    names,
    past_the_faults,
    pods,
    scrape,
    settle,
    wait_for,
    window,
)

from prophet_sre.sim.fleet import SimFleet
from prophet_sre.sim.fleet.cli import load_scenarios

pytestmark = pytest.mark.timeout(150)
NS = "shop"
AVAILABLE = 'jsonpath={.status.conditions[?(@.type=="Available")].status}'
AWS_WEIGHT = 'jsonpath={.spec.rules[0].backendRefs[?(@.name=="shop-aws")].weight}'  # the scenario's check


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[SimFleet, Kube]]:
    sim = SimFleet(("mgmt", "aws", "gcp", "azure"), speed=SPEED, workers=2).setup()
    for cluster in sim.clusters.values():
        cluster.traffic.max_flows_per_s = FLOW_BUDGET
    loaded = load_scenarios(sim, [SUITE / "fleet-cluster-degraded.yaml"])
    assert {x["cluster"]: x["faults"] for x in loaded} == {"mgmt": 0, "aws": 1, "gcp": 0, "azure": 0}
    sim.start()
    try:
        yield sim, Kube(sim.write_kubeconfig(tmp_path / "config"), tmp_path)
    finally:
        sim.stop()


def test_fleet_cluster_degraded(fleet: tuple[SimFleet, Kube]) -> None:
    sim, k = fleet
    mgmt, aws = k.at("mgmt"), k.at("aws")
    past_the_faults(*sim.clusters.values())

    # the fault: CAPI reports aws unavailable, its workers are NotReady, its users get errors
    wait_for(lambda: mgmt("get", "cluster", "aws", "-o", AVAILABLE) == "False", timeout=40,
             what="Cluster aws Available=False")
    assert sim.cluster_available() == {"aws": False, "gcp": True, "azure": True}
    clusters = {r["NAME"]: r for r in mgmt.rows("clusters")}
    assert {n: r["AVAILABLE"] for n, r in clusters.items()} == {"aws": "False", "gcp": "True", "azure": "True"}
    conditions = mgmt("get", "cluster", "aws", "-o", 'jsonpath={range .status.conditions[*]}{.type}={.status}: '
                      '{.message}{"\\n"}{end}')
    assert "WorkersAvailable=False: * MachineDeployment aws-md-0: 0 available replicas" in conditions
    assert {r["NAME"]: r["STATUS"] for r in aws.rows("nodes")} == {
        "control-plane": "Ready", "worker-1": "NotReady", "worker-2": "NotReady"}
    assert {r["STATUS"] for r in k.at("gcp").rows("nodes")} == {"Ready"}
    w = window(sim["aws"], 30)
    assert w.rate("http_requests_total", service="frontend", code=re.compile("5..")) > 5
    g = window(sim["gcp"], 20)  # a healthy peer for comparison: 40 rps, no errors
    assert g.rate("http_requests_total", service="frontend", code="200") > 30
    assert g.increase("http_requests_total", service="frontend", code=re.compile("5..")) == 0
    fleet_metrics = scrape(sim.management)
    assert fleet_metrics.by("cluster", "fleet_cluster_available") == {"aws": 0, "gcp": 1, "azure": 1}
    assert fleet_metrics.by("cluster", "fleet_traffic_share")["aws"] == pytest.approx(1 / 3)

    # wrong: more frontend replicas inside the degraded cluster - nowhere to run them, users still sent there
    before = names(pods(aws, NS, "app=frontend"))
    aws("scale", "deployment/frontend", "-n", NS, "--replicas=4")
    wait_for(lambda: len(names(pods(aws, NS, "app=frontend")) - before) >= 2, timeout=30, what="new frontend pods")
    settle(sim["aws"], 60)
    new = [p for p in pods(aws, NS, "app=frontend") if p["metadata"]["name"] not in before]
    assert new and all(p["status"]["phase"] == "Pending" and not p["spec"].get("nodeName") for p in new)
    assert not any(map(is_ready, pods(aws, NS, "app=frontend")))
    assert mgmt("get", "cluster", "aws", "-o", AVAILABLE) == "False"
    assert sim.traffic_shares()["aws"] == pytest.approx(1 / 3)

    # right: fail over - the global route's weight for aws goes to 0
    route = mgmt.json("get", "httproute", "global-shop")
    backends = [b["name"] for b in route["spec"]["rules"][0]["backendRefs"]]
    assert sorted(backends) == ["shop-aws", "shop-azure", "shop-gcp"]
    patch = [{"op": "replace", "path": f"/spec/rules/0/backendRefs/{backends.index('shop-aws')}/weight", "value": 0}]
    assert "patched" in mgmt("patch", "httproute", "global-shop", "--type=json", "-p", json.dumps(patch))
    assert mgmt("get", "httproute", "global-shop", "-o", AWS_WEIGHT) == "0"
    assert sim.traffic_weights() == {"aws": 0, "gcp": 1, "azure": 1}
    assert sim.traffic_shares() == {"aws": 0.0, "gcp": 0.5, "azure": 0.5}
    shares = scrape(sim.management).by("cluster", "fleet_traffic_share")
    assert shares == {"aws": 0.0, "gcp": 0.5, "azure": 0.5}  # the scenario's check: aws below 0.01
    wait_for(lambda: mgmt("get", "httproute", "global-shop", "-o", 'jsonpath={.status.parents[0].conditions'
                          '[?(@.type=="ResolvedRefs")].status}') == "True", timeout=20)
    for name in ("gcp", "azure"):  # the clusters that now carry the traffic serve it
        assert k.at(name).rolled_out("frontend", NS, "30s"), name
        assert len([p for p in pods(k.at(name), NS, "app=frontend") if is_ready(p)]) == 2
