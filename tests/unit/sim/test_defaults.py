"""API defaulting: what the simulator stores must read like a real object and parse with the strict
`kubernetes` client models.

The client models of kubernetes 37 are strict pydantic v2 classes; they are deserialised exactly as the
client does for an HTTP response: `ApiClient().deserialize(body_text, "V1Pod", "application/json")`,
which ends in `V1Pod.from_dict(data)` -> `model_validate`.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from kubernetes.client import ApiClient

from prophet_sre.sim.defaults import (
    DEFAULTERS,
    JOB_NAME_LABEL,
    JOB_UID_LABEL,
    NAMESPACE_NAME_LABEL,
    apply_defaults,
    pod_qos_class,
    pull_policy_for,
)
from prophet_sre.sim.registry import BUILTIN_TYPES, Registry, ResourceType
from prophet_sre.sim.validation import validate
from prophet_sre.sim.validation_types import model_name

UID = "0b7c6f1e-3d2a-4b8e-9f10-5a6b7c8d9e0f"
STORE_META = {"uid": UID, "resourceVersion": "42", "creationTimestamp": "2025-01-02T03:04:05Z", "generation": 1}

_POD_SPEC = {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}
_TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": _POD_SPEC}
_SELECTOR = {"matchLabels": {"app": "web"}}
_SCHEMA = {"openAPIV3Schema": {"type": "object", "properties": {
    "spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}}
_WEBHOOK = {"name": "check.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "clientConfig": {"service": {"name": "hook", "namespace": "default", "path": "/validate"}},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}]}
_RBAC = "rbac.authorization.k8s.io"

# (group, version, kind) -> the body a user would write (metadata is added by `manifest`).
MANIFESTS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("", "v1", "Namespace"): {},
    ("", "v1", "Pod"): {"spec": _POD_SPEC},
    ("", "v1", "Service"): {"spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
    ("", "v1", "Endpoints"): {"subsets": [{"addresses": [{"ip": "10.244.0.5"}], "ports": [{"port": 80}]}]},
    ("", "v1", "ConfigMap"): {"data": {"app.properties": "a=b"}},
    ("", "v1", "Secret"): {"stringData": {"password": "s3cret"}},
    ("", "v1", "ServiceAccount"): {},
    ("", "v1", "Node"): {"status": {"capacity": {"cpu": 4, "memory": "16Gi", "pods": "110"}}},
    ("", "v1", "Event"): {"involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
                          "reason": "Started", "message": "Started container", "type": "Normal"},
    ("", "v1", "PersistentVolume"): {"spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
                                              "hostPath": {"path": "/data"}}},
    ("", "v1", "PersistentVolumeClaim"): {"spec": {"accessModes": ["ReadWriteOnce"],
                                                   "resources": {"requests": {"storage": "1Gi"}}}},
    ("", "v1", "ResourceQuota"): {"spec": {"hard": {"pods": "10", "requests.cpu": 4}}},
    ("", "v1", "LimitRange"): {"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"},
                                                    "min": {"memory": "64Mi"}}]}},
    ("", "v1", "ReplicationController"): {"spec": {"template": _TEMPLATE}},
    ("apps", "v1", "Deployment"): {"spec": {"selector": _SELECTOR, "template": _TEMPLATE}},
    ("apps", "v1", "ReplicaSet"): {"spec": {"selector": _SELECTOR, "template": _TEMPLATE}},
    ("apps", "v1", "StatefulSet"): {"spec": {"selector": _SELECTOR, "serviceName": "web", "template": _TEMPLATE,
                                             "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                                                 "accessModes": ["ReadWriteOnce"],
                                                 "resources": {"requests": {"storage": "1Gi"}}}}]}},
    ("apps", "v1", "DaemonSet"): {"spec": {"selector": _SELECTOR, "template": _TEMPLATE}},
    ("apps", "v1", "ControllerRevision"): {"data": {"spec": {"template": _TEMPLATE}}, "revision": 1},
    ("batch", "v1", "Job"): {"spec": {"template": {"spec": {**_POD_SPEC, "restartPolicy": "Never"}}}},
    ("batch", "v1", "CronJob"): {"spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {
        "template": {"spec": {**_POD_SPEC, "restartPolicy": "OnFailure"}}}}}},
    ("autoscaling", "v2", "HorizontalPodAutoscaler"): {"spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}},
    ("autoscaling", "v1", "HorizontalPodAutoscaler"): {"spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5,
        "targetCPUUtilizationPercentage": 70}},
    ("policy", "v1", "PodDisruptionBudget"): {"spec": {"minAvailable": 1, "selector": _SELECTOR}},
    ("networking.k8s.io", "v1", "NetworkPolicy"): {"spec": {"podSelector": _SELECTOR,
                                                            "ingress": [{"ports": [{"port": 80}]}]}},
    ("networking.k8s.io", "v1", "Ingress"): {"spec": {"rules": [{"host": "web.example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}},
    ("networking.k8s.io", "v1", "IngressClass"): {"spec": {"controller": "k8s.io/ingress-nginx"}},
    ("discovery.k8s.io", "v1", "EndpointSlice"): {"addressType": "IPv4", "endpoints": [
        {"addresses": ["10.244.0.5"]}], "ports": [{"port": 80}]},
    ("events.k8s.io", "v1", "Event"): {"eventTime": "2025-01-02T03:04:05.000000Z",
                                       "reportingController": "example.com/ctl", "reportingInstance": "ctl-1",
                                       "action": "Sync", "reason": "Synced", "type": "Normal",
                                       "regarding": {"kind": "Pod", "name": "web", "namespace": "default"}},
    ("storage.k8s.io", "v1", "StorageClass"): {"provisioner": "rancher.io/local-path"},
    (_RBAC, "v1", "Role"): {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
    (_RBAC, "v1", "RoleBinding"): {
        "roleRef": {"apiGroup": _RBAC, "kind": "Role", "name": "reader"},
        "subjects": [{"kind": "User", "name": "jane"},
                     {"kind": "ServiceAccount", "name": "default", "namespace": "default"}]},
    (_RBAC, "v1", "ClusterRole"): {"rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]},
    (_RBAC, "v1", "ClusterRoleBinding"): {"roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": "view"},
                                          "subjects": [{"kind": "Group", "name": "devs"}]},
    ("authorization.k8s.io", "v1", "SelfSubjectAccessReview"): {"spec": {"resourceAttributes": {
        "verb": "get", "resource": "pods", "namespace": "default"}}},
    ("authorization.k8s.io", "v1", "SubjectAccessReview"): {"spec": {"user": "jane", "resourceAttributes": {
        "verb": "list", "resource": "pods"}}},
    ("authorization.k8s.io", "v1", "SelfSubjectRulesReview"): {"spec": {"namespace": "default"}},
    ("authorization.k8s.io", "v1", "LocalSubjectAccessReview"): {"spec": {"user": "jane", "resourceAttributes": {
        "verb": "get", "resource": "pods", "namespace": "default"}}},
    ("authentication.k8s.io", "v1", "SelfSubjectReview"): {},
    ("coordination.k8s.io", "v1", "Lease"): {"spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}},
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"): {"spec": {
        "group": "stable.example.com", "scope": "Namespaced",
        "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": _SCHEMA}]}},
    ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration"): {"webhooks": [_WEBHOOK]},
    ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration"): {"webhooks": [_WEBHOOK]},
    ("scheduling.k8s.io", "v1", "PriorityClass"): {"value": 1000, "description": "high"},
}
_NAMES = {"CustomResourceDefinition": "crontabs.stable.example.com", "Namespace": "team-a"}

REG = Registry()


def rt_of(group: str, version: str, kind: str) -> ResourceType:
    rt = REG.by_kind(f"{group}/{version}" if group else version, kind)
    assert rt is not None
    return rt


def manifest(rt: ResourceType) -> dict[str, Any]:
    """A fresh minimal manifest of `rt`'s kind, with the metadata the store sets before admission."""
    meta: dict[str, Any] = {"name": _NAMES.get(rt.kind, "web"), **STORE_META}
    if rt.namespaced:
        meta["namespace"] = "default"
    return {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": meta,
            **copy.deepcopy(MANIFESTS[(rt.group, rt.version, rt.kind)])}


