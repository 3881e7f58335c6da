"""An in-process simulated cluster for controller tests: store + controllers on a hand-cranked clock.

The clock is (practically) frozen and moved with `advance`, so a test decides exactly how much sim
time passes between `ControllerManager.drain()` rounds - deterministic, and fast however long the
simulated story is. Admission (defaulting + validation + service IPs) is plugged in as the cluster
assembly does when those modules are importable; the tests create complete objects either way.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from prophet_sre.sim import status as st
from prophet_sre.sim.bootstrap import bootstrap_objects, default_nodes
from prophet_sre.sim.clock import SimClock
from prophet_sre.sim.controllers import default_controllers
from prophet_sre.sim.controllers.admission import install_admission  # [workloads]
from prophet_sre.sim.controllers.base import ControllerContext, ControllerManager
from prophet_sre.sim.controllers.ipam import ServiceIPAllocator
from prophet_sre.sim.events import EventRecorder
from prophet_sre.sim.logs import PodLogs
from prophet_sre.sim.registry import Registry, ResourceType
from prophet_sre.sim.store import Store, WatchEvent

Obj = dict[str, Any]

_PLURALS = {"Pod": ("", "pods"), "Deployment": ("apps", "deployments"), "ReplicaSet": ("apps", "replicasets"),
            "Service": ("", "services"), "Endpoints": ("", "endpoints"), "Node": ("", "nodes"),
            "Namespace": ("", "namespaces"), "Event": ("", "events"), "ConfigMap": ("", "configmaps"),
            "ServiceAccount": ("", "serviceaccounts"), "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
            "EndpointSlice": ("discovery.k8s.io", "endpointslices"), "Lease": ("coordination.k8s.io", "leases"),
            "Secret": ("", "secrets"),
            # [workloads] the workload, storage and quota kinds
            "StatefulSet": ("apps", "statefulsets"), "DaemonSet": ("apps", "daemonsets"),
            "ControllerRevision": ("apps", "controllerrevisions"), "Job": ("batch", "jobs"),
            "CronJob": ("batch", "cronjobs"), "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers"),
            "PersistentVolumeClaim": ("", "persistentvolumeclaims"), "PersistentVolume": ("", "persistentvolumes"),
            "StorageClass": ("storage.k8s.io", "storageclasses"), "ResourceQuota": ("", "resourcequotas")}


def _admission() -> Callable[[ResourceType, Obj, Obj | None, str], None] | None:
    if os.environ.get("PROPHET_SIM_TEST_NO_ADMISSION"):  # check the controllers without defaulting/validation
        return None
    try:
        from prophet_sre.sim import defaults, validation  # type: ignore[attr-defined]
    except ImportError:
        return None

    def admit(rt: ResourceType, obj: Obj, old: Obj | None, op: str) -> None:
        defaults.apply_defaults(rt, obj, old=old)
        errors = validation.validate(rt, obj, old)
        if errors:
            raise st.invalid(validation.invalid_status(rt, obj.get("metadata", {}).get("name", ""), errors))

    return admit


class Builders:
    """Complete, valid objects (they pass the apiserver's validation with or without defaulting)."""

    @staticmethod
    def deployment(name: str, ns: str = "default", *, replicas: int = 3, image: str = "nginx:1.27",
                   labels: dict[str, str] | None = None, strategy: Obj | None = None, **spec: Any) -> Obj:
        labels = labels or {"app": name}
        container: Obj = {"name": "web", "image": image, "ports": [{"name": "http", "containerPort": 80,
                                                                    "protocol": "TCP"}],
                          "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                          "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
                          "terminationMessagePolicy": "File"}
        return {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)}, "revisionHistoryLimit": 10,
                     "progressDeadlineSeconds": 600,
                     "strategy": strategy or {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [container], "restartPolicy": "Always",
                                           "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                                           "schedulerName": "default-scheduler", "securityContext": {}}},
                     **spec},
        }


    @staticmethod
    def pod(name: str, ns: str = "default", *, image: str = "nginx:1.27", labels: dict[str, str] | None = None,
            requests: dict[str, str] | None = None, **spec: Any) -> Obj:
        container: Obj = {"name": "web", "image": image, "imagePullPolicy": "IfNotPresent",
                          "resources": {"requests": requests or {"cpu": "100m", "memory": "64Mi"}},
                          "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": name}},
                "spec": {"containers": [container], "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                         "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler", **spec}}


    @staticmethod
    def service(name: str, ns: str = "default", *, selector: dict[str, str] | None = None, port: int = 80,
                target: Any = "http", **spec: Any) -> Obj:
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                "spec": {"type": "ClusterIP", "selector": selector if selector is not None else {"app": name},
                         "ports": [{"name": "http", "port": port, "protocol": "TCP", "targetPort": target}],
                         "sessionAffinity": "None", **spec}}


    @staticmethod
    def namespace(name: str) -> Obj:
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "spec": {"finalizers": ["kubernetes"]}}


    @staticmethod
    def running_ready(p: Obj) -> bool:
        s = p.get("status") or {}
        return s.get("phase") == "Running" and any(c["type"] == "Ready" and c["status"] == "True"
                                                   for c in s.get("conditions") or ())


