"""The fault engine on the sim clock: timing, what each kind leaves behind, durations, failures, the log.

Covers: a fault fires at `at` after its scenario was loaded and not a sim second before; API faults
leave the trace a real cluster shows (a rollout is a template update -> new ReplicaSet; node_down is
the kubelet annotation; delete/scale/patch/config_remove/secret_remove are writes); effect faults add
knobs effects with the traffic model's target forms and `until`; `duration` undoes a lasting fault;
a fault whose target is gone fails with the API server's words; `first_fault_s` for MTTR.
Skips: how the models react to effects (behaviour/traffic tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from prophet_sre.sim.cluster import SimCluster
from prophet_sre.sim.controllers.kubelet import STOPPED_ANNOTATION
from prophet_sre.sim.scenario import apply as scenario_apply
from prophet_sre.sim.scenario.fault_specs import Fault

Doc = dict[str, Any]


def _get(c: SimCluster, group: str, plural: str, ns: str, name: str) -> Any:
    rt = c.registry.storage_type(group, plural)
    assert rt is not None
    return c.store.try_get(rt, ns, name)


def _load(c: SimCluster, write: Callable[..., Any], doc: Doc, faults: list[Doc]) -> scenario_apply.Loaded:
    doc["faults"] = faults
    doc["expect"] = {}
    return scenario_apply.load_file(c, write(doc))


def test_a_rollout_fires_at_its_time_and_rolls_out_a_new_replicaset(cluster: SimCluster, write: Any, doc: Doc, run: Any) -> None:
    cluster.clock.advance(100)  # `at` counts from the load, not from the cluster's start
    loaded = _load(cluster, write, doc, [{"at": "30s", "rollout": {"target": "shop/deployment/backend",
                                                                   "image": "shop/backend:2.3"}}])
    assert loaded.fault_ids == [1] and cluster.scenarios == [loaded]
    run(cluster, 29)
    [rec] = cluster.faults.records()
    assert rec.state == "scheduled" and rec.due_s == loaded.loaded_s + 30
    assert cluster.faults.first_fault_s() is None
    rs_before = {r["metadata"]["name"] for r in cluster.store.objects(cluster.controller_ctx.rt("apps", "replicasets"),
                                                                       "shop")}
    run(cluster, 2)
    assert rec.state == "fired" and rec.message == "deployment.apps/backend image updated: backend=shop/backend:2.3"
    assert 30 <= rec.fired_s - loaded.loaded_s <= 32  # type: ignore[operator]
    assert cluster.faults.first_fault_s() == rec.fired_s
    dep = _get(cluster, "apps", "deployments", "shop", "backend")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "shop/backend:2.3"
    assert dep["metadata"]["generation"] == 2
    rs_after = {r["metadata"]["name"] for r in cluster.store.objects(cluster.controller_ctx.rt("apps", "replicasets"),
                                                                      "shop")}
    assert len(rs_after - rs_before) == 1, "the Deployment controller made a new ReplicaSet"
    assert rec.to_dict()["fault"] == {"at": "30s", "rollout": {"target": "shop/deployment/backend",
                                                               "image": "shop/backend:2.3"}}


def test_node_down_for_a_while(cluster: SimCluster, write: Any, doc: Doc, run: Any) -> None:
    _load(cluster, write, doc, [{"at": "10s", "duration": "1m", "node_down": {"node": "worker-2"}}])
    run(cluster, 12)
    node = _get(cluster, "", "nodes", "", "worker-2")
    assert node["metadata"]["annotations"][STOPPED_ANNOTATION] == "true"
    [rec] = cluster.faults.records()
    assert rec.state == "fired" and rec.ends_s is not None
    run(cluster, 60)
    node = _get(cluster, "", "nodes", "", "worker-2")
    assert STOPPED_ANNOTATION not in (node["metadata"].get("annotations") or {})
    assert rec.state == "ended" and rec.message == "node/worker-2 kubelet stopped; node/worker-2 kubelet started"


def test_effect_faults_become_knobs_effects(cluster: SimCluster, write: Any, doc: Doc, run: Any) -> None:
    _load(cluster, write, doc, [
        {"at": 5, "latency": {"target": "shop/deploy/backend", "ms": 250}, "duration": "30s"},
        {"at": 5, "pool_exhaustion": {"target": "shop/deployment/backend", "pool_size": 4}},
        {"at": 5, "dns_failure": {}},
        {"at": 5, "dns_failure": {"target": "shop/service/backend", "rcode": "NXDOMAIN"}},
        {"at": 5, "network_flood": {"source": "shop/deployment/frontend", "ports": [22], "rate": 50}},
        {"at": 5, "image_missing": {"image": "shop/backend:2.3"}},
        {"at": 5, "node_pressure": {"node": "worker-1", "type": "memory"}},
        {"at": 5, "cluster_degraded": {"cluster": "main", "error_share": 0.5}},
        {"at": 5, "error_rate": {"target": "shop/deployment/frontend", "share": 0.2}},
    ])
    run(cluster, 6)
    effects = {(e.kind, e.target): e for e in cluster.knobs.all()}
    assert effects[("latency", "shop/deploy/backend")].params == {"ms": 250.0}
    assert effects[("latency", "shop/deploy/backend")].until_s is not None
    assert effects[("pool_exhaustion", "shop/deployment/backend")].params == {"pool_size": 4}
    assert effects[("dns_failure", "*")].params == {"rcode": "SERVFAIL"}
    assert effects[("dns_failure", "shop/service/backend")].params == {"rcode": "NXDOMAIN"}
    assert effects[("network_flood", "shop/deployment/frontend")].params == {"ports": [22], "rate": 50.0}
    assert ("image_missing", "shop/backend:2.3") in effects
    assert effects[("node_pressure", "worker-1")].params == {"type": "memory"}
    assert effects[("cluster_degraded", cluster.options.name)].params == {"error_share": 0.5}
    assert effects[("error_rate", "shop/deployment/frontend")].params == {"share": 0.2, "code": 500}
    run(cluster, 30)
    assert ("latency", "shop/deploy/backend") not in {(e.kind, e.target) for e in cluster.knobs.all()}
    assert [r.state for r in cluster.faults.records()].count("ended") == 1


def test_api_write_faults(cluster: SimCluster, write: Any, doc: Doc, run: Any) -> None:
    _load(cluster, write, doc, [
        {"at": 1, "scale": {"target": "shop/deployment/frontend", "replicas": 0}},
        {"at": 1, "patch": {"target": "shop/service/backend", "patch": {"spec": {"selector": {"app": "x"}}}}},
        {"at": 1, "patch": {"target": "shop/configmap/settings", "type": "merge", "patch": {"data": {"MODE": None}}}},
        {"at": 1, "patch": {"target": "shop/deployment/backend", "type": "json",
                            "patch": [{"op": "replace", "path": "/spec/replicas", "value": 3}]}},
        {"at": 2, "config_remove": {"target": "shop/configmap/settings", "key": "URL"}},
        {"at": 2, "secret_remove": {"target": "shop/secret/creds", "key": "token"}},
        {"at": 3, "secret_remove": {"target": "shop/secret/creds"}},
        {"at": 3, "delete": {"target": "shop/deployment/frontend"}},
    ])
    run(cluster, 4)
    assert [r.state for r in cluster.faults.records()] == ["fired"] * 8, \
        [(r.state, r.message) for r in cluster.faults.records()]
    assert _get(cluster, "", "services", "shop", "backend")["spec"]["selector"] == {"app": "x"}
    assert _get(cluster, "apps", "deployments", "shop", "backend")["spec"]["replicas"] == 3
    assert _get(cluster, "", "configmaps", "shop", "settings")["data"] == {}
    assert _get(cluster, "", "secrets", "shop", "creds") is None
    assert _get(cluster, "apps", "deployments", "shop", "frontend") is None
    messages = [r.message for r in cluster.faults.records()]
    assert "deployment.apps/frontend scaled" in messages and "configmap/settings key URL removed" in messages


def test_a_fault_whose_target_is_gone_fails_and_says_why(cluster: SimCluster, write: Any, doc: Doc, run: Any) -> None:
    _load(cluster, write, doc, [
        {"at": 1, "delete": {"target": "shop/configmap/settings"}},
        {"at": 2, "config_remove": {"target": "shop/configmap/settings", "key": "URL"}},
        {"at": 2, "secret_remove": {"target": "shop/secret/creds", "key": "nope"}},
        {"at": 2, "rollout": {"target": "shop/deployment/backend", "image": "nginx:1.27", "container": "sidecar"}},
    ])
    run(cluster, 3)
    recs = cluster.faults.records()
    assert [r.state for r in recs] == ["fired", "failed", "failed", "failed"]
    assert recs[1].message == 'configmaps "settings" not found'
    assert recs[2].message == 'secret/creds has no key "nope"'
    assert recs[3].message == 'unable to find container named "sidecar"'
    assert cluster.faults.first_fault_s() == recs[0].fired_s


def test_runtime_faults_count_from_now(cluster: SimCluster, run: Any) -> None:
    run(cluster, 50)
    rec = cluster.faults.schedule(Fault.model_validate({"at": "10s", "node_down": {"node": "worker-1"}}),
                                  source="api")
    assert rec.due_s == pytest.approx(cluster.clock.elapsed() + 10, abs=1e-3) and rec.source == "api"
    run(cluster, 9)
    assert rec.state == "scheduled"
    run(cluster, 2)
    assert rec.state == "fired" and cluster.faults.pending() == 0
