"""The official `kubernetes` Python client against the simulator over real HTTPS.

Covers: typed and dynamic clients (their strict pydantic models must parse every object we serve),
list with selectors and pagination, watch from a resourceVersion, the 410 Expired path and a relist,
JSON / merge / strategic patches, and the scale subresource. Not covered here: kubectl (see
test_kubectl_*), CRDs through the dynamic client (test_crds).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, dynamic, watch
from kubernetes.client.exceptions import ApiException

NS = "pyclient"


@pytest.fixture(scope="module")
def api(sim_cluster: Any, sim_kubeconfig: Path) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(sim_kubeconfig))
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
    yield api_client
    core.delete_namespace(NS)
    api_client.close()


def _deployment(name: str, replicas: int = 2, image: str = "nginx:1.27") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "web", "image": image}]}}},
    }


def _wait(predicate: Any, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_typed_client_parses_every_builtin_list(api: client.ApiClient) -> None:
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    apps.create_namespaced_deployment(NS, _deployment("typed"))
    _wait(lambda: (apps.read_namespaced_deployment("typed", NS).status.available_replicas or 0) == 2)
    # every list below goes through the client's strict models; a missing required field would raise
    nodes = core.list_node()
    assert {n.metadata.name for n in nodes.items} >= {"control-plane", "worker-1", "worker-2"}
    pods = core.list_namespaced_pod(NS, label_selector="app=typed")
    assert len(pods.items) == 2 and all(p.status.phase == "Running" for p in pods.items)
    assert all(p.status.container_statuses[0].ready for p in pods.items)
    rs = apps.list_namespaced_replica_set(NS, label_selector="app=typed")
    assert rs.items[0].metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    assert core.list_event_for_all_namespaces(field_selector=f"involvedObject.namespace={NS}").items
    assert core.list_service_for_all_namespaces().items
    assert core.list_namespaced_endpoints("default").items


def test_list_pagination_and_field_selectors(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    for i in range(7):
        core.create_namespaced_config_map(NS, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"page-{i}", labels={"set": "page"}), data={"i": str(i)}))
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_config_map(NS, label_selector="set=page", limit=3, _continue=token)
        seen += [c.metadata.name for c in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
    assert pages == 3 and seen == [f"page-{i}" for i in range(7)]
    one = core.list_namespaced_config_map(NS, field_selector="metadata.name=page-4")
    assert [c.metadata.name for c in one.items] == ["page-4"]
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(NS, field_selector="data.i=4")
    assert err.value.status == 400 and "field label not supported: data.i" in err.value.body


def test_watch_from_resource_version_then_410_and_relist(api: client.ApiClient, sim_cluster: Any) -> None:
    core = client.CoreV1Api(api)
    listing = core.list_namespaced_config_map(NS)
    rv = listing.metadata.resource_version
    core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="watched")))
    core.patch_namespaced_config_map("watched", NS, {"data": {"k": "v"}})
    events = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, NS, resource_version=rv, timeout_seconds=5):
        if ev["object"].metadata.name == "watched":
            events.append((ev["type"], dict(ev["object"].data or {})))
        if len(events) == 2:
            w.stop()
    assert events == [("ADDED", {}), ("MODIFIED", {"k": "v"})]

    # compaction makes the old resourceVersion unusable: the server answers 410 Expired
    sim_cluster.store.compact()
    with pytest.raises(ApiException) as err:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, NS, resource_version=rv, timeout_seconds=2):
            pass
    assert err.value.status == 410
    assert "too old resource version" in err.value.body
    # the standard recovery: relist, then watch from the new resourceVersion
    fresh = core.list_namespaced_config_map(NS)
    assert any(c.metadata.name == "watched" for c in fresh.items)
    w2 = watch.Watch()
    core.delete_namespaced_config_map("watched", NS)
    got = None
    for ev in w2.stream(core.list_namespaced_config_map, NS, resource_version=fresh.metadata.resource_version,
                        timeout_seconds=5):
        if ev["object"].metadata.name == "watched":
            got = ev["type"]
            w2.stop()
    assert got == "DELETED"


def test_patches_and_scale_subresource(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(NS, _deployment("patchy", replicas=1))
    # strategic merge: containers merge by name, so a sidecar is added without losing "web"
    apps.patch_namespaced_deployment("patchy", NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}}}})
    names = [c.name for c in apps.read_namespaced_deployment("patchy", NS).spec.template.spec.containers]
    assert sorted(names) == ["sidecar", "web"]
    # a list body makes the typed client send application/json-patch+json
    apps.patch_namespaced_deployment("patchy", NS, [
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.28"}])
    images = {c.name: c.image for c in apps.read_namespaced_deployment("patchy", NS).spec.template.spec.containers}
    assert "nginx:1.28" in images.values()
    # scale subresource
    scale = apps.read_namespaced_deployment_scale("patchy", NS)
    assert scale.spec.replicas == 1 and "app=patchy" in scale.status.selector
    apps.patch_namespaced_deployment_scale("patchy", NS, {"spec": {"replicas": 3}})
    _wait(lambda: (apps.read_namespaced_deployment("patchy", NS).status.ready_replicas or 0) == 3)
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment_scale("patchy", NS, {"spec": {"replicas": -1}})
    assert err.value.status == 422


def test_dynamic_client_discovers_and_patches(api: client.ApiClient, tmp_path: Path) -> None:
    dyn = dynamic.DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deployments.create(body=_deployment("dyn", replicas=1), namespace=NS)
    deployments.patch(name="dyn", namespace=NS, body={"spec": {"replicas": 2}},
                      content_type="application/merge-patch+json")
    got = deployments.get(name="dyn", namespace=NS)
    assert got.spec.replicas == 2 and got.metadata.generation == 2
    listed = deployments.get(namespace=NS, label_selector="app=dyn")
    assert [i.metadata.name for i in listed.items] == ["dyn"]
    with pytest.raises(dynamic.exceptions.NotFoundError) as err:
        deployments.get(name="nope", namespace=NS)
    assert 'deployments.apps \\"nope\\" not found' in str(err.value.body) or \
        'deployments.apps "nope" not found' in str(err.value.body)
