"""The AutonomousAction CRD in `deploy/crds/` and the spec model (`policy/spec.py`) say the same thing.

Every field of the model is a property of the schema at the same place (camelCase) and vice versa;
every `Literal` is the same enum; every numeric bound is the same. Then objects: the examples in
`deploy/examples/` pass both; invalid ones are refused by the schema with the API server's words and
by the model with a message naming the field.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from annotated_types import Ge, Gt, Le
from crd_schema_check import validate_object
from operator_world import CRD, DEPLOY, JSON, autonomous_action, sim_world
from pydantic import BaseModel

from prophet_sre.errors import ConfigError
from prophet_sre.operator.status import object_path
from prophet_sre.policy.spec import AutonomousActionSpec

EXTRA_ENUMS = {"trigger.verdicts"}
"""Free strings in the model (checked when a watch is built) that the schema spells out as enums."""


def _schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD.read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _unwrap(ann: Any) -> Any:
    if typing.get_origin(ann) in (types.UnionType, typing.Union):
        return next(a for a in typing.get_args(ann) if a is not type(None))
    return ann


def _compare(model: type[BaseModel], schema: dict[str, Any], path: str, problems: list[str]) -> None:
    props = schema.get("properties") or {}
    fields = {f.alias or n: f for n, f in model.model_fields.items()}
    for missing in sorted(set(fields) - set(props)):
        problems.append(f"{path}{missing}: in the model, not in the CRD")
    for extra in sorted(set(props) - set(fields)):
        problems.append(f"{path}{extra}: in the CRD, not in the model")
    for name in sorted(set(fields) & set(props)):
        field, node, where = fields[name], props[name], f"{path}{name}"
        ann = _unwrap(field.annotation)
        if typing.get_origin(ann) is list:
            if node.get("type") != "array":
                problems.append(f"{where}: a list in the model, {node.get('type')} in the CRD")
                continue
            ann, node = typing.get_args(ann)[0], node.get("items") or {}
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            _compare(ann, node, where + ".", problems)
            continue
        if typing.get_origin(ann) is typing.Literal:
            if node.get("enum") != list(typing.get_args(ann)):
                problems.append(f"{where}: enum {list(typing.get_args(ann))} in the model, {node.get('enum')} in the CRD")
        elif "enum" in node and where not in EXTRA_ENUMS:
            problems.append(f"{where}: an enum in the CRD only")
        want = {"bool": "boolean", "int": "integer", "float": "number", "str": "string"}.get(getattr(ann, "__name__", ""))
        if want and node.get("type") != want and typing.get_origin(ann) is not typing.Literal:
            problems.append(f"{where}: {want} in the model, {node.get('type')} in the CRD")
        for m in field.metadata:
            if isinstance(m, Ge) and node.get("minimum") != m.ge:
                problems.append(f"{where}: minimum {m.ge} in the model, {node.get('minimum')} in the CRD")
            if isinstance(m, Gt) and (node.get("minimum") != m.gt or not node.get("exclusiveMinimum")):
                problems.append(f"{where}: exclusive minimum {m.gt} in the model, not in the CRD")
            if isinstance(m, Le) and node.get("maximum") != m.le:
                problems.append(f"{where}: maximum {m.le} in the model, {node.get('maximum')} in the CRD")


def test_crd_schema_and_spec_model_agree() -> None:
    problems: list[str] = []
    _compare(AutonomousActionSpec, _schema()["properties"]["spec"], "", problems)
    assert problems == []


def test_the_comparison_notices_a_difference() -> None:
    spec = _schema()["properties"]["spec"]
    spec["properties"]["approvalMode"]["enum"] = ["autonomous", "dry-run"]
    spec["properties"]["constraints"]["properties"].pop("cooldownSeconds")
    spec["properties"]["trigger"]["properties"]["anomalyScoreThreshold"]["maximum"] = 2
    problems: list[str] = []
    _compare(AutonomousActionSpec, spec, "", problems)
    assert len(problems) == 3, problems


def test_crd_has_status_subresource_and_printer_columns() -> None:
    version = yaml.safe_load(CRD.read_text())["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert {c["name"] for c in version["additionalPrinterColumns"]} >= {"Trigger", "Mode", "Ready", "Pending"}
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert {"conditions", "lastIncident", "pendingApprovals", "counters", "observedGeneration"} <= set(status)


EXAMPLES = sorted((DEPLOY / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_are_valid_for_schema_and_model(path: Path) -> None:
    crd = yaml.safe_load(CRD.read_text())
    for obj in yaml.safe_load_all(path.read_text()):
        assert validate_object(crd, obj) == []
        AutonomousActionSpec.from_custom_resource(obj)


@pytest.mark.parametrize(("spec", "schema_says", "model_says"), [
    ({"approvalMode": "yolo"},
     'spec.approvalMode: Unsupported value: "yolo": supported values: "autonomous", "human-in-loop", "dry-run"',
     "approvalMode"),
    ({"trigger": {"type": "anomaly", "anomalyScoreThreshold": 1.5}},
     "spec.trigger.anomalyScoreThreshold: Invalid value: 1.5: spec.trigger.anomalyScoreThreshold in body should "
     "be less than or equal to 1", "anomalyScoreThreshold"),
    ({"constraints": {"allowedActions": ["restart", "reboot"]}},
     'spec.constraints.allowedActions[1]: Unsupported value: "reboot"', "allowedActions"),
    ({"trigger": {"type": "cron"}}, 'spec.trigger.type: Unsupported value: "cron"', "trigger.type"),
    ({"constraints": {"maxConcurrent": 0}},
     "spec.constraints.maxConcurrent: Invalid value: 0: spec.constraints.maxConcurrent in body should be greater "
     "than or equal to 1", "maxConcurrent"),
    ({"llm": {"provider": "ollama", "modle": "phi3"}}, 'unknown field "spec.llm.modle"', "modle"),
])
def test_invalid_objects_are_refused_with_clear_messages(spec: dict, schema_says: str, model_says: str) -> None:
    obj = autonomous_action("bad", spec)
    errors = validate_object(yaml.safe_load(CRD.read_text()), obj)
    assert any(schema_says in e for e in errors), errors
    with pytest.raises(ConfigError, match=model_says):
        AutonomousActionSpec.from_custom_resource(obj)



# The simulated API server itself now validates custom resources against the CRD's schema
# (prophet_sre/sim/crd_validation.py): the same six objects, created through its REST API, are refused
# with the API server's words - 422 Invalid for schema errors, 400 strict decoding for the unknown field.
SERVER_REFUSES = [
    ({"approvalMode": "yolo"}, 422, "FieldValueNotSupported", "spec.approvalMode",
     'spec.approvalMode: Unsupported value: "yolo": supported values: "autonomous", "human-in-loop", "dry-run"'),
    ({"trigger": {"type": "anomaly", "anomalyScoreThreshold": 1.5}}, 422, "FieldValueInvalid",
     "spec.trigger.anomalyScoreThreshold",
     "spec.trigger.anomalyScoreThreshold: Invalid value: 1.5: spec.trigger.anomalyScoreThreshold in body should "
     "be less than or equal to 1"),
    ({"constraints": {"allowedActions": ["restart", "reboot"]}}, 422, "FieldValueNotSupported",
     "spec.constraints.allowedActions[1]", 'spec.constraints.allowedActions[1]: Unsupported value: "reboot"'),
    ({"trigger": {"type": "cron"}}, 422, "FieldValueNotSupported", "spec.trigger.type",
     'spec.trigger.type: Unsupported value: "cron"'),
    ({"constraints": {"maxConcurrent": 0}}, 422, "FieldValueInvalid", "spec.constraints.maxConcurrent",
     "spec.constraints.maxConcurrent: Invalid value: 0: spec.constraints.maxConcurrent in body should be greater "
     "than or equal to 1"),
    ({"llm": {"provider": "ollama", "modle": "phi3"}}, 400, "", "",
     'AutonomousAction in version "v1alpha1" cannot be handled as a AutonomousAction: strict decoding error: '
     'unknown field "spec.llm.modle"'),
]


@pytest.fixture(scope="module")
def sim_kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with sim_world(tmp_path_factory.mktemp("crd-schema"), scenario=None) as (_cluster, _kubeconfig, kube):
        yield kube


@pytest.mark.parametrize(("spec", "code", "reason", "field", "server_says"), SERVER_REFUSES,
                         ids=[f[3] or "unknown-field" for f in SERVER_REFUSES])
def test_the_simulated_api_server_refuses_invalid_objects(sim_kube: Any, spec: dict, code: int, reason: str,
                                                          field: str, server_says: str) -> None:
    obj = autonomous_action("bad", spec)
    path = object_path("prophet-system")
    resp = sim_kube.transport.request("POST", path, query=(("fieldValidation", "Strict"),), body=obj, headers=JSON,
                                      timeout_s=10)
    status = json.loads(resp.body)
    assert resp.status == code and status["kind"] == "Status", status
    assert server_says in status["message"], status["message"]
    if code == 422:
        assert status["message"].startswith('AutonomousAction.aiops.prophet.io "bad" is invalid: ')
        assert (reason, field) in [(c["reason"], c.get("field")) for c in status["details"]["causes"]]
    # and nothing was stored
    assert sim_kube.transport.request("GET", path + "/bad", timeout_s=10).status == 404
