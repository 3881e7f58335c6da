"""Each analyzer on crafted objects: K8sGPT's exact texts, parents, and what must not be reported.

Objects are plain dicts in a `MemorySnapshot`, shaped as the API server returns them. The expected
strings are K8sGPT's (reference/protocols.md §2.4), written out literally so a wording drift fails here.
Also covers the registry (core vs optional, filter names) and the runner (shared lists, unknown
filters, an analyzer that fails becoming a note). Not covered: malformed input (test_analyzers_props),
live clusters (test_analyze_cli).
"""

from __future__ import annotations

from typing import Any

import pytest

from prophet_sre.domain import Finding, Severity
from prophet_sre.errors import Forbidden
from prophet_sre.tools.analyzers import CORE, OPTIONAL, REGISTRY, Analysis, Analyzer, MemorySnapshot
from prophet_sre.tools.analyzers.cron import schedule_error

NS = "shop"
TS = "2026-01-01T00:00:0{}Z"


def meta(name: str, ns: str = NS, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": ns, **extra}


def owner(kind: str, name: str, api: str = "apps/v1") -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "name": name, "uid": f"uid-{name}", "controller": True}


def pod(name: str, phase: str = "Running", statuses: list[dict[str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    md = meta(name, labels=kw.pop("labels", {"app": "web"}))
    if "owner" in kw:
        md["ownerReferences"] = [kw.pop("owner")]
    return {"metadata": md, "spec": kw.pop("spec", {"containers": [{"name": "main", "image": "nginx"}]}),
            "status": {"phase": phase, "containerStatuses": statuses or [], **kw}}


def waiting(reason: str, message: str = "", name: str = "main", **kw: Any) -> dict[str, Any]:
    return {"name": name, "ready": False, "restartCount": 0, "state": {"waiting": {"reason": reason, "message": message}},
            **kw}


def event(kind: str, name: str, reason: str, message: str, typ: str = "Warning", sec: int = 1) -> dict[str, Any]:
    return {"metadata": meta(f"{name}.{reason}.{sec}"), "involvedObject": {"kind": kind, "name": name, "namespace": NS},
            "reason": reason, "message": message, "type": typ, "lastTimestamp": TS.format(sec)}


def run(name: str, **objects: Any) -> list[Finding]:
    return REGISTRY[name].run(MemorySnapshot(objects))


def texts(findings: list[Finding]) -> list[str]:
    return [t for f in findings for t in f.errors]


# -- Pod -------------------------------------------------------------------------------------------------
def test_pod_image_pull_and_crash_loop_texts_and_parent() -> None:
    rs = {"metadata": meta("web-5d4f", ownerReferences=[owner("Deployment", "web")])}
    dep = {"metadata": meta("web")}
    pull = pod("web-5d4f-a", "Pending", [waiting("ImagePullBackOff", 'Back-off pulling image "nginx:nope"')],
               owner=owner("ReplicaSet", "web-5d4f"))
    crash = pod("web-5d4f-b", "Running", [waiting(
        "CrashLoopBackOff", "back-off 5m0s restarting failed container=main pod=web-5d4f-b_shop(u)",
        lastState={"terminated": {"reason": "OOMKilled", "exitCode": 137}}, restartCount=7)],
        owner=owner("ReplicaSet", "web-5d4f"))
    found = run("Pod", pods=[pull, crash], replicasets=[rs], deployments=[dep])
    assert [f.ref.name for f in found] == ["web-5d4f-a", "web-5d4f-b"]
    assert found[0].errors == ['Back-off pulling image "nginx:nope"']
    assert found[1].errors == ["back-off 5m0s restarting failed container=main pod=web-5d4f-b_shop(u)",
                               "the last termination reason is OOMKilled container=main pod=web-5d4f-b"]
    assert all(f.parent is not None and (f.parent.kind, f.parent.name) == ("Deployment", "web") for f in found)
    assert found[0].analyzer == "Pod" and found[0].severity == Severity.ERROR


def test_pod_unschedulable_gated_evicted_and_terminated() -> None:
    unsched = pod("a", "Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                               "message": "0/3 nodes are available: 3 Insufficient memory."}])
    gated = pod("b", "Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}])
    evicted = pod("c", "Failed", reason="Evicted")
    evicted_msg = pod("d", "Failed", reason="Evicted", message="The node was low on resource: memory.")
    done = pod("e", "Failed", [{"name": "main", "ready": False, "state": {"terminated": {"exitCode": 2}}}])
    init = pod("f", "Pending", initContainerStatuses=[waiting("CreateContainerConfigError",
                                                              'secret "db-secret" not found', name="init")])
    assert texts(run("Pod", pods=[unsched, gated, evicted, evicted_msg, done, init])) == [
        "0/3 nodes are available: 3 Insufficient memory.",
        "Pod shop/b is in a SchedulingGated state and is blocked from scheduling due to non-empty scheduling gates",
        "Pod c has been evicted",
        "The node was low on resource: memory.",
        "the termination reason is Unknown exitCode=2 container=main pod=e",
        'secret "db-secret" not found',
    ]


def test_pod_event_based_texts_use_the_latest_warning_event() -> None:
    creating = pod("m", "Pending", [waiting("ContainerCreating")])
    unready = pod("r", "Running", [{"name": "main", "ready": False, "state": {"running": {}}}])
    events = [event("Pod", "m", "FailedMount", 'MountVolume.SetUp failed for volume "cfg" : configmap "app-config" '
                    "not found", sec=2),
              event("Pod", "m", "Scheduled", "Successfully assigned", typ="Normal", sec=3),
              event("Pod", "r", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", sec=1),
              event("Pod", "r", "BackOff", "older", sec=0)]
    assert texts(run("Pod", pods=[creating, unready], events=events)) == [
        'MountVolume.SetUp failed for volume "cfg" : configmap "app-config" not found',
        "Readiness probe failed: HTTP probe failed with statuscode: 503"]


def test_healthy_pods_are_not_reported() -> None:
    ok = pod("ok", "Running", [{"name": "main", "ready": True, "state": {"running": {}}}])
    done = pod("job", "Succeeded", [{"name": "main", "ready": False, "state": {"terminated": {"exitCode": 0}}}])
    creating = pod("new", "Pending", [waiting("ContainerCreating")])  # no warning event: just starting
    assert run("Pod", pods=[ok, done, creating]) == []


# -- workloads -------------------------------------------------------------------------------------------
def test_deployment_texts() -> None:
    scaled = {"metadata": meta("a"), "spec": {"replicas": 2}, "status": {"replicas": 3, "readyReplicas": 1}}
    short = {"metadata": meta("b"), "spec": {"replicas": 3}, "status": {"replicas": 3, "readyReplicas": 1}}
    stuck = {"metadata": meta("c"), "spec": {"replicas": 1}, "status": {"replicas": 1, "readyReplicas": 1, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": 'ReplicaSet "c-5d4f8c7b9" has timed out progressing.'}]}}
    healthy = {"metadata": meta("d"), "spec": {"replicas": 2}, "status": {"replicas": 2, "readyReplicas": 2}}
    assert texts(run("Deployment", deployments=[scaled, short, stuck, healthy])) == [
        "Deployment shop/a has 2 replicas in spec but 3 replicas in status because status field is not updated yet "
        "after scaling and 1 replicas are available with status running",
        "Deployment shop/b has 3 replicas but 1 are available with status running",
        'Deployment shop/c has condition Progressing=False, reason ProgressDeadlineExceeded: ReplicaSet "c-5d4f8c7b9" '
        "has timed out progressing."]


def test_replicaset_failed_create_names_its_deployment() -> None:
    rs = {"metadata": meta("web-1", ownerReferences=[owner("Deployment", "web")]), "spec": {"replicas": 2},
          "status": {"replicas": 0, "conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                                    "message": 'pods "web-1-x" is forbidden: exceeded quota: q'}]}}
    found = run("ReplicaSet", replicasets=[rs], deployments=[{"metadata": meta("web")}])
    assert texts(found) == ['pods "web-1-x" is forbidden: exceeded quota: q']
    assert found[0].parent is not None and found[0].parent.name == "web"


def test_statefulset_texts() -> None:
    sts = {"metadata": meta("db"), "spec": {"replicas": 3, "serviceName": "db-hl", "volumeClaimTemplates": [
        {"metadata": {"name": "data"}, "spec": {"storageClassName": "fast"}}]}, "status": {"availableReplicas": 1}}
    pods = [pod("db-0"), pod("db-1", "Pending")]
    assert texts(run("StatefulSet", statefulsets=[sts], pods=pods, services=[], storageclasses=[])) == [
        "StatefulSet uses the service shop/db-hl which does not exist.",
        "StatefulSet uses the storage class fast which does not exist.",
        "Statefulset pod db-1 in the namespace shop is not in running state."]
    missing0 = {"metadata": meta("q"), "spec": {"replicas": 1}, "status": {}}
    ev = event("StatefulSet", "q", "FailedCreate", 'create Pod q-0 in StatefulSet q failed error: pods "q-0" is forbidden')
    assert texts(run("StatefulSet", statefulsets=[missing0], events=[ev])) == [
        'create Pod q-0 in StatefulSet q failed error: pods "q-0" is forbidden']


def test_daemonset_texts() -> None:
    ds = {"metadata": meta("agent"), "spec": {"template": {"spec": {"imagePullSecrets": [{"name": "regcred"}]}}},
          "status": {"numberReady": 1, "desiredNumberScheduled": 3}}
    assert texts(run("DaemonSet", daemonsets=[ds])) == [
        "DaemonSet shop/agent has 1 ready replicas out of 3 scheduled",
        "DaemonSet shop/agent references non-existent ImagePullSecret regcred"]
    ok = {**ds, "status": {"numberReady": 3, "desiredNumberScheduled": 3}}
    assert run("DaemonSet", daemonsets=[ok], secrets=[{"metadata": meta("regcred")}]) == []


# -- batch -----------------------------------------------------------------------------------------------
def test_job_and_cronjob_texts() -> None:
    jobs = [{"metadata": meta("a"), "spec": {"suspend": True}}, {"metadata": meta("b"), "status": {"failed": 1}}]
    assert texts(run("Job", jobs=jobs)) == ["Job a is suspended", "Job b has failed"]
    cjs = [{"metadata": meta("s"), "spec": {"suspend": True, "schedule": "bad"}},
           {"metadata": meta("t"), "spec": {"schedule": "* * *", "startingDeadlineSeconds": -5}},
           {"metadata": meta("u"), "spec": {"schedule": "*/5 * * * *"}}]
    assert texts(run("CronJob", cronjobs=cjs)) == [
        "CronJob s is suspended",
        "CronJob t has an invalid schedule: expected exactly 5 fields, found 3: [* * *]",
        "CronJob t has a negative starting deadline"]


@pytest.mark.parametrize(("schedule", "error"), [
    ("0 0 * * *", None), ("*/15 2-4 1,15 jan-mar MON-FRI", None), ("@daily", None), ("@every 1h30m", None),
    ("TZ=Europe/Paris 0 9 * * 1", None), ("0 0 * * ?", None),
    ("", "empty spec string"),
    ("@sometimes", "unrecognized descriptor: @sometimes"),
    ("61 * * * *", "end of range (61) above maximum (59): 61"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
])
def test_cron_errors_are_the_go_parser_texts(schedule: str, error: str | None) -> None:
    assert schedule_error(schedule) == error


# -- network ---------------------------------------------------------------------------------------------
def test_service_texts() -> None:
    svc = {"metadata": meta("orphan"), "spec": {"selector": {"tier": "fe", "app": "nothing"}}}
    eps = [{"metadata": meta("orphan")},
           {"metadata": meta("half"), "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "notReadyAddresses": [
               {"ip": "10.0.0.2", "targetRef": {"kind": "Pod", "name": "a"}},
               {"ip": "10.0.0.3", "targetRef": {"kind": "Pod", "name": "b"}}]}]},
           {"metadata": meta("lock", annotations={"control-plane.alpha.kubernetes.io/leader": "{}"})}]
    events = [event("Service", "half", "SyncLoadBalancerFailed", "Error syncing load balancer")]
    found = run("Service", endpoints=eps, services=[svc, {"metadata": meta("half")}], events=events)
    assert [(f.ref.name, f.errors) for f in found] == [
        ("orphan", ["Service has no endpoints, expected label app=nothing",
                    "Service has no endpoints, expected label tier=fe"]),
        ("half", ["Service has not ready endpoints, pods: [Pod/a Pod/b], expected 2",
                  "Service shop/half has event Error syncing load balancer"])]


def test_service_names_the_one_workload_behind_its_not_ready_pods() -> None:
    """A rollout stuck on a bad image shows up on the Service too; a trigger should page for the workload."""
    rs = owner("ReplicaSet", "web-6d4b", api="apps/v1")
    pods = [pod("web-6d4b-aaaaa", "Pending", [waiting("ImagePullBackOff")], owner=rs, labels={"pod-template-hash": "6d4b"}),
            pod("web-6d4b-bbbbb", "Pending", [waiting("ContainerCreating")], owner=rs,
                labels={"pod-template-hash": "6d4b"}),
            pod("solo", "Pending", [waiting("ContainerCreating")])]
    def eps(name: str, *names: str) -> dict[str, Any]:
        return {"metadata": meta(name), "subsets": [{"notReadyAddresses": [
            {"ip": "10.0.0.9", "targetRef": {"kind": "Pod", "name": n}} for n in names]}]}
    found = {f.ref.name: f for f in run("Service", endpoints=[eps("web", "web-6d4b-aaaaa", "web-6d4b-bbbbb"),
                                                              eps("mixed", "web-6d4b-aaaaa", "solo"),
                                                              eps("gone", "web-6d4b-zzzzz")],
                                        services=[{"metadata": meta(n)} for n in ("web", "mixed", "gone")], pods=pods)}
    assert found["web"].evidence["backing_workload"] == "Deployment/web"
    assert "backing_workload" not in found["mixed"].evidence  # two owners: the Service is the common point
    assert "backing_workload" not in found["gone"].evidence  # a pod the snapshot does not have: no guess
    from prophet_sre.triggers.watch import target_of

    assert str(target_of(found["web"])) == f"{NS}/deployment/web"
    assert str(target_of(found["mixed"])) == f"{NS}/service/mixed"

def test_ingress_texts() -> None:
    ing = {"metadata": meta("web"), "spec": {"rules": [{"http": {"paths": [
        {"backend": {"service": {"name": "gone"}}}, {"backend": {"service": {"name": "ok"}}}]}}],
        "tls": [{"secretName": "tls-web"}]}}
    classed = {"metadata": meta("api", annotations={"kubernetes.io/ingress.class": "nginx"}), "spec": {}}
    assert texts(run("Ingress", ingresses=[ing, classed], services=[{"metadata": meta("ok")}], ingressclasses=[])) == [
        "Ingress shop/web does not specify an Ingress class.",
        "Ingress uses the service shop/gone which does not exist.",
        "Ingress uses the secret shop/tls-web as a TLS certificate which does not exist.",
        "Ingress uses the ingress class nginx which does not exist."]


def test_network_policy_texts() -> None:
    pols = [{"metadata": meta("all"), "spec": {"podSelector": {}}},
            {"metadata": meta("none"), "spec": {"podSelector": {"matchLabels": {"app": "ghost"}}}},
            {"metadata": meta("fine"), "spec": {"podSelector": {"matchExpressions": [
                {"key": "app", "operator": "In", "values": ["web"]}]}}}]
    assert texts(run("NetworkPolicy", networkpolicies=pols, pods=[pod("p")])) == [
        "Network policy allows traffic to all pods: all", "Network policy is not applied to any pods: none"]


# -- cluster, storage, config ----------------------------------------------------------------------------
def test_node_texts_and_severity() -> None:
    node = {"metadata": {"name": "worker-2"}, "status": {"conditions": [
        {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."},
        {"type": "MemoryPressure", "status": "True", "reason": "KubeletHasInsufficientMemory", "message": "low"},
        {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "ok"},
        {"type": "EtcdIsVoter", "status": "True", "reason": "MemberNotLearner", "message": "voter"}]}}
    found = run("Node", nodes=[node, {"metadata": {"name": "ok"}, "status": {"conditions": [
        {"type": "Ready", "status": "True"}]}}])
    assert found[0].errors == [
        "worker-2 has condition of type Ready, reason NodeStatusUnknown: Kubelet stopped posting node status.",
        "worker-2 has condition of type MemoryPressure, reason KubeletHasInsufficientMemory: low"]
    assert len(found) == 1 and found[0].severity == Severity.CRITICAL and found[0].ref.namespace == ""


def test_pvc_text_is_the_provisioning_event() -> None:
    pvc = {"metadata": meta("data"), "spec": {"storageClassName": "fast"}, "status": {"phase": "Pending"}}
    bound = {"metadata": meta("ok"), "status": {"phase": "Bound"}}
    ev = event("PersistentVolumeClaim", "data", "ProvisioningFailed", 'storageclass.storage.k8s.io "fast" not found')
    assert texts(run("PersistentVolumeClaim", persistentvolumeclaims=[pvc, bound], events=[ev])) == [
        'storageclass.storage.k8s.io "fast" not found']


def test_configmap_texts() -> None:
    used = {"metadata": meta("app-config"), "data": {"k": "v"}}
    empty_unused = {"metadata": meta("leftover")}
    big = {"metadata": meta("big"), "data": {"blob": "x" * (1024 * 1024 + 1)}}
    dash = {"metadata": meta("dash", labels={"grafana_dashboard": "1"})}
    skip = {"metadata": meta("skip", annotations={"k8sgpt.ai/skip-usage-check": "true"})}
    projected = {"metadata": meta("proj"), "data": {"a": "b"}}
    user = pod("p", spec={"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "app-config"}}]},
                                         {"name": "d", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {
                                             "name": "big", "key": "blob"}}}]}],
                          "volumes": [{"projected": {"sources": [{"configMap": {"name": "proj"}}]}}]})
    other_ns = {"metadata": meta("q", ns="elsewhere"),
                "spec": {"volumes": [{"configMap": {"name": "leftover"}}], "containers": []}}
    assert texts(run("ConfigMap", configmaps=[used, empty_unused, big, dash, skip, projected], pods=[user, other_ns])) == [
        "ConfigMap leftover is not used by any pods in the namespace", "ConfigMap leftover is empty",
        "ConfigMap big is larger than 1MB (1048577 bytes)"]


def test_webhook_texts() -> None:
    cfg = {"metadata": {"name": "policy"}, "webhooks": [
        {"name": "a.example.com", "clientConfig": {"service": {"namespace": NS, "name": "gone"}}},
        {"name": "b.example.com", "clientConfig": {"service": {"namespace": NS, "name": "hook"}}},
        {"name": "c.example.com", "clientConfig": {"service": {"namespace": NS, "name": "empty"}}},
        {"name": "d.example.com", "clientConfig": {"url": "https://hooks.example.com"}}]}
    svcs = [{"metadata": meta("hook"), "spec": {"selector": {"app": "hook"}}},
            {"metadata": meta("empty"), "spec": {"selector": {"app": "nobody"}}}]
    pods = [pod("hook-1", "Pending", labels={"app": "hook"}), pod("hook-2", labels={"app": "hook"})]
    found = run("ValidatingWebhookConfiguration", validatingwebhookconfigurations=[cfg], services=svcs, pods=pods)
    assert [f.errors for f in found] == [
        ["Service gone not found as mapped to by Validating Webhook a.example.com"],
        ["Validating Webhook (b.example.com) is pointing to an inactive receiver pod (hook-1)"],
        ["No active pods found within service empty as mapped to by Validating Webhook c.example.com"]]
    assert found[0].ref.name == "policy" and found[0].evidence["webhook"] == "a.example.com"
    assert texts(run("MutatingWebhookConfiguration", mutatingwebhookconfigurations=[cfg], services=svcs, pods=pods))[0] \
        == "Service gone not found as mapped to by Mutating Webhook a.example.com"


def test_hpa_and_pdb_texts() -> None:
    hpas = [
        {"metadata": meta("a"), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}}, "status": {
            "conditions": [{"type": "AbleToScale", "status": "True", "message": "fine"},
                           {"type": "ScalingActive", "status": "False", "message": "the HPA was unable to compute the "
                            "replica count: missing request for cpu"},
                           {"type": "ScalingLimited", "status": "True", "reason": "TooFewReplicas", "message": "min"}]}},
        {"metadata": meta("b"), "spec": {"scaleTargetRef": {"kind": "CronJob", "name": "x"}}},
        {"metadata": meta("c"), "spec": {"scaleTargetRef": {"kind": "StatefulSet", "name": "gone"}}}]
    web = {"metadata": meta("web"), "spec": {"template": {"spec": {"containers": [{"name": "c", "resources": {}}]}}}}
    assert texts(run("HorizontalPodAutoscaler", horizontalpodautoscalers=hpas, deployments=[web])) == [
        "the HPA was unable to compute the replica count: missing request for cpu",
        "Deployment shop/web does not have resource configured.",
        "HorizontalPodAutoscaler uses CronJob as ScaleTargetRef which is not an option.",
        "HorizontalPodAutoscaler uses CronJob/x as ScaleTargetRef which does not exist.",
        "HorizontalPodAutoscaler uses StatefulSet/gone as ScaleTargetRef which does not exist."]
    pdb = {"metadata": meta("web"), "spec": {"selector": {"matchLabels": {"app": "web", "tier": "fe"}}},
           "status": {"conditions": [{"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods"}]}}
    assert texts(run("PodDisruptionBudget", poddisruptionbudgets=[pdb])) == [
        "InsufficientPods, expected pdb pod label app=web", "InsufficientPods, expected pdb pod label tier=fe"]


def test_log_texts() -> None:
    p = pod("api", "Running", [{"name": "main", "ready": True, "restartCount": 1, "state": {"running": {}}}])
    logs = {(NS, "api", "main", False): "starting\nGET / 200\nERROR: connection refused to db\nerror again",
            (NS, "api", "main", True): "boot\npanic: Exception in thread main"}
    found = REGISTRY["Log"].run(MemorySnapshot({"pods": [p]}, logs=logs))
    assert found[0].errors == ["ERROR: connection refused to db",
                               "previous container logs: panic: Exception in thread main"]
    assert found[0].ref.kind == "Pod" and found[0].evidence["k8sgpt_name"] == "shop/api/main"
    unreadable = REGISTRY["Log"].run(MemorySnapshot({"pods": [p]}))
    assert unreadable[0].errors[0].startswith("Error no logs for shop/api container main from Pod api")


# -- registry and runner ---------------------------------------------------------------------------------
def test_registry_has_k8sgpts_names() -> None:
    assert [a.name for a in REGISTRY.values() if a.core] == list(CORE)
    assert [a.name for a in REGISTRY.values() if not a.core] == list(OPTIONAL)
    assert len(CORE) == 14 and REGISTRY["Log"].kind == "Pod"


def test_runner_selects_filters_and_turns_failures_into_notes() -> None:
    def broken(snap: Any) -> list[Finding]:
        raise KeyError("oops")

    def refused(snap: Any) -> list[Finding]:
        raise Forbidden("cannot list widgets in namespace shop (verb=list, resource=widgets)")

    registry = {**REGISTRY, "Broken": Analyzer("Broken", "X", broken, needs=()),
                "Refused": Analyzer("Refused", "X", refused, needs=())}
    snap = MemorySnapshot({"jobs": [{"metadata": meta("j"), "status": {"failed": 2}}]})
    r = Analysis(snapshot=snap, registry=registry, filters=["job", "Broken", "Refused", "Nope"]).run()
    assert r.analyzers == ["Job", "Broken", "Refused"] and r.failed == ["Broken", "Refused"]
    assert texts(r.findings) == ["Job j has failed"]
    assert r.notes == ['"Nope" filter does not exist. Please run prophet analyze --list-filters.',
                       "Broken analyzer failed: KeyError: 'oops'",
                       "Refused analyzer skipped: cannot list widgets in namespace shop (verb=list, resource=widgets)"]
    default = Analysis(snapshot=snap).run()
    assert default.analyzers == list(CORE) and not default.notes
