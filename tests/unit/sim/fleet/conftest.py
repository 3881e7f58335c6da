"""In-process fleets for the fleet tests: every cluster's store and controllers, no servers, one frozen clock.

The shared `SimClock` barely moves on its own (speed 1e-9); `FleetApi.run_for` advances it in steps and
drains every cluster's controllers after each, so a test decides exactly how much sim time passes.
`shared_fleet` (module scope) is for tests that only read; tests that change things take `fleet` or
`small_fleet` (mgmt + aws), which are fresh per test.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from prophet_sre.sim.clock import SimClock
from prophet_sre.sim.cluster import SimCluster
from prophet_sre.sim.fleet import SimFleet
from prophet_sre.sim.registry import ResourceType

Obj = dict[str, Any]
KINDS = {
    "Cluster": ("cluster.x-k8s.io", "clusters"), "MachineDeployment": ("cluster.x-k8s.io", "machinedeployments"),
    "MachineSet": ("cluster.x-k8s.io", "machinesets"), "Machine": ("cluster.x-k8s.io", "machines"),
    "MachineHealthCheck": ("cluster.x-k8s.io", "machinehealthchecks"),
    "ClusterClass": ("cluster.x-k8s.io", "clusterclasses"),
    "KubeadmControlPlane": ("controlplane.cluster.x-k8s.io", "kubeadmcontrolplanes"),
    "AWSCluster": ("infrastructure.cluster.x-k8s.io", "awsclusters"),
    "GCPCluster": ("infrastructure.cluster.x-k8s.io", "gcpclusters"),
    "AzureCluster": ("infrastructure.cluster.x-k8s.io", "azureclusters"),
    "DockerCluster": ("infrastructure.cluster.x-k8s.io", "dockerclusters"),
    "HTTPRoute": ("gateway.networking.k8s.io", "httproutes"), "Gateway": ("gateway.networking.k8s.io", "gateways"),
    "GatewayClass": ("gateway.networking.k8s.io", "gatewayclasses"),
    "ServiceImport": ("multicluster.x-k8s.io", "serviceimports"),
    "Secret": ("", "secrets"), "Node": ("", "nodes"), "Pod": ("", "pods"), "Event": ("", "events"),
    "Lease": ("coordination.k8s.io", "leases"),
}


@dataclass
class FleetApi:
    """A fleet plus typed-ish access to its clusters' stores."""

    fleet: SimFleet

    def cluster(self, name: str | None = None) -> SimCluster:
        return self.fleet.management if name is None else self.fleet[name]

    def rt(self, kind: str, cluster: str | None = None) -> ResourceType:
        group, plural = KINDS[kind]
        rt = self.cluster(cluster).registry.storage_type(group, plural)
        assert rt is not None, kind
        return rt

    def get(self, kind: str, name: str, namespace: str = "fleet", cluster: str | None = None) -> Obj:
        rt = self.rt(kind, cluster)
        obj = self.cluster(cluster).store.try_get(rt, namespace if rt.namespaced else "", name)
        assert obj is not None, f"{kind} {namespace}/{name} not found"
        return obj

    def list(self, kind: str, cluster: str | None = None, labels: dict[str, str] | None = None) -> list[Obj]:
        out = self.cluster(cluster).store.objects(self.rt(kind, cluster))
        out = [o for o in out if all((o["metadata"].get("labels") or {}).get(k) == v
                                     for k, v in (labels or {}).items())]
        return sorted(out, key=lambda o: o["metadata"]["name"])

    def of_cluster(self, kind: str, cluster_name: str) -> list[Obj]:
        return [o for o in self.list(kind) if (o.get("spec") or {}).get("clusterName") == cluster_name]

    def nodes(self, cluster: str) -> dict[str, Obj]:
        return {n["metadata"]["name"]: n for n in self.list("Node", cluster)}

    def patch(self, kind: str, name: str, fn: Callable[[Obj], None], namespace: str = "fleet",
              cluster: str | None = None) -> Obj:
        obj = copy.deepcopy(self.get(kind, name, namespace, cluster))
        fn(obj)
        return self.cluster(cluster).store.update(self.rt(kind, cluster), obj)

    def condition(self, obj: Obj, type_: str) -> Obj:
        found = next((c for c in (obj.get("status") or {}).get("conditions") or () if c["type"] == type_), None)
        assert found is not None, f"no {type_} condition on {obj['kind']} {obj['metadata']['name']}"
        return found

    def run_for(self, seconds: float, step: float = 0.5) -> None:
        self.fleet.run_for(seconds, step)

    def settle(self, until: Callable[[], bool], max_s: float = 120.0, step: float = 0.5) -> bool:
        waited = 0.0
        self.fleet.drain()
        while not until():
            if waited >= max_s:
                return False
            self.fleet.run_for(step, step)
            waited += step
        return True


def make_fleet(names: tuple[str, ...] = ("mgmt", "aws", "gcp", "azure"), workers: int = 2) -> FleetApi:
    fleet = SimFleet(names, workers=workers, tls=False, clock=SimClock(speed=1e-9)).setup()
    api = FleetApi(fleet)
    api.run_for(2)
    return api


def _no_errors(api: FleetApi) -> None:
    errors = {n: c.manager.errors for n, c in api.fleet.clusters.items() if c.manager.errors}
    assert not errors, f"controllers raised (see the log): {errors}"


@pytest.fixture(scope="module")
def shared_fleet() -> Iterator[FleetApi]:
    api = make_fleet()
    yield api
    _no_errors(api)


@pytest.fixture
def fleet() -> Iterator[FleetApi]:
    api = make_fleet()
    yield api
    _no_errors(api)


@pytest.fixture
def small_fleet() -> Iterator[FleetApi]:
    api = make_fleet(("mgmt", "aws"))
    yield api
    _no_errors(api)
