"""The simulated cluster the action tests write to, and small helpers to build objects in it.

Actions change things (cordon nodes, install the Cilium CRD, quarantine pods), so they get their own
`SimCluster` (3 workers, sim clock at 20x) rather than the session's shared one: nothing they do can
leak into the read-only tool tests. It is started once per test session, on first use, and stopped at
interpreter exit. Every test module works in its own namespace.
"""

from __future__ import annotations

import atexit
import functools
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson
import yaml

from prophet_sre.errors import NotFound
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.tools.kube import KubeClient, Op

T = TypeVar("T")


@dataclass(frozen=True)
class World:
    cluster: SimCluster
    kubeconfig: Path
    kube: KubeClient
    """An admin client."""


_CLIENTS: list[KubeClient] = []
"""Every client made here: closed before the cluster stops, since open keep-alive connections would make
the server's graceful shutdown wait out its timeout."""


def _client(path: Path) -> KubeClient:
    client = KubeClient.from_kubeconfig(path)
    _CLIENTS.append(client)
    return client


@functools.cache
def shared() -> World:
    cluster = SimCluster(ClusterOptions(name="actions", speed=20.0, workers=3)).start()

    def stop() -> None:
        for client in _CLIENTS:
            client.close()
        cluster.stop()

    atexit.register(stop)
    kubeconfig = cluster.write_kubeconfig(Path(tempfile.mkdtemp(prefix="prophet-actions-")) / "config")
    return World(cluster, kubeconfig, _client(kubeconfig))


def user_client(world: World, user: str, *, view_namespace: str = "") -> KubeClient:
    """A client for a new non-admin user; with `view_namespace`, bound to the `view` ClusterRole there."""
    token = secrets.token_hex(16)
    world.cluster.add_user(token, user)
    if view_namespace:
        create(world.kube, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                            "metadata": {"name": f"{user}-view", "namespace": view_namespace},
                            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                            "subjects": [{"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}]})
    path = world.kubeconfig.parent / f"{user}.config"
    path.write_text(yaml.safe_dump(world.cluster.kubeconfig(token=token, user=user)))
    return _client(path)


def create(kube: KubeClient, obj: dict[str, Any]) -> dict[str, Any]:
    """POST `obj` (its kind resolved through discovery) and return what the server stored."""
    rk = kube.resolve(f"{obj['kind']}.{obj['apiVersion'].rpartition('/')[0]}" if "/" in obj["apiVersion"]
                      else obj["kind"])
    ns = obj["metadata"].get("namespace") if rk.namespaced else None
    resp = kube.request("POST", rk.path(ns), op=Op("create", rk.resource, rk.group, ns or ""), body=obj)
    return dict(orjson.loads(resp.body))


def namespace(kube: KubeClient, name: str) -> str:
    create(kube, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def deployment(name: str, ns: str, *, image: str = "nginx:1.27", replicas: int = 2, labels: dict[str, str] | None = None,
               **container: Any) -> dict[str, Any]:
    pod_labels = {"app": name, **(labels or {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": pod_labels},
                                  "spec": {"containers": [{"name": "main", "image": image, **container}]}}}}


def wait_for(check: Callable[[], T | None], what: str, timeout_s: float = 20.0) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.1)


def rolled_out(kube: KubeClient, ns: str, name: str) -> dict[str, Any] | None:
    """The Deployment once every replica is updated, ready and available (and no old pods remain)."""
    d = kube.get("deployments", name, ns)
    s, want = d.get("status") or {}, d["spec"].get("replicas", 1)
    done = (s.get("observedGeneration", 0) >= d["metadata"].get("generation", 1) and s.get("updatedReplicas") == want
            and s.get("readyReplicas") == want and s.get("availableReplicas") == want and s.get("replicas") == want)
    return d if done else None


def running_pods(kube: KubeClient, ns: str, selector: str) -> list[dict[str, Any]]:
    return [p for p in kube.list("pods", ns, label_selector=selector)
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


def gone(kube: KubeClient, kind: str, name: str, ns: str | None = None) -> bool:
    try:
        kube.get(kind, name, ns)
    except NotFound:
        return True
    return False
