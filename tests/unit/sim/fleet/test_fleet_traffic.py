"""Global traffic: the HTTPRoute, failover by weights, and the fleet gauges.

Covers: the Gateway API objects a fleet starts with (equal weights, one ServiceImport backend per
workload cluster, accepted route status), `shift_traffic` and `SimFleet.traffic_weights/shares`
reading whatever is stored (including edits made without the helper), ResolvedRefs for an unknown
backend, and the `fleet_*` gauges on the management cluster's `/metrics`. Skips: how the traffic model
turns shares into request rates (sim/traffic).
"""

from __future__ import annotations

from typing import Any

import pytest

from prophet_sre.sim.fleet import exposition, samples, shares, shift_traffic, weights


def test_route_and_gateway_at_start(shared_fleet: Any) -> None:
    route = shared_fleet.get("HTTPRoute", "global-shop")
    assert route["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                            "name": "global-gateway"}]
    [rule] = route["spec"]["rules"]
    assert [(b["kind"], b["name"], b["weight"]) for b in rule["backendRefs"]] == [
        ("ServiceImport", "shop-aws", 1), ("ServiceImport", "shop-gcp", 1), ("ServiceImport", "shop-azure", 1)]
    [parent] = route["status"]["parents"]
    assert {c["type"]: c["status"] for c in parent["conditions"]} == {"Accepted": "True", "ResolvedRefs": "True"}
    assert shared_fleet.get("ServiceImport", "shop-gcp")["status"] == {"clusters": [{"cluster": "gcp"}]}
    assert shared_fleet.fleet.traffic_weights() == {"aws": 1, "gcp": 1, "azure": 1}
    assert shared_fleet.fleet.traffic_shares() == pytest.approx({"aws": 1 / 3, "gcp": 1 / 3, "azure": 1 / 3})


def test_failover_by_weights(fleet: Any) -> None:
    store = fleet.fleet.management.store
    assert shift_traffic(store, {"gcp": 0}) == {"aws": 1, "gcp": 0, "azure": 1}
    assert fleet.fleet.traffic_shares() == {"aws": 0.5, "gcp": 0.0, "azure": 0.5}
    route = fleet.get("HTTPRoute", "global-shop")
    assert route["metadata"]["generation"] == 2
    fleet.fleet.drain()
    [parent] = fleet.get("HTTPRoute", "global-shop")["status"]["parents"]
    assert {c["observedGeneration"] for c in parent["conditions"]} == {2}
    shift_traffic(store, {"aws": 3, "azure": 1})
    assert shares(store) == {"aws": 0.75, "gcp": 0.0, "azure": 0.25}
    with pytest.raises(KeyError):
        shift_traffic(store, {"onprem": 1})


def test_weights_follow_any_edit_of_the_route(fleet: Any) -> None:
    def drop_azure_and_weigh(route: dict[str, Any]) -> None:
        refs = route["spec"]["rules"][0]["backendRefs"]
        route["spec"]["rules"][0]["backendRefs"] = [dict(b, weight=90 if b["name"] == "shop-aws" else 10)
                                                    for b in refs if b["name"] != "shop-azure"]
    fleet.patch("HTTPRoute", "global-shop", drop_azure_and_weigh)
    assert weights(fleet.fleet.management.store) == {"aws": 90, "gcp": 10}

    def unknown_backend(route: dict[str, Any]) -> None:
        route["spec"]["rules"][0]["backendRefs"].append(
            {"group": "multicluster.x-k8s.io", "kind": "ServiceImport", "name": "shop-onprem", "port": 8080})
    fleet.patch("HTTPRoute", "global-shop", unknown_backend)
    fleet.fleet.drain()
    [parent] = fleet.get("HTTPRoute", "global-shop")["status"]["parents"]
    resolved = next(c for c in parent["conditions"] if c["type"] == "ResolvedRefs")
    assert (resolved["status"], resolved["reason"]) == ("False", "BackendNotFound")
    assert fleet.fleet.traffic_weights() == {"aws": 90, "gcp": 10, "onprem": 1}  # unset weight counts as 1


def test_gauges(fleet: Any) -> None:
    shift_traffic(fleet.fleet.management.store, {"gcp": 0})
    fleet.fleet.degrade("gcp")
    fleet.run_for(60)
    got = {(s.name, s.cluster): s.value for s in samples(fleet.fleet)}
    assert got[("fleet_cluster_available", "gcp")] == 0 and got[("fleet_cluster_available", "aws")] == 1
    assert got[("fleet_traffic_weight", "gcp")] == 0 and got[("fleet_traffic_share", "aws")] == 0.5
    text = exposition(fleet.fleet)
    assert "# TYPE fleet_cluster_available gauge\n" in text
    assert 'fleet_cluster_available{cluster="gcp"} 0\n' in text
    assert 'fleet_traffic_weight{cluster="azure"} 1\n' in text
    scrape = fleet.fleet.management.metrics.metrics.render()  # registered as a metrics_text contributor
    assert 'fleet_traffic_share{cluster="azure"} 0.5' in scrape