def admitted(rt: ResourceType, body: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    obj = manifest(rt) if body is None else body
    if spec:
        obj["spec"] = {**obj.get("spec", {}), **spec}
    apply_defaults(rt, obj)
    return obj


def parse(rt: ResourceType, obj: dict[str, Any]) -> Any:
    """Deserialise exactly as the kubernetes 37 client does for a response body."""
    name = model_name(rt)
    assert name is not None
    return ApiClient().deserialize(json.dumps(obj), name, "application/json")


def _id(rt: ResourceType) -> str:
    return f"{rt.group or 'core'}/{rt.version}/{rt.kind}"


# --- every built-in kind ---------------------------------------------------------------------------------
def test_every_builtin_kind_has_a_manifest() -> None:
    assert {(rt.group, rt.version, rt.kind) for rt in BUILTIN_TYPES} == set(MANIFESTS)


@pytest.mark.parametrize("rt", BUILTIN_TYPES, ids=_id)
def test_defaulted_object_parses_with_strict_client_model_and_validates(rt: ResourceType) -> None:
    obj = admitted(rt)
    assert validate(rt, obj) == []
    model = parse(rt, obj)
    assert model.metadata is None or model.metadata.uid == UID or rt.kind == "SelfSubjectReview"


@pytest.mark.parametrize("rt", BUILTIN_TYPES, ids=_id)
def test_defaulting_is_idempotent_on_update(rt: ResourceType) -> None:
    obj = admitted(rt)
    again = copy.deepcopy(obj)
    apply_defaults(rt, again, old=obj)
    assert again == obj
    assert validate(rt, again, obj) == []


def test_raw_manifest_would_not_parse_strictly() -> None:
    """The reason canonical quantities matter: a YAML number is not a valid quantity string to the client."""
    node = manifest(rt_of("", "v1", "Node"))
    with pytest.raises(Exception):  # noqa: B017 - pydantic's ValidationError
        parse(rt_of("", "v1", "Node"), node)


# --- pods ------------------------------------------------------------------------------------------------
def test_pod_defaults_are_visible_on_the_parsed_model() -> None:
    rt = rt_of("", "v1", "Pod")
    pod = parse(rt, admitted(rt))
    spec = pod.spec
    assert (spec.dns_policy, spec.restart_policy, spec.scheduler_name) == ("ClusterFirst", "Always",
                                                                         "default-scheduler")
    assert spec.termination_grace_period_seconds == 30
    assert spec.enable_service_links is True
    assert (spec.priority, spec.preemption_policy) == (0, "PreemptLowerPriority")
    assert (spec.service_account_name, spec.service_account) == ("default", "default")
    assert spec.security_context is not None
    c = spec.containers[0]
    assert (c.termination_message_path, c.termination_message_policy) == ("/dev/termination-log", "File")
    assert c.image_pull_policy == "IfNotPresent"
    assert c.ports[0].protocol == "TCP"
    assert c.resources is not None
    tolerations = {(t.key, t.effect, t.operator, t.toleration_seconds) for t in spec.tolerations}
    assert tolerations == {("node.kubernetes.io/not-ready", "NoExecute", "Exists", 300),
                           ("node.kubernetes.io/unreachable", "NoExecute", "Exists", 300)}
    assert (pod.status.phase, pod.status.qos_class) == ("Pending", "BestEffort")


def test_pod_gets_the_service_account_token_volume_and_mount() -> None:
    rt = rt_of("", "v1", "Pod")
    pod = admitted(rt)
    vol = pod["spec"]["volumes"][0]
    assert vol["name"].startswith("kube-api-access-") and len(vol["name"]) == len("kube-api-access-") + 5
    assert vol["projected"]["defaultMode"] == 420
    assert pod["spec"]["containers"][0]["volumeMounts"] == [
        {"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": vol["name"], "readOnly": True}]
    opted_out = manifest(rt)
    opted_out["spec"]["automountServiceAccountToken"] = False
    apply_defaults(rt, opted_out)
    assert "volumes" not in opted_out["spec"]


def test_pod_admission_defaults_only_on_create() -> None:
    rt = rt_of("", "v1", "Pod")
    old = admitted(rt)
    new = manifest(rt)
    apply_defaults(rt, new, old=old)
    assert "tolerations" not in new["spec"] and "volumes" not in new["spec"] and "status" not in new


def test_existing_tolerations_and_priority_classes_are_respected() -> None:
    rt = rt_of("", "v1", "Pod")
    obj = manifest(rt)
    obj["spec"]["tolerations"] = [{"operator": "Exists"}]
    obj["spec"]["priorityClassName"] = "system-node-critical"
    apply_defaults(rt, obj)
    assert obj["spec"]["tolerations"] == [{"operator": "Exists"}]
    assert obj["spec"]["priority"] == 2000001000


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.27", "IfNotPresent"),
    ("localhost:5000/team/app", "Always"), ("localhost:5000/team/app:v2", "IfNotPresent"),
    ("ghcr.io/x/y@sha256:" + "a" * 64, "IfNotPresent"), ("busybox:latest@sha256:" + "b" * 64, "Always"),
])
def test_image_pull_policy(image: str, policy: str) -> None:
    assert pull_policy_for(image) == policy


