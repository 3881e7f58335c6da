"""Applying scenarios to clusters: all or nothing, images and traffic handed to their models, fleets.

Covers: setup objects are created through admission, Namespaces first; an invalid scenario changes
nothing (not one write); a creation refused half-way is rolled back and named by its document; a
live cluster is checked as it is (an object that already exists is a problem before anything is
written); `images:` reach the behaviour catalog; `traffic:` reaches the traffic model (or waits in
extras); a multi-cluster scenario places setup and faults per cluster and needs all its clusters.
"""

from __future__ import annotations

from typing import Any

import pytest

from prophet_sre.errors import InvalidInput, SimError
from prophet_sre.sim import status as st
from prophet_sre.sim.cluster import SimCluster
from prophet_sre.sim.scenario import ScenarioInvalid
from prophet_sre.sim.scenario import apply as scenario_apply
from prophet_sre.sim.scenario.loader import read_text

Doc = dict[str, Any]


def _names(c: SimCluster, group: str, plural: str, ns: str) -> set[str]:
    return {o["metadata"]["name"] for o in c.store.objects(c.controller_ctx.rt(group, plural), ns)}


def test_setup_is_created_through_admission(cluster: SimCluster, write: Any, doc: Doc) -> None:
    loaded = scenario_apply.load_file(cluster, write(doc))
    assert loaded.objects == 6 and loaded.id == "backend-memory-leak"
    assert _names(cluster, "apps", "deployments", "shop") == {"backend", "frontend"}
    svc = cluster.store.get(cluster.controller_ctx.rt("", "services"), "shop", "backend")
    assert svc["spec"]["clusterIP"] and svc["spec"]["ports"][0]["protocol"] == "TCP"  # defaulted + IP allocated
    secret = cluster.store.get(cluster.controller_ctx.rt("", "secrets"), "shop", "creds")
    assert secret["data"]["password"] and "stringData" not in secret  # admission turned stringData into data


def test_an_invalid_scenario_writes_nothing(cluster: SimCluster, write: Any, doc: Doc) -> None:
    doc["expect"]["recovered"].append({"service": "shop/frontend"})  # setup creates no such Service
    rv = cluster.store.resource_version
    with pytest.raises(ScenarioInvalid) as e:
        scenario_apply.load_file(cluster, write(doc))
    assert "expect.recovered[2].service: Service shop/frontend" in str(e.value)
    assert cluster.store.resource_version == rv and cluster.scenarios == [] and cluster.faults.records() == []


