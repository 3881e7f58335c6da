"""The simulated cluster the critic tests check plans against (shared helper of test_critic*.py).

The `backend-memory-leak` scenario (namespace `shop`: frontend -> backend -> db, backend rolled out to
the leaking 2.3, so it has a revision to roll back to), plus objects the policy must keep Prophet away
from: `shop/deployment/payments` carries the protected label, and namespace `vault` the protected
annotation (with `vault/deployment/keeper` in it). The critic only ever dry-runs, so the cluster does
not change under the tests and one cluster serves a whole test module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson

from prophet_sre.config import KubeSettings
from prophet_sre.policy.spec import PROTECTED_KEY
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.sim.scenario import apply as scenario_apply
from prophet_sre.tools.kube import KubeClient, KubeClients, Op

SCENARIOS = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
T = TypeVar("T")


@dataclass(frozen=True)
class World:
    cluster: SimCluster
    kubeconfig: Path
    kube: KubeClient
    """An admin client, for setting things up and reading the truth."""
    clusters: KubeClients
    """What the critic gets."""


def create(kube: KubeClient, obj: dict[str, Any]) -> dict[str, Any]:
    rk = kube.resolve(obj["kind"])
    ns = obj["metadata"].get("namespace") if rk.namespaced else None
    resp = kube.request("POST", rk.path(ns), op=Op("create", rk.resource, rk.group, ns or ""), body=obj)
    return dict(orjson.loads(resp.body))


def deployment(name: str, ns: str, *, replicas: int = 1, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name, **(labels or {})}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}}}


def wait_for(check: Callable[[], T | None], what: str, timeout_s: float = 30.0) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.1)


def _has_two_revisions(kube: KubeClient) -> bool:
    revs = {rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision")
            for rs in kube.list("replicasets", "shop", label_selector="app=backend")}
    return {"1", "2"} <= revs


@contextmanager
def world(tmp: Path) -> Iterator[World]:
    cluster = SimCluster(ClusterOptions(speed=50.0))
    cluster.start()
    clients: list[KubeClient] = []
    clusters: KubeClients | None = None
    try:
        scenario_apply.load_file(cluster, SCENARIOS / "backend-memory-leak.yaml")
        kubeconfig = cluster.write_kubeconfig(tmp / "kubeconfig")
        kube = KubeClient.from_kubeconfig(kubeconfig)
        clients.append(kube)
        wait_for(lambda: _has_two_revisions(kube), "backend's rollout to 2.3 (revision 2)")
        create(kube, deployment("payments", "shop", labels={PROTECTED_KEY: "true"}))
        create(kube, {"apiVersion": "v1", "kind": "Namespace",
                      "metadata": {"name": "vault", "annotations": {PROTECTED_KEY: "true"}}})
        create(kube, deployment("keeper", "vault"))
        wait_for(lambda: kube.list("pods", "vault"), "a keeper pod")
        clusters = KubeClients(KubeSettings(kubeconfig=kubeconfig))
        yield World(cluster, kubeconfig, kube, clusters)
    finally:
        if clusters is not None:
            clusters.close()
        for c in clients:
            c.close()
        cluster.stop()


__all__ = ["SCENARIOS", "World", "create", "deployment", "wait_for", "world"]
