"""Validation of the core and other-group kinds, quantities, decode errors, unknown fields and robustness (split from test_validation.py)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from test_defaults import manifest as every_kind_manifest  # the every-kind manifests live there
from test_validation import (  # shared fixtures and builders
    DEPLOY,
    POD,
    SUBDOMAIN_MSG,
    UID,
    admitted,
    container,
    deployment,
    errors,
    meta,
    pod,
    rt_of,
)

from prophet_sre.sim.defaults import apply_defaults
from prophet_sre.sim.registry import BUILTIN_TYPES, ResourceType
from prophet_sre.sim.validation import (
    VALIDATORS,
    FieldError,
    _validate,
    decode_error_status,
    invalid_status,
    parse_quantity,
    strict_decoding_status,
    unknown_field_warnings,
    validate,
)
from prophet_sre.sim.validation_meta import validate_object_meta
from prophet_sre.sim.validation_quantity import ERR_FORMAT_WRONG, canonical_quantity

# --- core kinds ----------------------------------------------------------------------------------------------
SVC = rt_of("", "v1", "Service")


def test_service_rules() -> None:
    assert errors(SVC, {"metadata": meta(), "spec": {"selector": {"app": "web"}}}) == ["spec.ports: Required value"]
    assert errors(SVC, {"metadata": meta(), "spec": {"clusterIP": "None"}}) == []
    assert errors(SVC, {"metadata": meta(), "spec": {"type": "ExternalName", "externalName": "db.example.com"}}) == []
    two = {"metadata": meta(), "spec": {"ports": [{"port": 80}, {"port": 443}], "type": "Magic"}}
    assert errors(SVC, two) == [
        'spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
        '"NodePort"',
        "spec.ports[0].name: Required value", "spec.ports[1].name: Required value"]


def test_service_cluster_ip_is_immutable() -> None:
    old = admitted(SVC, {"metadata": meta(), "spec": {"ports": [{"port": 80}], "clusterIP": "10.96.0.10",
                                                      "clusterIPs": ["10.96.0.10"]}})
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"], new["spec"]["clusterIPs"] = "10.96.0.11", ["10.96.0.11"]
    assert errors(SVC, new, old) == ['spec.clusterIPs[0]: Invalid value: ["10.96.0.11"]: may not change once set']
    omitted = copy.deepcopy(old)
    del omitted["spec"]["clusterIP"], omitted["spec"]["clusterIPs"]
    assert errors(SVC, omitted, old) == []


PVC = rt_of("", "v1", "PersistentVolumeClaim")


def _pvc(**spec: Any) -> dict[str, Any]:
    return {"metadata": meta("data"), "spec": {"accessModes": ["ReadWriteOnce"],
                                               "resources": {"requests": {"storage": "1Gi"}}, **spec}}


def test_pvc_create_rules() -> None:
    assert errors(PVC, {"metadata": meta("data"), "spec": {}}) == [
        "spec.accessModes: Required value: at least 1 access mode is required",
        "spec.resources[storage]: Required value"]
    assert errors(PVC, _pvc(accessModes=["ReadWriteSometimes"])) == [
        'spec.accessModes: Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", '
        '"ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"']


def test_pvc_update_rules() -> None:
    old = admitted(PVC, _pvc())
    changed = copy.deepcopy(old)
    changed["spec"]["accessModes"] = ["ReadWriteMany"]
    [msg] = errors(PVC, changed, old)
    assert msg.startswith("spec: Forbidden: spec is immutable after creation except resources.requests and "
                          "volumeAttributesClassName for bound claims\n@@ -1,")
    assert '-  "ReadWriteOnce"\n+  "ReadWriteMany"' in msg
    bound_old = copy.deepcopy(old) | {"status": {"phase": "Bound", "capacity": {"storage": "1Gi"}}}
    grown = copy.deepcopy(bound_old)
    grown["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert errors(PVC, grown, bound_old) == []
    shrunk = copy.deepcopy(bound_old)
    shrunk["spec"]["resources"]["requests"]["storage"] = "512Mi"
    assert errors(PVC, shrunk, bound_old) == [
        "spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"]
    unbound_grow = copy.deepcopy(old)
    unbound_grow["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert errors(PVC, unbound_grow, old)[0].startswith("spec: Forbidden: spec is immutable")
    bound_later = copy.deepcopy(old)
    bound_later["spec"]["volumeName"] = "pv-1"
    assert errors(PVC, bound_later, old) == []


CM = rt_of("", "v1", "ConfigMap")
SECRET = rt_of("", "v1", "Secret")


def test_config_map_rules() -> None:
    assert errors(CM, {"metadata": meta("cfg"), "data": {"bad key": "v"}}) == [
        'data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '
        "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
        "'[-._a-zA-Z0-9]+')"]
    assert errors(CM, {"metadata": meta("cfg"), "data": {"big": "x" * (1024 * 1024 + 1)}}) == [
        ": Too long: may not be more than 1048576 bytes"]
    old = admitted(CM, {"metadata": meta("cfg"), "data": {"a": "1"}, "immutable": True})
    new = copy.deepcopy(old) | {"data": {"a": "2"}}
    assert errors(CM, new, old) == ["data: Forbidden: field is immutable when `immutable` is set"]


def test_secret_rules() -> None:
    old = admitted(SECRET, {"metadata": meta("s"), "data": {"a": "YQ=="}})
    new = copy.deepcopy(old) | {"type": "kubernetes.io/tls", "data": {}}
    assert errors(SECRET, new, old) == ["data[tls.crt]: Required value", "data[tls.key]: Required value",
                                        'type: Invalid value: "kubernetes.io/tls": field is immutable']


def test_namespace_name_is_immutable() -> None:
    rt = rt_of("", "v1", "Namespace")
    old = admitted(rt, {"metadata": {"name": "team-a", "uid": UID}})
    new = copy.deepcopy(old)
    new["metadata"]["name"] = "team-b"
    assert 'metadata.name: Invalid value: "team-b": field is immutable' in errors(rt, new, old)


def test_event_namespace_must_match() -> None:
    rt = rt_of("", "v1", "Event")
    obj = {"metadata": meta("web.1", "default"), "involvedObject": {"kind": "Pod", "name": "web", "namespace": "x"},
           "reason": "Started"}
    assert errors(rt, obj) == ['involvedObject.namespace: Invalid value: "x": does not match event.namespace']
    node_event = {"metadata": meta("node.1", "default"), "involvedObject": {"kind": "Node", "name": "n1"}}
    assert errors(rt, node_event) == []


# --- other groups --------------------------------------------------------------------------------------------
def test_rbac_rules() -> None:
    role = rt_of("rbac.authorization.k8s.io", "v1", "Role")
    assert errors(role, {"metadata": meta("r"), "rules": [{"apiGroups": [""], "resources": ["pods"]}]}) == [
        "rules[0].verbs: Required value: verbs must contain at least one value"]
    binding = rt_of("rbac.authorization.k8s.io", "v1", "RoleBinding")
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}
    old = admitted(binding, {"metadata": meta("b"), "roleRef": ref, "subjects": [{"kind": "User", "name": "u"}]})
    new = copy.deepcopy(old)
    new["roleRef"]["name"] = "admin"
    assert errors(binding, new, old) == [
        'roleRef: Invalid value: {"APIGroup":"rbac.authorization.k8s.io","Kind":"Role","Name":"admin"}: '
        "cannot change roleRef"]


CRD = rt_of("apiextensions.k8s.io", "v1", "CustomResourceDefinition")


def _crd(**spec: Any) -> dict[str, Any]:
    schema = {"openAPIV3Schema": {"type": "object"}}
    base = {"group": "stable.example.com", "scope": "Namespaced", "names": {"plural": "crontabs", "kind": "CronTab"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": schema}]}
    return {"metadata": {"name": "crontabs.stable.example.com"}, "spec": {**base, **spec}}


def test_crd_rules() -> None:
    assert errors(CRD, _crd()) == []
    assert errors(CRD, {**_crd(), "metadata": {"name": "foo"}}) == [
        'metadata.name: Invalid value: "foo": must be spec.names.plural+"."+spec.group']
    two = _crd(versions=[{"name": "v1", "served": True, "storage": True}, {"name": "v2", "served": True,
                                                                            "storage": True}])
    msgs = errors(CRD, two)
    assert msgs[0].startswith('spec.versions: Invalid value: [{"name":"v1"') and msgs[0].endswith(
        ": must have exactly one version marked as storage version")
    assert "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required" in msgs
    no_group = _crd(group="")
    no_group["metadata"]["name"] = "crontabs."
    assert "spec.group: Required value" in errors(CRD, no_group)


def test_crd_scope_is_immutable() -> None:
    old = admitted(CRD, _crd())
    new = copy.deepcopy(old)
    new["spec"]["scope"] = "Cluster"
    assert errors(CRD, new, old) == ['spec.scope: Invalid value: "Cluster": field is immutable']


# --- quantities ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "value"), [
    ("500m", Decimal("0.5")), ("1Gi", 1073741824), ("1e3", 1000), ("128974848", 128974848), ("129M", 129000000),
    ("1.5", Decimal("1.5")), ("100Ki", 102400), (2, 2), (0.25, Decimal("0.25")), ("1n", Decimal("1e-9")),
])
def test_parse_quantity(text: Any, value: Any) -> None:
    assert parse_quantity(text) == value


def test_parse_quantity_examples_from_the_brief() -> None:
    assert parse_quantity("500m") == 0.5 and parse_quantity("1Gi") == 1073741824


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "1Q", " ", "1 Gi"])
def test_parse_quantity_rejects_with_the_real_message(text: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_quantity(text)
    assert str(exc.value) == ERR_FORMAT_WRONG == ("quantities must match the regular expression "
                                                  "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


@pytest.mark.parametrize("text", ["1Gi2", "1mm", "1e"])
def test_parse_quantity_rejects_bad_suffixes(text: str) -> None:
    with pytest.raises(ValueError, match="^unable to parse quantity's suffix$"):
        parse_quantity(text)


@pytest.mark.parametrize(("text", "canonical"), [
    ("1000m", "1"), ("1024Mi", "1Gi"), ("1536Mi", "1536Mi"), ("0.5", "500m"), ("100000", "100k"),
    ("0.5Gi", "512Mi"), ("1e3", "1e3"), ("129M", "129M"), ("1.5Ki", "1536"), (4, "4"),
    ("Gi", "0"),  # apimachinery's parser reads an empty number as 0
])
def test_canonical_quantity(text: Any, canonical: str) -> None:
    assert canonical_quantity(text) == canonical


# --- decode errors and unknown fields ---------------------------------------------------------------------------
def test_wrong_types_are_decode_errors() -> None:
    obj = deployment(replicas="three")
    errs = validate(DEPLOY, obj)
    assert [e.error() for e in errs] == [
        'spec.replicas: Invalid value: "three": json: cannot unmarshal string into Go struct field '
        "DeploymentSpec.spec.replicas of type int32"]
    assert decode_error_status(DEPLOY, errs) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string '
                   "into Go struct field DeploymentSpec.spec.replicas of type int32",
        "reason": "BadRequest", "code": 400}


def test_config_map_number_value_and_bad_quantity_are_decode_errors() -> None:
    errs = validate(CM, {"metadata": meta("cfg"), "data": {"port": 8080}})
    assert decode_error_status(CM, errs)["message"] == (
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct '
        "field ConfigMap.data of type string")
    errs = validate(POD, pod(container(resources={"limits": {"memory": "1 Gi"}})))
    assert decode_error_status(POD, errs)["message"] == (
        "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


def test_bad_base64_secret_is_a_decode_error() -> None:
    errs = validate(SECRET, {"metadata": meta("s"), "data": {"a": "not base64!"}})
    assert decode_error_status(SECRET, errs)["message"] == (
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3')


def test_non_object_where_an_object_belongs() -> None:
    assert [e.error() for e in validate(POD, {"metadata": meta(), "spec": "junk"})] == [
        'spec: Invalid value: "junk": json: cannot unmarshal string into Go struct field Pod.spec of type '
        "v1.PodSpec"]
    assert [e.error() for e in validate(POD, pod(**{"containers": {"name": "x"}}))] == [
        'spec.containers: Invalid value: {"name":"x"}: json: cannot unmarshal object into Go struct field '
        "PodSpec.spec.containers of type []v1.Container"]


def test_unknown_fields() -> None:
    obj = pod(container(imagePullPolcy="Always"))
    assert decode_error_status(POD, validate(POD, obj)) is None
    assert strict_decoding_status(POD, obj)["message"] == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field '
        '"spec.containers[0].imagePullPolcy"')
    assert unknown_field_warnings(POD, obj) == ['unknown field "spec.containers[0].imagePullPolcy"']
    assert strict_decoding_status(POD, pod()) is None


def test_custom_resources_get_metadata_checks_only() -> None:
    rt = ResourceType(group="stable.example.com", version="v1", kind="CronTab", plural="crontabs", namespaced=True,
                      crd=True)
    assert validate(rt, {"metadata": meta("a"), "spec": {"anything": [1, 2]}}) == []
    assert [e.error() for e in validate(rt, {"metadata": meta("A")})] == [
        f'metadata.name: Invalid value: "A": {SUBDOMAIN_MSG}']


# --- robustness ------------------------------------------------------------------------------------------------
_KEYS = hs.sampled_from([
    "apiVersion", "kind", "metadata", "name", "namespace", "labels", "annotations", "uid", "generateName",
    "ownerReferences", "finalizers", "spec", "status", "template", "containers", "initContainers", "image",
    "ports", "containerPort", "protocol", "resources", "limits", "requests", "cpu", "memory", "storage",
    "volumes", "volumeMounts", "configMap", "secret", "emptyDir", "env", "valueFrom", "selector", "matchLabels",
    "matchExpressions", "operator", "values", "replicas", "strategy", "rollingUpdate", "maxSurge",
    "maxUnavailable", "restartPolicy", "type", "clusterIP", "clusterIPs", "accessModes", "data", "rules",
    "verbs", "roleRef", "subjects", "names", "versions", "group", "scope", "webhooks", "livenessProbe", "httpGet",
    "tolerations", "metrics", "minReplicas", "maxReplicas", "scaleTargetRef", "involvedObject", "regarding",
    "eventTime", "paths", "http", "backend", "service", "port", "ingress", "egress", "from", "ipBlock", "cidr",
    "jobTemplate", "schedule", "updateStrategy", "taints", "capacity", "hard", "subsets", "addresses",
    "endpoints", "addressType", "provisioner", "value", "immutable", "stringData", "spec.foo"])
_SCALARS = hs.one_of(hs.none(), hs.booleans(), hs.integers(-2**63, 2**64), hs.floats(allow_nan=True),
                     hs.text(max_size=10), hs.sampled_from(["", "None", "Always", "RollingUpdate", "1Gi", "-1",
                                                            "ReadWriteOnce", "In", "25%", "NodePort", "v1", "a/b/c",
                                                            "YQ==", "2025-01-02T03:04:05Z"]))
JUNK = hs.recursive(_SCALARS, lambda inner: hs.one_of(hs.lists(inner, max_size=4),
                                                      hs.dictionaries(_KEYS, inner, max_size=6)), max_leaves=50)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rt=hs.sampled_from(BUILTIN_TYPES), obj=JUNK, old=hs.one_of(hs.none(), JUNK))
def test_validate_never_raises_on_junk(rt: ResourceType, obj: Any, old: Any) -> None:
    errs = _validate(rt, obj, old)  # no safety net: a bug would surface here
    assert all(isinstance(e, FieldError) for e in errs)
    for e in errs:
        e.message()
    invalid_status(rt, "x", errs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rt=hs.sampled_from(BUILTIN_TYPES), data=hs.data())
def test_validate_never_raises_on_corrupted_valid_objects(rt: ResourceType, data: hs.DataObject) -> None:
    """Junk planted deep inside otherwise-valid objects reaches the semantic validators' corners."""
    obj = _valid_object(rt)
    old = copy.deepcopy(obj) if data.draw(hs.booleans()) else None
    _corrupt(obj, data)
    assert all(isinstance(e, FieldError) for e in _validate(rt, obj, old))
    if old is not None:
        _corrupt(old, data)
        _validate(rt, obj, old)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rt=hs.sampled_from(BUILTIN_TYPES), data=hs.data())