def _pod_with_resources(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"containers": [{"name": f"c{i}", "image": "x", "resources": r} for i, r in enumerate(resources)]}


@pytest.mark.parametrize(("resources", "qos"), [
    ([{}], "BestEffort"),
    ([{"requests": {"cpu": "100m"}}], "Burstable"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}], "Burstable"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),
    ([{"limits": {"cpu": "0", "memory": "0"}}], "BestEffort"),
])
def test_qos_class(resources: list[dict[str, Any]], qos: str) -> None:
    assert pod_qos_class(_pod_with_resources(*resources)) == qos


def test_requests_default_to_limits_and_qos_follows() -> None:
    rt = rt_of("", "v1", "Pod")
    obj = manifest(rt)
    obj["spec"]["containers"][0]["resources"] = {"limits": {"cpu": 1, "memory": "1024Mi"}}
    apply_defaults(rt, obj)
    res = obj["spec"]["containers"][0]["resources"]
    assert res == {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}
    assert obj["status"]["qosClass"] == "Guaranteed"


def test_template_gets_spec_defaults_but_not_pod_admission() -> None:
    rt = rt_of("apps", "v1", "Deployment")
    obj = manifest(rt)
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1000m"}}
    apply_defaults(rt, obj)
    tspec = obj["spec"]["template"]["spec"]
    assert tspec["dnsPolicy"] == "ClusterFirst" and tspec["restartPolicy"] == "Always"
    assert tspec["containers"][0]["resources"] == {"limits": {"cpu": "1"}}
    for pod_only in ("serviceAccountName", "tolerations", "priority", "volumes"):
        assert pod_only not in tspec