def test_a_refused_creation_rolls_everything_back(cluster: SimCluster, write: Any, doc: Doc,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real = cluster.store.create
    calls: list[str] = []

    def create(rt: Any, obj: Any, **kw: Any) -> Any:
        calls.append(obj["metadata"]["name"])
        if len(calls) == 4:
            raise st.ApiError(403, "Forbidden", 'services "backend" is forbidden: exceeded quota: compute')
        return real(rt, obj, **kw)

    monkeypatch.setattr(cluster.store, "create", create)
    with pytest.raises(InvalidInput) as e:
        scenario_apply.load_file(cluster, write(doc))
    msg = str(e.value)
    assert "setup[0].file: manifests/shop.yaml document 3 (Service shop/backend)" in msg
    assert "exceeded quota" in msg and "nothing was applied" in msg
    assert calls[0] == "shop"  # the Namespace first
    assert not cluster.store.try_get(cluster.controller_ctx.rt("", "namespaces"), "", "shop")
    assert _names(cluster, "apps", "deployments", "shop") == set()
    assert cluster.scenarios == [] and cluster.faults.records() == []


def test_a_live_cluster_is_checked_as_it_is(cluster: SimCluster, write: Any, doc: Doc) -> None:
    scenario_apply.load_file(cluster, write(doc))
    doc["id"] = "second"
    with pytest.raises(ScenarioInvalid) as e:
        scenario_apply.load_file(cluster, write(doc, name="second.yaml"))
    assert "document 0 (Namespace shop): already exists in cluster 'main'" in str(e.value)
    # a scenario without setup can target what the first one created
    doc["setup"] = []
    doc["faults"] = [{"at": "1s", "scale": {"target": "shop/deployment/frontend", "replicas": 2}}]
    loaded = scenario_apply.load_file(cluster, write(doc, name="third.yaml"))
    assert loaded.objects == 0 and [s.id for s in cluster.scenarios] == ["backend-memory-leak", "second"]


def test_images_reach_the_behaviour_catalog(cluster: SimCluster, write: Any, doc: Doc) -> None:
    doc["images"] = {"shop/backend:2.4": {"serves": {"port": 8080}, "memory": {"baseMi": 64}}}
    doc["faults"][0]["rollout"]["image"] = "shop/backend:2.4"
    scenario_apply.load_file(cluster, write(doc))
    catalog = scenario_apply.catalog_of(cluster)
    assert catalog is not None and catalog.knows("shop/backend:2.4") and catalog.knows("nginx:1.27")
    assert catalog.lookup("shop/backend:2.4").memory.base_mi == 64
    assert cluster.controller_ctx.extras[scenario_apply.SCENARIO_IMAGES] == doc["images"]


def test_bad_images_are_reported_with_their_path(write: Any, doc: Doc) -> None:
    from prophet_sre.sim.scenario import validate_file

    doc["images"] = {"shop/backend:2.3": {"memory": {"leakMiPerMn": 3}}}
    [p] = validate_file(write(doc))
    assert p.path == 'images["shop/backend:2.3"].memory.leakMiPerMn' and "known fields" in str(p)


def test_traffic_goes_to_the_traffic_model(cluster: SimCluster, write: Any, doc: Doc) -> None:
    scenario_apply.load_file(cluster, write(doc))
    model = cluster.controller_ctx.extras["traffic"]
    assert [(str(e.source), str(e.target), e.rps) for e in model.edges] == [("shop/frontend", "shop/backend", 50.0)]
    doc["id"], doc["setup"] = "more-traffic", []
    doc["traffic"] = [{"from": "shop/backend", "to": "shop/service/backend", "rps": 2}]
    scenario_apply.load_file(cluster, write(doc, name="more.yaml"))
    assert len(model.edges) == 2, "a second scenario adds its edges to the first one's"


def test_traffic_waits_in_extras_without_a_traffic_model(cluster: SimCluster, write: Any, doc: Doc) -> None:
    del cluster.controller_ctx.extras["traffic"]
    scenario_apply.load_file(cluster, write(doc))
    assert cluster.controller_ctx.extras[scenario_apply.SCENARIO_TRAFFIC] == [
        {"from": "shop/frontend", "to": "shop/backend", "rps": 50.0, "method": "GET", "path": "/"}]


def test_a_multi_cluster_scenario(write: Any, doc: Doc, cluster_factory: Any) -> None:
    clusters = {"mgmt": cluster_factory(), "aws": cluster_factory()}
    doc["clusters"] = ["mgmt", "aws"]
    doc["setup"] = [{"file": "manifests/shop.yaml", "clusters": ["aws"]},
                    {"inline": "apiVersion: v1\nkind: Namespace\nmetadata: {name: ops}\n"}]
    doc["traffic"] = [{"from": "aws:shop/frontend", "to": "aws:shop/backend", "rps": 5}]
    doc["faults"] = [{"at": "1s", "latency": {"target": "aws:shop/deployment/backend", "ms": 100}},
                     {"at": "1s", "node_down": {"node": "worker-1"}}]
    doc["expect"] = {"recovered": [{"deployment": "aws:shop/backend"}]}
    path = write(doc)
    prepared = scenario_apply.prepare_for(clusters, read_text(path), source=str(path), base_dir=path.parent)
    out = scenario_apply.apply_prepared(clusters, prepared)
    assert out["aws"].objects == 6 and out["mgmt"].objects == 1
    assert _names(clusters["aws"], "apps", "deployments", "shop") == {"backend", "frontend"}
    assert clusters["mgmt"].store.try_get(clusters["mgmt"].controller_ctx.rt("", "namespaces"), "", "ops")
    assert [r.fault.kind for r in clusters["aws"].faults.records()] == ["latency"]
    assert [r.fault.kind for r in clusters["mgmt"].faults.records()] == ["node_down"]
    assert [str(e.source) for e in clusters["aws"].traffic.edges] == ["shop/frontend"]
    assert clusters["mgmt"].traffic.edges == []
    with pytest.raises(SimError, match="needs cluster"):
        scenario_apply.prepare_for({"mgmt": clusters["mgmt"]}, read_text(path), source=str(path),
                                   base_dir=path.parent)
