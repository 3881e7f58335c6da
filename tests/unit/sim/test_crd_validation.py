"""Custom resources are pruned, defaulted and validated against their CRD's structural schema.

Two layers: the validator itself (`sim/crd_validation.py`) on hand-written schemas, with the texts
apiextensions-apiserver's own tests expect; and the simulated API server's REST handlers (in-process,
through a Starlette test client) for every write path - create, PUT, merge and JSON patch, server-side
apply, `dryRun=All`, the status subresource - using the AutonomousAction CRD from `deploy/crds/`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from prophet_sre.sim import crd_validation as cv
from prophet_sre.sim import validation
from prophet_sre.sim.api import SimApiApp
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.sim.registry import ResourceType, types_from_crd

Obj = dict[str, Any]
CRD_FILE = Path(__file__).resolve().parents[3] / "deploy" / "crds" / "aiops.prophet.io_autonomousactions.yaml"
BASE = "/apis/aiops.prophet.io/v1alpha1/namespaces/default/autonomousactions"
MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}


def _crd() -> Obj:
    return yaml.safe_load(CRD_FILE.read_text())


def _rt(schema: Obj, *, status: bool = False) -> ResourceType:
    crd = {"metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"kind": "Widget", "plural": "widgets"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "subresources": {"status": {}} if status else {},
                                  "schema": {"openAPIV3Schema": schema}}]}}
    return types_from_crd(crd)[0]


def _field(schema: Obj) -> ResourceType:
    return _rt({"type": "object", "properties": {"field": schema}})


def _msgs(rt: ResourceType, obj: Obj, old: Obj | None = None) -> list[str]:
    obj = copy.deepcopy(obj)
    cv.prepare(rt, obj)
    return sorted(e.error() for e in cv.validate(rt, obj, old))


def _action(name: str = "demo", spec: Obj | None = None, **extra: Any) -> Obj:
    return {"apiVersion": "aiops.prophet.io/v1alpha1", "kind": "AutonomousAction",
            "metadata": {"name": name, "namespace": "default"},
            "spec": spec if spec is not None else {"approvalMode": "dry-run"}, **extra}


# --- the validator ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "text"), [
    ("foo", 'field: Invalid value: "string": field in body must be of type object: "string"'),
    (42, 'field: Invalid value: "integer": field in body must be of type object: "integer"'),
    (True, 'field: Invalid value: "boolean": field in body must be of type object: "boolean"'),
    (1.2, 'field: Invalid value: "number": field in body must be of type object: "number"'),
    ([], 'field: Invalid value: "array": field in body must be of type object: "array"'),
])
def test_type_errors_read_as_kube_openapi_writes_them(value: Any, text: str) -> None:
    assert _msgs(_field({"type": "object"}), {"field": value}) == [text]


def test_numbers_integers_and_nullable() -> None:
    number = _field({"type": "number"})
    assert _msgs(number, {"field": 3}) == []  # an integer is a number
    integer = _field({"type": "integer"})
    assert _msgs(integer, {"field": 3.0}) == []  # an integral float is an integer
    assert _msgs(integer, {"field": 3.5}) == [
        'field: Invalid value: "number": field in body must be of type integer: "number"']
    assert _msgs(integer, {"field": True}) == [
        'field: Invalid value: "boolean": field in body must be of type integer: "boolean"']
    nullable = _field({"type": "object", "nullable": True})
    assert _msgs(nullable, {"field": None}) == []
    # a null of a non-nullable field without default is pruned before validation
    obj = {"field": None}
    cv.prepare(_field({"type": "object"}), obj)
    assert obj == {}


def test_int_or_string() -> None:
    rt = _field({"x-kubernetes-int-or-string": True})
    assert _msgs(rt, {"field": 42}) == [] and _msgs(rt, {"field": "50%"}) == []
    assert _msgs(rt, {"field": 1.2}) == [
        'field: Invalid value: "number": field in body must be of type integer,string: "number"']
    assert _msgs(rt, {"field": {}}) == [
        'field: Invalid value: "object": field in body must be of type integer,string: "object"']


def test_required_and_enum_with_wrong_types() -> None:
    rt = _rt({"type": "object", "properties": {"field": {
        "type": "object", "required": ["nestedint", "nestedstring"],
        "properties": {"nestedint": {"type": "integer", "enum": [1, 2]},
                       "nestedstring": {"type": "string", "enum": ["a", "b"]}}}}})
    assert _msgs(rt, {"field": {}}) == ["field.nestedint: Required value", "field.nestedstring: Required value"]
    assert _msgs(rt, {"field": {"nestedint": "x", "nestedstring": True}}) == [
        'field.nestedint: Invalid value: "string": field.nestedint in body must be of type integer: "string"',
        'field.nestedint: Unsupported value: "x": supported values: "1", "2"',
        'field.nestedstring: Invalid value: "boolean": field.nestedstring in body must be of type string: "boolean"',
        'field.nestedstring: Unsupported value: true: supported values: "a", "b"',
    ]


def test_lengths_counts_patterns_bounds_and_formats() -> None:
    assert _msgs(_field({"type": "string", "maxLength": 2}), {"field": "abc"}) == [
        "field: Too long: may not be more than 2 bytes"]
    assert _msgs(_field({"type": "string", "minLength": 3}), {"field": "ab"}) == [
        'field: Invalid value: "ab": field in body should be at least 3 chars long']
    assert _msgs(_field({"type": "string", "pattern": "^[a-z]+$"}), {"field": "A1"}) == [
        "field: Invalid value: \"A1\": field in body should match '^[a-z]+$'"]
    assert _msgs(_field({"type": "array", "maxItems": 2}), {"field": ["a", "b", "c"]}) == [
        "field: Too many: 3: must have at most 2 items"]
    assert _msgs(_field({"type": "array", "minItems": 1}), {"field": []}) == [
        "field: Invalid value: 0: field in body should have at least 1 items"]
    assert _msgs(_field({"type": "object", "maxProperties": 2, "additionalProperties": {"type": "integer"}}), {"field": {"a": 1, "b": 2, "c": 3}}) == [
        "field: Too many: 3: must have at most 2 items"]
    assert _msgs(_field({"type": "number", "minimum": 0, "exclusiveMinimum": True}), {"field": 0}) == [
        "field: Invalid value: 0: field in body should be greater than 0"]
    assert _msgs(_field({"type": "integer", "maximum": 1000000}), {"field": 2000000}) == [
        "field: Invalid value: 2000000: field in body should be less than or equal to 1e+06"]
    assert _msgs(_field({"type": "number", "maximum": 1, "exclusiveMaximum": True}), {"field": 1}) == [
        "field: Invalid value: 1: field in body should be less than 1"]
    assert _msgs(_field({"type": "string", "format": "date-time"}), {"field": "yesterday"}) == [
        'field: Invalid value: "yesterday": field in body must be of type date-time: "yesterday"']
    assert _msgs(_field({"type": "string", "format": "date-time"}), {"field": "2025-01-02T03:04:05Z"}) == []
    assert _msgs(_field({"type": "string", "format": "no-such-format"}), {"field": "anything"}) == []


def test_items_paths_use_brackets_and_additional_properties_schema() -> None:
    rt = _field({"type": "array", "items": {"type": "object", "properties": {"port": {"type": "integer"}}}})
    assert _msgs(rt, {"field": [{"port": 1}, {"port": "http"}]}) == [
        'field[1].port: Invalid value: "string": field[1].port in body must be of type integer: "string"']
    labels = _field({"type": "object", "additionalProperties": {"type": "string", "maxLength": 3}})
    assert _msgs(labels, {"field": {"a": "ok", "b": "long"}}) == ["field.b: Too long: may not be more than 3 bytes"]


def test_pruning_preserve_unknown_fields_and_embedded_metadata() -> None:
    rt = _rt({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "known": {"type": "string"},
            "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                     "properties": {"closed": {"type": "object", "properties": {"a": {"type": "string"}}}}},
            "list": {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "string"}}}},
        }}}})
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
           "spec": {"known": "k", "extra": 1, "open": {"anything": {"x": 1}, "closed": {"a": "a", "b": "b"}},
                    "list": [{"a": "a", "z": 1}]}, "top": True}
    assert cv.unknown_fields(rt, obj) == ["spec.extra", "spec.open.closed.b", "spec.list[0].z", "top"]
    assert "extra" in obj["spec"]  # unknown_fields does not modify
    cv.prepare(rt, obj)
    assert obj == {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                   "spec": {"known": "k", "open": {"anything": {"x": 1}, "closed": {"a": "a"}},
                            "list": [{"a": "a"}]}}


def test_defaults_apply_inside_present_objects_only() -> None:
    rt = types_from_crd(_crd())[0]
    obj = _action(spec={"trigger": {"anomalyScoreThreshold": 0.5}, "llm": {"secretRef": {"name": "key"}}})
    cv.prepare(rt, obj)
    assert obj["spec"]["approvalMode"] == "human-in-loop"
    assert obj["spec"]["trigger"]["type"] == "anomaly"
    assert obj["spec"]["llm"] == {"provider": "none", "secretRef": {"name": "key", "key": "apiKey"}}
    assert "constraints" not in obj["spec"]


def test_ratcheting_lets_unchanged_invalid_values_through_on_update() -> None:
    rt = _rt({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"size": {"type": "integer", "maximum": 3},
                                                   "name": {"type": "string"}}},
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}})
    old = {"spec": {"size": 9, "name": "a"}}
    assert _msgs(rt, {"spec": {"size": 9, "name": "b"}}, old) == []  # size unchanged: not re-checked
    assert _msgs(rt, {"spec": {"size": 8, "name": "a"}}, old) == [
        "spec.size: Invalid value: 8: spec.size in body should be less than or equal to 3"]
    assert _msgs(rt, {"spec": {"size": 9}}) != []  # a create is always checked


def test_go_float_matches_fmt_v() -> None:
    assert [cv.go_float(x) for x in (1, 0.5, 1.5, 400000, 1e6, 123456789.0, 1e-5, 0.0001, -2.5)] == [
        "1", "0.5", "1.5", "400000", "1e+06", "1.23456789e+08", "1e-05", "0.0001", "-2.5"]


def test_invalid_status_for_the_autonomous_action_example() -> None:
    rt = types_from_crd(_crd())[0]
    obj = _action(spec={"approvalMode": "yolo", "trigger": {"type": "anomaly", "anomalyScoreThreshold": 1.5}})
    cv.prepare(rt, obj)
    status = validation.invalid_status(rt, "demo", cv.validate(rt, obj))
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["message"] == (
        'AutonomousAction.aiops.prophet.io "demo" is invalid: [spec.approvalMode: Unsupported value: "yolo": '
        'supported values: "autonomous", "human-in-loop", "dry-run", spec.trigger.anomalyScoreThreshold: Invalid '
        "value: 1.5: spec.trigger.anomalyScoreThreshold in body should be less than or equal to 1]")
    assert [(c["reason"], c["field"]) for c in status["details"]["causes"]] == [
        ("FieldValueNotSupported", "spec.approvalMode"), ("FieldValueInvalid", "spec.trigger.anomalyScoreThreshold")]


def test_a_broken_schema_never_raises() -> None:
    rt = _field({"type": "string", "pattern": "+"})
    msgs = _msgs(rt, {"field": "foo"})
    assert len(msgs) == 1 and "pattern is invalid" in msgs[0]
    assert cv.validate(_rt({"type": "object", "properties": {"x": "not-a-schema"}}), {"x": 1}) == []


# --- the REST handlers ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api() -> Iterator[TestClient]:
    cluster = SimCluster(ClusterOptions(controllers=False, tls=False, port=6443))
    cluster.bootstrap()
    crd_rt = cluster.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert crd_rt is not None
    cluster.store.create(crd_rt, _crd())
    with TestClient(SimApiApp(cluster.ctx), base_url="https://sim",
                    headers={"Authorization": f"Bearer {cluster.admin_token}"}) as client:
        yield client
    cluster.stop()


def _cleanup(api: TestClient, name: str) -> None:
    api.delete(f"{BASE}/{name}")


def _causes(r: Any) -> list[tuple[str, str]]:
    return [(c["reason"], c.get("field", "")) for c in r.json()["details"]["causes"]]


def test_create_refuses_invalid_and_dry_run_too(api: TestClient) -> None:
    bad = _action("bad", {"approvalMode": "yolo", "constraints": {"maxConcurrent": 0}})
    for query in ("", "?dryRun=All"):
        r = api.post(BASE + query, json=bad)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["reason"] == "Invalid" and body["details"]["kind"] == "AutonomousAction"
        assert body["details"]["group"] == "aiops.prophet.io" and body["details"]["name"] == "bad"
        assert _causes(r) == [("FieldValueNotSupported", "spec.approvalMode"),
                              ("FieldValueInvalid", "spec.constraints.maxConcurrent")]
    assert api.get(f"{BASE}/bad").status_code == 404
    r = api.post(BASE + "?dryRun=All", json=_action("dry"))
    assert r.status_code == 201 and api.get(f"{BASE}/dry").status_code == 404


def test_metadata_and_schema_errors_share_one_status(api: TestClient) -> None:
    r = api.post(BASE, json=_action("Bad_Name", {"approvalMode": "yolo"}))
    assert r.status_code == 422
    assert [f for _, f in _causes(r)] == ["metadata.name", "spec.approvalMode"]


def test_field_validation_modes(api: TestClient) -> None:
    obj = _action("fv", {"approvalMode": "dry-run", "llm": {"provider": "none", "modle": "x"}, "bogus": 1})
    r = api.post(BASE + "?fieldValidation=Strict", json=obj)
    assert r.status_code == 400
    assert r.json()["message"] == ('AutonomousAction in version "v1alpha1" cannot be handled as a AutonomousAction: '
                                   'strict decoding error: unknown field "spec.llm.modle", unknown field "spec.bogus"')
    r = api.post(BASE + "?fieldValidation=Warn", json=obj)
    assert r.status_code == 201
    assert r.headers["warning"] == '299 - "unknown field \\"spec.llm.modle\\"", 299 - "unknown field \\"spec.bogus\\""'
    assert r.json()["spec"] == {"approvalMode": "dry-run", "llm": {"provider": "none"}}  # pruned
    r = api.put(f"{BASE}/fv?fieldValidation=Warn", json={**r.json(), "spec": {"approvalMode": "dry-run", "x": 1}})
    assert r.status_code == 200 and 'unknown field \\"spec.x\\"' in r.headers["warning"]
    r = api.patch(f"{BASE}/fv?fieldValidation=Ignore", content=json.dumps({"spec": {"y": 2}}), headers=MERGE)
    assert r.status_code == 200 and "warning" not in r.headers and "y" not in r.json()["spec"]
    _cleanup(api, "fv")


def test_put_and_every_patch_type_are_validated_after_the_change(api: TestClient) -> None:
    created = api.post(BASE, json=_action("upd"))
    assert created.status_code == 201, created.text
    live = created.json()
    r = api.put(f"{BASE}/upd", json={**live, "spec": {"approvalMode": "nope"}})
    assert r.status_code == 422 and _causes(r) == [("FieldValueNotSupported", "spec.approvalMode")]
    r = api.patch(f"{BASE}/upd", content=json.dumps({"spec": {"trigger": {"anomalyScoreThreshold": 2}}}),
                  headers=MERGE)
    assert r.status_code == 422
    assert r.json()["message"].endswith("spec.trigger.anomalyScoreThreshold: Invalid value: 2: "
                                        "spec.trigger.anomalyScoreThreshold in body should be less than or equal to 1")
    r = api.patch(f"{BASE}/upd?dryRun=All", content=json.dumps([
        {"op": "add", "path": "/spec/clusters", "value": ["ok", 7]}]), headers=JSON_PATCH)
    assert r.status_code == 422 and _causes(r) == [("FieldValueTypeInvalid", "spec.clusters[1]")]
    r = api.patch(f"{BASE}/upd", content=json.dumps({"spec": {"approvalMode": "autonomous"}}), headers=MERGE)
    assert r.status_code == 200 and r.json()["spec"]["approvalMode"] == "autonomous"
    assert api.get(f"{BASE}/upd").json()["spec"]["approvalMode"] == "autonomous"
    _cleanup(api, "upd")


def test_server_side_apply_is_validated(api: TestClient) -> None:
    body = yaml.safe_dump(_action("ssa", {"approvalMode": "yolo"}))
    r = api.patch(f"{BASE}/ssa?fieldManager=test", content=body, headers=APPLY)
    assert r.status_code == 422 and _causes(r) == [("FieldValueNotSupported", "spec.approvalMode")]
    good = yaml.safe_dump(_action("ssa", {"approvalMode": "dry-run"}))
    assert api.patch(f"{BASE}/ssa?fieldManager=test", content=good, headers=APPLY).status_code == 201
    bad = yaml.safe_dump(_action("ssa", {"approvalMode": "dry-run", "constraints": {"cooldownSeconds": -1}}))
    r = api.patch(f"{BASE}/ssa?fieldManager=test&dryRun=All", content=bad, headers=APPLY)
    assert r.status_code == 422 and _causes(r) == [("FieldValueInvalid", "spec.constraints.cooldownSeconds")]
    _cleanup(api, "ssa")


def test_status_subresource_separation_and_status_validation(api: TestClient) -> None:
    status = {"counters": {"incidents": 1}}
    r = api.post(BASE, json=_action("st", status=status))
    assert r.status_code == 201 and "status" not in r.json()  # create cannot set status
    live = r.json()
    r = api.put(f"{BASE}/st/status", json={**live, "spec": {"approvalMode": "autonomous"}, "status": status})
    assert r.status_code == 200
    assert r.json()["spec"]["approvalMode"] == "dry-run" and r.json()["status"] == status  # spec ignored
    r = api.patch(f"{BASE}/st", content=json.dumps({"status": {"counters": {"incidents": 5}}}), headers=MERGE)
    assert r.status_code == 200 and r.json()["status"] == status  # status via the main resource ignored
    r = api.patch(f"{BASE}/st/status", content=json.dumps({"status": {"conditions": [{"type": "Sunny"}]}}),
                  headers=MERGE)
    assert r.status_code == 422
    assert _causes(r) == [("FieldValueNotSupported", "status.conditions[0].type"),
                          ("FieldValueRequired", "status.conditions[0].status")]
    _cleanup(api, "st")
