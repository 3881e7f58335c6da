"""Property tests: analyzers and read helpers never crash on malformed objects.

Hypothesis feeds (a) arbitrary JSON-like values built from Kubernetes field names - so `status` may be
a string, `conditions` a dict, `restartCount` a float or `null` - and (b) well-formed objects with random
sub-trees replaced by such junk. Every analyzer runs over a snapshot where every resource list holds
these objects; the pod/node/event helpers shared with the read tools get the same inputs. The only
property checked is "returns the promised type, raises nothing"; correctness is test_analyzers' job.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prophet_sre.domain import Finding
from prophet_sre.tools.analyzers import REGISTRY, MemorySnapshot
from prophet_sre.tools.analyzers.cron import schedule_error
from prophet_sre.tools.kube import objects as o
from prophet_sre.tools.kube.describe import pod_parts, workload_facts
from prophet_sre.tools.kube.events import group_events, render
from prophet_sre.tools.kube.listing import COLUMNS
from prophet_sre.tools.kube.summary import node_health, pod_health
from prophet_sre.tools.kube.usage import per_workload

FIELDS = [
    "metadata", "name", "namespace", "labels", "annotations", "ownerReferences", "kind", "apiVersion", "uid",
    "controller", "spec", "status", "phase", "reason", "message", "conditions", "type", "containerStatuses",
    "initContainerStatuses", "state", "waiting", "running", "terminated", "lastState", "exitCode", "restartCount",
    "ready", "containers", "initContainers", "volumes", "configMap", "projected", "sources", "env", "envFrom",
    "valueFrom", "configMapKeyRef", "configMapRef", "replicas", "readyReplicas", "availableReplicas", "selector",
    "matchLabels", "matchExpressions", "key", "operator", "values", "subsets", "addresses", "notReadyAddresses",
    "targetRef", "webhooks", "clientConfig", "service", "scaleTargetRef", "resources", "requests", "limits",
    "podSelector", "schedule", "suspend", "startingDeadlineSeconds", "failed", "rules", "http", "paths", "backend",
    "tls", "secretName", "ingressClassName", "serviceName", "volumeClaimTemplates", "storageClassName",
    "numberReady", "desiredNumberScheduled", "imagePullSecrets", "template", "data", "binaryData",
    "involvedObject", "lastTimestamp", "eventTime", "count", "series", "nodeName", "unschedulable", "taints",
]
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6) | \
    st.sampled_from(["True", "False", "Unknown", "Pending", "Running", "Warning", "CrashLoopBackOff",
                     "ContainerCreating", "ReplicaSet", "Deployment", "apps/v1", "2026-01-01T00:00:00Z", "*/5 * * * *"])
junk = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), inner, max_size=5),
                    max_leaves=30)

GOOD_POD = {
    "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "a"},
                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "controller": True}]},
    "spec": {"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "1"}}}],
             "volumes": [{"configMap": {"name": "cm"}}]},
    "status": {"phase": "Running", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                                  "message": "m"}],
               "containerStatuses": [{"name": "c", "ready": False, "restartCount": 3, "state": {
                   "waiting": {"reason": "CrashLoopBackOff", "message": "m"}},
                   "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]},
}
GOOD_WORKLOAD = {
    "metadata": {"name": "w", "namespace": "ns", "annotations": {"deployment.kubernetes.io/revision": "1"}},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "a"}}, "serviceName": "s", "schedule": "* * * * *",
             "template": {"spec": {"containers": [{"name": "c"}], "imagePullSecrets": [{"name": "x"}]}},
             "scaleTargetRef": {"kind": "Deployment", "name": "w"}, "podSelector": {"matchLabels": {"a": "b"}},
             "rules": [{"http": {"paths": [{"backend": {"service": {"name": "s"}}}]}}], "tls": [{"secretName": "t"}]},
    "status": {"replicas": 3, "readyReplicas": 1, "numberReady": 0, "desiredNumberScheduled": 1,
               "conditions": [{"type": "Progressing", "status": "False"}, {"type": "Ready", "status": "Unknown"}]},
    "subsets": [{"notReadyAddresses": [{"targetRef": {"kind": "Pod", "name": "p"}}]}],
    "webhooks": [{"name": "h", "clientConfig": {"service": {"namespace": "ns", "name": "s"}}}],
    "data": {"k": "v"},
}
GOOD_EVENT = {"metadata": {"name": "e", "namespace": "ns"}, "type": "Warning", "reason": "FailedMount",
              "message": "m", "involvedObject": {"kind": "Pod", "namespace": "ns", "name": "p"},
              "lastTimestamp": "2026-01-01T00:00:00Z", "count": 2}


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, template: dict[str, Any]) -> Any:
    """The template with a few sub-trees replaced by junk (or the whole object replaced, sometimes)."""
    obj: Any = copy.deepcopy(template)
    paths = _paths(template)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths))
        value = draw(junk)
        if not path:
            obj = value
            continue
        cur = obj
        for step in path[:-1]:
            try:
                cur = cur[step]
            except (KeyError, IndexError, TypeError):
                break
        else:
            try:
                cur[path[-1]] = value
            except (IndexError, TypeError):
                pass
    return obj


objects_lists = st.lists(mutated(GOOD_POD) | mutated(GOOD_WORKLOAD) | junk, max_size=4)
RESOURCES = sorted({r for a in REGISTRY.values() for r in a.needs} | {"events", "secrets"})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(objs=objects_lists, events=st.lists(mutated(GOOD_EVENT) | junk, max_size=4))
def test_analyzers_never_crash_on_malformed_objects(objs: list[Any], events: list[Any]) -> None:
    """The same odd objects stand in for every resource, so each analyzer meets every shape."""
    logs = {("ns", "p", "c", False): "error here", ("ns", "p", "c", True): "fine"}
    snap = MemorySnapshot({**{r: objs for r in RESOURCES}, "events": events}, logs=logs)
    for analyzer in REGISTRY.values():
        found = analyzer.run(snap)
        assert isinstance(found, list) and all(isinstance(f, Finding) for f in found)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(objs=st.lists(mutated(GOOD_POD) | mutated(GOOD_WORKLOAD) | junk, max_size=5),
       events=st.lists(mutated(GOOD_EVENT) | junk, max_size=5))
def test_read_helpers_never_crash_on_malformed_objects(objs: list[Any], events: list[Any]) -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    dicts = [x for x in objs if isinstance(x, dict)]
    for x in dicts:
        assert isinstance(o.pod_status(x), str) and isinstance(o.problem(x), str)
        assert isinstance(o.workload_of(x), tuple) and isinstance(o.ready_counts(x), tuple)
        pod_parts(x, now)
        workload_facts(x)
        for cols in COLUMNS.values():
            assert all(isinstance(cell(x, now), str) for _, cell in cols)
    pod_health(dicts)
    node_health(dicts)
    per_workload(dicts, None)
    render(group_events([e for e in events if isinstance(e, dict)]), now)


@given(st.text(max_size=30))
def test_cron_validation_never_crashes(schedule: str) -> None:
    result = schedule_error(schedule)
    assert result is None or isinstance(result, str)