def test_probe_env_and_volume_defaults() -> None:
    rt = rt_of("", "v1", "Pod")
    obj = manifest(rt)
    c = obj["spec"]["containers"][0]
    c["livenessProbe"] = {"httpGet": {"port": 8080}}
    c["env"] = [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}}]
    obj["spec"]["volumes"] = [{"name": "cfg", "configMap": {"name": "app"}}, {"name": "tls", "secret": {
        "secretName": "tls"}}, {"name": "scratch"}, {"name": "host", "hostPath": {"path": "/var/log"}}]
    apply_defaults(rt, obj)
    assert c["livenessProbe"] == {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                  "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert c["env"][1]["valueFrom"]["resourceFieldRef"]["divisor"] == "0"
    vols = {v["name"]: v for v in obj["spec"]["volumes"]}
    assert vols["cfg"]["configMap"]["defaultMode"] == 420 and vols["tls"]["secret"]["defaultMode"] == 420
    assert vols["scratch"] == {"name": "scratch", "emptyDir": {}}
    assert vols["host"]["hostPath"]["type"] == ""
    parse(rt, obj)


def test_host_network_ports_get_host_ports() -> None:
    rt = rt_of("", "v1", "Pod")
    obj = admitted(rt, manifest(rt), hostNetwork=True)
    assert obj["spec"]["containers"][0]["ports"][0]["hostPort"] == 80


# --- controllers -----------------------------------------------------------------------------------------
def test_deployment_defaults() -> None:
    rt = rt_of("apps", "v1", "Deployment")
    d = parse(rt, admitted(rt)).spec
    assert d.replicas == 1 and d.revision_history_limit == 10 and d.progress_deadline_seconds == 600
    assert d.strategy.type == "RollingUpdate"
    assert (d.strategy.rolling_update.max_surge, d.strategy.rolling_update.max_unavailable) == ("25%", "25%")


def test_recreate_strategy_gets_no_rolling_update() -> None:
    rt = rt_of("apps", "v1", "Deployment")
    obj = admitted(rt, manifest(rt), strategy={"type": "Recreate"})
    assert obj["spec"]["strategy"] == {"type": "Recreate"}


def test_statefulset_and_daemonset_defaults() -> None:
    sts_rt, ds_rt = rt_of("apps", "v1", "StatefulSet"), rt_of("apps", "v1", "DaemonSet")
    sts = parse(sts_rt, admitted(sts_rt)).spec
    assert (sts.replicas, sts.pod_management_policy, sts.revision_history_limit) == (1, "OrderedReady", 10)
    assert sts.update_strategy.type == "RollingUpdate" and sts.update_strategy.rolling_update.partition == 0
    retention = sts.persistent_volume_claim_retention_policy
    assert (retention.when_deleted, retention.when_scaled) == ("Retain", "Retain")
    claim = sts.volume_claim_templates[0]
    assert (claim.kind, claim.spec.volume_mode, claim.status.phase) == ("PersistentVolumeClaim", "Filesystem",
                                                                       "Pending")
    ds = parse(ds_rt, admitted(ds_rt)).spec
    assert ds.update_strategy.type == "RollingUpdate" and ds.revision_history_limit == 10
    assert (ds.update_strategy.rolling_update.max_unavailable, ds.update_strategy.rolling_update.max_surge) == (1, 0)


def test_job_selector_and_labels_are_generated() -> None:
    rt = rt_of("batch", "v1", "Job")
    obj = admitted(rt)
    spec = obj["spec"]
    assert (spec["parallelism"], spec["completions"], spec["backoffLimit"]) == (1, 1, 6)
    assert (spec["completionMode"], spec["suspend"], spec["podReplacementPolicy"]) == ("NonIndexed", False,
                                                                                       "TerminatingOrFailed")
    assert "manualSelector" not in spec
    assert spec["selector"] == {"matchLabels": {JOB_UID_LABEL: UID}}
    expected = {JOB_UID_LABEL: UID, JOB_NAME_LABEL: "web", "controller-uid": UID, "job-name": "web"}
    assert spec["template"]["metadata"]["labels"] == expected
    assert obj["metadata"]["labels"] == expected
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    parse(rt, obj)


def test_job_with_manual_selector_or_parallelism_only() -> None:
    rt = rt_of("batch", "v1", "Job")
    manual = manifest(rt)
    manual["spec"].update(manualSelector=True, selector={"matchLabels": {"app": "x"}})
    manual["spec"]["template"]["metadata"] = {"labels": {"app": "x"}}
    apply_defaults(rt, manual)
    assert manual["spec"]["selector"] == {"matchLabels": {"app": "x"}}
    work_queue = admitted(rt, manifest(rt), parallelism=3)
    assert work_queue["spec"]["parallelism"] == 3 and "completions" not in work_queue["spec"]


def test_job_template_without_restart_policy_defaults_to_always_like_a_real_server() -> None:
    """...which validation then rejects with the real message."""
    rt = rt_of("batch", "v1", "Job")
    obj = manifest(rt)
    del obj["spec"]["template"]["spec"]["restartPolicy"]
    apply_defaults(rt, obj)
    assert obj["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    assert [e.error() for e in validate(rt, obj)] == [
        'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"']


def test_cronjob_defaults() -> None:
    rt = rt_of("batch", "v1", "CronJob")
    cj = parse(rt, admitted(rt)).spec
    assert (cj.concurrency_policy, cj.suspend, cj.successful_jobs_history_limit,
            cj.failed_jobs_history_limit) == ("Allow", False, 3, 1)
    assert cj.job_template.spec.template.spec.dns_policy == "ClusterFirst"


def test_replication_controller_selector_defaults_to_template_labels() -> None:
    rt = rt_of("", "v1", "ReplicationController")
    obj = admitted(rt)
    assert obj["spec"]["selector"] == {"app": "web"} and obj["metadata"]["labels"] == {"app": "web"}


def test_hpa_defaults() -> None:
    v2, v1 = rt_of("autoscaling", "v2", "HorizontalPodAutoscaler"), rt_of("autoscaling", "v1",
                                                                          "HorizontalPodAutoscaler")
    hpa = admitted(v2)
    assert hpa["spec"]["minReplicas"] == 1
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    assert "behavior" not in hpa["spec"]
    with_behavior = admitted(v2, manifest(v2), behavior={"scaleDown": {"stabilizationWindowSeconds": 60}})
    behavior = with_behavior["spec"]["behavior"]
    assert behavior["scaleDown"] == {"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                                     "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}
    assert behavior["scaleUp"]["policies"][0] == {"type": "Pods", "value": 4, "periodSeconds": 15}
    parse(v2, with_behavior)
    assert parse(v1, admitted(v1)).spec.min_replicas == 1


# --- core and other groups ------------------------------------------------------------------------------------
def test_service_defaults() -> None:
    rt = rt_of("", "v1", "Service")
    svc = parse(rt, admitted(rt))
    spec = svc.spec
    assert (spec.type, spec.session_affinity, spec.ip_family_policy, spec.ip_families) == (
        "ClusterIP", "None", "SingleStack", ["IPv4"])
    assert spec.internal_traffic_policy == "Cluster" and spec.external_traffic_policy is None
    assert (spec.ports[0].protocol, spec.ports[0].target_port) == ("TCP", 80)
    assert spec.cluster_ip is None  # allocation is the caller's
    assert svc.status.load_balancer is not None
    lb = admitted(rt, manifest(rt), type="LoadBalancer")["spec"]
    assert lb["externalTrafficPolicy"] == "Cluster" and lb["allocateLoadBalancerNodePorts"] is True
    ext = admitted(rt, manifest(rt), type="ExternalName", externalName="db.example.com")["spec"]
    assert "ipFamilies" not in ext and "internalTrafficPolicy" not in ext


def test_service_update_keeps_ip_families() -> None:
    rt = rt_of("", "v1", "Service")
    old = admitted(rt)
    old["spec"]["ipFamilies"] = ["IPv6"]
    new = manifest(rt)
    apply_defaults(rt, new, old=old)
    assert new["spec"]["ipFamilies"] == ["IPv6"]


def test_storage_defaults() -> None:
    pvc_rt, pv_rt, sc_rt = (rt_of("", "v1", "PersistentVolumeClaim"), rt_of("", "v1", "PersistentVolume"),
                            rt_of("storage.k8s.io", "v1", "StorageClass"))
    pvc = parse(pvc_rt, admitted(pvc_rt))
    assert (pvc.spec.volume_mode, pvc.status.phase) == ("Filesystem", "Pending")
    pv = parse(pv_rt, admitted(pv_rt))
    assert (pv.spec.persistent_volume_reclaim_policy, pv.spec.volume_mode, pv.status.phase) == (
        "Retain", "Filesystem", "Available")
    sc = parse(sc_rt, admitted(sc_rt))
    assert (sc.reclaim_policy, sc.volume_binding_mode) == ("Delete", "Immediate")


def test_namespace_defaults() -> None:
    rt = rt_of("", "v1", "Namespace")
    ns = admitted(rt)
    assert ns["spec"]["finalizers"] == ["kubernetes"] and ns["status"]["phase"] == "Active"
    assert ns["metadata"]["labels"] == {NAMESPACE_NAME_LABEL: "team-a"}


def test_secret_string_data_is_merged_into_data() -> None:
    rt = rt_of("", "v1", "Secret")
    obj = manifest(rt)
    obj["data"] = {"password": base64.b64encode(b"old").decode(), "user": base64.b64encode(b"admin").decode()}
    apply_defaults(rt, obj)
    assert obj["type"] == "Opaque" and "stringData" not in obj
    assert base64.b64decode(obj["data"]["password"]) == b"s3cret"
    assert base64.b64decode(obj["data"]["user"]) == b"admin"


def test_quantities_are_canonicalised() -> None:
    rt = rt_of("", "v1", "Pod")
    obj = manifest(rt)
    obj["spec"]["containers"][0]["resources"] = {"requests": {"cpu": 0.5, "memory": "1536Mi"},
                                                 "limits": {"cpu": "1000m", "memory": "2048Mi"}}
    apply_defaults(rt, obj)
    assert obj["spec"]["containers"][0]["resources"] == {"requests": {"cpu": "500m", "memory": "1536Mi"},
                                                         "limits": {"cpu": "1", "memory": "2Gi"}}


def test_network_policy_types() -> None:
    rt = rt_of("networking.k8s.io", "v1", "NetworkPolicy")
    assert admitted(rt)["spec"]["policyTypes"] == ["Ingress"]
    egress = admitted(rt, manifest(rt), egress=[{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}])
    assert egress["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert admitted(rt)["spec"]["ingress"][0]["ports"][0]["protocol"] == "TCP"


def test_crd_defaults_and_established_status() -> None:
    rt = rt_of("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
    obj = admitted(rt)
    crd = parse(rt, obj)
    assert (crd.spec.names.singular, crd.spec.names.list_kind) == ("crontab", "CronTabList")
    assert crd.spec.conversion.strategy == "None"
    assert crd.status.accepted_names.plural == "crontabs" and crd.status.stored_versions == ["v1"]
    conds = {c.type: c for c in crd.status.conditions}
    assert conds["Established"].status == "True" and conds["NamesAccepted"].reason == "NoConflicts"
    assert obj["status"]["acceptedNames"]["shortNames"] is not obj["spec"]["names"]["shortNames"]


def test_crd_update_keeps_conditions_and_accumulates_stored_versions() -> None:
    rt = rt_of("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
    old = admitted(rt)
    new = copy.deepcopy(old)
    v2 = copy.deepcopy(new["spec"]["versions"][0]) | {"name": "v2"}
    new["spec"]["versions"][0]["storage"] = False
    new["spec"]["versions"].append(v2)
    apply_defaults(rt, new, old=old, now="2030-01-01T00:00:00Z")
    assert new["status"]["storedVersions"] == ["v1", "v2"]
    assert new["status"]["conditions"] == old["status"]["conditions"]


def test_crd_status_sent_on_create_is_ignored_and_stored_versions_can_be_pruned() -> None:
    rt = rt_of("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
    obj = manifest(rt)
    obj["status"] = {"storedVersions": ["v0"], "conditions": [{"type": "Established", "status": "False"}]}
    apply_defaults(rt, obj)
    assert obj["status"]["storedVersions"] == ["v1"]
    assert {c["type"]: c["status"] for c in obj["status"]["conditions"]} == {"NamesAccepted": "True",
                                                                            "Established": "True"}
    pruned = copy.deepcopy(obj)
    pruned["status"]["storedVersions"] = ["v1"]
    old = copy.deepcopy(obj)
    old["status"]["storedVersions"] = ["v0", "v1"]
    apply_defaults(rt, pruned, old=old)  # the storage-version migration's status write
    assert pruned["status"]["storedVersions"] == ["v1"]


def test_rbac_subject_and_webhook_defaults() -> None:
    rb = admitted(rt_of(_RBAC, "v1", "RoleBinding"))
    assert [s["apiGroup"] for s in rb["subjects"]] == [_RBAC, ""]
    wh = admitted(rt_of("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration"))["webhooks"][0]
    assert (wh["failurePolicy"], wh["matchPolicy"], wh["timeoutSeconds"], wh["reinvocationPolicy"]) == (
        "Fail", "Equivalent", 10, "Never")
    assert wh["clientConfig"]["service"]["port"] == 443 and wh["rules"][0]["scope"] == "*"


def test_kinds_without_defaults_and_custom_resources_are_untouched() -> None:
    for rt in BUILTIN_TYPES:
        if (rt.group, rt.kind) not in DEFAULTERS and rt.kind != "HorizontalPodAutoscaler":
            obj = manifest(rt)
            before = copy.deepcopy(obj)
            apply_defaults(rt, obj)
            assert obj == before, rt.kind
    crd_rt = ResourceType(group="stable.example.com", version="v1", kind="CronTab", plural="crontabs",
                          namespaced=True, crd=True)
    obj = {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {}}
    apply_defaults(crd_rt, obj)
    assert obj == {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "x"}, "spec": {}}


# --- robustness ------------------------------------------------------------------------------------------------
_KEYS = hs.sampled_from([
    "spec", "status", "metadata", "template", "containers", "initContainers", "resources", "limits", "requests",
    "ports", "volumes", "selector", "matchLabels", "labels", "strategy", "rollingUpdate", "updateStrategy",
    "names", "versions", "jobTemplate", "data", "stringData", "capacity", "behavior", "scaleUp", "tolerations",
    "env", "valueFrom", "fieldRef", "livenessProbe", "httpGet", "configMap", "projected", "sources", "subjects",
    "webhooks", "clientConfig", "service", "conditions", "storedVersions", "name", "uid", "type", "image",
    "finalizers", "egress", "ingress", "volumeClaimTemplates", "limits", "max", "cpu", "memory", "subsets"])
_SCALARS = hs.one_of(hs.none(), hs.booleans(), hs.integers(-2**40, 2**40), hs.floats(allow_nan=True),
                     hs.text(max_size=12), hs.sampled_from(["RollingUpdate", "Always", "ClusterIP", "1Gi", "500m",
                                                            "LoadBalancer", "Container", "User"]))
JUNK = hs.recursive(_SCALARS, lambda inner: hs.one_of(hs.lists(inner, max_size=4),
                                                      hs.dictionaries(_KEYS, inner, max_size=5)), max_leaves=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=hs.sampled_from(BUILTIN_TYPES), body=JUNK, old=hs.one_of(hs.none(), JUNK))
def test_apply_defaults_never_raises_on_junk(kind: ResourceType, body: Any, old: Any) -> None:
    obj = {"metadata": {"name": "x", "uid": UID}, "spec": body, "status": body} if not isinstance(body, dict) \
        else body
    apply_defaults(kind, obj, old=old)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=hs.sampled_from(BUILTIN_TYPES), data=hs.data())
def test_apply_defaults_never_raises_on_corrupted_manifests(kind: ResourceType, data: hs.DataObject) -> None:
    obj = manifest(kind)
    _corrupt(obj, data)
    apply_defaults(kind, obj)


def _corrupt(obj: Any, data: hs.DataObject) -> None:
    """Replace one random subtree of `obj` with junk."""
    node = obj
    for _ in range(data.draw(hs.integers(0, 6))):
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) \
            if isinstance(node, list) else []
        containers = [(k, v) for k, v in children if isinstance(v, dict | list) and v]
        if not containers:
            break
        _key, node = data.draw(hs.sampled_from(containers))
    if isinstance(node, dict) and node:
        node[data.draw(hs.sampled_from(sorted(node)))] = data.draw(JUNK)
    elif isinstance(node, list) and node:
        node[data.draw(hs.integers(0, len(node) - 1))] = data.draw(JUNK)
