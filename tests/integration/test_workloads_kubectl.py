"""Real kubectl against the workload, storage, node-lifecycle and quota controllers.

Covers: a StatefulSet with volumeClaimTemplates reaching 3/3 with Bound claims; a Job that
`kubectl wait --for=condition=complete` sees finish; a CronJob that creates its Job once the sim
clock passes the schedule (and a bad schedule refused by validation); an HPA scaling a Deployment up
with `kubectl describe hpa` showing its conditions; a claim of a missing StorageClass stuck Pending
with `ProvisioningFailed`, fixed by recreating it with an existing class; a ResourceQuota blocking a
Deployment's pods (`kubectl describe rs` shows FailedCreate) until it is raised; a stopped node going
NotReady and its pods rescheduled.

The cluster is this module's own (three workers, speed 20) because the node test stops a worker and
the tests move the sim clock. The HPA test installs a stub `usage` provider for its own pods (high CPU)
and delegates every other pod to whatever provider the behaviour model registered, so the scale-up
does not depend on that model's load.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import Kubectl, kubectl_binary

T = TypeVar("T")
NS = "wl"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Kubectl]]:
    from prophet_sre.sim.cluster import ClusterOptions, SimCluster

    cluster = SimCluster(ClusterOptions(speed=20.0, workers=3, name="workloads"))
    cluster.start()
    base = tmp_path_factory.mktemp("workloads")
    cache = base / "cache"
    cache.mkdir()
    k = Kubectl(cluster.write_kubeconfig(Path(base) / "config"), cache, kubectl_binary())
    k("create", "namespace", NS)
    yield cluster, k
    cluster.stop()


@pytest.fixture(scope="module")
def kc(env: tuple[Any, Kubectl]) -> Kubectl:
    return env[1]


def wait_for(fn: Callable[[], T], timeout: float = 20.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = fn()
        except AssertionError as e:
            last = e
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: last={last!r}")
        time.sleep(0.1)


def apply(kc: Kubectl, manifest: str) -> str:
    return kc("apply", "-n", NS, "-f", "-", input=manifest)


def get(kc: Kubectl, *args: str) -> Any:
    return json.loads(kc("get", "-n", NS, *args, "-o", "json"))


def rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", ln.strip()) for ln in text.splitlines()[1:] if ln.strip()]


def event_lines(kc: Kubectl, kind: str, name: str) -> str:
    """The Events section of `kubectl describe`, whitespace collapsed."""
    out = kc("describe", kind, name, "-n", NS)
    return re.sub(r"[ \t]+", " ", out.split("Events:", 1)[-1])


def test_statefulset_with_claims_reaches_three_of_three(kc: Kubectl) -> None:
    apply(kc, """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        volumeMounts: [{name: data, mountPath: /usr/share/nginx/html}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
""")
    out = kc("rollout", "status", "statefulset/web", "-n", NS, "--timeout=40s", timeout=60)
    assert "partitioned roll out complete: 3 new pods have been updated" in out
    assert rows(kc("get", "sts", "web", "-n", NS))[0][:2] == ["web", "3/3"]
    pvcs = rows(kc("get", "pvc", "-n", NS))
    assert [(r[0], r[1], r[3], r[5]) for r in pvcs] == [
        (f"data-web-{i}", "Bound", "1Gi", "standard") for i in range(3)]
    assert [r[0] for r in rows(kc("get", "pods", "-n", NS, "-l", "app=web"))] == ["web-0", "web-1", "web-2"]
    assert "create Pod web-0 in StatefulSet web successful" in event_lines(kc, "sts", "web")


def test_job_completes(kc: Kubectl) -> None:
    apply(kc, """\
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: pi, image: "perl:5.34", command: [perl, "-Mbignum=bpi", "-wle", "print bpi(200)"]}
""")
    out = kc("wait", "--for=condition=complete", "job/pi", "-n", NS, "--timeout=30s", timeout=40)
    assert out.strip() == "job.batch/pi condition met"
    row = rows(kc("get", "job", "pi", "-n", NS))[0]
    assert row[:3] == ["pi", "Complete", "2/2"]
    ev = event_lines(kc, "job", "pi")
    assert "Normal Completed" in ev and "Job completed" in ev and "Created pod: pi-" in ev


def test_cronjob_creates_a_job_when_the_clock_passes_the_schedule(env: tuple[Any, Kubectl]) -> None:
    cluster, kc = env
    bad = kc.run("create", "cronjob", "bad", "-n", NS, "--image=busybox:1.36", "--schedule=bad", check=False)
    assert bad.returncode != 0
    assert bad.stderr.strip() == ('error: failed to create cronjob: CronJob.batch "bad" is invalid: spec.schedule: '
                                  'Invalid value: "bad": expected exactly 5 fields, found 1: [bad]')
    kc("create", "cronjob", "hello", "-n", NS, "--image=busybox:1.36", "--schedule=*/5 * * * *", "--", "date")
    now = cluster.clock.now()
    to_next = 300 - (now.minute % 5) * 60 - now.second - now.microsecond / 1e6
    cluster.clock.advance(to_next + 1)
    jobs = wait_for(lambda: [j for j in get(kc, "jobs")["items"] if j["metadata"]["name"].startswith("hello-")],
                    what="the cronjob's job")
    [job] = jobs
    minutes = int(job["metadata"]["name"].split("-")[1])
    assert minutes % 5 == 0
    assert job["metadata"]["ownerReferences"][0]["name"] == "hello"
    cj = wait_for(lambda: (c := get(kc, "cronjob", "hello")).get("status", {}).get("lastScheduleTime") and c,
                  what="lastScheduleTime")
    assert cj["status"]["lastScheduleTime"].endswith(":00Z")
    assert f"Created job {job['metadata']['name']}" in event_lines(kc, "cronjob", "hello")
    row = rows(kc("get", "cronjob", "hello", "-n", NS))[0]
    assert row[:4] == ["hello", "*/5 * * * *", "<none>", "False"]


def test_hpa_scales_a_deployment_up(env: tuple[Any, Kubectl]) -> None:
    cluster, kc = env
    extras = cluster.controller_ctx.extras
    original = extras.get("usage")

    def usage(pod: dict[str, Any]) -> dict[str, tuple[float, float]]:
        if (pod["metadata"].get("labels") or {}).get("app") == "busy":
            return {c["name"]: (0.2, 64e6) for c in pod["spec"]["containers"]}  # 200% of a 100m request
        return original(pod) if original is not None else {}

    extras["usage"] = usage
    try:
        apply(kc, """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: busy}
