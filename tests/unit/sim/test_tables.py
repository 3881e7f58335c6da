"""Server-side Table responses: columns and cells as a real kube-apiserver prints them for kubectl."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prophet_sre.sim.registry import PrinterColumn, Registry, ResourceType, types_from_crd
from prophet_sre.sim.tables import (
    TableError,
    build_table,
    columns_for,
    human_duration,
    table_version,
    wants_table,
)
from prophet_sre.sim.tables_common import RowContext, format_label_selector, quantity, selector_string

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
REGISTRY = Registry()
KUBECTL_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                  "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")


def ago(**kw: float) -> str:
    return (NOW - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rt(group: str, version: str, plural: str) -> ResourceType:
    found = REGISTRY.get(group, version, plural)
    assert found is not None, (group, version, plural)
    return found


def table(group: str, version: str, plural: str, *objs: dict, **kw: Any) -> dict:
    return build_table(rt(group, version, plural), list(objs), now=NOW, **kw)


def cells(group: str, version: str, plural: str, obj: dict) -> dict[str, Any]:
    """The row of `obj` keyed by column name (so tests read like `kubectl get -o wide`)."""
    t = table(group, version, plural, obj)
    names = [c["name"] for c in t["columnDefinitions"]]
    row = t["rows"][0]["cells"]
    assert len(row) == len(names)
    return dict(zip(names, row, strict=True))


def pod(name: str = "web-1", *, status: dict | None = None, spec: dict | None = None,
        metadata: dict | None = None) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": "u-1", "resourceVersion": "7",
                     "creationTimestamp": ago(hours=3, minutes=5), **(metadata or {})},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}], **(spec or {})},
        "status": status if status is not None else {"phase": "Pending"},
    }


def pod_cells(p: dict) -> dict[str, Any]:
    return cells("", "v1", "pods", p)


# -- human durations ------------------------------------------------------------------------------

@pytest.mark.parametrize(("delta", "expected"), [
    (timedelta(seconds=0), "0s"),
    (timedelta(seconds=45), "45s"),
    (timedelta(seconds=119), "119s"),
    (timedelta(seconds=120), "2m"),
    (timedelta(minutes=2, seconds=10), "2m10s"),
    (timedelta(minutes=5, seconds=30), "5m30s"),
    (timedelta(minutes=9, seconds=59), "9m59s"),
    (timedelta(minutes=10), "10m"),
    (timedelta(minutes=15, seconds=40), "15m"),
    (timedelta(minutes=179), "179m"),
    (timedelta(hours=3), "3h"),
    (timedelta(hours=3, minutes=5), "3h5m"),
    (timedelta(hours=7, minutes=59), "7h59m"),
    (timedelta(hours=8, minutes=30), "8h"),
    (timedelta(hours=47), "47h"),
    (timedelta(hours=48), "2d"),
    (timedelta(days=2, hours=3), "2d3h"),
    (timedelta(days=4), "4d"),
    (timedelta(days=7, hours=23), "7d23h"),
    (timedelta(days=8, hours=5), "8d"),
    (timedelta(days=729), "729d"),
    (timedelta(days=730), "2y"),
    (timedelta(days=3 * 365 + 45), "3y45d"),
    (timedelta(days=8 * 365 + 100), "8y"),
    (timedelta(seconds=-1), "0s"),
    (timedelta(seconds=-1.9), "0s"),
    (timedelta(seconds=-2), "<invalid>"),
])
def test_human_duration(delta: timedelta, expected: str) -> None:
    assert human_duration(delta) == expected


def test_missing_or_bad_timestamps_read_unknown() -> None:
    ctx = RowContext(NOW)
    assert ctx.since(None) == "<unknown>"
    assert ctx.since("") == "<unknown>"
    assert ctx.since("yesterday") == "<unknown>"
    assert ctx.since(ago(minutes=5)) == "5m"
    assert ctx.since((NOW + timedelta(minutes=5)).isoformat()) == "<invalid>"


def test_naive_now_is_treated_as_utc() -> None:
    assert RowContext(NOW.replace(tzinfo=None)).since(ago(hours=3, minutes=5)) == "3h5m"


# -- negotiation ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("accept", "version"), [
    (KUBECTL_ACCEPT, "v1"),
    ("application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", "v1beta1"),
    ("application/json; as=Table; g=meta.k8s.io; v=v1", "v1"),
    ("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,"
     "application/json;as=Table;v=v1beta1;g=meta.k8s.io", "v1beta1"),   # protobuf skipped, not served
    ("application/json;as=Table;v=v2;g=meta.k8s.io,application/json", None),
    ("application/json;q=0.5,application/json;as=Table;v=v1;g=meta.k8s.io", "v1"),
    ("application/json,application/json;as=Table;v=v1;g=meta.k8s.io", None),
    ("application/json;as=Table;v=v1;g=meta.k8s.io;q=0,application/json", None),
    ("application/json", None),
    ("*/*", None),
    ("", None),
])
def test_table_negotiation(accept: str, version: str | None) -> None:
    assert table_version(accept) == version
    assert wants_table(accept) is (version is not None)


# -- envelope -------------------------------------------------------------------------------------

def test_table_envelope_and_partial_object_metadata() -> None:
    p = pod()
    t = table("", "v1", "pods", p, resource_version="123", continue_token="abc", remaining=9500)
    assert t["kind"] == "Table"
    assert t["apiVersion"] == "meta.k8s.io/v1"
    assert t["metadata"] == {"resourceVersion": "123", "continue": "abc", "remainingItemCount": 9500}
    obj = t["rows"][0]["object"]
    assert obj["kind"] == "PartialObjectMetadata"
    assert obj["apiVersion"] == "meta.k8s.io/v1"
    assert obj["metadata"] is p["metadata"]  # a shallow reference, no copy
    assert set(obj) == {"kind", "apiVersion", "metadata"}


def test_table_metadata_omits_empty_fields() -> None:
    t = table("", "v1", "pods", pod(), remaining=3)
    assert t["metadata"] == {}  # remainingItemCount only accompanies a continue token


def test_include_object_modes() -> None:
    p = pod()
    assert table("", "v1", "pods", p, include_object="Object")["rows"][0]["object"] is p
    assert table("", "v1", "pods", p, include_object="None")["rows"][0]["object"] is None
    assert table("", "v1", "pods", p, include_object="")["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    bare = {"metadata": {"name": "x"}}
    full = table("", "v1", "configmaps", bare, include_object="Object")["rows"][0]["object"]
    assert (full["kind"], full["apiVersion"]) == ("ConfigMap", "v1")


def test_v1beta1_table_and_partial_metadata_follow_requested_version() -> None:
    t = build_table(rt("", "v1", "pods"), [pod()], now=NOW, version="v1beta1")
    assert t["apiVersion"] == "meta.k8s.io/v1beta1"
    assert t["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"


def test_bad_include_object_is_a_bad_request() -> None:
    with pytest.raises(TableError, match='unrecognized includeObject value: "Everything"'):
        table("", "v1", "pods", pod(), include_object="Everything")
    with pytest.raises(ValueError):
        build_table(rt("", "v1", "pods"), [pod()], now=NOW, version="v2")


def test_empty_list_has_columns_and_no_rows() -> None:
    t = table("", "v1", "pods")
    assert t["rows"] == []
    assert t["columnDefinitions"][0]["name"] == "Name"


def test_no_headers_drops_column_definitions() -> None:
    assert table("", "v1", "pods", pod(), no_headers=True)["columnDefinitions"] is None


# -- columns --------------------------------------------------------------------------------------

def _shape(group: str, version: str, plural: str) -> list[tuple[str, str, str, int]]:
    return [(c["name"], c["type"], c["format"], c["priority"]) for c in columns_for(rt(group, version, plural))]


def test_pod_columns_with_wide_ones_at_priority_1() -> None:
    assert _shape("", "v1", "pods") == [
        ("Name", "string", "name", 0), ("Ready", "string", "", 0), ("Status", "string", "", 0),
        ("Restarts", "string", "", 0), ("Age", "string", "", 0), ("IP", "string", "", 1),
        ("Node", "string", "", 1), ("Nominated Node", "string", "", 1), ("Readiness Gates", "string", "", 1),
    ]


@pytest.mark.parametrize(("plural", "group", "version", "normal", "wide"), [
    ("deployments", "apps", "v1", ["Name", "Ready", "Up-to-date", "Available", "Age"],
     ["Containers", "Images", "Selector"]),
    ("replicasets", "apps", "v1", ["Name", "Desired", "Current", "Ready", "Age"],
     ["Containers", "Images", "Selector"]),
    ("statefulsets", "apps", "v1", ["Name", "Ready", "Age"], ["Containers", "Images"]),
    ("daemonsets", "apps", "v1",
     ["Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age"],
     ["Containers", "Images", "Selector"]),
    ("jobs", "batch", "v1", ["Name", "Status", "Completions", "Duration", "Age"],
     ["Containers", "Images", "Selector"]),
    ("cronjobs", "batch", "v1", ["Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age"],
     ["Containers", "Images", "Selector"]),
    ("services", "", "v1", ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"], ["Selector"]),
    ("nodes", "", "v1", ["Name", "Status", "Roles", "Age", "Version"],
     ["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"]),
    ("events", "", "v1", ["Last Seen", "Type", "Reason", "Object", "Message"],
     ["Subobject", "Source", "First Seen", "Count", "Name"]),
    ("persistentvolumeclaims", "", "v1",
     ["Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass", "VolumeAttributesClass", "Age"],
     ["VolumeMode"]),
    ("persistentvolumes", "", "v1",
     ["Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "StorageClass",
      "VolumeAttributesClass", "Reason", "Age"], ["VolumeMode"]),
    ("rolebindings", "rbac.authorization.k8s.io", "v1", ["Name", "Role", "Age"],
     ["Users", "Groups", "ServiceAccounts"]),
    ("horizontalpodautoscalers", "autoscaling", "v2",
     ["Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"], []),
    ("resourcequotas", "", "v1", ["Name", "Age", "Request", "Limit"], []),
    ("priorityclasses", "scheduling.k8s.io", "v1",
     ["Name", "Value", "Global-Default", "Age", "PreemptionPolicy"], []),
])
def test_column_names_and_priorities(plural: str, group: str, version: str, normal: list[str],
                                     wide: list[str]) -> None:
    shape = _shape(group, version, plural)
    assert [n for n, _, _, p in shape if p == 0] == normal
    assert [n for n, _, _, p in shape if p == 1] == wide


def test_event_columns_interleave_wide_ones_like_the_real_printer() -> None:
    assert [c[0] for c in _shape("", "v1", "events")] == [
        "Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen", "Count", "Name"]
    name_col = _shape("", "v1", "events")[-1]
    assert name_col == ("Name", "string", "name", 1)


@pytest.mark.parametrize(("group", "plural"), [
    ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "clusterroles"),
    ("", "limitranges"), ("apiextensions.k8s.io", "customresourcedefinitions"),
])
def test_kinds_without_a_printer_get_name_and_created_at(group: str, plural: str) -> None:
    assert _shape(group, "v1", plural) == [("Name", "string", "name", 0), ("Created At", "date", "", 0)]
    row = cells(group, "v1", plural, {"metadata": {"name": "x", "creationTimestamp": "2024-06-01T08:09:10Z"}})
    assert row == {"Name": "x", "Created At": "2024-06-01T08:09:10Z"}


def test_every_registered_type_prints_one_cell_per_column() -> None:
    minimal = {"metadata": {"name": "thing", "namespace": "default", "creationTimestamp": ago(minutes=3)}}
    for resource in REGISTRY:
        t = build_table(resource, [minimal, {"metadata": {"name": "bare"}}], now=NOW)
        for row in t["rows"]:
            assert len(row["cells"]) == len(t["columnDefinitions"]), resource.qualified
        assert any(c["format"] == "name" for c in t["columnDefinitions"]), resource.qualified


# -- Pod ------------------------------------------------------------------------------------------

def test_crashloop_pod() -> None:
    p = pod(status={
        "phase": "Running", "podIP": "10.244.1.7", "podIPs": [{"ip": "10.244.1.7"}],
        "containerStatuses": [{
            "name": "app", "ready": False, "restartCount": 5, "image": "nginx:1.27",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(minutes=5)}},
        }],
    }, spec={"nodeName": "worker-1"})
    row = pod_cells(p)
    assert row["Status"] == "CrashLoopBackOff"
    assert row["Restarts"] == "5 (5m ago)"
    assert row["Ready"] == "0/1"
    assert row["Age"] == "3h5m"
    assert (row["IP"], row["Node"], row["Nominated Node"], row["Readiness Gates"]) == (
        "10.244.1.7", "worker-1", "<none>", "<none>")


def test_restarts_without_finish_time_is_a_bare_count_and_zero_is_zero() -> None:
    p = pod(status={"phase": "Running", "containerStatuses": [
        {"name": "app", "ready": True, "restartCount": 2, "state": {"running": {}}}]})
    assert pod_cells(p)["Restarts"] == "2"
    assert pod_cells(pod())["Restarts"] == "0"


def test_restarts_sum_over_containers_and_use_latest_finish() -> None:
    p = pod(spec={"containers": [{"name": "a"}, {"name": "b"}]}, status={"phase": "Running", "containerStatuses": [
        {"name": "a", "ready": True, "restartCount": 1, "state": {"running": {}},
         "lastState": {"terminated": {"finishedAt": ago(hours=2)}}},
        {"name": "b", "ready": True, "restartCount": 3, "state": {"running": {}},
         "lastState": {"terminated": {"finishedAt": ago(seconds=40)}}},
    ], "conditions": [{"type": "Ready", "status": "True"}]})
    row = pod_cells(p)
    assert row["Restarts"] == "4 (40s ago)"
    assert row["Ready"] == "2/2"
    assert row["Status"] == "Running"


def test_terminating_pod() -> None:
    p = pod(metadata={"deletionTimestamp": ago(seconds=10)}, status={
        "phase": "Running", "containerStatuses": [
            {"name": "app", "ready": True, "restartCount": 0, "state": {"running": {}}}]})
    assert pod_cells(p)["Status"] == "Terminating"
    assert pod_cells(p)["Ready"] == "1/1"


def test_deleted_completed_pod_keeps_its_status_and_node_lost_pod_is_unknown() -> None:
    done = pod(metadata={"deletionTimestamp": ago(seconds=10)}, status={"phase": "Succeeded", "containerStatuses": [
        {"name": "app", "ready": False, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]})
    assert pod_cells(done)["Status"] == "Completed"
    lost = pod(metadata={"deletionTimestamp": ago(seconds=10)}, status={"phase": "Running", "reason": "NodeLost"})
    assert pod_cells(lost)["Status"] == "Unknown"


def test_init_container_waiting() -> None:
    p = pod(spec={"initContainers": [{"name": "migrate", "image": "migrate:1"}]}, status={
        "phase": "Pending",
        "initContainerStatuses": [{"name": "migrate", "ready": False, "restartCount": 0,
                                   "state": {"waiting": {"reason": "PodInitializing"}}}],
        "containerStatuses": [{"name": "app", "ready": False, "restartCount": 0,
                               "state": {"waiting": {"reason": "PodInitializing"}}}],
    })
    row = pod_cells(p)
    assert row["Status"] == "Init:0/1"
    assert row["Ready"] == "0/1"


@pytest.mark.parametrize(("init_state", "expected"), [
    ({"waiting": {"reason": "ImagePullBackOff"}}, "Init:ImagePullBackOff"),
    ({"terminated": {"exitCode": 1, "reason": "Error"}}, "Init:Error"),
    ({"terminated": {"exitCode": 2}}, "Init:ExitCode:2"),
    ({"terminated": {"exitCode": 137, "signal": 9}}, "Init:Signal:9"),
    ({"running": {}}, "Init:1/2"),
])
def test_init_container_failures(init_state: dict, expected: str) -> None:
    p = pod(spec={"initContainers": [{"name": "one"}, {"name": "two"}]}, status={
        "phase": "Pending", "initContainerStatuses": [
            {"name": "one", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "two", "restartCount": 1, "state": init_state},
        ]})
    assert pod_cells(p)["Status"] == expected


def test_sidecar_init_container_counts_towards_ready_and_total() -> None:
    p = pod(spec={"initContainers": [{"name": "proxy", "restartPolicy": "Always"}]}, status={
        "phase": "Running",
        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
        "initContainerStatuses": [{"name": "proxy", "ready": True, "started": True, "restartCount": 1,
                                   "state": {"running": {}},
                                   "lastState": {"terminated": {"finishedAt": ago(minutes=30)}}}],
        "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0, "state": {"running": {}}}],
    })
    row = pod_cells(p)
    assert row["Ready"] == "2/2"
    assert row["Status"] == "Running"
    assert row["Restarts"] == "1 (30m ago)"


@pytest.mark.parametrize(("state", "phase", "expected"), [
    ({"waiting": {"reason": "ContainerCreating"}}, "Pending", "ContainerCreating"),
    ({"waiting": {"reason": "ImagePullBackOff"}}, "Pending", "ImagePullBackOff"),
    ({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}, "Running", "OOMKilled"),
    ({"terminated": {"exitCode": 0, "reason": "Completed"}}, "Succeeded", "Completed"),
    ({"terminated": {"exitCode": 3}}, "Failed", "ExitCode:3"),
    ({"terminated": {"exitCode": 143, "signal": 15}}, "Failed", "Signal:15"),
    ({"running": {}}, "Running", "Running"),
])
def test_container_state_reasons(state: dict, phase: str, expected: str) -> None:
    p = pod(status={"phase": phase, "containerStatuses": [{"name": "app", "ready": False, "state": state}]})
    assert pod_cells(p)["Status"] == expected


def test_pending_pod_and_status_reason_and_scheduling_gates() -> None:
    assert pod_cells(pod())["Status"] == "Pending"
    assert pod_cells(pod(status={"phase": "Failed", "reason": "Evicted"}))["Status"] == "Evicted"
    gated = pod(status={"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]})
    assert pod_cells(gated)["Status"] == "SchedulingGated"


def test_completed_with_a_running_container_reads_running_or_not_ready() -> None:
    statuses = [{"name": "app", "ready": True, "state": {"running": {}}},
                {"name": "job", "ready": False, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]
    spec = {"containers": [{"name": "app"}, {"name": "job"}]}
    ready = pod(spec=spec, status={"phase": "Running", "containerStatuses": statuses,
                                   "conditions": [{"type": "Ready", "status": "True"}]})
    assert pod_cells(ready)["Status"] == "Running"
    not_ready = pod(spec=spec, status={"phase": "Running", "containerStatuses": statuses})
    assert pod_cells(not_ready)["Status"] == "NotReady"


def test_finished_pods_carry_completed_row_condition() -> None:
    done = table("", "v1", "pods", pod(status={"phase": "Succeeded"}))["rows"][0]
    assert done["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                   "message": "The pod has completed successfully."}]
    failed = table("", "v1", "pods", pod(status={"phase": "Failed"}))["rows"][0]
    assert failed["conditions"][0]["reason"] == "Failed"
    assert "conditions" not in table("", "v1", "pods", pod())["rows"][0]


def test_readiness_gates() -> None:
    p = pod(spec={"readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]},
            status={"phase": "Running", "conditions": [{"type": "example.com/lb", "status": "True"},
                                                       {"type": "example.com/dns", "status": "False"}]})
    assert pod_cells(p)["Readiness Gates"] == "1/2"


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
