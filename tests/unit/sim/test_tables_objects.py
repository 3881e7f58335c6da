"""Server-side Table rows for workloads, networking, nodes, cluster objects and storage (split from test_tables.py)."""

from __future__ import annotations

from typing import Any

import pytest
from test_tables import (  # shared fixtures and builders
    NOW,
    ago,
    cells,
    pod,
    table,
)

from prophet_sre.sim.registry import PrinterColumn, ResourceType, types_from_crd
from prophet_sre.sim.tables import (
    build_table,
    columns_for,
)
from prophet_sre.sim.tables_common import format_label_selector, quantity, selector_string

# -- workloads ------------------------------------------------------------------------------------

def _template(*containers: tuple[str, str]) -> dict:
    return {"spec": {"containers": [{"name": n, "image": i} for n, i in containers]}}


def test_deployment_row() -> None:
    dep = {"metadata": {"name": "web", "creationTimestamp": ago(days=4)},
           "spec": {"replicas": 3, "template": _template(("web", "nginx:1.27"), ("log", "fluent-bit:3")),
                    "selector": {"matchLabels": {"app": "web"},
                                 "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]},
                                                      {"key": "canary", "operator": "DoesNotExist"}]}},
           "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    assert cells("apps", "v1", "deployments", dep) == {
        "Name": "web", "Ready": "2/3", "Up-to-date": 3, "Available": 2, "Age": "4d",
        "Containers": "web,log", "Images": "nginx:1.27,fluent-bit:3",
        "Selector": "app=web,!canary,env in (dev,prod)"}


def test_fresh_deployment_without_status_or_replicas() -> None:
    row = cells("apps", "v1", "deployments", {"metadata": {"name": "new"}, "spec": {}})
    assert (row["Ready"], row["Up-to-date"], row["Available"], row["Age"]) == ("0/1", 0, 0, "<unknown>")
    assert row["Selector"] == ""


