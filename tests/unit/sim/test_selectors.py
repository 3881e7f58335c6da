"""Label and field selectors of the simulated API server.

Expected error texts are kube-apiserver's (k8s.io/apimachinery labels and fields packages), because
kubectl prints them verbatim.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prophet_sre.sim.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    label_selector_from_dict,
    parse_field_selector,
    parse_label_selector,
    selector_string,
)

WEB = {"app": "web", "tier": "frontend", "replicas": "3"}


# -- label selectors: operators ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("app=web", WEB, True),
        ("app=db", WEB, False),
        ("app==web", WEB, True),
        ("app!=web", WEB, False),
        ("app!=db", WEB, True),
        ("missing!=x", WEB, True),  # != matches objects without the label
        ("app in (db,web)", WEB, True),
        ("app in (db)", WEB, False),
        ("missing in (x)", WEB, False),
        ("app notin (db,web)", WEB, False),
        ("app notin (db)", WEB, True),
        ("missing notin (x)", WEB, True),
        ("app", WEB, True),
        ("missing", WEB, False),
        ("!missing", WEB, True),
        ("!app", WEB, False),
        ("replicas>2", WEB, True),
        ("replicas>3", WEB, False),
        ("replicas<4", WEB, True),
        ("app>1", WEB, False),  # non-numeric label value never matches gt/lt
        ("missing<4", WEB, False),
        ("app=web,tier=frontend", WEB, True),
        ("app=web,tier=backend", WEB, False),
        ("app=web,!canary", WEB, True),
        ("app=", {"app": ""}, True),
        ("app=", WEB, False),
        ("app in ()", {"app": ""}, True),
    ],
)
def test_label_selector_operators(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


def test_whitespace_and_prefixed_keys() -> None:
    sel = parse_label_selector("  app.kubernetes.io/name = web ,  tier in ( a , frontend )  , !canary ")
    assert sel.matches({"app.kubernetes.io/name": "web", "tier": "frontend"})
    assert not sel.matches({"app.kubernetes.io/name": "web", "tier": "frontend", "canary": "true"})
    assert str(sel) == "app.kubernetes.io/name=web,!canary,tier in (a,frontend)"  # sorted by key


def test_in_and_notin_are_keywords_only_in_operator_position() -> None:
    sel = parse_label_selector("in=notin,notin in (in)")
    assert sel.matches({"in": "notin", "notin": "in"})
    assert str(sel) == "in=notin,notin in (in)"


def test_canonical_string_sorts_by_key_and_values() -> None:
    sel = parse_label_selector("tier notin (z,b),app=web,pod-template-hash==abc,x!=y")
    assert str(sel) == "app=web,pod-template-hash==abc,tier notin (b,z),x!=y"
    assert parse_label_selector(str(sel)) == sel


def test_empty_selector_matches_everything() -> None:
    sel = parse_label_selector("")
    assert sel.empty and str(sel) == ""
    assert sel.matches({}) and sel.matches(None) and sel.matches(WEB)
    assert not parse_label_selector("app").empty


def test_none_labels_are_no_labels() -> None:
    assert parse_label_selector("!app").matches(None)
    assert not parse_label_selector("app").matches(None)


# -- label selectors: errors -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("app in (web", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("app in web", "unable to parse requirement: found 'web' expected: '('"),
        ("app in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
        ("app!", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"),
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("app=web,", "found '', expected: identifier after ','"),
        ("app=web b", "found 'b', expected: ',' or 'end of string'"),
        ("a=b=c", "found '=', expected: ',' or 'end of string'"),
        ("=web", "found '=', expected: !, identifier, or 'end of string'"),
        (",app", "found ',', expected: !, identifier, or 'end of string'"),
        ("!=x", "found '!=', expected: !, identifier, or 'end of string'"),  # lexed as one != token
        ("! =x", "unable to parse requirement: found '=', expected: identifier"),
        ("!app=x", "found '=', expected: ',' or 'end of string'"),
        ("app=(x)", "unable to parse requirement: found '(', expected: identifier"),
    ],
)
def test_label_selector_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as e:
        parse_label_selector(text)
    assert str(e.value) == message


def test_invalid_key_message_is_the_apiservers() -> None:
    with pytest.raises(SelectorError) as e:
        parse_label_selector("-app=web")
    assert str(e.value) == (
        'unable to parse requirement: <nil>: Invalid value: "-app": name part must consist of alphanumeric '
        "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  "
        "or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Example.com/app=x", "prefix part a lowercase RFC 1123 subdomain"),
        ("/app=x", "prefix part must be non-empty"),
        ("a/b/c=x", "a qualified name must consist of"),
        ("k" * 64 + "=x", "name part must be no more than 63 characters"),
        ("app=" + "v" * 64, 'values[0][app]: Invalid value: "' + "v" * 64 + '": must be no more than 63 characters'),
        ("app=-web", 'values[0][app]: Invalid value: "-web": a valid label must be an empty string'),
        ("app in (ok,-bad)", 'values[0][app]: Invalid value: "-bad"'),
        ("n>abc", "for 'Gt', 'Lt' operators, the value must be an integer"),
    ],
)
def test_invalid_keys_and_values(text: str, fragment: str) -> None:
    with pytest.raises(SelectorError) as e:
        parse_label_selector(text)
    assert str(e.value).startswith("unable to parse requirement: ")
    assert fragment in str(e.value)


def test_several_invalid_values_are_aggregated() -> None:
    with pytest.raises(SelectorError) as e:
        parse_label_selector("app in (-a,-b)")
    msg = str(e.value)
    assert msg.startswith("unable to parse requirement: [values[0][app]: ")
    assert ', values[1][app]: Invalid value: "-b"' in msg and msg.endswith("]")


def test_non_string_selector_is_a_selector_error() -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(None)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab=!(),<> \tinotx-./_1", max_size=30))
def test_label_parser_never_crashes_and_round_trips(text: str) -> None:
    try:
        sel = parse_label_selector(text)
    except SelectorError:
        return
    assert parse_label_selector(str(sel)) == sel


# -- metav1.LabelSelector objects --------------------------------------------------------------------
def test_label_selector_from_dict() -> None:
    sel = label_selector_from_dict({
        "matchLabels": {"tier": "frontend", "app": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "canary"]},
            {"key": "legacy", "operator": "DoesNotExist"},
            {"key": "app", "operator": "Exists"},
            {"key": "zone", "operator": "NotIn", "values": ["b"]},
        ],
    })
    assert str(sel) == "app=web,app,env in (canary,prod),!legacy,tier=frontend,zone notin (b)"
    assert sel.matches({"app": "web", "tier": "frontend", "env": "prod"})
    assert not sel.matches({"app": "web", "tier": "frontend", "env": "dev"})
    assert not sel.matches({"app": "web", "tier": "frontend", "env": "prod", "legacy": "1"})
    assert not sel.matches({"app": "web", "tier": "frontend", "env": "prod", "zone": "b"})


@pytest.mark.parametrize("sel", [None, {}, {"matchLabels": {}}, {"matchLabels": None, "matchExpressions": []}])
def test_absent_or_empty_selector_matches_everything(sel: dict | None) -> None:
    s = label_selector_from_dict(sel)
    assert s.empty and s.matches({"a": "b"}) and s.matches(None)
    assert str(s) == ""


def test_nothing_selector() -> None:
    nothing = LabelSelector.nothing()
    assert not nothing.matches({}) and not nothing.empty


@pytest.mark.parametrize(
    ("sel", "message"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
         '"Equals" is not a valid label selector operator'),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
         "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"),
        ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
         'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist'),
        ({"matchLabels": {"bad key": "x"}}, 'key: Invalid value: "bad key": name part must consist of'),
        ({"matchLabels": {"app": "no/slash"}}, 'values[0][app]: Invalid value: "no/slash"'),
    ],
)
def test_invalid_label_selector_objects(sel: dict, message: str) -> None:
    with pytest.raises(SelectorError) as e:
        label_selector_from_dict(sel)
    assert str(e.value).startswith(message)


def test_selector_string_for_scale_status() -> None:
    assert selector_string({"matchLabels": {"pod-template-hash": "abc", "app": "web"}}) == \
        "app=web,pod-template-hash=abc"
    assert selector_string({}) == ""
    assert selector_string({"matchExpressions": [{"key": "a", "operator": "In", "values": ["y", "x"]}]}) == \
        "a in (x,y)"


def test_equality_value_for_index_lookups() -> None:
    sel = parse_label_selector("app=web,tier in (a,b)")
    assert sel.equality_value("app") == "web"
    assert sel.equality_value("tier") is None


def test_matching_ten_thousand_pods() -> None:
    sel = parse_label_selector("app=web,tier in (frontend,edge),!canary")
    pods = [{"app": "web" if i % 2 else "db", "tier": "frontend", "pod-template-hash": str(i)}
            for i in range(10_000)]
    hits = sum(1 for labels in pods if sel.matches(labels))
    assert hits == 5_000


# -- field selectors ---------------------------------------------------------------------------------
POD = {
    "metadata": {"name": "web-1", "namespace": "shop"},
    "spec": {"nodeName": "node-a", "restartPolicy": "Always"},
    "status": {"phase": "Running"},
}
UNSCHEDULED = {"metadata": {"name": "web-2", "namespace": "shop"}, "spec": {}, "status": {"phase": "Pending"}}


@pytest.mark.parametrize(
    ("text", "obj", "expected"),
    [
        ("metadata.name=web-1", POD, True),
        ("metadata.name==web-1", POD, True),
        ("metadata.name!=web-1", POD, False),
        ("metadata.namespace=shop,status.phase=Running", POD, True),
        ("metadata.namespace=shop,status.phase!=Running", POD, False),
        ("spec.nodeName=", UNSCHEDULED, True),
        ("spec.nodeName=", POD, False),
        ("spec.nodeName!=", POD, True),
        ("spec.nodeName=node-a", UNSCHEDULED, False),
        ("", POD, True),
    ],
)
def test_field_selector_matching(text: str, obj: dict, expected: bool) -> None:
    assert parse_field_selector(text).matches(obj) is expected


def test_field_selector_fields_and_string() -> None:
    sel = parse_field_selector("status.phase!=Failed,metadata.name==web-1,")
    assert sel.fields == {"status.phase", "metadata.name"}
    assert str(sel) == "metadata.name=web-1,status.phase!=Failed"  # terms sorted, == printed as =
    assert parse_field_selector("").fields == set() and parse_field_selector("").empty


def test_field_selector_escapes() -> None:
    sel = parse_field_selector(r"metadata.name=a\,b\=c\\d")
    assert sel.requirements == (("metadata.name", "=", "a,b=c\\d"),)
    assert sel.matches({"metadata": {"name": "a,b=c\\d"}})
    assert str(sel) == r"metadata.name=a\,b\=c\\d"
    assert parse_field_selector(str(sel)) == sel


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
    ],
)
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as e:
        parse_field_selector(text)
    assert str(e.value) == message


def test_field_selector_whitespace_is_not_trimmed() -> None:
    sel = parse_field_selector("metadata.name = web-1")
    assert sel.fields == {"metadata.name "}  # the caller then answers "field label not supported"


def test_event_fields_and_typed_zero_values() -> None:
    event = {"involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "shop", "uid": "u1"},
             "reason": "BackOff", "type": "Warning", "source": {"component": "kubelet"}}
    assert parse_field_selector(
        "involvedObject.kind=Pod,involvedObject.name=web-1,involvedObject.uid=u1,reason=BackOff,type=Warning"
    ).matches(event)
    assert parse_field_selector("source=kubelet").matches(event)
    assert parse_field_selector("source=kubelet").matches({"source": {}, "reportingComponent": "kubelet"})
    assert parse_field_selector("spec.unschedulable=false").matches({"spec": {}})
    assert parse_field_selector("spec.unschedulable=true").matches({"spec": {"unschedulable": True}})
    assert parse_field_selector("status.successful=2").matches({"status": {"successful": 2}})
    assert parse_field_selector("spec.hostNetwork=false").matches({"spec": {}})
    assert FieldSelector().matches({}) and FieldSelector().value_of(POD, "status.phase") == "Running"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab.=!,\\ x", max_size=25))
def test_field_parser_never_crashes(text: str) -> None:
    try:
        sel = parse_field_selector(text)
    except SelectorError:
        return
    assert parse_field_selector(str(sel)) == sel