spec:
  replicas: 2
  selector: {matchLabels: {app: busy}}
  template:
    metadata: {labels: {app: busy}}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        resources: {requests: {cpu: 100m}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: busy}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: busy}
  minReplicas: 1
  maxReplicas: 6
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
""")
        wait_for(lambda: get(kc, "deploy", "busy")["spec"]["replicas"] == 6, timeout=30, what="scale to 6")
        kc("rollout", "status", "deployment/busy", "-n", NS, "--timeout=30s", timeout=40)
        out = kc("describe", "hpa", "busy", "-n", NS)
        text = re.sub(r"[ \t]+", " ", out)
        assert "Reference: Deployment/busy" in text
        assert "ScalingActive True ValidMetricFound the HPA was able to successfully calculate a replica count from " \
               "cpu resource utilization (percentage of request)" in text
        assert "ScalingLimited True TooManyReplicas the desired replica count is more than the maximum replica " \
               "count" in text
        assert re.search(r"AbleToScale True (ReadyForNewScale|SucceededRescale) ", text)
        assert "SuccessfulRescale" in text
        assert "New size: 4; reason: cpu resource utilization (percentage of request) above target" in text
        wait_for(lambda: rows(kc("get", "hpa", "busy", "-n", NS))[0][:6] == [
            "busy", "Deployment/busy", "cpu: 200%/50%", "1", "6", "6"], what="kubectl get hpa")
    finally:
        if original is None:
            extras.pop("usage", None)
        else:
            extras["usage"] = original


def test_claim_with_a_missing_class_then_fixed(kc: Kubectl) -> None:
    claim = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: {cls}
  resources: {{requests: {{storage: 2Gi}}}}
"""
    apply(kc, claim.format(cls="fast"))
    apply(kc, """\
apiVersion: v1
kind: Pod
metadata: {name: uses-data}
spec:
  containers: [{name: app, image: "nginx:1.27", volumeMounts: [{name: d, mountPath: /data}]}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]
""")
    ev = wait_for(lambda: "ProvisioningFailed" in (e := event_lines(kc, "pvc", "data")) and e,
                  what="ProvisioningFailed")
    assert 'Warning ProvisioningFailed' in ev and 'storageclass.storage.k8s.io "fast" not found' in ev
    assert rows(kc("get", "pvc", "data", "-n", NS))[0][1] == "Pending"
    pod = kc("describe", "pod", "uses-data", "-n", NS)
    assert "pod has unbound immediate PersistentVolumeClaims" in pod
    kc("delete", "pvc", "data", "-n", NS, "--timeout=20s", timeout=30)
    apply(kc, claim.format(cls="standard"))
    wait_for(lambda: rows(kc("get", "pvc", "data", "-n", NS))[0][1] == "Bound", timeout=30, what="Bound")
    wait_for(lambda: get(kc, "pod", "uses-data")["status"].get("phase") == "Running", timeout=30, what="pod runs")
    ev = event_lines(kc, "pvc", "data")
    assert "ProvisioningSucceeded" in ev and "Successfully provisioned volume pvc-" in ev