def test_replicaset_statefulset_daemonset_rows() -> None:
    rs = {"metadata": {"name": "web-7d9f"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                                                      "template": _template(("web", "nginx"))},
          "status": {"replicas": 2, "readyReplicas": 1}}
    row = cells("apps", "v1", "replicasets", rs)
    assert (row["Desired"], row["Current"], row["Ready"], row["Selector"]) == (2, 2, 1, "app=web")
    sts = {"metadata": {"name": "db"}, "spec": {"replicas": 3, "template": _template(("pg", "postgres:16"))},
           "status": {"readyReplicas": 3}}
    assert cells("apps", "v1", "statefulsets", sts)["Ready"] == "3/3"
    ds = {"metadata": {"name": "agent"}, "spec": {"template": {"spec": {
        "nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "a", "image": "agent:2"}]}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                   "updatedNumberScheduled": 3, "numberAvailable": 2}}
    row = cells("apps", "v1", "daemonsets", ds)
    assert [row[k] for k in ("Desired", "Current", "Ready", "Up-to-date", "Available")] == [3, 3, 2, 3, 2]
    assert row["Node Selector"] == "kubernetes.io/os=linux"
    assert row["Selector"] == "<none>"


def test_controller_revision_names_its_controller() -> None:
    cr = {"metadata": {"name": "db-5c8", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "controller": True}]}, "revision": 4}
    row = cells("apps", "v1", "controllerrevisions", cr)
    assert (row["Controller"], row["Revision"]) == ("statefulset.apps/db", 4)


@pytest.mark.parametrize(("conditions", "deleting", "expected"), [
    ([{"type": "Complete", "status": "True"}], False, "Complete"),
    ([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}], False, "Failed"),
    ([{"type": "Suspended", "status": "True"}], False, "Suspended"),
    ([{"type": "Suspended", "status": "False"}], False, "Running"),
    ([], True, "Terminating"),
    ([], False, "Running"),
])
def test_job_status(conditions: list, deleting: bool, expected: str) -> None:
    md: dict[str, Any] = {"name": "migrate"}
    if deleting:
        md["deletionTimestamp"] = ago(seconds=1)
    job = {"metadata": md, "spec": {"completions": 1}, "status": {"conditions": conditions}}
    assert cells("batch", "v1", "jobs", job)["Status"] == expected


def test_job_completions_and_duration() -> None:
    done = {"metadata": {"name": "a", "creationTimestamp": ago(hours=1)},
            "spec": {"completions": 1, "parallelism": 1, "selector": {"matchLabels": {"job-name": "a"}},
                     "template": _template(("main", "busybox"))},
            "status": {"succeeded": 1, "startTime": ago(hours=1), "completionTime": ago(minutes=58, seconds=5),
                       "conditions": [{"type": "Complete", "status": "True"}]}}
    row = cells("batch", "v1", "jobs", done)
    assert (row["Completions"], row["Duration"], row["Age"], row["Selector"]) == ("1/1", "115s", "60m", "job-name=a")
    running = {"metadata": {"name": "b"}, "spec": {"parallelism": 3}, "status": {"startTime": ago(minutes=3)}}
    row = cells("batch", "v1", "jobs", running)
    assert (row["Completions"], row["Duration"]) == ("0/1 of 3", "3m")
    assert cells("batch", "v1", "jobs", {"metadata": {"name": "c"}})["Duration"] == ""


def test_cronjob_row() -> None:
    cj = {"metadata": {"name": "backup", "creationTimestamp": ago(days=10)},
          "spec": {"schedule": "0 2 * * *", "suspend": False, "jobTemplate": {"spec": {
              "template": _template(("backup", "restic:0.16"))}}},
          "status": {"active": [{"name": "backup-1"}], "lastScheduleTime": ago(hours=10)}}
    assert cells("batch", "v1", "cronjobs", cj) == {
        "Name": "backup", "Schedule": "0 2 * * *", "Timezone": "<none>", "Suspend": "False", "Active": 1,
        "Last Schedule": "10h", "Age": "10d", "Containers": "backup", "Images": "restic:0.16",
        "Selector": "<none>"}
    never = {"metadata": {"name": "n"}, "spec": {"schedule": "@hourly", "timeZone": "Etc/UTC", "suspend": True}}
    row = cells("batch", "v1", "cronjobs", never)
    assert (row["Timezone"], row["Suspend"], row["Active"], row["Last Schedule"]) == ("Etc/UTC", "True", 0, "<none>")


# -- services & networking ------------------------------------------------------------------------

def _svc(type_: str, ports: list[dict], status: dict | None = None, **spec: Any) -> dict:
    return {"metadata": {"name": "web", "creationTimestamp": ago(minutes=20)},
            "spec": {"type": type_, "clusterIP": "10.96.12.34", "clusterIPs": ["10.96.12.34"], "ports": ports,
                     **spec}, "status": status or {}}


def test_load_balancer_pending_and_node_ports() -> None:
    svc = _svc("LoadBalancer", [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                                {"port": 53, "nodePort": 30053, "protocol": "UDP"}], selector={"app": "web"})
    assert cells("", "v1", "services", svc) == {
        "Name": "web", "Type": "LoadBalancer", "Cluster-IP": "10.96.12.34", "External-IP": "<pending>",
        "Port(s)": "80:30080/TCP,53:30053/UDP", "Age": "20m", "Selector": "app=web"}


def test_load_balancer_with_ingress_and_external_ips() -> None:
    svc = _svc("LoadBalancer", [{"port": 443}], {"loadBalancer": {"ingress": [
        {"ip": "203.0.113.9"}, {"hostname": "lb.example.com"}, {"ip": "203.0.113.9"}]}})
    assert cells("", "v1", "services", svc)["External-IP"] == "203.0.113.9,lb.example.com"
    svc["spec"]["externalIPs"] = ["198.51.100.1"]
    assert cells("", "v1", "services", svc)["External-IP"] == "203.0.113.9,lb.example.com,198.51.100.1"


def test_cluster_ip_headless_and_external_name_services() -> None:
    row = cells("", "v1", "services", _svc("ClusterIP", [{"port": 80, "protocol": "TCP"}]))
    assert (row["External-IP"], row["Port(s)"], row["Selector"]) == ("<none>", "80/TCP", "<none>")
    headless = _svc("ClusterIP", [], clusterIP="None", clusterIPs=["None"])
    assert (cells("", "v1", "services", headless)["Cluster-IP"], cells("", "v1", "services", headless)["Port(s)"]) \
        == ("None", "<none>")
    ext = {"metadata": {"name": "db"}, "spec": {"type": "ExternalName", "externalName": "db.example.com"}}
    row = cells("", "v1", "services", ext)
    assert (row["Cluster-IP"], row["External-IP"]) == ("<none>", "db.example.com")


def test_endpoints_show_at_most_three() -> None:
    ep = {"metadata": {"name": "web"}, "subsets": [{
        "addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 6)], "ports": [{"port": 80}]}]}
    assert cells("", "v1", "endpoints", ep)["Endpoints"] == "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."
    assert cells("", "v1", "endpoints", {"metadata": {"name": "none"}})["Endpoints"] == "<none>"
    v6 = {"metadata": {"name": "v6"}, "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 8080}]}]}
    assert cells("", "v1", "endpoints", v6)["Endpoints"] == "[fd00::1]:8080"


def test_endpoint_slice_row() -> None:
    eps = {"metadata": {"name": "web-abc"}, "addressType": "IPv4", "ports": [{"port": 80}, {"name": "metrics"}],
           "endpoints": [{"addresses": [f"10.0.1.{i}"]} for i in range(1, 5)]}
    row = cells("discovery.k8s.io", "v1", "endpointslices", eps)
    assert (row["AddressType"], row["Ports"], row["Endpoints"]) == (
        "IPv4", "80,metrics", "10.0.1.1,10.0.1.2,10.0.1.3 + 1 more...")
    empty = cells("discovery.k8s.io", "v1", "endpointslices", {"metadata": {"name": "e"}, "addressType": "IPv4"})
    assert (empty["Ports"], empty["Endpoints"]) == ("<unset>", "<unset>")


def test_ingress_and_ingress_class_rows() -> None:
    ing = {"metadata": {"name": "web"}, "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"]}],
                                                 "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}]},
           "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}
    row = cells("networking.k8s.io", "v1", "ingresses", ing)
    assert [row[k] for k in ("Class", "Hosts", "Address", "Ports")] == [
        "nginx", "a.example.com,b.example.com", "192.0.2.10", "80, 443"]
    bare = cells("networking.k8s.io", "v1", "ingresses", {"metadata": {"name": "x"}, "spec": {"rules": [{}]}})
    assert [bare[k] for k in ("Class", "Hosts", "Address", "Ports")] == ["<none>", "*", "", "80"]
    ic = {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx", "parameters": {
        "apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}}
    assert cells("networking.k8s.io", "v1", "ingressclasses", ic)["Parameters"] == \
        "IngressParameters.k8s.example.com/external-lb"


def test_network_policy_selector() -> None:
    np = {"metadata": {"name": "deny"}, "spec": {"podSelector": {}}}
    assert cells("networking.k8s.io", "v1", "networkpolicies", np)["Pod-Selector"] == "<none>"
    np["spec"]["podSelector"] = {"matchLabels": {"role": "db"}}
    assert cells("networking.k8s.io", "v1", "networkpolicies", np)["Pod-Selector"] == "role=db"


# -- nodes & cluster objects ----------------------------------------------------------------------

def test_cordoned_control_plane_node() -> None:
    node = {"metadata": {"name": "cp-1", "creationTimestamp": ago(days=30),
                         "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/os": "linux"}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                      {"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "Hostname", "address": "cp-1"},
                                     {"type": "InternalIP", "address": "172.18.0.2"}],
                       "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                    "kernelVersion": "6.8.0", "containerRuntimeVersion": "containerd://2.0.5"}}}
    assert cells("", "v1", "nodes", node) == {
        "Name": "cp-1", "Status": "Ready,SchedulingDisabled", "Roles": "control-plane", "Age": "30d",
        "Version": "v1.33.1", "Internal-IP": "172.18.0.2", "External-IP": "<none>",
        "OS-Image": "Debian GNU/Linux 12 (bookworm)", "Kernel-Version": "6.8.0",
        "Container-Runtime": "containerd://2.0.5"}


def test_node_status_and_roles_variants() -> None:
    not_ready = {"metadata": {"name": "w", "labels": {"node-role.kubernetes.io/worker": "",
                                                      "node-role.kubernetes.io/infra": "",
                                                      "kubernetes.io/role": "edge"}},
                 "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}
    row = cells("", "v1", "nodes", not_ready)
    assert (row["Status"], row["Roles"], row["OS-Image"]) == ("NotReady", "edge,infra,worker", "<unknown>")
    row = cells("", "v1", "nodes", {"metadata": {"name": "new"}})
    assert (row["Status"], row["Roles"]) == ("Unknown", "<none>")


def test_namespace_configmap_secret_serviceaccount_rows() -> None:
    assert cells("", "v1", "namespaces", {"metadata": {"name": "x"}, "status": {"phase": "Terminating"}})[
        "Status"] == "Terminating"
    cm = {"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert cells("", "v1", "configmaps", cm)["Data"] == 3
    secret = {"metadata": {"name": "tls"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}
    row = cells("", "v1", "secrets", secret)
    assert (row["Type"], row["Data"]) == ("kubernetes.io/tls", 2)
    sa = {"metadata": {"name": "builder"}, "secrets": [{"name": "builder-token"}]}
    assert cells("", "v1", "serviceaccounts", sa)["Secrets"] == 1


def test_core_event_row() -> None:
    ev = {"metadata": {"name": "web-1.17f0a"}, "type": "Warning", "reason": "BackOff",
          "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
          "source": {"component": "kubelet", "host": "worker-1"},
          "message": "Back-off restarting failed container app\n", "count": 12,
          "firstTimestamp": ago(hours=1), "lastTimestamp": ago(seconds=30)}
    assert cells("", "v1", "events", ev) == {
        "Last Seen": "30s", "Type": "Warning", "Reason": "BackOff", "Object": "pod/web-1",
        "Subobject": "spec.containers{app}", "Source": "kubelet, worker-1",
        "Message": "Back-off restarting failed container app", "First Seen": "60m", "Count": 12,
        "Name": "web-1.17f0a"}


def test_series_event_and_events_api_group() -> None:
    ev = {"metadata": {"name": "e"}, "type": "Normal", "reason": "Pulled", "eventTime": ago(minutes=7),
          "involvedObject": {"kind": "Node"}, "reportingController": "kubelet",
          "series": {"count": 4, "lastObservedTime": ago(minutes=1)}}
    row = cells("", "v1", "events", ev)
    assert [row[k] for k in ("Last Seen", "First Seen", "Count", "Object", "Source")] == [
        "60s", "7m", 4, "node", "kubelet"]
    new = {"metadata": {"name": "n"}, "type": "Normal", "reason": "Scheduled", "note": "Assigned default/web-1",
           "regarding": {"kind": "Pod", "name": "web-1"}, "eventTime": ago(minutes=2, seconds=5),
           "reportingController": "default-scheduler", "reportingInstance": "scheduler-0"}
    row = cells("events.k8s.io", "v1", "events", new)
    assert [row[k] for k in ("Last Seen", "Object", "Message", "Source", "Count")] == [
        "2m5s", "pod/web-1", "Assigned default/web-1", "default-scheduler, scheduler-0", 1]


# -- storage --------------------------------------------------------------------------------------

def test_bound_and_pending_claims() -> None:
    bound = {"metadata": {"name": "data"}, "spec": {"volumeName": "pvc-123", "storageClassName": "standard",
                                                    "resources": {"requests": {"storage": "1Gi"}},
                                                    "volumeMode": "Filesystem"},
             "status": {"phase": "Bound", "capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteOnce"]}}
    row = cells("", "v1", "persistentvolumeclaims", bound)
    assert [row[k] for k in ("Status", "Volume", "Capacity", "Access Modes", "StorageClass",
                             "VolumeAttributesClass", "VolumeMode")] == [
        "Bound", "pvc-123", "1Gi", "RWO", "standard", "<unset>", "Filesystem"]
    pending = {"metadata": {"name": "p", "annotations": {"volume.beta.kubernetes.io/storage-class": "old"}},
               "spec": {"storageClassName": "standard"}, "status": {"phase": "Pending"}}
    row = cells("", "v1", "persistentvolumeclaims", pending)
    assert [row[k] for k in ("Status", "Volume", "Capacity", "Access Modes", "StorageClass")] == [
        "Pending", "", "", "", "old"]


def test_persistent_volume_row() -> None:
    pv = {"metadata": {"name": "pvc-123"}, "spec": {
        "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "standard",
        "claimRef": {"namespace": "default", "name": "data"}}, "status": {"phase": "Bound"}}
    row = cells("", "v1", "persistentvolumes", pv)
    assert [row[k] for k in ("Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "Reason")] == [
        "10Gi", "RWO,RWX", "Delete", "Bound", "default/data", ""]


def test_storage_class_default_suffix() -> None:
    sc = {"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
          "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}
    assert cells("storage.k8s.io", "v1", "storageclasses", sc) == {
        "Name": "standard (default)", "Provisioner": "rancher.io/local-path", "ReclaimPolicy": "Delete",
        "VolumeBindingMode": "WaitForFirstConsumer", "AllowVolumeExpansion": False, "Age": "<unknown>"}


@pytest.mark.parametrize(("raw", "canonical"), [
    ("1Gi", "1Gi"), ("1024Mi", "1Gi"), ("1536Mi", "1536Mi"), ("1.5Gi", "1536Mi"), ("1000M", "1G"),
    ("1500M", "1500M"), ("0.5", "500m"), ("100m", "100m"), ("2000m", "2"), ("1e3", "1e3"), ("0", "0"),
    ("512", "512"), ("10737418240", "10737418240"), (None, "0"), (3, "3"), ("garbage", "garbage"),
])
def test_quantity_canonical_form(raw: Any, canonical: str) -> None:
    assert quantity(raw) == canonical


# -- autoscaling, policy, rbac, misc --------------------------------------------------------------

def _hpa(metrics: list[dict] | None, current: list[dict] | None, **spec: Any) -> dict:
    s: dict[str, Any] = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                         "minReplicas": 2, "maxReplicas": 10, **spec}
    if metrics is not None:
        s["metrics"] = metrics
    return {"metadata": {"name": "web"}, "spec": s,
            "status": {"currentReplicas": 3, **({"currentMetrics": current} if current is not None else {})}}


_CPU = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}


def test_hpa_targets() -> None:
    cur = [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45,
                                                                        "averageValue": "90m"}}}]
    row = cells("autoscaling", "v2", "horizontalpodautoscalers", _hpa([_CPU], cur))
    assert [row[k] for k in ("Reference", "Targets", "MinPods", "MaxPods", "Replicas")] == [
        "Deployment/web", "cpu: 45%/80%", "2", 10, 3]
    assert cells("autoscaling", "v2", "horizontalpodautoscalers", _hpa([_CPU], None))["Targets"] == \
        "cpu: <unknown>/80%"


def test_hpa_many_metrics_and_defaults() -> None:
    memory = {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue",
                                                                          "averageValue": "1024Mi"}}}
    pods = {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue",
                                                                           "averageValue": "100"}}}
    row = cells("autoscaling", "v2", "horizontalpodautoscalers", _hpa([_CPU, memory, pods], []))
    assert row["Targets"] == "cpu: <unknown>/80%, memory: <unknown>/1Gi + 1 more..."
    # The apiserver defaults a v2 HPA without metrics to 80% CPU and minReplicas to 1.
    bare = _hpa(None, None)
    del bare["spec"]["minReplicas"]
    row = cells("autoscaling", "v2", "horizontalpodautoscalers", bare)
    assert (row["Targets"], row["MinPods"]) == ("cpu: <unknown>/80%", "1")


