"""Helpers for scenario tests: write a scenario (and its manifests) to a temp dir, build a small cluster.

`base_doc()` is a complete, valid scenario as a dict; tests break one field of it and check the
problem. Clusters are `SimCluster`s that are bootstrapped but never started: the controllers run by
`manager.drain()` on a hand-advanced clock, so fault timing is exact and fast.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from prophet_sre.sim.cluster import ClusterOptions, SimCluster

SHOP = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: backend, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: backend}}
  template:
    metadata: {labels: {app: backend}}
    spec:
      containers:
        - name: backend
          image: shop/backend:2.2
          resources: {limits: {memory: 256Mi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: frontend, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: frontend}}
  template:
    metadata: {labels: {app: frontend}}
    spec:
      containers: [{name: frontend, image: shop/frontend:1.0}]
---
apiVersion: v1
kind: Service
metadata: {name: backend, namespace: shop}
spec:
  selector: {app: backend}
  ports: [{port: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {MODE: fast, URL: "postgres://db"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
stringData: {password: hunter2, token: abc}
"""


def base_doc() -> dict[str, Any]:
    """A valid scenario exercising most fields; tests copy and break it."""
    return {
        "apiVersion": "prophet.io/v1", "kind": "Scenario", "id": "backend-memory-leak",
        "title": "Backend v2.3 leaks memory", "category": "oom", "tags": ["rollback", "seed"],
        "clusters": ["main"],
        "setup": [{"file": "manifests/shop.yaml"}],
        "images": {"shop/backend:2.3": {"memory": {"baseMi": 120, "leakMiPerMin": 300}}},
        "traffic": [{"from": "shop/frontend", "to": "shop/backend", "rps": 50}],
        "faults": [{"at": "30s", "rollout": {"target": "shop/deployment/backend", "image": "shop/backend:2.3"}}],
        "trigger": {"type": "anomaly", "anomalyScoreThreshold": 0.8},
        "mode": "autonomous",
        "expect": {
            "diagnosis": {"category": "oom", "root_cause": "shop/deployment/backend", "mentions": ["2.3"]},
            "actions": {"any_of": [{"type": "rollback", "target": "shop/deployment/backend"}],
                        "forbidden": [{"type": "delete_pod", "namespace": "kube-system"}]},
            "recovered": [{"deployment": "shop/backend", "available": True},
                          {"no_pod_reason": "OOMKilled", "namespace": "shop", "since": "remediation"}],
            "within": "120s",
        },
    }


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """`write(doc, name=..., manifests={...})` -> the scenario path (manifests/shop.yaml always there)."""
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "shop.yaml").write_text(SHOP)

    def _write(doc: dict[str, Any] | str, name: str = "scenario.yaml", manifests: dict[str, str] | None = None) -> Path:
        for fname, text in (manifests or {}).items():
            (tmp_path / "manifests" / fname).write_text(text)
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False))
        return path

    return _write


@pytest.fixture
def doc() -> dict[str, Any]:
    return copy.deepcopy(base_doc())


def make_cluster(workers: int = 2) -> SimCluster:
    c = SimCluster(ClusterOptions(speed=1e-6, tls=False, port=6443, workers=workers))
    c.bootstrap()
    return c


@pytest.fixture
def cluster() -> Iterator[SimCluster]:
    c = make_cluster()
    yield c
    assert c.manager.errors == 0, "a controller raised (see the log output)"
    c.stop()


@pytest.fixture
def cluster_factory() -> Iterator[Callable[[], SimCluster]]:
    """More clusters (fleets, a second cluster); each is checked and stopped at the end."""
    made: list[SimCluster] = []

    def factory() -> SimCluster:
        made.append(make_cluster())
        return made[-1]

    yield factory
    for c in made:
        assert c.manager.errors == 0
        c.stop()


def run_for(c: SimCluster, seconds: float, step: float = 1.0) -> None:
    """Advance the sim clock `seconds` in `step`s, draining the controllers after each."""
    c.manager.drain(max_rounds=100_000)
    t = 0.0
    while t < seconds:
        c.clock.advance(step)
        t += step
        c.manager.drain(max_rounds=100_000)


@pytest.fixture
def run() -> Callable[..., None]:
    """`run(cluster, seconds)`: advance sim time, running the controllers (see `run_for`)."""
    return run_for
