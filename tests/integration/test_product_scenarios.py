"""The product scenarios of one cluster, as an SRE meets them: the fault, a wrong fix, the right fix.

Each test loads one scenario file from `evals/scenarios/` into a fresh simulated cluster at 50x, lets
its faults fire, and then works like a person on call: real `kubectl` for pods, events and rollouts,
the cluster's Prometheus `/metrics` for error rates, latency and pool gauges (rates and quantiles are
computed between two scrapes, per sim second). Every fix is applied with kubectl only.

- backend-memory-leak: v2.3 is OOMKilled over and over and the frontend answers 5xx; `rollout restart`
  starts more v2.3 pods that OOM too; undoing the rollout to the v2.2 revision heals it.
- db-pool-exhaustion: kubectl shows nothing wrong, the metrics do (frontend p95 in seconds, every
  backend pool at its maximum, timeouts); restarting the db changes nothing; scaling the backend does.
- cascading-resource-exhaustion: analytics pods Pending on `Insufficient cpu`, worker-2 tainted by
  MemoryPressure, the backend HPA pinned at its maximum. Deleting Pending pods, restarting the backend
  or raising the HPA alone do not heal; new capacity plus a higher HPA maximum does, and so does scaling
  analytics back down (the scenario's expected action).

The east-west scan and the fleet scenario have their own files (`test_product_scan.py`,
`test_product_fleet.py`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import pytest
from product_support import (
    Kube,
    Window,
    is_ready,
    names,
    past_the_faults,
    pods,
    poll_window,
    scrape,
    settle,
    start_cluster,
    terminated_reasons,
    wait_for,
    window,
)

from prophet_sre.sim.cluster import SimCluster

pytestmark = pytest.mark.timeout(120)
NS = "shop"
FIVE_XX = re.compile(r"5..")
Start = Callable[[str], tuple[SimCluster, Kube]]


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Start]:
    started: list[SimCluster] = []

    def start(name: str) -> tuple[SimCluster, Kube]:
        cluster, k = start_cluster(name, tmp_path)
        started.append(cluster)
        past_the_faults(cluster)
        return cluster, k

    yield start
    for c in started:
        c.stop()


# -- backend-memory-leak ----------------------------------------------------------------------------------
def _oom_killed_pod(k: Kube, image: str, exclude: Collection[str] = ()) -> dict[str, Any]:
    """A backend pod running `image` whose container was OOMKilled (now or last time)."""
    def find() -> dict[str, Any] | None:
        for p in pods(k, NS, "app=backend"):
            if p["metadata"]["name"] in exclude:
                continue
            if p["spec"]["containers"][0]["image"] == image and "OOMKilled" in terminated_reasons(p):
                return p
        return None
    return wait_for(find, timeout=30, what=f"a {image} backend pod to be OOMKilled")


def test_backend_memory_leak(scenario: Start) -> None:
    cluster, k = scenario("backend-memory-leak")

    # the fault: v2.3 pods are OOMKilled (256Mi limit, ~300Mi/min leak) and restart over and over
    pod = _oom_killed_pod(k, "shop/backend:2.3")["metadata"]["name"]
    text = wait_for(lambda: (t := k.describe("pod", pod, "-n", NS)) and "Back-off restarting" in t and t,
                    timeout=30, what="the kubelet's back-off event")
    assert "Image: shop/backend:2.3" in text
    assert "Last State: Terminated Reason: OOMKilled Exit Code: 137" in text
    assert "Limits: memory: 256Mi" in text
    assert "Back-off restarting failed container backend in pod" in text
    crashing = wait_for(lambda: [r for r in k.rows("pods", "-n", NS, "-l", "app=backend")
                                 if r["STATUS"] in ("OOMKilled", "CrashLoopBackOff")], timeout=30,
                        what="`kubectl get pods` to show a backend in OOMKilled or CrashLoopBackOff")
    assert all(r["READY"] == "0/1" and int(r["RESTARTS"].split()[0]) >= 1 for r in crashing), crashing
    # ... and the frontend, upstream, answers 5xx while the backends are down
    w = poll_window(cluster, 30, lambda w: w.rate("http_requests_total", service="frontend", code=FIVE_XX) > 2,
                    what="frontend 5xx from the crashing backend")
    assert w.b.value("container_oom_events_total", namespace=NS, container="backend") >= 1

    # wrong: a restart rolls out new pods of the same leaking image; they are OOMKilled too
    before = names(pods(k, NS, "app=backend"))
    k("rollout", "restart", "deployment/backend", "-n", NS)
    fresh = _oom_killed_pod(k, "shop/backend:2.3", exclude=before)
    assert fresh["metadata"]["name"] not in before
    assert fresh["metadata"]["annotations"].get("kubectl.kubernetes.io/restartedAt")

    # right: roll back to the revision that ran v2.2 (a plain `undo` would only undo the restart)
    rs = k.json("get", "replicasets", "-n", NS, "-l", "app=backend")["items"]
    good = [r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] for r in rs
            if r["spec"]["template"]["spec"]["containers"][0]["image"] == "shop/backend:2.2"]
    assert good == ["1"], good
    assert "shop/backend:2.2" in k("rollout", "history", "deployment/backend", "-n", NS, "--revision=1")
    k("rollout", "undo", "deployment/backend", "-n", NS, "--to-revision=1")
    assert k.rolled_out("backend", NS)
    healed = wait_for(lambda: (ps := pods(k, NS, "app=backend")) and len(ps) == 2 and all(map(is_ready, ps)) and ps,
                      timeout=30, what="two ready backend pods and nothing else")
    assert {p["spec"]["containers"][0]["image"] for p in healed} == {"shop/backend:2.2"}
    # a v2.3 pod would be OOMKilled within ~30 sim seconds; a full minute later the v2.2 pods have not
    w = window(cluster, 60)
    after = pods(k, NS, "app=backend")
    assert names(after) == names(healed)
    assert all(cs["restartCount"] == 0 for p in after for cs in p["status"]["containerStatuses"])
    assert not any(terminated_reasons(p) for p in after)
    assert w.rate("http_requests_total", service="frontend", code=FIVE_XX) < 0.5  # the scenario's check
    assert w.rate("http_requests_total", service="frontend", code="200") > 40  # 50 rps, all served
    assert w.increase("container_oom_events_total", namespace=NS, container="backend") == 0


# -- db-pool-exhaustion -----------------------------------------------------------------------------------
def _saturated(w: Window) -> bool:
    in_use = w.b.by("pod", "db_pool_connections_in_use", service="backend")
    size = w.b.by("pod", "db_pool_connections_max", service="backend")
    return bool(in_use) and all(in_use[p] >= size[p] for p in in_use) and \
        w.quantile(0.95, "http_request_duration_seconds", service="frontend") > 1.0


def test_db_pool_exhaustion(scenario: Start) -> None:
    cluster, k = scenario("db-pool-exhaustion")

    # kubectl sees nothing wrong: every pod is Running and Ready, every Deployment available
    deploys = {r["NAME"]: r["READY"] for r in k.rows("deployments", "-n", NS)}
    assert deploys == {"frontend": "2/2", "backend": "2/2", "db": "1/1"}
    # the metrics do: the frontend's p95 is in seconds, each backend replica's pool to db is full
    w = poll_window(cluster, 30, _saturated, what="the backend pools to saturate")
    pools = w.b.by("pod", "db_pool_connections_in_use", service="backend", pool="db")
    assert len(pools) == 2 and set(pools.values()) == {8.0}  # pool_size 8, all in use
    assert min(w.b.by("pod", "db_pool_connections_waiting", service="backend").values()) > 1
    assert w.increase("db_pool_timeouts_total", service="backend") > 0
    assert w.rate("http_requests_total", service="frontend", code=FIVE_XX) > 5
    # the backend's own access log shows the failing requests
    wait_for(lambda: "status=500" in k("logs", "deployment/backend", "-n", NS, "--tail=200"), timeout=20,
             what="500s in the backend's log")

    # wrong: restarting the database; the pools live in the backend replicas, nothing changes
    k("rollout", "restart", "deployment/db", "-n", NS)
    assert k.rolled_out("db", NS)
    settle(cluster, 20)
    w = poll_window(cluster, 30, _saturated, what="the pools to be saturated again after the db restart")
    assert w.quantile(0.95, "http_request_duration_seconds", service="frontend") > 1.0

    # right: more backend replicas = more pools, each with half the demand
    k("scale", "deployment/backend", "-n", NS, "--replicas=4")
    assert k.rolled_out("backend", NS)

    def recovered(w: Window) -> bool:
        return len(w.b.by("pod", "db_pool_connections_in_use", service="backend")) == 4 and \
            w.quantile(0.95, "http_request_duration_seconds", service="frontend") < 0.5 and \
            w.increase("db_pool_timeouts_total", service="backend") == 0

    w = poll_window(cluster, 30, recovered, timeout=40, what="frontend latency to recover")
    in_use = w.b.by("pod", "db_pool_connections_in_use", service="backend")
    assert max(in_use.values()) <= 5 < 8  # ~4 of 8 connections per replica
    assert w.rate("http_requests_total", service="frontend", code=FIVE_XX) < 0.5
    assert w.rate("http_requests_total", service="frontend", code="200") > 100  # 120 rps offered


# -- cascading-resource-exhaustion ------------------------------------------------------------------------
def _pending(k: Kube, selector: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in pods(k, NS, selector) if p["status"].get("phase") == "Pending"
                  and not p["metadata"].get("deletionTimestamp"))


def _show_capacity_fault(k: Kube) -> None:
    """2 of 6 analytics pods Pending (CPU), worker-2 under MemoryPressure, the backend HPA at its max."""
    pending = wait_for(lambda: (p := _pending(k, "app=analytics")) and len(p) == 2 and p, timeout=30,
                       what="two pending analytics pods")
    assert sum(map(is_ready, pods(k, NS, "app=analytics"))) == 4
    text = wait_for(lambda: (t := k.describe("pod", pending[0], "-n", NS)) and "memory-pressure" in t and t,
                    timeout=30, what="the scheduler to name worker-2's memory-pressure taint")
    assert "FailedScheduling" in text and "0/3 nodes are available" in text and "Insufficient cpu" in text
    assert "1 node(s) had untolerated taint {node.kubernetes.io/memory-pressure: }" in text
    node = k.describe("node", "worker-2")
    assert "Taints: node.kubernetes.io/memory-pressure:NoSchedule" in node
    assert "MemoryPressure True" in node and "KubeletHasInsufficientMemory" in node
    [hpa] = k.rows("hpa", "-n", NS)
    assert (hpa["MAXPODS"], hpa["REPLICAS"]) == ("3", "3")
    text = wait_for(lambda: (t := k.describe("hpa", "backend", "-n", NS)) and "TooManyReplicas" in t and t,
                    timeout=30, what="the HPA to be limited")
    assert "ScalingLimited True TooManyReplicas the desired replica count is more than the maximum" in text


def _a_new_node(k: Kube, name: str, ip: str, cidr: str) -> str:
    """A Node object as a new machine's kubelet registers it: worker-1's shape (4 CPU, 16Gi), its own name,
    address and pod CIDR. (The sim's kubelet then heartbeats it and runs what is scheduled there.)"""
    node = k.json("get", "node", "worker-1")
    meta = node["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "annotations"):
        meta.pop(key, None)
    meta["name"] = meta["labels"]["kubernetes.io/hostname"] = name
    node["spec"] = {"podCIDR": cidr, "podCIDRs": [cidr]}
    node["status"]["addresses"] = [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]
    node["status"].pop("images", None)
    return json.dumps(node)


def test_cascading_resource_exhaustion_needs_capacity(scenario: Start) -> None:
    cluster, k = scenario("cascading-resource-exhaustion")
    _show_capacity_fault(k)

    # wrong: deleting the Pending pods - the ReplicaSet recreates them, just as unschedulable
    before = _pending(k, "app=analytics")
    k("delete", "pods", "-n", NS, "--field-selector=status.phase=Pending", "--wait=false")
    again = wait_for(lambda: (p := _pending(k, "app=analytics")) and len(p) == 2 and not set(p) & set(before) and p,
                     timeout=30, what="two new pending analytics pods")
    settle(cluster, 30)
    assert _pending(k, "app=analytics") == again

    # wrong (alone): a higher HPA maximum - the HPA scales up, but the new backend replica cannot be placed
    k("patch", "hpa", "backend", "-n", NS, "-p", '{"spec":{"maxReplicas":6}}')
    stuck = wait_for(lambda: _pending(k, "app=backend"), timeout=30, what="a pending backend replica")
    assert "Insufficient cpu" in wait_for(
        lambda: (t := k.describe("pod", stuck[0], "-n", NS)) and "FailedScheduling" in t and t, timeout=30)
    assert not k.rolled_out("backend", NS, "2s")

    # right: capacity - a third worker joins - and the HPA's higher maximum lets the backend follow the load
    assert "node/worker-3 created" in k("create", "-f", "-", input=_a_new_node(k, "worker-3", "172.18.0.5",
                                                                               "10.244.3.0/24"))
    wait_for(lambda: "Ready" in k("get", "node", "worker-3", "-o",
                                  'jsonpath={.status.conditions[?(@.status=="True")].type}'), timeout=30)
    wait_for(lambda: not _pending(k, "app"), timeout=40, what="every pending pod to be scheduled")
    assert k.rolled_out("analytics", NS) and k.rolled_out("backend", NS) and k.rolled_out("frontend", NS)
    assert all(map(is_ready, pods(k, NS, "app=analytics"))) and len(pods(k, NS, "app=analytics")) == 6
    on_new = [p["metadata"]["name"] for p in pods(k, NS, "app") if p["spec"].get("nodeName") == "worker-3"]
    assert set(again) & set(on_new), "the formerly pending analytics pods run on the new node"
    text = wait_for(lambda: (t := k.describe("hpa", "backend", "-n", NS)) and "DesiredWithinRange" in t and t,
                    timeout=30, what="the HPA to be within range")
    assert "ScalingLimited False DesiredWithinRange" in text
    [hpa] = k.rows("hpa", "-n", NS)
    assert 3 < int(hpa["REPLICAS"]) <= 6


def test_cascading_resource_exhaustion_scale_the_batch_down(scenario: Start) -> None:
    cluster, k = scenario("cascading-resource-exhaustion")
    _show_capacity_fault(k)

    # wrong: restarting the backend - its pods move around, the analytics pods stay Pending
    k("rollout", "restart", "deployment/backend", "-n", NS)
    settle(cluster, 60)
    assert len(_pending(k, "app=analytics")) == 2

    # right (the scenario's expected action): scale the batch back to its size before the fault
    k("scale", "deployment/analytics", "-n", NS, "--replicas=2")
    wait_for(lambda: not _pending(k, "app"), timeout=30, what="no pending pod in the shop")
    # the scenario's recovered checks: backend and frontend available, every backend and analytics pod ready
    for name in ("backend", "frontend", "analytics"):
        assert k.rolled_out(name, NS), name
    for selector, count in (("app=analytics", 2), ("app=backend", 3)):
        ps = wait_for(lambda s=selector, n=count: (ps := pods(k, NS, s)) and len(ps) == n and all(map(is_ready, ps))
                      and ps, timeout=30, what=f"{count} ready pods {selector}")
        assert len(ps) == count
    settle(cluster, 30)
    assert not _pending(k, "app") and all(map(is_ready, pods(k, NS, "app")))
    assert scrape(cluster).value("kube_deployment_status_replicas_unavailable", namespace=NS) == 0
