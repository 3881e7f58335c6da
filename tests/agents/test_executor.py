"""`agents.executor`: execute a plan on a real simulated cluster, verify it on the sim clock, roll it back.

One `SimCluster` (speed 50) runs `evals/scenarios/backend-memory-leak.yaml` (shop/backend v2.3 leaks
memory and is OOMKilled) and a namespace `exec` with plain nginx Deployments the tests change. No mocks:
every action goes through `tools.actions` to the API server, every check through `tools.checks`. Clocks
are injected only where a test needs to control when the deadline passes; the others use the cluster's
own clock (60 s of deadline = ~1.2 wall seconds at 50x).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prophet_sre.agents.executor import MIN_POLLS, execute, rollback, verify
from prophet_sre.config import KubeSettings
from prophet_sre.domain import (
    Action,
    Check,
    DeletePodAction,
    EscalateAction,
    Plan,
    ResourceRef,
    ScaleAction,
    SetResourcesAction,
)
from prophet_sre.graphs.state import ExecutionRecord
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.sim.scenario import apply as scenario_apply
from prophet_sre.tools.checks import CheckContext, capture_baseline
from prophet_sre.tools.kube import KubeClient, KubeClients, Op

pytestmark = pytest.mark.timeout(180)
LEAK = Path(__file__).resolve().parents[2] / "evals" / "scenarios" / "backend-memory-leak.yaml"
NS = "exec"


def create(kube: KubeClient, obj: dict[str, Any]) -> None:
    api = obj["apiVersion"]
    rk = kube.resolve(f"{obj['kind']}.{api.rpartition('/')[0]}" if "/" in api else obj["kind"])
    ns = obj["metadata"].get("namespace") if rk.namespaced else None
    kube.request("POST", rk.path(ns), op=Op("create", rk.resource, rk.group, ns or ""), body=obj)


def deployment(name: str, replicas: int = 2) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                         {"name": "main", "image": "nginx:1.27",
                          "resources": {"requests": {"memory": "64Mi"}, "limits": {"memory": "128Mi"}}}]}}}}


def ref(text: str) -> ResourceRef:
    return ResourceRef.parse(text)


def wait(what: str, fn: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class World:
    def __init__(self, cluster: SimCluster, clients: KubeClients) -> None:
        self.cluster, self.clients = cluster, clients
        self.kube = clients.for_cluster("")

    def ctx(self, **kw: Any) -> CheckContext:
        return CheckContext(self.clients, **kw)

    def dep(self, name: str, ns: str = NS) -> dict[str, Any]:
        return self.kube.get("deployments", name, ns)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    cluster = SimCluster(ClusterOptions(speed=50.0))
    cluster.start()
    clients: KubeClients | None = None
    try:
        scenario_apply.load_file(cluster, LEAK)
        kubeconfig = cluster.write_kubeconfig(tmp_path_factory.mktemp("executor") / "kubeconfig")
        clients = KubeClients(KubeSettings(kubeconfig=kubeconfig))
        w = World(cluster, clients)
        create(w.kube, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        for name in ("web", "api", "idle", "flip"):
            create(w.kube, deployment(name))
        yield w
    finally:
        if clients is not None:
            clients.close()
        cluster.stop()


def available(name: str, ns: str = NS) -> Check:
    return Check(kind="deployment", target=f"{ns}/{name}", expect={"available": True})


def test_two_action_plan_executes_in_order_and_verifies(world: World) -> None:
    target = ref(f"{NS}/deployment/web")
    plan = Plan(actions=[ScaleAction(target=target, replicas=3),
                         SetResourcesAction(target=target, container="main", limits={"memory": "192Mi"})],
                verification=[available("web"),
                              Check(kind="pods", target=NS, expect={"selector": "app=web", "ready": "all"}),
                              Check(kind="object", target=f"apps/v1/deployments/{NS}/web", expect={
                                  "jsonpath": "{.spec.template.spec.containers[0].resources.limits.memory}",
                                  "equals": "192Mi"})])
    events: list[str] = []
    records = execute(plan, world.clients, before_write=lambda i, a: events.append(f"before {i} {a.type}"),
                      after_write=lambda r: events.append(f"after {r.index} {r.result.ok}"))
    assert events == ["before 0 scale", "after 0 True", "before 1 set_resources", "after 1 True"]
    assert [r.result.ok for r in records] == [True, True]
    assert isinstance(records[0].inverse, ScaleAction) and records[0].inverse.replicas == 2
    assert isinstance(records[1].inverse, SetResourcesAction) and records[1].inverse.limits == {"memory": "128Mi"}
    dep = world.dep("web")
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "192Mi"

    results = verify(plan.verification, world.ctx(), deadline_s=120, poll_s=0.2)
    assert all(r.ok for r in results), [r.detail for r in results]
    assert "3/3 ready, 3 updated" in results[0].detail


def test_a_failed_action_stops_the_plan(world: World) -> None:
    plan = Plan(actions=[ScaleAction(target=ref(f"{NS}/deployment/api"), replicas=1),
                         ScaleAction(target=ref(f"{NS}/deployment/no-such-app"), replicas=2),
                         ScaleAction(target=ref(f"{NS}/deployment/api"), replicas=4)])
    seen: list[int] = []
    records = execute(plan, world.clients, before_write=lambda i, a: seen.append(i))
    assert [r.index for r in records] == [0, 1]
    assert records[0].result.ok and not records[1].result.ok
    assert records[1].result.error_type == "NotFound" and "no-such-app" in records[1].result.error
    assert seen == [0, 1], "the third action was never attempted"
    assert world.dep("api")["spec"]["replicas"] == 1

    # undoing it touches only what was written: the failed action wrote nothing
    undone = rollback(records, world.clients)
    assert [(r.index, r.action.type, r.result.ok) for r in undone] == [(0, "scale", True)]
    assert world.dep("api")["spec"]["replicas"] == 2


def test_before_write_raising_writes_nothing(world: World) -> None:
    before = world.dep("idle")

    def refuse(i: int, action: Action) -> None:
        raise RuntimeError("audit log is full")

    after: list[ExecutionRecord] = []
    with pytest.raises(RuntimeError, match="audit log is full"):
        execute(Plan(actions=[ScaleAction(target=ref(f"{NS}/deployment/idle"), replicas=5)]), world.clients,
                before_write=refuse, after_write=after.append)
    now = world.dep("idle")
    assert now["spec"]["replicas"] == 2
    assert now["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after == []


def test_escalation_is_recorded_but_not_a_write(world: World) -> None:
    plan = Plan(actions=[EscalateAction(target=ref("shop/deployment/backend"), message="needs a human")])
    writes: list[int] = []
    records = execute(plan, world.clients, before_write=lambda i, a: writes.append(i))
    assert writes == []
    assert len(records) == 1 and records[0].result.ok and records[0].inverse is None
    assert "needs a human" in records[0].result.changed["message"]
    assert rollback(records, world.clients) == []


def test_verify_gives_up_at_the_deadline_on_the_cluster_clock(world: World) -> None:
    impossible = Check(kind="pods", target=NS, expect={"selector": "app=web", "ready": 99})
    start = world.kube.cluster_now()
    results = verify([available("idle"), impossible], world.ctx(), deadline_s=60, poll_s=0.2)
    end = world.kube.cluster_now()
    assert [r.ok for r in results] == [True, False]
    assert "want 99" in results[1].detail
    assert end - start >= timedelta(seconds=60), "the deadline is measured in sim seconds"


def test_verify_polls_until_the_injected_deadline(world: World) -> None:
    calls: list[datetime] = []
    t0 = datetime(2030, 1, 1, tzinfo=UTC)

    def clock() -> datetime:  # 10 s per reading: the deadline of 30 s passes at the 4th reading
        calls.append(t0 + timedelta(seconds=10 * len(calls)))
        return calls[-1]

    impossible = Check(kind="deployment", target=f"{NS}/no-such-app")
    results = verify([impossible], world.ctx(), deadline_s=30, poll_s=0.01, clock=clock)
    assert not results[0].ok and "NotFound" in results[0].detail
    assert len(calls) == 4  # the start, then one reading after each of 3 failing polls
    # a deadline already past still gets the minimum number of polls (one clock reading after each)
    calls.clear()
    verify([impossible], world.ctx(), deadline_s=0, poll_s=0.01, clock=clock)
    assert len(calls) == 1 + MIN_POLLS


def test_a_check_that_stops_holding_counts_as_failed(world: World) -> None:
    ctx = world.ctx()
    steady = Check(kind="unchanged", target=f"apps/v1/deployments/{NS}/flip")
    capture_baseline([steady], ctx)
    impossible = Check(kind="pods", target=NS, expect={"selector": "app=flip", "ready": 99})
    readings: list[int] = []

    def clock() -> datetime:  # the second reading happens after the first poll, where `steady` passed
        readings.append(1)
        if len(readings) == 2:
            body = {"spec": {"replicas": 3}}
            world.kube.request("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/flip",
                               op=Op("patch", "deployments", "apps", NS, "flip"), body=body,
                               headers={"Content-Type": "application/merge-patch+json"})
        return datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=100 * len(readings))

    results = verify([steady, impossible], ctx, deadline_s=150, poll_s=0.01, clock=clock)
    assert [r.ok for r in results] == [False, False]
    assert ".replicas" in results[0].detail


def test_skipped_checks_do_not_hold_up_verification(world: World) -> None:
    metric = Check(kind="metric", target="up", expect={"above": 0})
    results = verify([metric, available("idle")], world.ctx(), deadline_s=600, poll_s=0.2)
    assert results[0].skipped and results[1].ok


def test_rollback_restores_limits_after_a_fix_that_did_not_help(world: World) -> None:
    backend = ref("shop/deployment/backend")

    def leaking() -> bool:
        image = world.dep("backend", "shop")["spec"]["template"]["spec"]["containers"][0]["image"]
        return image == "shop/backend:2.3"

    wait("the v2.3 rollout (the fault)", leaking)
    original = world.dep("backend", "shop")["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert original["memory"] == "256Mi"
    since = world.kube.cluster_now()
    plan = Plan(actions=[SetResourcesAction(target=backend, container="backend", limits={"memory": "320Mi"})],
                verification=[available("backend", "shop"),
                              Check(kind="no_pod_reason", target="OOMKilled",
                                    expect={"namespace": "shop", "since": "remediation"})])
    records = execute(plan, world.clients)
    assert records[0].result.ok, records[0].result.error
    # fresh pods look fine until the leak fills 320Mi (~40 sim s): the checks must hold for 60 s
    results = verify(plan.verification, world.ctx(since=since), deadline_s=90, poll_s=0.2, hold_s=60)
    assert not all(r.ok for r in results), "more memory does not fix a leak"
    assert any("OOMKilled" in r.detail for r in results if not r.ok)

    undone = rollback(records, world.clients)
    assert len(undone) == 1 and undone[0].result.ok, undone[0].result.error
    assert isinstance(undone[0].action, SetResourcesAction) and undone[0].action.limits == {"memory": "256Mi"}
    assert isinstance(undone[0].inverse, SetResourcesAction) and undone[0].inverse.limits == {"memory": "320Mi"}
    limits = world.dep("backend", "shop")["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == original


def test_rollback_reports_actions_without_an_inverse(world: World) -> None:
    pod = wait("a web pod", lambda: world.kube.list("pods", NS, label_selector="app=web"))[0]["metadata"]["name"]
    records = execute(Plan(actions=[DeletePodAction(target=ref(f"{NS}/pod/{pod}"))]), world.clients)
    assert records[0].result.ok and records[0].inverse is None
    undone = rollback(records, world.clients)
    assert len(undone) == 1 and not undone[0].result.ok
    assert undone[0].result.error.startswith("no inverse: not reversible")


def test_hold_returns_once_the_checks_held_for_the_window(world: World) -> None:
    readings: list[int] = []

    def clock() -> datetime:  # 20 s per reading
        readings.append(1)
        return datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=20 * len(readings))

    results = verify([available("idle")], world.ctx(), deadline_s=600, poll_s=0.01, clock=clock, hold_s=40)
    assert [r.ok for r in results] == [True]
    assert len(readings) == 4  # start; first pass at 40 s; 60 s; held 40 s at 80 s
