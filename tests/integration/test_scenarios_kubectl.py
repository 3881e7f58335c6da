"""The classic scenarios as an SRE meets them: real kubectl shows the fault, the right fix heals, a wrong one does not.

Each test loads one scenario file from `evals/scenarios/` into its own simulated cluster (speed 50),
moves the sim clock past the scenario's faults, and then only uses the real `kubectl`:
- the symptom as `kubectl get` prints it (the STATUS / READY / ENDPOINTS columns) and as
  `kubectl describe` prints it (the event text a person would read);
- a plausible wrong fix (`rollout restart`, deleting the pod...) that leaves the symptom in place;
- the right manual fix, after which the rollout completes / the claim binds / the endpoints return.
Skipped here: the product scenarios (they need traffic and metrics, scored by the eval harness).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubectl_support import table, wait_for

from prophet_sre.sim.cluster import ClusterOptions, SimCluster

SUITE = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
SPEED = 50.0
NS = "demo"


def columns(text: str) -> list[dict[str, str]]:
    """kubectl's table output cut at the header's column starts (cells may be empty, as a Pending PVC's are)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    names = [n for n in re.split(r"\s{2,}", lines[0].strip()) if n]
    starts = [lines[0].index(n) for n in names] + [None]
    return [{n: ln[starts[i]:starts[i + 1]].strip() for i, n in enumerate(names)} for ln in lines[1:]]


@dataclass
class Run:
    """One scenario on its own cluster, and a kubectl pointed at it."""

    cluster: SimCluster
    kubeconfig: Path
    cache: Path

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        binary = Path(sys.executable).parent / "kubectl"
        cmd = [str(binary if binary.exists() else "kubectl"), "--kubeconfig", str(self.kubeconfig),
               "--cache-dir", str(self.cache), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
        return proc

    def __call__(self, *args: str, **kw: Any) -> str:
        return self.kubectl(*args, **kw).stdout

    def pods(self) -> dict[str, dict[str, str]]:
        """`kubectl get pods -n demo` as {pod: {column: cell}}."""
        header, rows = table(self("get", "pods", "-n", NS))
        return {r[0]: dict(zip(header, r, strict=False)) for r in rows}

    def statuses(self) -> set[str]:
        return {p["STATUS"] for p in self.pods().values()}

    def pod_with(self, status: str) -> str:
        return wait_for(lambda: next((n for n, p in self.pods().items() if p["STATUS"] == status), None),
                        timeout=30, what=f"a pod in {status}")

    def describe(self, *what: str) -> str:
        return " ".join(self("describe", *what, "-n", NS).split())

    def rolled_out(self, deployment: str, timeout: str = "45s") -> bool:
        return self.kubectl("rollout", "status", f"deployment/{deployment}", "-n", NS, f"--timeout={timeout}",
                            check=False).returncode == 0

    def settle(self, sim_seconds: float) -> None:
        """Let `sim_seconds` of sim time pass (wall time at the cluster's speed)."""
        time.sleep(sim_seconds / SPEED)


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Callable[[str], Run]]:
    started: list[SimCluster] = []

    def start(name: str) -> Run:
        cluster = SimCluster(ClusterOptions(speed=SPEED, scenarios=[SUITE / f"{name}.yaml"]))
        started.append(cluster)
        cluster.start()
        kubeconfig = cluster.write_kubeconfig(tmp_path / f"{name}.kubeconfig")
        (tmp_path / "cache").mkdir(exist_ok=True)
        run = Run(cluster, kubeconfig, tmp_path / "cache")
        _past_the_faults(cluster)
        return run

    yield start
    for c in started:
        c.stop()


def _past_the_faults(cluster: SimCluster) -> None:
    """Wait until every scenario fault has fired (they are due within a sim minute of the start)."""
    wait_for(lambda: all(r.state != "scheduled" for r in cluster.faults.records()), timeout=30,
             what="the scenario's faults to fire")
    failed = [r.message for r in cluster.faults.records() if r.state == "failed"]
    assert not failed, failed


def test_bad_image_tag(scenario: Callable[[str], Run]) -> None:
    k = scenario("bad-image-tag")
    pod = wait_for(lambda: next((n for n, p in k.pods().items() if p["STATUS"] in ("ErrImagePull", "ImagePullBackOff")),
                                None), timeout=30, what="a pod failing to pull")
    assert k.pods()[pod]["READY"] == "0/1"
    text = wait_for(lambda: (t := k.describe("pod", pod)) and "Back-off pulling image" in t and t, timeout=30)
    assert 'Failed to pull image "nginx:1.277"' in text and "/nginx:1.277: not found" in text
    assert "Error: ErrImagePull" in text

    # wrong: restarting the rollout pulls the same missing tag again
    k("rollout", "restart", "deployment/web", "-n", NS)
    k.settle(60)
    assert not k.rolled_out("web", "2s")
    assert {"ErrImagePull", "ImagePullBackOff"} & k.statuses()

    # right: back to the revision that worked
    k("rollout", "undo", "deployment/web", "-n", NS, "--to-revision=1")
    assert k.rolled_out("web")
    wait_for(lambda: k.statuses() == {"Running"} and all(p["READY"] == "1/1" for p in k.pods().values()), timeout=30)
    assert json.loads(k("get", "deployment", "web", "-n", NS, "-o", "json"))["spec"]["template"]["spec"][
        "containers"][0]["image"] == "nginx:1.27"


def test_crash_bad_command(scenario: Callable[[str], Run]) -> None:
    k = scenario("crash-bad-command")
    pod = k.pod_with("CrashLoopBackOff")
    text = k.describe("pod", pod)
    assert 'exec: "/app/backnd": stat /app/backnd: no such file or directory' in text
    assert "Back-off restarting failed container api" in text and "Command: /app/backnd" in text

    # wrong: deleting the crashing pod - its replacement runs the same command
    k("delete", "pod", pod, "-n", NS, "--wait=false")
    replacement = wait_for(lambda: next((n for n, p in k.pods().items() if n != pod and p["STATUS"]
                                         in ("CrashLoopBackOff", "StartError", "RunContainerError")), None),
                           timeout=30, what="the replacement to crash too")
    assert replacement != pod and not k.rolled_out("api", "2s")

    # right: roll back to the revision with the working command
    k("rollout", "undo", "deployment/api", "-n", NS)
    assert k.rolled_out("api")
    wait_for(lambda: k.statuses() == {"Running"}, timeout=30)
    assert "<none>" not in k("get", "endpoints", "api", "-n", NS)


def test_pvc_missing_storageclass_shows_and_resists_wrong_fixes(scenario: Callable[[str], Run]) -> None:
    k = scenario("pvc-missing-storageclass")
    [row] = columns(k("get", "pvc", "-n", NS))
    assert row["NAME"] == "data" and row["STATUS"] == "Pending" and row["STORAGECLASS"] == "fast-ssd"
    assert row["VOLUME"] == "" and row["CAPACITY"] == ""
    pvc = wait_for(lambda: (t := k.describe("pvc", "data")) and "ProvisioningFailed" in t and t, timeout=30)
    assert 'storageclass.storage.k8s.io "fast-ssd" not found' in pvc
    pod = k.pod_with("Pending")
    text = wait_for(lambda: (t := k.describe("pod", pod)) and "FailedScheduling" in t and t, timeout=30)
    assert "pod has unbound immediate PersistentVolumeClaims" in text

    # wrong: the class of a claim cannot be changed in place
    proc = k.kubectl("patch", "pvc", "data", "-n", NS, "-p", '{"spec":{"storageClassName":"standard"}}', check=False)
    assert proc.returncode != 0 and "spec is immutable after creation" in proc.stderr
    # wrong: a new pod waits for the same claim
    k("delete", "pod", pod, "-n", NS, "--wait=false")
    k.settle(30)
    assert k.statuses() == {"Pending"} and pod not in k.pods()


PVC_FIXED = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: demo}
spec:
  storageClassName: standard
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 5Gi}}
"""


def test_pvc_missing_storageclass_heals_when_the_claim_is_recreated(scenario: Callable[[str], Run]) -> None:
    k = scenario("pvc-missing-storageclass")
    k.pod_with("Pending")
    # the Pending pod is not scheduled, so it does not hold the claim (pvc-protection counts scheduled pods)
    k("delete", "pvc", "data", "-n", NS, "--timeout=10s")
    k("apply", "-f", "-", input=PVC_FIXED)
    wait_for(lambda: "Bound" in k("get", "pvc", "data", "-n", NS), timeout=30, what="the claim to bind")
    assert k.rolled_out("db")
    assert k.statuses() == {"Running"}


def test_pvc_missing_storageclass_heals_when_its_user_stops_and_the_claim_is_recreated(
        scenario: Callable[[str], Run]) -> None:
    k = scenario("pvc-missing-storageclass")
    k.pod_with("Pending")
    k("scale", "deployment/db", "-n", NS, "--replicas=0")
    wait_for(lambda: not k.pods(), timeout=30, what="the db pod to go")
    k("delete", "pvc", "data", "-n", NS, "--timeout=30s")
    k("apply", "-f", "-", input=PVC_FIXED)
    k("scale", "deployment/db", "-n", NS, "--replicas=1")
    wait_for(lambda: "Bound" in k("get", "pvc", "data", "-n", NS), timeout=30, what="the claim to bind")
    assert k.rolled_out("db")
    [row] = columns(k("get", "pvc", "-n", NS))
    assert row["STORAGECLASS"] == "standard" and row["CAPACITY"] == "5Gi"


def test_wrong_probe_path(scenario: Callable[[str], Run]) -> None:
    k = scenario("wrong-probe-path")
    text = wait_for(lambda: next((t for n, p in k.pods().items() if p["READY"] == "0/1" and p["STATUS"] == "Running"
                                  and "statuscode: 404" in (t := k.describe("pod", n))), None),
                    timeout=30, what="a running pod whose readiness probe gets 404")
    assert "Readiness probe failed: HTTP probe failed with statuscode: 404" in text
    assert "Readiness: http-get http://:http/healthz" in text

    # wrong: new pods get the same probe
    k("rollout", "restart", "deployment/web", "-n", NS)
    k.settle(60)
    assert not k.rolled_out("web", "2s")
    assert any(p["READY"] == "0/1" for p in k.pods().values())

    # right: probe the path nginx serves
    k("patch", "deployment", "web", "-n", NS, "--type=json", "-p",
      '[{"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/path", "value": "/"}]')
    assert k.rolled_out("web")
    wait_for(lambda: all(p["READY"] == "1/1" for p in k.pods().values()), timeout=30)


def test_service_selector_mismatch(scenario: Callable[[str], Run]) -> None:
    k = scenario("service-selector-mismatch")
    header, rows = table(k("get", "endpoints", "web", "-n", NS))
    assert dict(zip(header, rows[0], strict=False))["ENDPOINTS"] == "<none>"
    text = k.describe("service", "web")
    assert "Selector: app=web-frontend" in text
    assert {p["STATUS"] for p in k.pods().values()} == {"Running"}, "the pods themselves are fine"

    # wrong: restarting the pods does not make them match
    k("rollout", "restart", "deployment/web", "-n", NS)
    assert k.rolled_out("web")
    k.settle(30)
    assert "<none>" in k("get", "endpoints", "web", "-n", NS)

    # right: select the pods' label again
    k("patch", "service", "web", "-n", NS, "-p", '{"spec":{"selector":{"app":"web"}}}')
    wait_for(lambda: "<none>" not in k("get", "endpoints", "web", "-n", NS), timeout=30, what="endpoints")
    assert ":80" in k("get", "endpoints", "web", "-n", NS)


def test_unsatisfiable_node_selector(scenario: Callable[[str], Run]) -> None:
    k = scenario("unsatisfiable-node-selector")
    pod = k.pod_with("Pending")
    text = wait_for(lambda: (t := k.describe("pod", pod)) and "FailedScheduling" in t and t, timeout=30)
    assert "0/3 nodes are available" in text and "2 node(s) didn't match Pod's node affinity/selector" in text
    assert "Node-Selectors: disktype=ssd" in text

    # wrong: deleting the pending pod - the ReplicaSet makes another one, just as unschedulable
    k("delete", "pod", pod, "-n", NS, "--wait=false")
    other = wait_for(lambda: next((n for n, p in k.pods().items() if n != pod and p["STATUS"] == "Pending"), None),
                     timeout=30, what="a new pending pod")
    k.settle(30)
    assert k.pods()[other]["STATUS"] == "Pending"

    # right: give the pods a node that matches
    k("label", "node", "worker-1", "disktype=ssd")
    assert k.rolled_out("web")
    wait_for(lambda: k.statuses() == {"Running"}, timeout=30)
    assert {"worker-1"} <= {p["spec"]["nodeName"] for p in json.loads(
        k("get", "pods", "-n", NS, "-l", "app=web", "-o", "json"))["items"]}


def test_missing_configmap_key(scenario: Callable[[str], Run]) -> None:
    k = scenario("missing-configmap-key")
    pod = k.pod_with("CreateContainerConfigError")
    text = wait_for(lambda: (t := k.describe("pod", pod)) and "couldn't find key" in t and t, timeout=30)
    assert "Error: couldn't find key DATABASE_URL in ConfigMap demo/app-config" in text
    assert "DATABASE_URL: <set to the key 'DATABASE_URL' of config map 'app-config'>" in text
    assert len([p for p in k.pods().values() if p["STATUS"] == "Running"]) == 2, "the old pods keep serving"

    # wrong: another rollout restart creates pods with the same unresolvable reference
    k("rollout", "restart", "deployment/api", "-n", NS)
    k.settle(60)
    assert not k.rolled_out("api", "2s")
    assert "CreateContainerConfigError" in k.statuses()

    # right: put the key back; the kubelet retries and the rollout finishes
    k("patch", "configmap", "app-config", "-n", NS, "-p", '{"data":{"DATABASE_URL":"postgres://db.demo:5432/app"}}')
    assert k.rolled_out("api", "60s")
    wait_for(lambda: k.statuses() == {"Running"}, timeout=30)