def test_quota_blocks_pods_until_raised(kc: Kubectl) -> None:
    ns = "wl-quota"  # its own namespace: the quota counts every pod of it
    kc("create", "namespace", ns)
    kc("apply", "-n", ns, "-f", "-", input="""\
apiVersion: v1
kind: ResourceQuota
metadata: {name: compute-quota}
spec:
  hard: {requests.cpu: "1"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: capped}
spec:
  replicas: 3
  selector: {matchLabels: {app: capped}}
  template:
    metadata: {labels: {app: capped}}
    spec:
      containers:
      - {name: app, image: "nginx:1.27", resources: {requests: {cpu: 500m}}}
""")

    def failing() -> list[dict[str, Any]]:
        items = json.loads(kc("get", "rs", "-n", ns, "-l", "app=capped", "-o", "json"))["items"]
        return [r for r in items if any(c["type"] == "ReplicaFailure" for c in r["status"].get("conditions") or ())]

    name = wait_for(failing, what="ReplicaFailure")[0]["metadata"]["name"]
    text = (f'Error creating: pods "{name}-" is forbidden: exceeded quota: compute-quota, requested: '
            "requests.cpu=500m, used: requests.cpu=1, limited: requests.cpu=1")
    events = re.sub(r"[ \t]+", " ", kc("describe", "rs", name, "-n", ns).split("Events:", 1)[-1])
    assert "Warning FailedCreate" in events and text in events
    assert "requests.cpu: 1/1" in kc("get", "quota", "compute-quota", "-n", ns)
    kc("patch", "quota", "compute-quota", "-n", ns, "--type=merge", "-p", '{"spec":{"hard":{"requests.cpu":"2"}}}')
    kc("rollout", "status", "deployment/capped", "-n", ns, "--timeout=30s", timeout=40)


def test_stopped_node_goes_not_ready_and_its_pods_move(env: tuple[Any, Kubectl]) -> None:
    cluster, kc = env
    apply(kc, """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: spread}
spec:
  replicas: 6
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      containers: [{name: app, image: "nginx:1.27"}]
""")
    kc("rollout", "status", "deployment/spread", "-n", NS, "--timeout=30s", timeout=40)
    victims = [p["metadata"]["name"] for p in get(kc, "pods", "-l", "app=spread")["items"]
               if p["spec"]["nodeName"] == "worker-3"]
    assert victims, "expected some pods on worker-3"
    kc("annotate", "node", "worker-3", "sim.prophet.io/stopped=true")
    try:
        cluster.clock.advance(45)
        wait_for(lambda: rows(kc("get", "node", "worker-3"))[0][1] == "NotReady", what="NotReady")
        desc = re.sub(r"[ \t]+", " ", kc("describe", "node", "worker-3"))
        assert "Ready Unknown" in desc and "NodeStatusUnknown Kubelet stopped posting node status." in desc
        assert "node.kubernetes.io/unreachable:NoExecute" in desc
        cluster.clock.advance(300)  # the pods' 300 s toleration of unreachable:NoExecute

        def moved() -> bool:
            items = get(kc, "pods", "-l", "app=spread")["items"]
            live = [p for p in items if not p["metadata"].get("deletionTimestamp")]
            return len(live) == 6 and all(p["spec"].get("nodeName") in ("worker-1", "worker-2") and
                                          p["status"].get("phase") == "Running" for p in live)
        wait_for(moved, timeout=30, what="pods rescheduled off worker-3")
        out = kc("get", "pods", "-n", NS, "-l", "app=spread", "-o", "wide")
        stuck = [r for r in rows(out) if r[0] in victims]
        assert stuck and all(r[2] == "Terminating" for r in stuck)
        assert "TaintManagerEviction" in event_lines(kc, "pod", victims[0])
    finally:
        kc("annotate", "node", "worker-3", "sim.prophet.io/stopped-")
    wait_for(lambda: rows(kc("get", "node", "worker-3"))[0][1] == "Ready", timeout=20, what="Ready again")
