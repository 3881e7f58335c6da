"""The `/sim/v1/` control API, through the simulator's ASGI app (no server, no network).

Covers: bearer-token authentication against the API server's token table (401) and admin-only
authorization (403); status; fault injection (JSON, YAML, lists; validation and reference problems
as 400 with the field path); the fault log and active effects; clock advance/speed and their
validation; loading a scenario body (valid, and invalid with nothing applied).
End-to-end over HTTPS with the CLI is in tests/integration/test_sim_cli.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from prophet_sre.sim.api import SimApiApp
from prophet_sre.sim.cluster import SimCluster

Doc = dict[str, Any]


@pytest.fixture
def api(cluster: SimCluster, write: Any, doc: Doc) -> Iterator[TestClient]:
    from prophet_sre.sim.scenario import apply as scenario_apply

    scenario_apply.load_file(cluster, write(doc))
    with TestClient(SimApiApp(cluster.ctx), base_url="https://sim",
                    headers={"Authorization": f"Bearer {cluster.admin_token}"}) as client:
        yield client


def test_authentication_and_authorization(api: TestClient, cluster: SimCluster) -> None:
    r = api.get("/sim/v1/status", headers={"Authorization": ""})
    assert r.status_code == 401 and "bearer token" in r.json()["error"]
    assert api.get("/sim/v1/status", headers={"Authorization": "Bearer nope"}).status_code == 401
    cluster.add_user("alice-token", "alice")
    r = api.get("/sim/v1/faults", headers={"Authorization": "Bearer alice-token"})
    assert r.status_code == 403 and 'user "alice"' in r.json()["error"] and "system:masters" in r.json()["error"]


def test_status(api: TestClient, cluster: SimCluster) -> None:
    doc = api.get("/sim/v1/status").json()
    assert doc["cluster"] == cluster.options.name and doc["scenarios"] == ["backend-memory-leak"]
    assert doc["objects"]["nodes"] == 3 and doc["objects"]["deployments.apps"] == 3
    assert doc["faults"] == {"scheduled": 1} and doc["firstFaultSeconds"] is None
    assert doc["simTime"].endswith("Z") and doc["speed"] == cluster.clock.speed
    assert api.get("/sim/v1/scenarios").json()["scenarios"][0]["objects"] == 6


def test_inject_faults_now_and_later(api: TestClient, cluster: SimCluster) -> None:
    r = api.post("/sim/v1/faults", json={"scale": {"target": "shop/deployment/frontend", "replicas": 3}})
    assert r.status_code == 201, r.text
    [rec] = r.json()["faults"]
    assert rec["kind"] == "scale" and rec["source"] == "api" and rec["state"] == "scheduled"
    body = yaml.safe_dump([{"at": "1m", "latency": {"target": "shop/deployment/backend", "ms": 80},
                            "duration": "30s"},
                           {"node_down": {"node": "worker-1"}}])
    r = api.post("/sim/v1/faults", content=body, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 201 and [f["kind"] for f in r.json()["faults"]] == ["latency", "node_down"]
    cluster.manager.drain()
    log = api.get("/sim/v1/faults").json()
    states = {f["kind"]: f["state"] for f in log["faults"]}
    assert states == {"rollout": "scheduled", "scale": "fired", "latency": "scheduled", "node_down": "fired"}
    assert cluster.store.get(cluster.controller_ctx.rt("apps", "deployments"), "shop", "frontend")["spec"][
        "replicas"] == 3
    assert log["effects"] == [] and log["firstFaultSeconds"] is not None
    api.post("/sim/v1/clock", json={"advance": "61s"})
    cluster.manager.drain()
    [effect] = api.get("/sim/v1/faults").json()["effects"]
    assert effect["kind"] == "latency" and effect["params"] == {"ms": 80.0} and effect["untilSeconds"]


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"rollout": {"target": "shop/deployment/backend", "imgae": "x"}}, 400,
     ["request:rollout.imgae: unknown field; known fields: container, image, target"]),
    ({"rollout": {"target": "shop/deployment/backnd", "image": "nginx:1.27"}}, 400,
     ["request:rollout.target: Deployment shop/backnd does not exist", "shop/backend"]),
    ({"rollout": {"target": "shop/deployment/backend", "image": "nginx:9.99"}}, 400,
     ["request:rollout.image: image 'nginx:9.99' is neither in the built-in catalog"]),
    ({}, 400, ["exactly one kind key"]),
    ([{"node_down": {"node": "worker-1"}}, {"node_down": {"node": "worker-9"}}], 400,
     ["request:[1].node_down.node: Node worker-9"]),
    ("just text", 400, ["a fault is a mapping"]),
])
def test_bad_faults_are_400_with_the_field_path(api: TestClient, cluster: SimCluster, body: Any, status: int,
                                               words: list[str]) -> None:
    r = api.post("/sim/v1/faults", json=body)
    assert r.status_code == status, r.text
    text = "\n".join(r.json()["problems"])
    for w in words:
        assert w in text, text
    assert [rec.source for rec in cluster.faults.records()] == ["backend-memory-leak"], "nothing was scheduled"


def test_unparseable_body(api: TestClient) -> None:
    r = api.post("/sim/v1/faults", content=b"a: [", headers={"Content-Type": "application/yaml"})
    assert r.status_code == 400 and "neither JSON nor YAML" in r.json()["error"]


def test_clock(api: TestClient, cluster: SimCluster) -> None:
    before = cluster.clock.elapsed()
    doc = api.post("/sim/v1/clock", json={"advance": "2m", "speed": 20}).json()
    assert doc["elapsedSeconds"] >= before + 120 and doc["speed"] == 20 and cluster.clock.speed == 20
    for body, word in [({"advance": "soon"}, "advance:"), ({"speed": 0}, "speed:"), ({"speed": 5000}, "speed:"),
                       ({"rewind": "1m"}, "unknown field rewind"), ({}, "known fields: advance, speed")]:
        r = api.post("/sim/v1/clock", json=body)
        assert r.status_code == 400 and word in r.json()["error"], (body, r.text)


def test_load_a_scenario(api: TestClient, cluster: SimCluster, tmp_path: Path) -> None:
    scenario = {"apiVersion": "prophet.io/v1", "kind": "Scenario", "id": "extra", "title": "more", "category": "dns",
                "setup": [{"inline": "apiVersion: v1\nkind: Namespace\nmetadata: {name: extra}\n"},
                          {"file": "cm.yaml"}],
                "faults": [{"at": "5s", "dns_failure": {}}]}
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: extra}\n")
    r = api.post("/sim/v1/scenarios", content=yaml.safe_dump(scenario), params={"base": str(tmp_path)})
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "extra" and r.json()["objects"] == 2 and len(r.json()["faults"]) == 1
    assert api.get("/sim/v1/status").json()["scenarios"] == ["backend-memory-leak", "extra"]

    rv = cluster.store.resource_version
    scenario["id"], scenario["setup"] = "broken", [{"inline": "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n"}]
    scenario["expect"] = {"recovered": [{"deployment": "b/web"}]}
    r = api.post("/sim/v1/scenarios", content=yaml.safe_dump(scenario))
    assert r.status_code == 400 and "request:expect.recovered[0].deployment: Deployment b/web" in r.json()["error"]
    assert cluster.store.resource_version == rv
