"""Real kubectl against the behaviour model: each classic pod fault looks as on a real cluster, and each
classic fix heals it.

Covers: a tag that does not exist (ErrImagePull / ImagePullBackOff, the pull event, `kubectl set image`
heals), a command not in the image (StartError -> CrashLoopBackOff, restarts climb, `logs --previous`),
a leaking image over its memory limit (OOMKilled, restarts), a readiness probe on a 404 path (0/1,
Unhealthy event, no endpoints; patching the path heals), a missing ConfigMap key
(CreateContainerConfigError; `kubectl create configmap` heals). Exact texts are pinned by the unit tests
(tests/unit/sim/behaviour); here we check that kubectl shows them. The cluster is this module's own at
speed 50, so back-offs of minutes pass in seconds and no other suite's pods interfere.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import Kubectl, kubectl_binary

T = TypeVar("T")
NS = "behaviour"


@pytest.fixture(scope="module")
def kc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    from prophet_sre.sim.cluster import ClusterOptions, SimCluster

    cluster = SimCluster(ClusterOptions(speed=50.0, workers=2, name="behaviour"))
    cluster.start()
    base = tmp_path_factory.mktemp("behaviour")
    cache = base / "cache"
    cache.mkdir()
    k = Kubectl(cluster.write_kubeconfig(Path(base) / "config"), cache, kubectl_binary())
    k("create", "namespace", NS)
    yield k
    cluster.stop()


def wait_for(fn: Callable[[], T], timeout: float = 20.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except AssertionError as e:
            last = e
        else:
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: last={last!r}")


def deployment(name: str, image: str, *, extra: str = "") -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {NS}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: {name}
        image: {image}
{extra}"""


def pod_rows(kc: Kubectl, app: str) -> list[list[str]]:
    """`kubectl get pods -l app=APP --no-headers` rows: NAME READY STATUS RESTARTS AGE."""
    out = kc("get", "pods", "-n", NS, "-l", f"app={app}", "--no-headers")
    return [line.split() for line in out.splitlines() if line.strip()]


def pods(kc: Kubectl, app: str) -> list[dict[str, Any]]:
    return json.loads(kc("get", "pods", "-n", NS, "-l", f"app={app}", "-o", "json"))["items"]


def one_status(kc: Kubectl, app: str, want: set[str]) -> list[str] | None:
    rows = pod_rows(kc, app)
    return rows[0] if len(rows) == 1 and rows[0][2] in want else None


def test_missing_tag_pull_backoff_then_set_image_heals(kc: Kubectl) -> None:
    kc("apply", "-f", "-", input=deployment("pull", "nginx:nope"))
    row = wait_for(lambda: one_status(kc, "pull", {"ErrImagePull", "ImagePullBackOff"}), what="ErrImagePull")
    assert row[1] == "0/1"
    wait_for(lambda: one_status(kc, "pull", {"ImagePullBackOff"}), what="ImagePullBackOff")
    desc = kc("describe", "pod", "-n", NS, row[0])
    assert 'Failed to pull image "nginx:nope": rpc error: code = NotFound desc = failed to pull and unpack image ' \
           '"docker.io/library/nginx:nope"' in desc
    assert "Error: ErrImagePull" in desc and 'Back-off pulling image "nginx:nope"' in desc

    kc("set", "image", "-n", NS, "deployment/pull", "pull=nginx:1.27")
    wait_for(lambda: (r := one_status(kc, "pull", {"Running"})) and r[1] == "1/1", what="healed by set image")
    kc("rollout", "status", "-n", NS, "deployment/pull", "--timeout=20s")