@dataclass
class SimHarness(Builders):
    registry: Registry
    clock: SimClock
    store: Store
    events: EventRecorder
    logs: PodLogs
    ctx: ControllerContext
    manager: ControllerManager
    writes: list[WatchEvent] = field(default_factory=list)

    # -- access --------------------------------------------------------------------------------------
    def rt(self, kind_or_plural: str, group: str | None = None) -> ResourceType:
        if kind_or_plural in _PLURALS:
            group, plural = _PLURALS[kind_or_plural]
        else:
            plural = kind_or_plural
        rt = self.registry.storage_type(group or "", plural)
        assert rt is not None, kind_or_plural
        return rt

    def create(self, obj: Obj) -> Obj:
        rt = self.registry.by_kind(obj["apiVersion"], obj["kind"])
        assert rt is not None
        return self.store.create(rt, obj)

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.store.try_get(self.rt(kind), namespace, name)

    def list(self, kind: str, namespace: str | None = None, labels: dict[str, str] | None = None) -> list[Obj]:
        out = self.store.objects(self.rt(kind), namespace)
        if labels:
            out = [o for o in out if all((o["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())]
        return sorted(out, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def patch(self, kind: str, namespace: str, name: str, fn: Callable[[Obj], None]) -> Obj:
        obj = copy.deepcopy(self.get(kind, namespace, name))
        assert obj is not None
        fn(obj)
        return self.store.update(self.rt(kind), obj)

    def delete(self, kind: str, namespace: str, name: str, **kw: Any) -> Obj:
        return self.store.delete(self.rt(kind), namespace, name, **kw)

    def events_for(self, name: str, reason: str | None = None) -> list[Obj]:
        return [e for e in self.list("Event") if e["involvedObject"].get("name") == name
                and (reason is None or e["reason"] == reason)]

    # -- time ----------------------------------------------------------------------------------------
    def settle(self, until: Callable[[], bool] | None = None, *, max_s: float = 120.0, step: float = 0.5) -> bool:
        """Drain, check, advance `step` sim seconds; repeat until `until()` or `max_s` sim seconds."""
        waited = 0.0
        while True:
            self.manager.drain(max_rounds=100_000)
            if until is not None and until():
                return True
            if waited >= max_s:
                return until is None
            self.clock.advance(step)
            waited += step

    def run_for(self, seconds: float, step: float = 0.5) -> None:
        self.settle(None, max_s=seconds, step=step)


def make_harness(n_workers: int = 2, *, admission: bool = True, record: bool = False,
                 runtime: Any = None) -> SimHarness:
    registry = Registry()
    clock = SimClock(speed=1e-9)
    store = Store(registry, clock)
    if admission and (admit := _admission()) is not None:
        store.add_admission(admit)
    store.add_admission(ServiceIPAllocator(store, registry))
    if admission:  # [workloads] storage + ResourceQuota admission, as SimCluster installs them
        install_admission(store, registry)
    logs = PodLogs()
    events = EventRecorder(store, registry, clock)
    ctx = ControllerContext(store=store, registry=registry, clock=clock, events=events, logs=logs,
                            cluster_name="test")
    if runtime is not None:
        ctx.extras["container_runtime"] = runtime
    manager = ControllerManager(ctx, default_controllers(ctx))
    h = SimHarness(registry, clock, store, events, logs, ctx, manager)
    if record:
        store.subscribe(h.writes.append)
    for obj in bootstrap_objects(cluster_name="test", nodes=default_nodes(n_workers), api_host="127.0.0.1",
                                 api_port=6443, now=clock.now()):
        h.create(obj)
    h.settle(lambda: _coredns_ready(h), max_s=30)
    return h


def _coredns_ready(h: SimHarness) -> bool:
    d = h.get("Deployment", "kube-system", "coredns")
    return bool(d) and (d.get("status") or {}).get("availableReplicas") == 2


@pytest.fixture
def cluster() -> Iterator[SimHarness]:
    h = make_harness()
    yield h
    assert h.manager.errors == 0, "a controller raised (see the log output)"


@pytest.fixture
def cluster_factory() -> Iterator[Callable[..., SimHarness]]:
    """`make_harness` itself, for tests that need another node count, a runtime or no admission."""
    made: list[SimHarness] = []

    def factory(*args: Any, **kw: Any) -> SimHarness:
        made.append(make_harness(*args, **kw))
        return made[-1]

    yield factory
    assert all(h.manager.errors == 0 for h in made), "a controller raised (see the log output)"


