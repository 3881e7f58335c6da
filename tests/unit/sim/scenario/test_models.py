"""Scenario models and their error messages: every problem names the file, the field path and what is allowed.

Covers: a complete valid scenario round-trips; unknown fields at every level list the known fields;
closed enums (category, mode, trigger type, action type, check form values) list their values; one
kind key per fault; `duration` only for lasting kinds; cross-field rules (trigger fields per type,
category vs expected diagnosis, answer_mentions); refs and durations in their string forms.
Not here: references to setup objects (test_references.py) and applying (test_apply.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from prophet_sre.domain import Category
from prophet_sre.errors import InvalidInput
from prophet_sre.sim.scenario import ScenarioInvalid, load_scenario, validate_file
from prophet_sre.sim.scenario.checks import DeploymentCheck, MetricCheck, PodsCheck
from prophet_sre.sim.scenario.fault_specs import FAULT_KINDS, Fault
from prophet_sre.sim.scenario.refs import Ref

Doc = dict[str, Any]


def test_valid_scenario_loads_with_typed_fields(write: Callable[..., Any], doc: Doc) -> None:
    sc = load_scenario(write(doc))
    assert sc.id == "backend-memory-leak" and sc.category is Category.OOM
    assert sc.default_cluster == "main" and sc.mode == "autonomous"
    [fault] = sc.faults
    assert fault.kind == "rollout" and fault.at == 30.0 and fault.duration is None
    assert fault.spec.target == Ref("", "shop", "deployment", "backend")  # type: ignore[attr-defined]
    assert sc.expect.within == 120.0 and sc.first_fault_at() == 30.0
    assert isinstance(sc.expect.recovered[0], DeploymentCheck)
    assert str(sc.expect.diagnosis.root_cause) == "shop/deployment/backend"  # type: ignore[union-attr]
    dumped = sc.model_dump(mode="json", by_alias=True)
    assert dumped["faults"][0]["rollout"]["target"] == "shop/deployment/backend"
    assert dumped["traffic"][0]["from"] == "shop/frontend"


def test_minimal_scenario_defaults(write: Callable[..., Any]) -> None:
    sc = load_scenario(write({"apiVersion": "prophet.io/v1", "kind": "Scenario", "id": "x", "title": "t",
                              "category": "unknown"}))
    assert sc.clusters == ["main"] and sc.setup == [] and sc.faults == [] and sc.trigger is None
    assert sc.expect.recovered == [] and sc.first_fault_at() is None


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    """A mutation setting `a.b[0].c` (a missing last key is created)."""
    def mutate(doc: Doc) -> None:
        parts: list[Any] = []
        for p in path.replace("]", "").split("."):
            name, *idx = p.split("[")
            parts.append(name)
            parts += [int(i) for i in idx]
        cur: Any = doc
        for p in parts[:-1]:
            cur = cur[p]
        cur[parts[-1]] = value
    return mutate


def _del(path: str) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        *head, last = path.split(".")
        cur: Any = doc
        for p in head:
            cur = cur[p]
        del cur[last]
    return mutate


CASES: list[tuple[str, Callable[[Doc], None], str, list[str]]] = [
    # (case, mutation, field path, words the message must contain - the allowed values or fields)
    ("unknown top-level field", _set("titel", "x"), "titel",
     ["unknown field", "apiVersion", "category", "expect", "faults", "setup", "title", "traffic"]),
    ("wrong apiVersion", _set("apiVersion", "prophet.io/v2"), "apiVersion", ["prophet.io/v1"]),
    ("wrong kind", _set("kind", "Scenarios"), "kind", ["Scenario"]),
    ("id not kebab-case", _set("id", "Backend_Leak"), "id", ["kebab-case"]),
    ("unknown category", _set("category", "memory"), "category", ["oom", "crashloop", "image_pull", "unknown"]),
    ("bad tag", _set("tags", ["Rollback!"]), "tags", ["pytest marker"]),
    ("bad mode", _set("mode", "auto"), "mode", ["autonomous", "human-in-loop", "dry-run"]),
    ("missing title", _del("title"), "title", ["required"]),
    ("setup needs one source", _set("setup", [{"file": "a.yaml", "inline": "x"}]), "setup[0]",
     ["exactly one of", "file", "inline"]),
    ("setup unknown field", _set("setup", [{"files": "a.yaml"}]), "setup[0].files",
     ["known fields", "clusters", "file", "inline"]),
    ("traffic unknown field", _set("traffic[0].rate", 3), "traffic[0].rate",
     ["known fields", "from", "method", "path", "port", "rps", "to"]),
    ("traffic negative rps", _set("traffic[0].rps", -1), "traffic[0].rps", ["greater than or equal to 0"]),
    ("traffic bad end", _set("traffic[0].to", "backend"), "traffic[0].to", ["NS/NAME"]),
    ("fault field typo", _set("faults[0].rollout.imgae", "x"), "faults[0].rollout.imgae",
     ["unknown field", "container", "image", "target"]),
    ("fault unknown kind key", _set("faults", [{"at": "1s", "rolout": {}}]), "faults[0].rolout",
     ["unknown field", "rollout", "node_down", "cluster_degraded"]),
    ("fault without kind", _set("faults", [{"at": "1s"}]), "faults[0]",
     ["exactly one kind key", "found none"] + list(FAULT_KINDS)),
    ("fault with two kinds", _set("faults", [{"at": "1s", "node_down": {"node": "worker-1"},
                                              "delete": {"target": "shop/pod/x"}}]),
     "faults[0]", ["exactly one kind key", "node_down, delete"]),
    ("fault without at", _set("faults", [{"node_down": {"node": "worker-1"}}]), "faults[0].at", ["required"]),
    ("bad duration", _set("faults[0].at", "30 seconds"), "faults[0].at", ["30s", "2m", "1m30s"]),
    ("duration on an API write", _set("faults[0].duration", "1m"), "faults[0]",
     ["duration is not allowed for rollout", "node_down", "latency"]),
    ("rollout of a pod", _set("faults[0].rollout.target", "shop/pod/backend"), "faults[0].rollout.target",
     ["deployment, statefulset, daemonset"]),
    ("bad target form", _set("faults[0].rollout.target", "shop/backend"), "faults[0].rollout.target",
     ["NS/KIND/NAME", "CLUSTER:NS/KIND/NAME", "/node/worker-2"]),
    ("node_pressure type", _set("faults", [{"at": 0, "node_pressure": {"node": "worker-1", "type": "mem"}}]),
     "faults[0].node_pressure.type", ["memory", "disk", "pid"]),
    ("dns rcode", _set("faults", [{"at": 0, "dns_failure": {"rcode": "FAIL"}}]), "faults[0].dns_failure.rcode",
     ["SERVFAIL", "NXDOMAIN", "REFUSED"]),
    ("json patch must be a list", _set("faults", [{"at": 0, "patch": {"target": "shop/deployment/backend",
                                                                        "patch": {"a": 1}, "type": "json"}}]),
     "faults[0].patch", ["list of operations"]),
    ("patch type", _set("faults", [{"at": 0, "patch": {"target": "shop/deployment/backend", "patch": {},
                                                       "type": "apply"}}]),
     "faults[0].patch.type", ["strategic", "merge", "json"]),
    ("scale negative", _set("faults", [{"at": 0, "scale": {"target": "shop/deployment/backend", "replicas": -1}}]),
     "faults[0].scale.replicas", ["greater than or equal to 0"]),
    ("config_remove of a secret", _set("faults", [{"at": 0, "config_remove": {"target": "shop/secret/creds"}}]),
     "faults[0].config_remove.target", ["configmap"]),
    ("trigger type", _set("trigger.type", "alert"), "trigger.type", ["anomaly", "event", "k8sgpt", "hubble",
                                                                     "question"]),
    ("question without type question", _set("trigger.question", "why?"), "trigger",
     ["question belongs to type: question"]),
    ("question trigger without question", _set("trigger", {"type": "question"}), "trigger", ["needs a question"]),
    ("threshold range", _set("trigger.anomalyScoreThreshold", 3), "trigger.anomalyScoreThreshold",
     ["less than or equal to 1"]),
    ("trigger unknown field", _set("trigger.threshold", 1), "trigger.threshold",
     ["anomalyScoreThreshold", "eventReasons", "question", "type"]),
    ("expect unknown field", _set("expect.recovery", []), "expect.recovery",
     ["actions", "answer_mentions", "diagnosis", "recovered", "within"]),
    ("diagnosis category", _set("expect.diagnosis.category", "ooom"), "expect.diagnosis.category", ["oom"]),
    ("diagnosis root cause form", _set("expect.diagnosis.root_cause", "backend"), "expect.diagnosis.root_cause",
     ["NS/KIND/NAME"]),
    ("action type", _set("expect.actions.any_of[0].type", "rollbak"), "expect.actions.any_of[0].type",
     ["rollback", "quarantine", "failover", "escalate"]),
    ("empty action match", _set("expect.actions.forbidden", [{}]), "expect.actions.forbidden[0]",
     ["type, target, namespace"]),
    ("none with any_of", _set("expect.actions.none", True), "expect.actions", ["cannot have any_of"]),
    ("check field typo", _set("expect.recovered[0].availble", True), "expect.recovered[0].availble",
     ["known fields", "available", "deployment"]),
    ("check without form key", _set("expect.recovered", [{"ready": True}]), "expect.recovered[0]",
     ["exactly one form key", "deployment", "no_pod_reason", "unchanged"]),
    ("check since", _set("expect.recovered[1].since", "fault"), "expect.recovered[1].since",
     ["remediation", "start"]),
    ("check pvc phase", _set("expect.recovered", [{"pvc": "shop/data", "phase": "bound"}]),
     "expect.recovered[0].phase", ["Pending", "Bound", "Lost"]),
    ("metric needs a bound", _set("expect.recovered", [{"metric": "up"}]), "expect.recovered[0]",
     ["below", "above"]),
    ("pods ready", _set("expect.recovered", [{"pods": "shop", "selector": "app=x", "ready": "most"}]),
     "expect.recovered[0].ready", ["integer", "all"]),
    ("object path", _set("expect.recovered", [{"object": "deployments/shop/x", "jsonpath": "{.a}", "equals": 1}]),
     "expect.recovered[0].object", ["GROUP/VERSION/PLURAL/NS/NAME"]),
    ("within", _set("expect.within", "soon"), "expect.within", ["duration"]),
    ("category disagrees", _set("expect.diagnosis.category", "crashloop"), "expect.diagnosis.category",
     ["disagrees", "oom"]),
    ("answer_mentions without question", _set("expect.answer_mentions", ["pool"]), "expect.answer_mentions",
     ["trigger.type: question"]),
    ("duplicate clusters", _set("clusters", ["main", "main"]), "clusters", ["repeat"]),
    ("cluster name", _set("clusters", ["Main"]), "clusters", ["DNS label"]),
]


@pytest.mark.parametrize(("mutate", "path", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_problem_names_file_path_and_what_is_allowed(write: Callable[..., Any], doc: Doc,
                                                            mutate: Callable[[Doc], None], path: str,
                                                            words: list[str]) -> None:
    mutate(doc)
    file = write(doc)
    problems = validate_file(file)
    assert problems, "expected a validation problem"
    match = [p for p in problems if p.path == path]
    assert match, f"no problem at {path!r}: {[str(p) for p in problems]}"
    text = str(match[0])
    assert text.startswith(f"{file}:{path}: "), text
    assert match[0].source == str(file)
    for w in words:
        assert w in text, f"{w!r} not in {text!r}"


def test_load_scenario_raises_one_error_listing_all(write: Callable[..., Any], doc: Doc) -> None:
    doc["mode"] = "auto"
    doc["faults"][0]["rollout"]["imgae"] = "x"
    with pytest.raises(ScenarioInvalid) as e:
        load_scenario(write(doc))
    assert isinstance(e.value, InvalidInput) and len(e.value.errors) == 2
    text = str(e.value)
    assert "mode: invalid value 'auto'" in text and "faults[0].rollout.imgae" in text and "and 1 more" in text


@pytest.mark.parametrize(("text", "expected"), [
    ("", "exactly one YAML document (found 0)"),
    ("a: [", "not valid YAML"),
    ("- 1\n- 2\n", "a scenario is a mapping"),
    ("a: 1\n---\nb: 2\n", "exactly one YAML document (found 2)"),
])
def test_file_level_problems(write: Callable[..., Any], text: str, expected: str) -> None:
    [problem] = validate_file(write(text))
    assert expected in str(problem) and problem.source.endswith("scenario.yaml")


def test_unreadable_file(tmp_path: Any) -> None:
    [problem] = validate_file(tmp_path / "nope.yaml")
    assert "cannot read the scenario file" in str(problem) and "nope.yaml" in str(problem)


def test_fault_helpers() -> None:
    f = Fault.model_validate({"at": "1m30s", "duration": "2m", "node_down": {"node": "aws:worker-2"}})
    assert f.kind == "node_down" and f.at == 90 and f.duration == 120
    assert f.target_cluster() == "aws" and f.refs() == [("node_down.node", Ref("aws", "", "node", "worker-2"))]
    assert f.summary() == "node_down aws:/node/worker-2"
    flood = Fault.model_validate({"network_flood": {"source": "shop/deploy/reporting", "ports": [22, 80]}})
    assert flood.at == 0 and flood.summary() == "network_flood shop/deploy/reporting ports=[22, 80]"
    degraded = Fault.model_validate({"cluster_degraded": {"cluster": "aws"}})
    assert degraded.target_cluster() == "aws"
    assert Fault.model_validate({"rollout": {"target": "shop/deployment/x", "image": "a:1"}}).image() == "a:1"


def test_checks_parse_to_their_forms() -> None:
    from pydantic import TypeAdapter

    from prophet_sre.sim.scenario.checks import Check

    ta: TypeAdapter[Any] = TypeAdapter(Check)
    assert isinstance(ta.validate_python({"metric": "up", "above": 0}), MetricCheck)
    pods = ta.validate_python({"pods": "aws:shop", "selector": "app=web", "ready": "all"})
    assert isinstance(pods, PodsCheck) and pods.pods.cluster == "aws" and pods.ready == "all"
    assert ta.validate_python({"pods": "shop", "selector": "a=b", "ready": 3}).ready == 3
