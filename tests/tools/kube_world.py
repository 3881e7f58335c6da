"""A small broken world inside the session's simulated cluster, built once and shared by tests/tools.

Namespace `tools-world`, created with the official kubernetes client over HTTPS, with the faults the
simulator's behaviour model produces by itself (no status is written by hand):

  - Deployment `badimg` (image `nginx:nope`)          -> its pod in ImagePullBackOff
  - Deployment `crash`  (busybox, exits 1)            -> its pod in CrashLoopBackOff, logs "error: boom"
  - Service `orphan` selecting `app=nothing`           -> Endpoints without subsets
  - PVC `data` with the missing StorageClass `fast`    -> Pending + ProvisioningFailed event
  - Pod `stuck` with nodeSelector `disk=ssd`           -> Unschedulable
  - Deployment `web` (2 replicas) rolled from nginx:1.27 to nginx:1.28 -> two revisions, healthy

`world(sim_cluster, kubeconfig)` returns a `World` once every fault is visible (it polls, bounded).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

NS = "tools-world"


@dataclass(frozen=True)
class World:
    kubeconfig: Path
    namespace: str

    def pod(self, app: str) -> str:
        """The current pod of workload `app` (looked up each time: a drain elsewhere may replace it)."""
        api = config.new_client_from_config(config_file=str(self.kubeconfig))
        try:
            items = client.CoreV1Api(api).list_namespaced_pod(self.namespace, label_selector=f"app={app}").items
        finally:
            api.close()
        live = sorted(p.metadata.name for p in items if not p.metadata.deletion_timestamp)
        assert live, f"no pod of {app}"
        return str(live[0])


def _deployment(name: str, image: str, replicas: int = 1, **container: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": image, **container}]}}}}


def wait_for(predicate: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def eventually(check: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    """Run `check` until it stops raising AssertionError (pods flap between states as kubelets retry:
    ErrImagePull <-> ImagePullBackOff, CrashLoopBackOff <-> a brief Running), then return its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


PULL_REASONS = ("ImagePullBackOff", "ErrImagePull")


def _waiting(core: client.CoreV1Api, app: str, reason: str, need_last: bool = False) -> str | None:
    for p in core.list_namespaced_pod(NS, label_selector=f"app={app}").items:
        for cs in p.status.container_statuses or []:
            if cs.state.waiting and cs.state.waiting.reason == reason and (
                    not need_last or cs.last_state.terminated is not None):
                return str(p.metadata.name)
    return None


@functools.cache
def _build(kubeconfig: Path) -> World:
    api = config.new_client_from_config(config_file=str(kubeconfig))
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespace({"metadata": {"name": NS}})
    apps.create_namespaced_deployment(NS, _deployment("badimg", "nginx:nope"))
    apps.create_namespaced_deployment(NS, _deployment("crash", "busybox:1.36",
                                                      command=["sh", "-c", "echo starting; echo error: boom; exit 1"]))
    apps.create_namespaced_deployment(NS, _deployment("web", "nginx:1.27", replicas=2,
                                                      resources={"requests": {"cpu": "100m", "memory": "64Mi"},
                                                                 "limits": {"memory": "128Mi"}}))
    core.create_namespaced_service(NS, {"metadata": {"name": "orphan"},
                                        "spec": {"selector": {"app": "nothing"}, "ports": [{"port": 80}]}})
    core.create_namespaced_persistent_volume_claim(NS, {"metadata": {"name": "data"}, "spec": {
        "storageClassName": "fast", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    core.create_namespaced_pod(NS, {"metadata": {"name": "stuck", "labels": {"app": "stuck"}}, "spec": {
        "nodeSelector": {"disk": "ssd"}, "containers": [{"name": "main", "image": "nginx:1.27"}]}})
    wait_for(lambda: (apps.read_namespaced_deployment("web", NS).status.ready_replicas or 0) == 2, "web ready")
    apps.patch_namespaced_deployment("web", NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "nginx:1.28"}]}}}})
    wait_for(lambda: _waiting(core, "badimg", "ImagePullBackOff"), "ImagePullBackOff")
    wait_for(lambda: _waiting(core, "crash", "CrashLoopBackOff", need_last=True), "CrashLoopBackOff")

    def rolled() -> bool:
        d = apps.read_namespaced_deployment("web", NS)
        return (d.status.updated_replicas or 0) == 2 and (d.status.ready_replicas or 0) == 2 and \
            (d.status.replicas or 0) == 2

    wait_for(rolled, "web rolled out to nginx:1.28")
    wait_for(lambda: any(e.reason == "ProvisioningFailed" for e in core.list_namespaced_event(
        NS, field_selector="involvedObject.name=data").items), "ProvisioningFailed event")
    wait_for(lambda: any(c.reason == "Unschedulable" for c in core.read_namespaced_pod("stuck", NS).status.conditions
                         or []), "stuck Unschedulable")
    api.close()
    return World(kubeconfig=kubeconfig, namespace=NS)


def world(sim_kubeconfig: Path) -> World:
    """The shared world (built on first call in this test session)."""
    return _build(sim_kubeconfig)