def test_semantic_validators_never_raise_on_type_errors(rt: ResourceType, data: hs.DataObject) -> None:
    """Bypass the decode gate: the semantic validators alone must also survive wrong types."""
    obj = _valid_object(rt)
    _corrupt(obj, data)
    validate_object_meta(obj.get("metadata"), rt.namespaced, lambda n, p: [])
    fn = VALIDATORS.get((rt.group, rt.kind))
    if fn is not None:
        fn(obj, None)
        fn(obj, copy.deepcopy(obj))


def _valid_object(rt: ResourceType) -> dict[str, Any]:
    obj = every_kind_manifest(rt)
    apply_defaults(rt, obj)
    return obj


def _corrupt(obj: Any, data: hs.DataObject) -> None:
    node = obj
    for _ in range(data.draw(hs.integers(0, 7))):
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) \
            if isinstance(node, list) else []
        nested = [(k, v) for k, v in children if isinstance(v, dict | list) and v]
        if not nested:
            break
        _key, node = data.draw(hs.sampled_from(nested))
    if isinstance(node, dict) and node:
        node[data.draw(hs.sampled_from(sorted(node)))] = data.draw(JUNK)
    elif isinstance(node, list) and node:
        node[data.draw(hs.integers(0, len(node) - 1))] = data.draw(JUNK)
