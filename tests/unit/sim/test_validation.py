"""API validation: the exact texts, the 422 Status, immutability on update, decode errors, robustness.

The expected strings are kube-apiserver's (1.34+: composite bad values render as JSON, per kubernetes
PR #132314), because kubectl prints them verbatim and agents read them.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from prophet_sre.sim.defaults import apply_defaults
from prophet_sre.sim.registry import Registry, ResourceType
from prophet_sre.sim.validation import (
    FieldError,
    invalid_status,
    validate,
)
from prophet_sre.sim.validation_base import go_quote

REG = Registry()
UID = "6f1c2d3e-0000-4000-8000-000000000001"
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
               "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
               "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                   "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                   "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def rt_of(group: str, version: str, kind: str) -> ResourceType:
    rt = REG.by_kind(f"{group}/{version}" if group else version, kind)
    assert rt is not None
    return rt


POD = rt_of("", "v1", "Pod")
DEPLOY = rt_of("apps", "v1", "Deployment")
JOB = rt_of("batch", "v1", "Job")


def meta(name: str = "web", ns: str | None = "default", **extra: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "uid": UID, "creationTimestamp": "2025-01-02T03:04:05Z", **extra}
    if ns is not None:
        m["namespace"] = ns
    return m


def container(name: str = "web", image: str = "nginx:1.27", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **extra}


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta(),
            "spec": {"containers": list(containers) or [container()], **spec}}


def deployment(**spec: Any) -> dict[str, Any]:
    base = {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container()]}}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(), "spec": {**base, **spec}}


def errors(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None = None, *,
           defaults: bool = True) -> list[str]:
    """`field: message` of every error, after defaulting as the admission chain does."""
    obj = copy.deepcopy(obj)
    if defaults:
        apply_defaults(rt, obj, old=old)
    return [e.error() for e in validate(rt, obj, old)]


def admitted(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    apply_defaults(rt, obj)
    assert validate(rt, obj) == []
    return obj


# --- FieldError rendering ------------------------------------------------------------------------------
@pytest.mark.parametrize(("err", "text"), [
    (FieldError("FieldValueRequired", "spec.selector"), "Required value"),
    (FieldError("FieldValueRequired", "x", "must specify a handler type"), "Required value: must specify a handler type"),
    (FieldError("FieldValueInvalid", "x", "bad", "Foo_Bar"), 'Invalid value: "Foo_Bar": bad'),
    (FieldError("FieldValueInvalid", "x", "bad", -1), "Invalid value: -1: bad"),
    (FieldError("FieldValueInvalid", "x", "bad", {"b": "2", "a": "1"}), 'Invalid value: {"b":"2","a":"1"}: bad'),
    (FieldError("FieldValueInvalid", "x", "bad", None), "Invalid value: null: bad"),
    (FieldError("FieldValueNotSupported", "x", 'supported values: "Always", "OnFailure", "Never"', "Sometimes"),
     'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'),
    (FieldError("FieldValueForbidden", "x", "not allowed"), "Forbidden: not allowed"),
    (FieldError("FieldValueDuplicate", "x", "", "web"), 'Duplicate value: "web"'),
    (FieldError("FieldValueNotFound", "x", "", "cfg"), 'Not found: "cfg"'),
    (FieldError("FieldValueTooLong", "x", "may not be more than 262144 bytes"),
     "Too long: may not be more than 262144 bytes"),
])
def test_field_error_message(err: FieldError, text: str) -> None:
    assert err.message() == text
    assert err.error() == f"{err.field}: {text}"


def test_go_quote() -> None:
    assert go_quote('a"b\\c\n\t\x01é') == '"a\\"b\\\\c\\n\\t\\x01é"'


# --- the 422 Status -------------------------------------------------------------------------------------------
def test_invalid_status_for_deployment_without_selector() -> None:
    obj = deployment()
    del obj["spec"]["selector"]
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "x"}
    apply_defaults(DEPLOY, obj)
    status = invalid_status(DEPLOY, "web", validate(DEPLOY, obj))
    assert status == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'Deployment.apps "web" is invalid: [spec.selector: Required value, '
                   'spec.template.metadata.labels: Invalid value: {"app":"x"}: `selector` does not match template '
                   '`labels`]',
        "reason": "Invalid",
        "details": {"name": "web", "group": "apps", "kind": "Deployment", "causes": [
            {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.selector"},
            {"reason": "FieldValueInvalid", "message": 'Invalid value: {"app":"x"}: `selector` does not match '
                                                       "template `labels`",
             "field": "spec.template.metadata.labels"}]},
        "code": 422}


def test_invalid_status_single_error_core_kind_and_dedup() -> None:
    err = FieldError("FieldValueRequired", "spec.containers")
    status = invalid_status(POD, "p", [err, err])
    assert status["message"] == 'Pod "p" is invalid: spec.containers: Required value'
    assert "group" not in status["details"] and status["details"]["kind"] == "Pod"
    assert len(status["details"]["causes"]) == 2


# --- ObjectMeta ----------------------------------------------------------------------------------------------
def test_name_rules() -> None:
    assert errors(POD, {**pod(), "metadata": meta("Foo_Bar")}) == [
        f'metadata.name: Invalid value: "Foo_Bar": {SUBDOMAIN_MSG}']
    assert errors(POD, {**pod(), "metadata": {"namespace": "default"}}) == [
        "metadata.name: Required value: name or generateName is required"]
    long_name = "a" * 254
    assert errors(POD, {**pod(), "metadata": meta(long_name)}) == [
        f'metadata.name: Invalid value: "{long_name}": must be no more than 253 characters']
    assert errors(rt_of("", "v1", "Namespace"), {"metadata": {"name": "team.a"}}) == [
        f'metadata.name: Invalid value: "team.a": {LABEL_MSG}']
    svc = {"metadata": meta("1web"), "spec": {"ports": [{"port": 80}]}}
    assert errors(rt_of("", "v1", "Service"), svc) == [f'metadata.name: Invalid value: "1web": {DNS1035_MSG}']


def test_generate_name_is_checked_as_a_prefix() -> None:
    assert errors(POD, {**pod(), "metadata": {"generateName": "web-", "name": "web-abcde",
                                              "namespace": "default"}}) == []


def test_label_rules() -> None:
    obj = pod()
    obj["metadata"]["labels"] = {"app": "bad value", "-bad-key": "ok"}
    assert errors(POD, obj) == [
        f'metadata.labels: Invalid value: "bad value": {LABEL_VALUE_MSG}',
        'metadata.labels: Invalid value: "-bad-key": name part must consist of alphanumeric characters, \'-\', '
        "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
        "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]
    obj["metadata"]["labels"] = {"app": "v" * 64}
    assert errors(POD, obj) == [f'metadata.labels: Invalid value: "{"v" * 64}": must be no more than 63 characters']


def test_annotation_size_limit() -> None:
    obj = pod()
    obj["metadata"]["annotations"] = {"big": "x" * (256 * 1024)}
    assert errors(POD, obj) == ["metadata.annotations: Too long: may not be more than 262144 bytes"]


# --- pods -----------------------------------------------------------------------------------------------------
def test_pod_container_rules() -> None:
    assert errors(POD, pod(**{"containers": []})) == ["spec.containers: Required value"]
    assert errors(POD, pod(container(name=""), container(name="Web"), container(image=""), container())) == [
        "spec.containers[0].name: Required value",
        f'spec.containers[1].name: Invalid value: "Web": {LABEL_MSG}',
        "spec.containers[2].image: Required value",
        'spec.containers[3].name: Duplicate value: "web"']


def test_pod_ports_restart_policy_and_volume_mounts() -> None:
    obj = pod(container(ports=[{"containerPort": 70000}], volumeMounts=[{"name": "cfg", "mountPath": "/etc/app"}]),
              restartPolicy="Sometimes")
    assert errors(POD, obj) == [
        "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
        'spec.containers[0].volumeMounts[0].name: Not found: "cfg"',
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"']


def test_requests_above_limits() -> None:
    obj = pod(container(resources={"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}))
    assert errors(POD, obj) == [
        'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1']
    obj = pod(container(resources={"requests": {"memory": "2Gi"}, "limits": {"memory": "1024Mi"}}))
    assert errors(POD, obj) == ['spec.containers[0].resources.requests: Invalid value: "2Gi": must be less than '
                                "or equal to memory limit of 1Gi"]


def test_resource_names_and_negative_quantities() -> None:
    obj = pod(container(resources={"limits": {"gpu": "1", "cpu": "-1"}}))
    # requests default to the limits on a pod, so they are reported too, as a real server does
    assert sorted(errors(POD, obj)) == [
        'spec.containers[0].resources.limits[cpu]: Invalid value: "-1": must be greater than or equal to 0',
        'spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource for '
        "containers",
        'spec.containers[0].resources.requests[cpu]: Invalid value: "-1": must be greater than or equal to 0',
        'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for '
        "containers"]


def test_volume_rules() -> None:
    obj = pod(volumes=[{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}},
                       {"name": "cm", "configMap": {}}])
    assert errors(POD, obj) == ['spec.volumes[1].name: Duplicate value: "data"',
                                "spec.volumes[2].configMap.name: Required value"]


def test_ephemeral_volume_claims_are_validated_and_failed_volumes_cannot_be_mounted() -> None:
    obj = pod(container(volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}]),
              volumes=[{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}])
    assert errors(POD, obj) == [
        "spec.volumes[0].ephemeral.volumeClaimTemplate.spec.accessModes: Required value: at least 1 access mode "
        "is required",
        "spec.volumes[0].ephemeral.volumeClaimTemplate.spec.resources[storage]: Required value",
        'spec.containers[0].volumeMounts[0].name: Not found: "scratch"']


def test_probe_rules() -> None:
    obj = pod(container(livenessProbe={"successThreshold": 2, "exec": {"command": ["true"]}},
                        readinessProbe={"periodSeconds": 5}))
    assert errors(POD, obj) == [
        "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
        "spec.containers[0].readinessProbe: Required value: must specify a handler type"]


def test_pod_update_rules() -> None:
    old = admitted(POD, pod())
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.28"
    new["metadata"]["labels"] = {"tier": "web"}
    assert errors(POD, new, old) == []
    new["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    [msg] = errors(POD, new, old)
    assert msg.startswith(
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
        "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
        "previously negative)\n@@ ")
    assert '+   "Env": [' in msg
    more = copy.deepcopy(old)
    more["spec"]["containers"].append(container(name="side"))
    assert errors(POD, more, old) == ["spec.containers: Forbidden: pod updates may not add or remove containers"]


def test_pod_binding_may_set_node_name_once() -> None:
    old = admitted(POD, pod())
    bound = copy.deepcopy(old)
    bound["spec"]["nodeName"] = "node-1"
    assert errors(POD, bound, old) == []
    moved = copy.deepcopy(bound)
    moved["spec"]["nodeName"] = "node-2"
    assert errors(POD, moved, bound)[0].startswith("spec: Forbidden: pod updates may not change fields")


# --- workloads ---------------------------------------------------------------------------------------------
def test_deployment_rules() -> None:
    assert errors(DEPLOY, deployment()) == []
    assert errors(DEPLOY, deployment(replicas=-1)) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
    assert errors(DEPLOY, deployment(strategy={"type": "BlueGreen"})) == [
        'spec.strategy: Unsupported value: {"Type":"BlueGreen","RollingUpdate":null}: supported values: '
        '"Recreate", "RollingUpdate"']
    assert errors(DEPLOY, deployment(strategy={"type": "Recreate", "rollingUpdate": {}})) == [
        "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]
    assert errors(DEPLOY, deployment(selector={})) == [
        "spec.selector: Invalid value: {}: empty selector is invalid for deployment"]
    bad = deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "abc"}})
    assert errors(DEPLOY, bad) == [
        'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "abc": a valid percent string must be a numeric '
        "string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "abc": may not be 0 when `maxSurge` is 0']


def test_deployment_without_template() -> None:
    obj = deployment()
    del obj["spec"]["template"]
    assert errors(DEPLOY, obj) == [
        "spec.template.metadata.labels: Invalid value: null: `selector` does not match template `labels`",
        "spec.template.spec.containers: Required value"]


def test_template_restart_policy_for_replica_controllers() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert errors(DEPLOY, obj) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"']


def test_apps_selector_is_immutable() -> None:
    old = admitted(DEPLOY, deployment())
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "track": "canary"}}
    new["spec"]["template"]["metadata"]["labels"] = {"app": "web", "track": "canary"}
    assert errors(DEPLOY, new, old) == [
        'spec.selector: Invalid value: {"matchLabels":{"app":"web","track":"canary"}}: field is immutable']
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 5
    assert errors(DEPLOY, scaled, old) == []


def test_statefulset_forbidden_update() -> None:
    rt = rt_of("apps", "v1", "StatefulSet")
    old = admitted(rt, {"metadata": meta(), "spec": deployment()["spec"] | {"serviceName": "web"}})
    new = copy.deepcopy(old)
    new["spec"]["serviceName"] = "other"
    assert errors(rt, new, old) == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
        "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
        "are forbidden"]
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 3
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    assert errors(rt, new, old) == []


def test_daemonset_update_strategy() -> None:
    rt = rt_of("apps", "v1", "DaemonSet")
    obj = {"metadata": meta(), "spec": {**deployment()["spec"], "updateStrategy": {
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}}}
    assert errors(rt, obj) == [
        "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"]


def _job(restart: str | None = "Never") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [container()]}
    if restart is not None:
        spec["restartPolicy"] = restart
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta("pi"), "spec": {"template": {"spec": spec}}}


def test_job_restart_policy() -> None:
    assert errors(JOB, _job()) == []
    assert errors(JOB, _job("Always")) == [
        'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"']
    assert errors(JOB, _job("Sometimes")) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
        '"OnFailure", "Never"',
        'spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "OnFailure", "Never"']


def test_job_name_longer_than_a_label_value() -> None:
    name = "j" * 64
    obj = _job()
    obj["metadata"]["name"] = name
    apply_defaults(JOB, obj)
    status = invalid_status(JOB, name, validate(JOB, obj))
    assert status["message"] == (f'Job.batch "{name}" is invalid: spec.template.labels: Invalid value: "{name}": '
                                 "must be no more than 63 characters")
    assert len(status["details"]["causes"]) == 2  # job-name and batch.kubernetes.io/job-name


def test_job_generated_selector_must_match() -> None:
    obj = _job()
    apply_defaults(JOB, obj)
    obj["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    assert [e.error() for e in validate(JOB, obj)] == [
        'spec.selector: Invalid value: {"matchLabels":{"app":"other"}}: `selector` not auto-generated',
        'spec.template.metadata.labels: Invalid value: {"batch.kubernetes.io/controller-uid":'
        f'"{UID}","batch.kubernetes.io/job-name":"pi","controller-uid":"{UID}","job-name":"pi"}}: '
        "`selector` does not match template `labels`"]


def test_job_template_and_selector_are_immutable() -> None:
    old = admitted(JOB, _job())
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:5"
    [msg] = errors(JOB, new, old)
    assert msg.startswith('spec.template: Invalid value: {"metadata":{"labels":') and msg.endswith(
        ": field is immutable")
    suspended = copy.deepcopy(old)
    suspended["spec"]["suspend"] = True
    old_suspended = copy.deepcopy(suspended)
    suspended["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    assert errors(JOB, suspended, old_suspended) == []


def test_cronjob_rules() -> None:
    rt = rt_of("batch", "v1", "CronJob")
    job_spec = _job()["spec"]
    obj = {"metadata": meta("n" * 53), "spec": {"jobTemplate": {"spec": job_spec}}}
    assert errors(rt, obj) == [f'metadata.name: Invalid value: "{"n" * 53}": must be no more than 52 characters',
                               "spec.schedule: Required value"]


def test_hpa_rules() -> None:
    rt = rt_of("autoscaling", "v2", "HorizontalPodAutoscaler")
    obj = {"metadata": meta(), "spec": {"minReplicas": 3, "maxReplicas": 2}}
    assert errors(rt, obj) == [
        "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`",
        "spec.scaleTargetRef.kind: Required value", "spec.scaleTargetRef.name: Required value"]