def test_hpa_v1_shape() -> None:
    v1 = {"metadata": {"name": "web"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
                                                "maxReplicas": 5, "targetCPUUtilizationPercentage": 60},
          "status": {"currentReplicas": 1, "currentCPUUtilizationPercentage": 12}}
    assert cells("autoscaling", "v1", "horizontalpodautoscalers", v1)["Targets"] == "cpu: 12%/60%"


def test_pdb_rolebinding_lease_priorityclass_quota() -> None:
    pdb = {"metadata": {"name": "web"}, "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}}
    row = cells("policy", "v1", "poddisruptionbudgets", pdb)
    assert [row[k] for k in ("Min Available", "Max Unavailable", "Allowed Disruptions")] == ["50%", "N/A", 1]

    rb = {"metadata": {"name": "view"}, "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [
        {"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
        {"kind": "ServiceAccount", "namespace": "ci", "name": "runner"}, {"kind": "User", "name": "bob"}]}
    row = cells("rbac.authorization.k8s.io", "v1", "rolebindings", rb)
    assert [row[k] for k in ("Role", "Users", "Groups", "ServiceAccounts")] == [
        "ClusterRole/view", "alice, bob", "devs", "ci/runner"]

    lease = {"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": "cp-1_abc"}}
    assert cells("coordination.k8s.io", "v1", "leases", lease)["Holder"] == "cp-1_abc"

    pc = {"metadata": {"name": "system-node-critical"}, "value": 2000001000}
    row = cells("scheduling.k8s.io", "v1", "priorityclasses", pc)
    assert [row[k] for k in ("Value", "Global-Default", "PreemptionPolicy")] == [
        2000001000, False, "PreemptLowerPriority"]

    quota = {"metadata": {"name": "compute"}, "status": {
        "hard": {"requests.cpu": "4", "limits.memory": "8Gi", "pods": "10", "limits.cpu": "8"},
        "used": {"requests.cpu": "500m", "pods": "3", "limits.cpu": "1"}}}
    row = cells("", "v1", "resourcequotas", quota)
    assert row["Request"] == "pods: 3/10, requests.cpu: 500m/4"
    assert row["Limit"] == "limits.cpu: 1/8, limits.memory: 0/8Gi"


