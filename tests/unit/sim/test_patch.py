"""JSON patch, merge patch, strategic merge patch and server-side apply on plain dicts.

Expected behaviour follows kube-apiserver (k8s.io/apimachinery strategicpatch, its upstream test cases,
and structured-merge-diff's conflict messages).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prophet_sre.sim.patch import (
    ApplyConflict,
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_server_side,
    apply_strategic_merge_patch,
    fields_from_managed,
    patch_annotations,
    patch_meta_for,
)
from prophet_sre.sim.server_side_apply import fields_to_managed, path_string


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}, "finalizers": ["a"]},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1.25",
                         "ports": [{"containerPort": 80, "protocol": "TCP"}],
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                        {"name": "sidecar", "image": "envoy:1.30"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "x", "operator": "Exists"}],
                },
            },
        },
        "status": {"conditions": [{"type": "Available", "status": "True"},
                                  {"type": "Progressing", "status": "True"}]},
    }


def containers(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


def directive_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for k in value if k.startswith("$")] + [x for v in value.values() for x in directive_keys(v)]
    if isinstance(value, list):
        return [x for v in value for x in directive_keys(v)]
    return []


# -- JSON patch --------------------------------------------------------------------------------------
def test_json_patch_applies_and_copies() -> None:
    obj = deployment()
    before = copy.deepcopy(obj)
    value = {"name": "C", "value": "3"}
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 5},
           {"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": value},
           {"op": "remove", "path": "/metadata/labels/app"}]
    out = apply_json_patch(obj, ops)
    assert out["spec"]["replicas"] == 5 and out["metadata"]["labels"] == {}
    assert containers(out)[0]["env"][-1] == value
    assert obj == before
    containers(out)[0]["env"][-1]["value"] = "changed"
    assert value["value"] == "3"  # the result does not alias the patch


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "test", "path": "/spec/replicas", "value": 3}],
        [{"op": "replace", "path": "/spec/missing/deep", "value": 1}],
        [{"op": "remove", "path": "/metadata/nope"}],
        [{"op": "add", "path": "no-slash", "value": 1}],
        [{"op": "bogus", "path": "/spec"}],
        [{"op": "add", "path": "/spec/template/spec/containers/9", "value": {}}],
        [{"op": "move", "from": "/nope", "path": "/x"}],
        [{"op": "replace", "path": "", "value": [1]}],
        [{"path": "/spec"}],
        ["not-an-op"],
        {"op": "add"},
    ],
)
def test_json_patch_errors_are_patch_errors(ops: Any) -> None:
    obj = deployment()
    with pytest.raises(PatchError):
        apply_json_patch(obj, ops)
    assert obj == deployment()


def test_json_patch_test_failure_message() -> None:
    with pytest.raises(PatchError, match="spec/replicas"):
        apply_json_patch(deployment(), [{"op": "test", "path": "/spec/replicas", "value": 3}])


# -- JSON merge patch --------------------------------------------------------------------------------
def test_merge_patch_null_deletes_and_lists_replace() -> None:
    obj = deployment()
    out = apply_merge_patch(obj, {"metadata": {"labels": {"app": None, "tier": "fe"}, "finalizers": ["b"]},
                                  "spec": {"template": {"spec": {"containers": [{"name": "only"}]}}}})
    assert out["metadata"]["labels"] == {"tier": "fe"}
    assert out["metadata"]["finalizers"] == ["b"]
    assert containers(out) == [{"name": "only"}]
    assert obj == deployment()


def test_merge_patch_rfc7386_cases() -> None:
    assert apply_merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert apply_merge_patch({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert apply_merge_patch({"a": "b"}, {"a": None}) == {}
    assert apply_merge_patch({"a": ["b"]}, {"a": {"c": None, "d": 1}}) == {"a": {"d": 1}}
    assert apply_merge_patch({"a": {"b": "c"}}, {"a": 1}) == {"a": 1}
    assert apply_merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}
    with pytest.raises(PatchError):
        apply_merge_patch({}, ["not", "an", "object"])  # type: ignore[arg-type]


# -- strategic merge patch ---------------------------------------------------------------------------
def test_smp_changes_one_container_and_keeps_the_sidecar() -> None:
    obj = deployment()
    out = apply_strategic_merge_patch(
        "Deployment", obj, {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})
    assert [c["name"] for c in containers(out)] == ["web", "sidecar"]
    assert containers(out)[0]["image"] == "nginx:1.27"
    assert containers(out)[0]["env"] == deployment()["spec"]["template"]["spec"]["containers"][0]["env"]
    assert containers(out)[1] == {"name": "sidecar", "image": "envoy:1.30"}
    assert obj == deployment()


def test_smp_patch_delete_removes_one_container() -> None:
    out = apply_strategic_merge_patch(
        "Deployment", deployment(),
        {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}})
    assert [c["name"] for c in containers(out)] == ["web"]
    assert not directive_keys(out)


def test_smp_new_items_go_in_front_like_upstream() -> None:
    out = apply_strategic_merge_patch(
        "Deployment", deployment(), {"spec": {"template": {"spec": {"containers": [{"name": "debug", "image": "b"}]}}}})
    assert [c["name"] for c in containers(out)] == ["debug", "web", "sidecar"]


def test_smp_patch_order_wins_over_live_order() -> None:
    # upstream "preserve the order from the patch in a merging list 2"
    live = {"spec": {"ports": [{"port": 1}, {"port": 2, "name": "b"}, {"port": 3}]}}
    out = apply_strategic_merge_patch("Service", live, {"spec": {"ports": [{"port": 3, "name": "c"},
                                                                          {"port": 1, "name": "a"}]}})
    assert out["spec"]["ports"] == [{"port": 2, "name": "b"}, {"port": 3, "name": "c"}, {"port": 1, "name": "a"}]


def test_service_ports_merge_on_port_container_ports_on_container_port() -> None:
    svc = {"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": 8080, "name": "http"},
                                                 {"port": 443, "targetPort": 8443, "name": "https"}]}}
    out = apply_strategic_merge_patch("Service", svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}})
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 9090, "name": "http"},
                                    {"port": 443, "targetPort": 8443, "name": "https"}]
    with pytest.raises(PatchError, match="does not contain declared merge key: port"):
        apply_strategic_merge_patch("Service", svc, {"spec": {"ports": [{"containerPort": 80}]}})

    dep = apply_strategic_merge_patch("Deployment", deployment(), {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 9090}]}]}}}})
    assert containers(dep)[0]["ports"] == [{"containerPort": 80, "protocol": "TCP", "name": "http"},
                                           {"containerPort": 9090}]
    with pytest.raises(PatchError, match="does not contain declared merge key: containerPort"):
        apply_strategic_merge_patch("Deployment", deployment(), {"spec": {"template": {"spec": {"containers": [
            {"name": "web", "ports": [{"port": 80}]}]}}}})


def test_set_element_order_orders_and_never_leaks() -> None:
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}],
        "containers": [{"name": "web", "$setElementOrder/env": [{"name": "B"}, {"name": "A"}],
                        "env": [{"name": "A", "value": "9"}]}],
    }}}}
    out = apply_strategic_merge_patch("Deployment", deployment(), patch)
    assert [c["name"] for c in containers(out)] == ["sidecar", "web"]
    assert containers(out)[1]["env"] == [{"name": "B", "value": "2"}, {"name": "A", "value": "9"}]
    assert not directive_keys(out)


def test_set_element_order_must_match_patch_order() -> None:
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
                                            "containers": [{"name": "sidecar"}, {"name": "web"}]}}}}
    with pytest.raises(PatchError, match="doesn't match"):
        apply_strategic_merge_patch("Deployment", deployment(), patch)


def test_finalizers_union_and_delete_from_primitive_list() -> None:
    out = apply_strategic_merge_patch("Deployment", deployment(), {"metadata": {"finalizers": ["b", "a"]}})
    assert out["metadata"]["finalizers"] == ["b", "a"]  # deduplicated, patch order first
    out = apply_strategic_merge_patch("Deployment", deployment(), {"metadata": {
        "$setElementOrder/finalizers": ["b"], "$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["b"]}})
    assert out["metadata"]["finalizers"] == ["b"]
    assert not directive_keys(out)


def test_smp_null_deletes_and_non_merge_lists_replace() -> None:
    out = apply_strategic_merge_patch("Deployment", deployment(), {
        "metadata": {"labels": {"app": None}},
        "spec": {"replicas": None, "template": {"spec": {"tolerations": [{"key": "y", "operator": "Exists"}]}}}})
    assert out["metadata"]["labels"] == {} and "replicas" not in out["spec"]
    assert out["spec"]["template"]["spec"]["tolerations"] == [{"key": "y", "operator": "Exists"}]


def test_patch_replace_and_delete_directives_on_maps_and_lists() -> None:
    out = apply_strategic_merge_patch("Deployment", deployment(), {
        "metadata": {"labels": {"$patch": "replace", "new": "1"}},
        "spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "solo", "image": "x"}]}}}})
    assert out["metadata"]["labels"] == {"new": "1"}
    assert containers(out) == [{"name": "solo", "image": "x"}]
    out = apply_strategic_merge_patch("Deployment", deployment(), {"spec": {"selector": {"$patch": "delete"}}})
    assert out["spec"]["selector"] == {}  # upstream leaves an empty map
    out = apply_strategic_merge_patch("Deployment", deployment(), {"metadata": {"labels": {"$patch": "merge", "x": "1"}}})
    assert out["metadata"]["labels"] == {"app": "web", "x": "1"}
    assert not directive_keys(out)


def test_retain_keys_clears_other_volume_sources() -> None:
    patch = {"spec": {"template": {"spec": {"volumes": [
        {"name": "data", "$retainKeys": ["name", "configMap"], "configMap": {"name": "cm"}}]}}}}
    out = apply_strategic_merge_patch("Deployment", deployment(), patch)
    assert out["spec"]["template"]["spec"]["volumes"] == [{"name": "data", "configMap": {"name": "cm"}}]
    bad = {"spec": {"template": {"spec": {"volumes": [{"name": "data", "$retainKeys": ["name"], "secret": {}}]}}}}
    with pytest.raises(PatchError, match="retainKeys"):
        apply_strategic_merge_patch("Deployment", deployment(), bad)


def test_status_conditions_merge_by_type_for_any_kind() -> None:
    out = apply_strategic_merge_patch("Deployment", deployment(), {"status": {"conditions": [
        {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}]}})
    assert out["status"]["conditions"] == [
        {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
        {"type": "Progressing", "status": "True"}]
    widget = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}, "spec": {"items": [1, 2]}}
    out = apply_strategic_merge_patch("Widget", widget, {"status": {"conditions": [{"type": "Synced", "status": "True"}]},
                                                         "spec": {"items": [3]}})
    assert [c["type"] for c in out["status"]["conditions"]] == ["Synced", "Ready"]
    assert out["spec"]["items"] == [3]


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}, "does not contain declared merge key: name"),
        ({"spec": {"template": {"spec": {"containers": [{"name": "web", "$patch": "explode"}]}}}}, "unknown patch type"),
        ({"metadata": {"$patch": "explode"}}, "unknown patch type: explode in map"),
        ({"spec": {"$bogus": 1}}, "unknown patch directive"),
        ({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, "primitive list"),
        ({"spec": {"template": {"spec": {"$setElementOrder/containers": "web"}}}}, "setElementOrder"),
        ({"spec": {"template": {"spec": {"containers": ["web"]}}}}, "must be objects"),
    ],
)
def test_smp_malformed_patches(patch: dict, match: str) -> None:
    with pytest.raises(PatchError, match=match):
        apply_strategic_merge_patch("Deployment", deployment(), patch)


def test_patch_metadata_tables() -> None:
    dep = patch_annotations("Deployment")
    assert dep["spec.template.spec.containers"] == ("merge", "name")
    assert dep["spec.template.spec.containers.ports"] == ("merge", "containerPort")
    assert dep["spec.template.spec.volumes"] == ("merge,retainKeys", "name")
    assert dep["metadata.finalizers"] == ("merge", None)
    assert "spec.template.spec.containers.resizePolicy" not in dep  # +listType=atomic upstream
    assert patch_annotations("Service")["spec.ports"] == ("merge", "port")
    assert patch_annotations("CronJob")["spec.jobTemplate.spec.template.spec.containers"] == ("merge", "name")
    assert patch_annotations("Node")["status.addresses"] == ("merge", "type")
    assert patch_annotations("ConfigMap") == {"metadata.finalizers": ("merge", None),
                                              "metadata.ownerReferences": ("merge", "uid"),
                                              "status.conditions": ("merge", "type")}
    assert patch_meta_for("Pod").field("spec").spec.field("containers").merge_key == "name"


# -- properties: only PatchError, never mutation -----------------------------------------------------
_keys = st.sampled_from(["metadata", "spec", "template", "containers", "name", "image", "finalizers", "ports",
                         "port", "labels", "replicas", "$patch", "$retainKeys", "$setElementOrder/containers",
                         "$deleteFromPrimitiveList/finalizers", "env", "conditions", "type", "x"])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["web", "delete", "replace",
                                                                                    "merge", "a", ""]))
_json = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(_keys, inner, max_size=4)), max_leaves=25)
_patches = st.dictionaries(_keys, _json, max_size=5)
_kinds = st.sampled_from(["Deployment", "Pod", "Service", "Node", "ConfigMap", "CronJob"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=_kinds, patch=_patches)
def test_smp_and_merge_patch_only_raise_patch_error_and_never_mutate(kind: str, patch: dict) -> None:
    obj = deployment()
    patch_before = copy.deepcopy(patch)
    for fn in (lambda: apply_strategic_merge_patch(kind, obj, patch), lambda: apply_merge_patch(obj, patch)):
        try:
            out = fn()
        except PatchError:
            continue
        assert isinstance(out, dict)
        json.dumps(out)
    assert obj == deployment() and patch == patch_before
    try:
        out = apply_strategic_merge_patch(kind, obj, patch)
    except PatchError:
        return
    assert not directive_keys(out)


_ops = st.lists(st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "nope"]),
     "path": st.sampled_from(["", "/", "/spec", "/spec/replicas", "/metadata/labels/app", "/spec/x/0", "/-",
                              "/spec/template/spec/containers/0", "/spec/template/spec/containers/-", "bad", "/~2"])},
    optional={"value": _json, "from": st.sampled_from(["/spec", "/metadata", "/x", "", "/spec/replicas"])}),
    max_size=4)


@settings(max_examples=400, deadline=None)
@given(ops=st.one_of(_ops, _json))
def test_json_patch_only_raises_patch_error_and_never_mutates(ops: Any) -> None:
    obj = deployment()
    ops_before = copy.deepcopy(ops)
    try:
        out = apply_json_patch(obj, ops)
    except PatchError:
        pass
    else:
        assert isinstance(out, dict)
    assert obj == deployment() and ops == ops_before


# -- server-side apply -------------------------------------------------------------------------------
T0, T1, T2 = "2025-01-01T00:00:00Z", "2025-01-01T00:00:01Z", "2025-01-01T00:00:02Z"


def applied(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}},
    }
    body["spec"].update(spec)
    return body


def entry(obj: dict, manager: str, operation: str = "Apply") -> dict:
    found = [e for e in obj["metadata"].get("managedFields", [])
             if e["manager"] == manager and e["operation"] == operation]
    assert len(found) <= 1
    return found[0] if found else {}


def test_first_apply_creates_the_object_and_records_ownership() -> None:
    out = apply_server_side("Deployment", None, applied(), "kubectl", False)
    assert out["spec"]["replicas"] == 2 and containers(out)[0]["image"] == "nginx:1.25"
    (mf,) = out["metadata"]["managedFields"]
    assert list(mf) == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"]
    assert (mf["manager"], mf["operation"], mf["apiVersion"], mf["fieldsType"]) == \
        ("kubectl", "Apply", "apps/v1", "FieldsV1")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", mf["time"])
    v1 = mf["fieldsV1"]
    assert v1["f:spec"]["f:replicas"] == {} and v1["f:spec"]["f:selector"] == {}  # selector is atomic
    assert v1["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}'] == \
        {".": {}, "f:image": {}, "f:name": {}}
    assert "f:name" not in v1["f:metadata"] and "f:apiVersion" not in v1
    paths = fields_from_managed(mf)
    assert ("f:spec", "f:replicas") in paths
    assert ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"web"}') in paths
    assert fields_to_managed(paths) == v1  # round trip


def test_reapply_omitting_a_field_removes_it() -> None:
    live = apply_server_side("Deployment", None, applied(), "kubectl", False, now=T0)
    live_before = copy.deepcopy(live)
    cfg = applied()
    del cfg["spec"]["replicas"]
    del cfg["metadata"]["labels"]
    out = apply_server_side("Deployment", live, cfg, "kubectl", False, now=T1)
    assert "replicas" not in out["spec"]
    assert "labels" not in out["metadata"]  # left empty and owned by nobody
    assert ("f:spec", "f:replicas") not in fields_from_managed(entry(out, "kubectl"))
    assert entry(out, "kubectl")["time"] == T1
    assert live == live_before


def test_omitted_field_survives_when_another_manager_owns_it() -> None:
    live = apply_server_side("Deployment", None, applied(), "kubectl", False, now=T0)
    live = apply_server_side("Deployment", live, {"apiVersion": "apps/v1", "kind": "Deployment",
                                                  "metadata": {"name": "web", "labels": {"app": "web"}}},
                             "labeler", False, now=T1)
    cfg = applied()
    del cfg["metadata"]["labels"]
    out = apply_server_side("Deployment", live, cfg, "kubectl", False, now=T2)
    assert out["metadata"]["labels"] == {"app": "web"}


def test_conflict_with_another_apply_manager_has_the_apiserver_message() -> None:
    live = apply_server_side("Deployment", None, applied(), "kubectl", False, now=T0)
    with pytest.raises(ApplyConflict) as e:
        apply_server_side("Deployment", live, applied(replicas=5), "autoscaler", False)
    assert str(e.value) == 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
    assert e.value.conflicts == [("kubectl", ".spec.replicas")]
    assert isinstance(e.value, PatchError)


def test_several_conflicts_are_grouped_by_manager() -> None:
    live = apply_server_side("Deployment", None, applied(), "kubectl", False, now=T0)
    cfg = applied(replicas=5)
    cfg["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    with pytest.raises(ApplyConflict) as e:
        apply_server_side("Deployment", live, cfg, "ci", False)
    assert str(e.value) == ('Apply failed with 2 conflicts: conflicts with "kubectl":\n- .spec.replicas\n'
                            '- .spec.template.spec.containers[name="web"].image')


def test_same_value_is_shared_ownership_not_a_conflict() -> None:
    live = apply_server_side("Deployment", None, applied(), "kubectl", False, now=T0)
    out = apply_server_side("Deployment", live, applied(), "argocd", False, now=T1)
    assert ("f:spec", "f:replicas") in fields_from_managed(entry(out, "kubectl"))
    assert ("f:spec", "f:replicas") in fields_from_managed(entry(out, "argocd"))


def test_force_moves_ownership() -> None:
    live = apply_server_side("Deployment", None, applied(), "kubectl", False, now=T0)
    out = apply_server_side("Deployment", live, {"apiVersion": "apps/v1", "kind": "Deployment",
                                                 "metadata": {"name": "web"}, "spec": {"replicas": 7}},
                            "autoscaler", True, now=T1)
    assert out["spec"]["replicas"] == 7
    assert ("f:spec", "f:replicas") in fields_from_managed(entry(out, "autoscaler"))
    assert ("f:spec", "f:replicas") not in fields_from_managed(entry(out, "kubectl"))
    assert [e["manager"] for e in out["metadata"]["managedFields"]] == ["kubectl", "autoscaler"]  # by time
    with pytest.raises(ApplyConflict, match='conflict with "autoscaler": .spec.replicas'):
        apply_server_side("Deployment", out, applied(), "kubectl", False)
    # kubectl no longer owns replicas, so omitting it now does not delete the autoscaler's value
    cfg = applied()
    del cfg["spec"]["replicas"]
    assert apply_server_side("Deployment", out, cfg, "kubectl", False, now=T2)["spec"]["replicas"] == 7


def test_update_managers_never_conflict_and_lose_changed_fields() -> None:
    live = deployment()
    live["metadata"]["managedFields"] = [{
        "manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "apps/v1", "time": T0,
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}, "f:revisionHistoryLimit": {}}}}]
    out = apply_server_side("Deployment", live, applied(replicas=4), "kubectl", False, now=T1)
    assert out["spec"]["replicas"] == 4
    assert fields_from_managed(entry(out, "kubectl-client-side-apply", "Update")) == \
        {("f:spec", "f:revisionHistoryLimit")}
    assert [e["operation"] for e in out["metadata"]["managedFields"]] == ["Apply", "Update"]


def test_keyed_lists_merge_and_other_managers_items_stay() -> None:
    live = apply_server_side("Deployment", None, applied(), "kubectl", False, now=T0)
    sidecar = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"template": {"spec": {"containers": [{"name": "istio-proxy", "image": "proxy"}]}}}}
    live = apply_server_side("Deployment", live, sidecar, "istio", False, now=T1)
    assert [c["name"] for c in containers(live)] == ["web", "istio-proxy"]
    out = apply_server_side("Deployment", live, applied(), "kubectl", False, now=T2)
    assert [c["name"] for c in containers(out)] == ["web", "istio-proxy"]
    cfg = applied()
    cfg["spec"]["template"]["spec"]["containers"] = [{"name": "api", "image": "api:1"}]
    out = apply_server_side("Deployment", out, cfg, "kubectl", False, now=T2)
    assert [c["name"] for c in containers(out)] == ["istio-proxy", "api"]  # kubectl's "web" removed


def test_applied_managed_fields_and_server_metadata_are_ignored() -> None:
    cfg = applied()
    cfg["metadata"].update(managedFields=[{"manager": "evil", "operation": "Apply", "fieldsV1": {}}],
                           resourceVersion="42", uid="fake")
    out = apply_server_side("Deployment", None, cfg, "kubectl", False)
    assert [e["manager"] for e in out["metadata"]["managedFields"]] == ["kubectl"]
    assert "resourceVersion" not in out["metadata"] and "uid" not in out["metadata"]


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        (applied(containers=None) | {"spec": {"$patch": "replace"}}, "field not declared in schema"),
        (applied(template={"spec": {"containers": [{"image": "x"}]}}), 'omits key field "name"'),
        (applied(template={"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}), "duplicate entries"),
        ({"metadata": "nope"}, "metadata"),
    ],
)
def test_malformed_apply(cfg: dict, match: str) -> None:
    with pytest.raises(PatchError, match=match):
        apply_server_side("Deployment", None, cfg, "kubectl", False)


def test_path_string_formats() -> None:
    assert path_string(("f:spec", "f:ports", 'k:{"port":80}', "f:name")) == ".spec.ports[port=80].name"
    assert path_string(("f:metadata", "f:finalizers", 'v:"x"')) == '.metadata.finalizers[="x"]'
