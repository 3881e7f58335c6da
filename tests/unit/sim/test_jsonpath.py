"""The JSONPath subset CRD printer columns use: selection, formatting, and clean errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from prophet_sre.errors import ProphetError
from prophet_sre.sim.jsonpath import JSONPathError, evaluate, render

POD = {
    "metadata": {
        "name": "web-1",
        "labels": {"app.kubernetes.io/name": "web", "tier": "frontend"},
        "annotations": {"example.com/owner": "team-a"},
    },
    "spec": {
        "replicas": 3,
        "containers": [
            {"name": "app", "image": "nginx:1.27", "ports": [{"containerPort": 80}, {"containerPort": 443}]},
            {"name": "sidecar", "image": "envoy:1.30", "ports": [{"containerPort": 9901}]},
        ],
    },
    "status": {
        "ratio": 0.75,
        "whole": 3.0,
        "nothing": None,
        "conditions": [
            {"type": "Initialized", "status": "True", "priority": 1},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "priority": 5},
            {"type": "PodScheduled", "status": "True", "priority": 10},
        ],
    },
}


@pytest.mark.parametrize(("expr", "expected"), [
    (".spec.replicas", [3]),
    ("{.spec.replicas}", [3]),
    ("$.spec.replicas", [3]),
    (".metadata.name", ["web-1"]),
    (".spec.containers[0].image", ["nginx:1.27"]),
    (".spec.containers[-1].name", ["sidecar"]),
    (".spec.containers[*].name", ["app", "sidecar"]),
    (".spec.containers[*].ports[*].containerPort", [80, 443, 9901]),
    (".spec.containers[0:1].name", ["app"]),
    (".spec.containers[0,1].image", ["nginx:1.27", "envoy:1.30"]),
    (".metadata['name']", ["web-1"]),
    ('.metadata["name"]', ["web-1"]),
    (".metadata.labels['app.kubernetes.io/name']", ["web"]),
    (".metadata.labels.app\\.kubernetes\\.io/name", ["web"]),
    (".metadata.annotations.example\\.com/owner", ["team-a"]),
    ('.status.conditions[?(@.type=="Ready")].status', ["False"]),
    (".status.conditions[?(@.type=='Ready')].reason", ["ContainersNotReady"]),
    ('.status.conditions[?(@.status!="True")].type', ["Ready"]),
    (".status.conditions[?(@.priority>=5)].type", ["Ready", "PodScheduled"]),
    (".status.conditions[?(@.priority < 5)].type", ["Initialized"]),
    (".status.conditions[?(@.reason)].type", ["Ready"]),
    ("..containerPort", [80, 443, 9901]),
    (".status.nothing", [None]),
])
def test_evaluate_selects(expr: str, expected: list) -> None:
    assert evaluate(expr, POD) == expected


@pytest.mark.parametrize("expr", [
    ".spec.missing",
    ".spec.replicas.deeper",           # a field of a number
    ".spec.containers[7].name",        # out of range
    ".spec.containers.name",           # a field of a list
    ".metadata[0]",                    # an index of a map
    '.status.conditions[?(@.type=="Gone")].status',
    ".status.conditions[?(@.priority=='5')].type",  # a string never equals a number
])
def test_missing_paths_select_nothing(expr: str) -> None:
    assert evaluate(expr, POD) == []


@pytest.mark.parametrize(("expr", "expected"), [
    (".spec.replicas", "3"),
    (".status.ratio", "0.75"),
    (".status.whole", "3"),                                  # Go prints 3.0 as 3
    (".spec.containers[*].name", "app sidecar"),
    (".spec.containers[1].ports", '[{"containerPort":9901}]'),
    (".metadata.labels", '{"app.kubernetes.io/name":"web","tier":"frontend"}'),
    (".status.nothing", "null"),
    (".spec.missing", ""),
])
def test_render_formats_like_kubectl(expr: str, expected: str) -> None:
    assert render(expr, POD) == expected


def test_render_booleans_are_lowercase() -> None:
    assert render(".a", {"a": True}) == "true"
    assert render(".a[*]", {"a": [False, 1]}) == "false 1"


@pytest.mark.parametrize("expr", [
    "",
    "   ",
    "spec.replicas",                 # must start with '.', '[' or '$'
    ".spec[",
    ".spec[]",
    ".spec[abc]",
    ".metadata['name]",
    ".a[1:2:0]",
    ".a[1:2:3:4]",
    "..",
    ".a[?(@.x=1)]",                  # a single '=' is not a comparison
    ".a[?(@.x==)]",
    ".a[?()]",
    ".a[?@.x]",
    ".a[?(\"lit\")]",
    "{.spec.replicas",
    ".spec\\",
    ".a b",
    ".a)",
])
def test_invalid_expressions_raise_value_error(expr: str) -> None:
    with pytest.raises(JSONPathError) as info:
        evaluate(expr, POD)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, ProphetError)
    assert "JSONPath" in str(info.value)


@pytest.mark.parametrize("expr", [None, 3, ["a"], {"a": 1}])
def test_non_string_expressions_raise_value_error(expr: object) -> None:
    with pytest.raises(JSONPathError, match="expected a string"):
        evaluate(expr, POD)  # type: ignore[arg-type]


def test_error_message_names_the_expression_and_position() -> None:
    with pytest.raises(ValueError, match=r"'\.spec\[abc\]'.*position 5"):
        evaluate(".spec[abc]", POD)


@settings(max_examples=300, deadline=None)
@given(hs.text(alphabet=".[]*?@()'\"=!<>:,$\\{}abc01- ", max_size=20))
def test_arbitrary_input_raises_only_value_errors(expr: str) -> None:
    try:
        evaluate(expr, POD)
    except JSONPathError:
        pass


@settings(max_examples=100, deadline=None)
@given(hs.recursive(hs.none() | hs.booleans() | hs.integers() | hs.text(max_size=5),
                    lambda children: hs.lists(children, max_size=3)
                    | hs.dictionaries(hs.sampled_from(["a", "b", "type"]), children, max_size=3),
                    max_leaves=10))
def test_any_document_evaluates_without_crashing(doc: object) -> None:
    for expr in (".a.b", ".a[0]", ".a[*].type", '.a[?(@.type=="x")].b', "..b", ".a[-1:]"):
        result = evaluate(expr, {"a": doc})
        assert isinstance(result, list)
        render(expr, {"a": doc})
