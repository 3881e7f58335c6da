"""The kubelet: start-up sequence and events, status fields, jobs, init containers, restarts, heartbeats."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prophet_sre.sim.clock import parse_time
from prophet_sre.sim.controllers.kubelet import go_duration
from prophet_sre.sim.controllers.runtime import DefaultRuntime, RunPlan, image_id, image_ref

Obj = dict[str, Any]


def _cond(p: Obj, t: str) -> Obj:
    return next(c for c in p["status"]["conditions"] if c["type"] == t)


def test_pod_start_sequence_events_and_status(cluster: Any) -> None:
    h = cluster
    h.create(h.pod("web"))
    h.manager.drain()
    p = h.get("Pod", "default", "web")
    node = p["spec"]["nodeName"]
    assert p["status"]["phase"] == "Pending" and p["status"]["hostIP"].startswith("172.18.0.")
    assert "podIP" not in p["status"]
    assert p["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert _cond(p, "PodReadyToStartContainers")["status"] == "False"
    h.run_for(3)
    p = h.get("Pod", "default", "web")
    s = p["status"]
    assert s["phase"] == "Running"
    assert [c["type"] for c in s["conditions"]] == ["PodReadyToStartContainers", "Initialized", "Ready",
                                                    "ContainersReady", "PodScheduled"]
    assert all(c["status"] == "True" for c in s["conditions"])
    assert s["podIP"].startswith("10.244.") and s["podIPs"] == [{"ip": s["podIP"]}]
    assert s["hostIPs"] == [{"ip": s["hostIP"]}] and s["startTime"] and s["qosClass"] == "Burstable"
    [cs] = s["containerStatuses"]
    assert cs["image"] == "docker.io/library/nginx:1.27"
    assert re.fullmatch(r"docker\.io/library/nginx@sha256:[0-9a-f]{64}", cs["imageID"])
    assert re.fullmatch(r"containerd://[0-9a-f]{64}", cs["containerID"])
    assert cs["ready"] and cs["started"] and cs["restartCount"] == 0 and "startedAt" in cs["state"]["running"]

    reasons = [e["reason"] for e in sorted(h.events_for("web"), key=lambda e: e["metadata"]["creationTimestamp"])]
    assert reasons == ["Scheduled", "Pulling", "Pulled", "Created", "Started"]
    by = {e["reason"]: e for e in h.events_for("web")}
    assert by["Pulling"]["message"] == 'Pulling image "nginx:1.27"'
    assert re.fullmatch(r'Successfully pulled image "nginx:1\.27" in ([0-9.]+m?s) \(\1 including waiting\)\. '
                        r"Image size: 72099410 bytes\.", by["Pulled"]["message"])
    assert by["Created"]["message"] == "Created container: web"
    assert by["Started"]["message"] == "Started container web"
    for r in ("Pulling", "Pulled", "Created", "Started"):
        assert by[r]["source"] == {"component": "kubelet", "host": node}
        assert by[r]["involvedObject"]["fieldPath"] == "spec.containers{web}"

    lines = h.logs.read("default", "web", "web")
    assert lines[0].startswith("/docker-entrypoint.sh:") and any("nginx/1.27" in x for x in lines)

    # the second pod with the same image on the same node does not pull again
    h.create(h.pod("web2", nodeName=node))
    h.run_for(2)
    [pulled] = h.events_for("web2", "Pulled")
    assert pulled["message"] == 'Container image "nginx:1.27" already present on machine'
    assert not h.events_for("web2", "Pulling")
    assert h.get("Pod", "default", "web2")["status"]["podIP"] != s["podIP"]


def test_pod_ips_are_unique_and_from_the_node_cidr(cluster: Any) -> None:
    h = cluster
    for i in range(20):
        h.create(h.pod(f"p{i}"))
    h.run_for(4)
    pods = h.list("Pod", "default")
    ips = [p["status"]["podIP"] for p in pods]
    assert len(set(ips)) == len(ips) == 20
    for p in pods:
        node = h.get("Node", "", p["spec"]["nodeName"])
        prefix = node["spec"]["podCIDR"].rsplit(".", 1)[0] + "."
        assert p["status"]["podIP"].startswith(prefix)


def test_readiness_waits_for_the_probe_initial_delay(cluster: Any) -> None:
    h = cluster
    pod = h.pod("slow")
    pod["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/", "port": 80}, "initialDelaySeconds": 10,
                                                      "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1,
                                                      "failureThreshold": 3}
    h.create(pod)
    h.run_for(4)
    p = h.get("Pod", "default", "slow")
    assert p["status"]["phase"] == "Running" and _cond(p, "Ready")["status"] == "False"
    assert _cond(p, "Ready")["reason"] == "ContainersNotReady"
    assert _cond(p, "Ready")["message"] == "containers with unready status: [web]"
    h.run_for(10)
    p = h.get("Pod", "default", "slow")
    assert _cond(p, "Ready")["status"] == "True"
    started = parse_time(p["status"]["containerStatuses"][0]["state"]["running"]["startedAt"])
    ready = parse_time(_cond(p, "Ready")["lastTransitionTime"])
    assert started and ready and (ready - started).total_seconds() >= 9


def test_job_like_pod_completes_and_init_containers_run_first(cluster_factory: Any) -> None:
    h = cluster_factory(runtime=DefaultRuntime())  # the kubelet's sequencing, with fixed process durations
    pod = h.pod("job", restartPolicy="Never")
    pod["spec"]["containers"][0].update(image="busybox:1.36", command=["sh", "-c", "echo done"])
    pod["spec"]["initContainers"] = [{"name": "setup", "image": "busybox:1.36", "command": ["true"],
                                      "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
                                      "terminationMessagePolicy": "File"}]
    h.create(pod)
    h.run_for(1.5, step=0.25)
    p = h.get("Pod", "default", "job")
    assert p["status"]["phase"] == "Pending"
    assert _cond(p, "Initialized")["status"] == "False"
    assert _cond(p, "Initialized")["message"] == "containers with incomplete status: [setup]"
    assert p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    h.run_for(8)
    p = h.get("Pod", "default", "job")
    s = p["status"]
    assert s["phase"] == "Succeeded"
    [init] = s["initContainerStatuses"]
    assert init["state"]["terminated"]["reason"] == "Completed" and init["state"]["terminated"]["exitCode"] == 0
    term = s["containerStatuses"][0]["state"]["terminated"]
    assert (term["reason"], term["exitCode"]) == ("Completed", 0)
    assert _cond(p, "Ready")["reason"] == "PodCompleted"
    assert _cond(p, "Initialized")["status"] == "True"
    created = [e["involvedObject"]["fieldPath"] for e in h.events_for("job", "Created")]
    assert sorted(created) == ["spec.containers{web}", "spec.initContainers{setup}"]


@dataclass
class CrashingRuntime(DefaultRuntime):
    """A behaviour model in miniature: images called `crash:*` exit 1 after a second."""

    def run(self, pod: Obj, container: Obj, node: str, *, init: bool, restart_count: int,
            started: datetime) -> RunPlan:
        if container.get("image", "").startswith("crash"):
            return RunPlan(exit_after_s=1.0, exit_code=1, logs=[f"boom #{restart_count}"])
        return super().run(pod, container, node, init=init, restart_count=restart_count, started=started)


def test_runtime_is_pluggable_and_restarts_back_off(cluster_factory: Any) -> None:
    h = cluster_factory(runtime=CrashingRuntime())
    h.create(h.pod("crashy", image="crash:1"))
    h.run_for(40, step=0.5)
    p = h.get("Pod", "default", "crashy")
    [cs] = p["status"]["containerStatuses"]
    assert p["status"]["phase"] == "Running"
    assert cs["restartCount"] >= 2
    assert cs["lastState"]["terminated"]["exitCode"] == 1 and cs["lastState"]["terminated"]["reason"] == "Error"
    backoffs = h.events_for("crashy", "BackOff")
    assert backoffs and backoffs[0]["type"] == "Warning"
    assert backoffs[0]["message"] == (f"Back-off restarting failed container web in pod "
                                      f"crashy_default({p['metadata']['uid']})")
    assert h.logs.read("default", "crashy", "web")[-1].startswith("boom #")
    assert h.logs.has_previous("default", "crashy", "web")


def test_node_heartbeats_and_leases(cluster: Any) -> None:
    h = cluster
    lease = h.get("Lease", "kube-node-lease", "worker-1")
    assert lease["spec"]["holderIdentity"] == "worker-1" and lease["spec"]["leaseDurationSeconds"] == 40
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", lease["spec"]["renewTime"])
    assert lease["metadata"]["ownerReferences"][0]["kind"] == "Node"
    first = lease["spec"]["renewTime"]
    hb1 = _cond(h.get("Node", "", "worker-1"), "Ready")["lastHeartbeatTime"]
    h.run_for(10.5)
    assert h.get("Lease", "kube-node-lease", "worker-1")["spec"]["renewTime"] > first
    assert _cond(h.get("Node", "", "worker-1"), "Ready")["lastHeartbeatTime"] > hb1
    assert h.get("Node", "", "worker-1")["status"]["images"]  # coredns was pulled there or elsewhere

    # a stopped kubelet stops renewing, and does not start pods
    h.patch("Node", "", "worker-2", lambda n: n["metadata"].setdefault("annotations", {}).update(
        {"sim.prophet.io/stopped": "true"}))
    before = h.get("Lease", "kube-node-lease", "worker-2")["spec"]["renewTime"]
    h.create(h.pod("stuck", nodeName="worker-2"))
    h.run_for(30)
    assert h.get("Lease", "kube-node-lease", "worker-2")["spec"]["renewTime"] == before
    assert (h.get("Pod", "default", "stuck").get("status") or {}).get("phase", "Pending") == "Pending"
    h.patch("Node", "", "worker-2", lambda n: n["metadata"]["annotations"].pop("sim.prophet.io/stopped"))
    h.run_for(4)
    assert h.get("Lease", "kube-node-lease", "worker-2")["spec"]["renewTime"] > before
    assert h.get("Pod", "default", "stuck")["status"]["phase"] == "Running"


def test_image_helpers() -> None:
    assert image_ref("nginx") == "docker.io/library/nginx:latest"
    assert image_ref("bitnami/redis:7") == "docker.io/bitnami/redis:7"
    assert image_ref("registry.k8s.io/coredns/coredns:v1.12.0") == "registry.k8s.io/coredns/coredns:v1.12.0"
    assert image_ref("localhost:5000/app:1") == "localhost:5000/app:1"
    assert image_id("nginx:1.27") == image_id("docker.io/library/nginx:1.27")
    assert go_duration(0.8125) == "812ms" and go_duration(1.2) == "1.2s" and go_duration(62.5) == "1m2.5s"