# -- custom resources -----------------------------------------------------------------------------

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "databases.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "databases", "singular": "database", "kind": "Database"},
             "versions": [{"name": "v1", "served": True, "storage": True, "additionalPrinterColumns": [
                 {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
                 {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                 {"name": "Engine", "type": "string", "jsonPath": ".metadata.labels.example\\.com/engine",
                  "description": "Database engine"},
                 {"name": "Backup", "type": "boolean", "jsonPath": ".spec.backup.enabled", "priority": 1},
                 {"name": "Size", "type": "number", "jsonPath": ".spec.sizeGb", "priority": 1},
                 {"name": "Endpoints", "type": "string", "jsonPath": ".status.endpoints[*]"},
                 {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
             ]}]},
}


def test_crd_printer_columns() -> None:
    (db_type,) = types_from_crd(CRD)
    cols = columns_for(db_type)
    assert [(c["name"], c["type"], c["priority"]) for c in cols] == [
        ("Name", "string", 0), ("Ready", "string", 0), ("Replicas", "integer", 0), ("Engine", "string", 0),
        ("Backup", "boolean", 1), ("Size", "number", 1), ("Endpoints", "string", 0), ("Age", "date", 0)]
    assert cols[1]["description"] == ('Custom resource definition column (in JSONPath format): '
                                      '.status.conditions[?(@.type=="Ready")].status')
    assert cols[3]["description"] == "Database engine"
    db = {"apiVersion": "example.com/v1", "kind": "Database",
          "metadata": {"name": "orders", "creationTimestamp": ago(minutes=7, seconds=3),
                       "labels": {"example.com/engine": "postgres"}},
          "spec": {"replicas": 3, "backup": {"enabled": True}, "sizeGb": 20},
          "status": {"conditions": [{"type": "Synced", "status": "True"}, {"type": "Ready", "status": "False"}],
                     "endpoints": ["10.0.0.1:5432", "10.0.0.2:5432"]}}
    row = build_table(db_type, [db], now=NOW)["rows"][0]["cells"]
    assert row == ["orders", "False", 3, "postgres", True, 20.0, "10.0.0.1:5432", "7m3s"]


def test_crd_cells_for_missing_and_mistyped_values() -> None:
    (db_type,) = types_from_crd(CRD)
    db = {"metadata": {"name": "bare"}, "spec": {"replicas": "three", "backup": {"enabled": None}}}
    row = build_table(db_type, [db], now=NOW)["rows"][0]["cells"]
    assert row == ["bare", None, None, None, None, None, None, None]


def test_crd_without_columns_gets_name_and_age() -> None:
    crd = {**CRD, "spec": {**CRD["spec"], "versions": [{"name": "v1", "served": True, "storage": True}]}}
    (plain,) = types_from_crd(crd)
    assert [(c["name"], c["type"]) for c in columns_for(plain)] == [("Name", "string"), ("Age", "date")]
    row = build_table(plain, [{"metadata": {"name": "x", "creationTimestamp": ago(days=2, hours=3)}}], now=NOW)
    assert row["rows"][0]["cells"] == ["x", "2d3h"]


def test_crd_column_with_bad_jsonpath_drops_it_and_later_columns() -> None:
    broken = ResourceType(group="example.com", version="v1", kind="Widget", plural="widgets", namespaced=True,
                          crd=True, printer_columns=(
                              PrinterColumn("Phase", "string", ".status.phase"),
                              PrinterColumn("Bad", "string", ".status[?(@.x=1)]"),
                              PrinterColumn("Later", "string", ".spec.later")))
    assert [c["name"] for c in columns_for(broken)] == ["Name", "Phase"]
    row = build_table(broken, [{"metadata": {"name": "w"}, "status": {"phase": "Up"}}], now=NOW)
    assert row["rows"][0]["cells"] == ["w", "Up"]


def test_crd_string_column_formats_non_strings_like_jsonpath() -> None:
    widget = ResourceType(group="example.com", version="v1", kind="Widget", plural="widgets", namespaced=True,
                          crd=True, printer_columns=(
                              PrinterColumn("Count", "string", ".spec.count"),
                              PrinterColumn("Flag", "string", ".spec.flag"),
                              PrinterColumn("Conf", "string", ".spec.conf"),
                              PrinterColumn("Null", "string", ".spec.nothing"),
                              PrinterColumn("When", "date", ".status.when")))
    obj = {"metadata": {"name": "w"}, "spec": {"count": 2.0, "flag": False, "conf": {"b": 1, "a": [1]},
                                               "nothing": None}, "status": {"when": "not-a-date"}}
    assert build_table(widget, [obj], now=NOW)["rows"][0]["cells"] == [
        "w", "2", "false", '{"a":[1],"b":1}', "<no value>", "<invalid>"]


# -- helpers and robustness -----------------------------------------------------------------------

def test_selector_strings() -> None:
    sel = {"matchLabels": {"tier": "web", "app": "shop"},
           "matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["b", "a"]},
                                {"key": "gpu", "operator": "Exists"}]}
    assert selector_string(sel) == "app=shop,gpu,tier=web,zone notin (a,b)"
    assert selector_string(None) == ""
    assert format_label_selector({}) == "<none>"
    assert format_label_selector({"matchExpressions": [{"key": "k", "operator": "Near"}]}) == "<error>"


