"""Server-side Table responses: columns and cells as a real kube-apiserver prints them for kubectl."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prophet_sre.sim.registry import Registry, ResourceType
from prophet_sre.sim.tables import (
    TableError,
    build_table,
    columns_for,
    human_duration,
    table_version,
    wants_table,
)
from prophet_sre.sim.tables_common import RowContext

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