def test_missing_binary_crash_loops_and_previous_logs_work(kc: Kubectl) -> None:
    kc("apply", "-f", "-", input=deployment("crash", "busybox:1.36", extra='        command: ["nonexistent-binary"]\n'))
    row = wait_for(lambda: one_status(kc, "crash", {"CrashLoopBackOff"}), what="CrashLoopBackOff")
    first = int(row[3])
    wait_for(lambda: int(pod_rows(kc, "crash")[0][3]) > max(first, 2), timeout=30, what="restarts climbing")
    [p] = pods(kc, "crash")
    last = p["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert (last["reason"], last["exitCode"]) == ("StartError", 128)
    assert 'exec: "nonexistent-binary": executable file not found in $PATH' in last["message"]
    prev = kc.run("logs", "-n", NS, p["metadata"]["name"], "--previous")
    assert prev.returncode == 0, prev.stderr
    assert 'exec: "nonexistent-binary": executable file not found in $PATH' in prev.stdout
    desc = kc("describe", "pod", "-n", NS, p["metadata"]["name"])
    assert "Back-off restarting failed container crash in pod" in desc


def test_leak_over_the_limit_is_oomkilled_and_restarts(kc: Kubectl) -> None:
    extra = "        resources: {limits: {memory: 256Mi}, requests: {memory: 128Mi}}\n"
    kc("apply", "-f", "-", input=deployment("leak", "shop/backend:2.3", extra=extra))
    jsonpath = "{.items[0].status.containerStatuses[0].lastState.terminated.reason}"
    wait_for(lambda: kc("get", "pods", "-n", NS, "-l", "app=leak", "-o", f"jsonpath={jsonpath}") == "OOMKilled",
             timeout=30, what="OOMKilled")
    [p] = pods(kc, "leak")
    cs = p["status"]["containerStatuses"][0]
    assert cs["restartCount"] >= 1 and cs["lastState"]["terminated"]["exitCode"] == 137
    prev = kc("logs", "-n", NS, p["metadata"]["name"], "--previous")
    assert "version=2.3.0" in prev and "memory" in prev


def test_readiness_404_keeps_pod_out_of_endpoints_until_the_path_is_fixed(kc: Kubectl) -> None:
    probe = "        readinessProbe: {httpGet: {path: /healthz, port: 80}, periodSeconds: 5}\n"
    kc("apply", "-f", "-", input=deployment("web", "nginx:1.27", extra=probe))
    kc("expose", "deployment", "web", "-n", NS, "--port", "80")
    row = wait_for(lambda: one_status(kc, "web", {"Running"}), what="Running")
    assert row[1] == "0/1"
    wait_for(lambda: "Readiness probe failed: HTTP probe failed with statuscode: 404"
             in kc("describe", "pod", "-n", NS, row[0]), what="Unhealthy event")
    assert kc("get", "pods", "-n", NS, row[0], "--no-headers").split()[1] == "0/1"
    ep = json.loads(kc("get", "endpoints", "web", "-n", NS, "-o", "json"))
    assert not any(s.get("addresses") for s in ep.get("subsets") or ())

    patch = [{"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/path", "value": "/"}]
    kc("patch", "deployment", "web", "-n", NS, "--type=json", "-p", json.dumps(patch))
    kc("rollout", "status", "-n", NS, "deployment/web", "--timeout=30s")
    wait_for(lambda: any(s.get("addresses") for s in json.loads(
        kc("get", "endpoints", "web", "-n", NS, "-o", "json")).get("subsets") or ()), what="endpoints")


def test_missing_configmap_key_then_create_configmap_recovers(kc: Kubectl) -> None:
    env = ("        command: [sleep, '3600']\n        env:\n        - name: LOG_LEVEL\n"
           "          valueFrom: {configMapKeyRef: {name: app-config, key: LOG_LEVEL}}\n")
    kc("apply", "-f", "-", input=deployment("cfg", "busybox:1.36", extra=env))
    row = wait_for(lambda: one_status(kc, "cfg", {"CreateContainerConfigError"}), what="config error")
    [p] = pods(kc, "cfg")
    assert p["status"]["containerStatuses"][0]["state"]["waiting"]["message"] == 'configmap "app-config" not found'
    assert 'Error: configmap "app-config" not found' in kc("describe", "pod", "-n", NS, row[0])

    kc("create", "configmap", "app-config", "-n", NS, "--from-literal=LOG_LEVEL=debug")
    wait_for(lambda: (r := one_status(kc, "cfg", {"Running"})) and r[1] == "1/1", what="recovered")
    assert int(pod_rows(kc, "cfg")[0][3]) == 0  # never ran before: no restart