def test_malformed_object_still_gets_a_row() -> None:
    weird = {"metadata": {"name": "odd"}, "spec": {"containers": "not-a-list"}, "status": {"phase": "Running"}}
    row = table("", "v1", "pods", weird)["rows"][0]["cells"]
    assert row[0] == "odd"
    assert len(row) == 9


def test_ten_thousand_pods_in_pages_of_500_is_fast() -> None:
    pods = []
    for i in range(10_000):
        p = pod(f"web-{i}", status={"phase": "Running", "podIP": f"10.1.{i // 250}.{i % 250}",
                                    "conditions": [{"type": "Ready", "status": "True"}],
                                    "containerStatuses": [{"name": "app", "ready": True, "restartCount": i % 3,
                                                           "state": {"running": {"startedAt": ago(seconds=i)}},
                                                           "lastState": {"terminated": {
                                                               "finishedAt": ago(seconds=i + 30)}}}]},
                metadata={"creationTimestamp": ago(seconds=i * 7)})
        pods.append(p)
    rows = 0
    for offset in range(0, len(pods), 500):
        t = table("", "v1", "pods", *pods[offset:offset + 500])
        rows += len(t["rows"])
    assert rows == 10_000
    assert t["rows"][-1]["object"]["metadata"] is pods[-1]["metadata"]
