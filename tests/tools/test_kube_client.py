"""KubeClient: error mapping, retries, pagination, discovery - on a fake transport and on the simulator.

Covers: every HTTP status class mapped to `prophet_sre.errors` (403 naming verb/resource/namespace,
404, 409, 410 restarting a list, 5xx/429/transport failures retried with capped exponential back-off then
ToolUnavailable, writes not retried), `retry_on_conflict`, pagination with `limit`/`continue`, kind
resolution through discovery (`deploy`, `deployments.apps`, a CRD) and its fallback; then over real HTTPS:
a non-admin user gets Forbidden naming the permission, NotFound, and a stopped server gives
ToolUnavailable after bounded retries, quickly. Not covered here: the read tools (test_kube_reads).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from kube_world import world

from prophet_sre.config import KubeSettings
from prophet_sre.errors import Conflict, Forbidden, InvalidQuery, NotFound, ToolError, ToolUnavailable
from prophet_sre.tools.kube import (
    FunctionTransport,
    KubeClient,
    KubeClients,
    Op,
    RawResponse,
    retry_on_conflict,
)
from prophet_sre.tools.kube.kinds import BUILTIN
from prophet_sre.tools.kube.transport import TransportError


def status(code: int, message: str, reason: str = "") -> RawResponse:
    return RawResponse(code, orjson.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                           "message": message, "reason": reason, "code": code}))


def discovery_doc(path: str) -> RawResponse | None:
    """Discovery answers built from the well-known kinds (so unit tests exercise the discovery path)."""
    by_gv: dict[str, list[dict[str, Any]]] = {}
    for k in BUILTIN.values():
        by_gv.setdefault(k.api_version, []).append({"name": k.resource, "kind": k.kind, "namespaced": k.namespaced,
                                                   "shortNames": list(k.short_names), "singularName": k.singular})
    if path == "/apis":
        groups = [{"name": gv.split("/")[0], "preferredVersion": {"groupVersion": gv}} for gv in by_gv if "/" in gv]
        return RawResponse(200, orjson.dumps({"kind": "APIGroupList", "groups": groups}))
    gv = path.removeprefix("/apis/").removeprefix("/api/")
    if path.startswith(("/api/", "/apis/")) and gv in by_gv:
        return RawResponse(200, orjson.dumps({"kind": "APIResourceList", "resources": by_gv[gv]}))
    return None


def fake(handler: Any, **settings: Any) -> tuple[KubeClient, list[float]]:
    """A client over `handler` (discovery answered for it), recording back-off sleeps instead of sleeping."""
    sleeps: list[float] = []
    s = KubeSettings(**{"retries": 3, "backoff_s": 0.1, "backoff_max_s": 0.3, **settings})

    def with_discovery(method: str, path: str, query: Any, body: Any) -> RawResponse:
        return discovery_doc(path) or handler(method, path, query, body)
    return KubeClient(FunctionTransport(with_discovery), settings=s, sleep=sleeps.append), sleeps


LIST_PODS = Op("list", "pods", "", "shop")


def test_403_names_the_missing_permission() -> None:
    c, _ = fake(lambda *a: status(403, 'pods is forbidden: User "bob" cannot list resource "pods" in API group "" '
                                       'in the namespace "shop"', "Forbidden"))
    with pytest.raises(Forbidden) as e:
        c.list("pods", "shop")
    assert str(e.value).startswith("cannot list pods in namespace shop (verb=list, resource=pods)")
    assert 'user "bob"' in str(e.value)


def test_403_on_a_group_resource_and_cluster_scope() -> None:
    c, _ = fake(lambda *a: status(403, "forbidden"))
    with pytest.raises(Forbidden, match=r"cannot list deployments\.apps at cluster scope \(verb=list, "
                                        r"resource=deployments, group=apps\)"):
        c.list("deploy")


def test_404_409_and_other_4xx() -> None:
    c, _ = fake(lambda *a: status(404, 'pods "nope" not found', "NotFound"))
    with pytest.raises(NotFound, match='pods "nope" not found'):
        c.get("pods", "nope", "shop")
    c, _ = fake(lambda *a: status(409, "Operation cannot be fulfilled on deployments.apps \"web\": the object has "
                                       "been modified", "Conflict"))
    with pytest.raises(Conflict, match="the object has been modified"):
        c.get("deploy", "web", "shop")
    c, sleeps = fake(lambda *a: status(400, 'unable to parse requirement: found "=", expected: identifier'))
    with pytest.raises(InvalidQuery, match=r"rejected list pods in namespace shop \(400\): unable to parse"):
        c.list("pods", "shop", label_selector="=oops")
    c, sleeps = fake(lambda *a: status(418, "teapot"))
    with pytest.raises(ToolError, match=r"rejected .*\(418\): teapot") as e:
        c.get("pods", "x", "shop")
    assert type(e.value) is ToolError and sleeps == []


def test_non_status_bodies_are_never_echoed() -> None:
    c, _ = fake(lambda *a: RawResponse(500, b'{"kind": "Secret", "data": {"password": "aHVudGVyMg=="}}'))
    with pytest.raises(ToolUnavailable) as e:
        c.get("pods", "x", "shop")
    assert "aHVudGVyMg" not in str(e.value)


def test_5xx_is_retried_with_capped_exponential_backoff_then_unavailable() -> None:
    calls: list[int] = []

    def handler(*a: Any) -> RawResponse:
        calls.append(1)
        return status(503, "etcd is down")

    c, sleeps = fake(handler)
    with pytest.raises(ToolUnavailable, match="gave up after 4 attempts") as e:
        c.get("pods", "x", "shop")
    assert len(calls) == 4 and sleeps == [0.1, 0.2, 0.3]
    assert e.value.retry_after_s == 0.3


def test_retry_after_is_honoured_up_to_the_cap_and_recovery_succeeds() -> None:
    answers = iter([RawResponse(429, b"", {"Retry-After": "5"}), RawResponse(200, b'{"kind": "Pod"}')])
    c, sleeps = fake(lambda *a: next(answers))
    assert c.get("pods", "x", "shop") == {"kind": "Pod"}
    assert sleeps == [0.3]


def test_transport_errors_are_retried_and_chained() -> None:
    def handler(*a: Any) -> RawResponse:
        raise TransportError("ConnectionRefusedError: [Errno 111] Connection refused")

    c, sleeps = fake(handler, retries=2)
    with pytest.raises(ToolUnavailable, match="cannot reach the API server") as e:
        c.list("pods")
    assert len(sleeps) == 2 and isinstance(e.value.__cause__, TransportError)


def test_writes_are_not_retried() -> None:
    calls: list[str] = []

    def handler(method: str, *a: Any) -> RawResponse:
        calls.append(method)
        return status(503, "busy")

    c, sleeps = fake(handler)
    with pytest.raises(ToolUnavailable):
        c.request("POST", "/api/v1/namespaces/shop/pods", op=Op("create", "pods", "", "shop"), body={})
    assert calls == ["POST"] and sleeps == []


def test_retry_on_conflict_rereads_until_it_sticks() -> None:
    attempts: list[int] = []

    def update() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise Conflict("the object has been modified")
        return "done"

    sleeps: list[float] = []
    assert retry_on_conflict(update, sleep=sleeps.append) == "done"
    assert len(attempts) == 3 and sleeps == [0.05, 0.1]
    with pytest.raises(Conflict):
        retry_on_conflict(lambda: (_ for _ in ()).throw(Conflict("again")), attempts=2, sleep=sleeps.append)


def _paged(total: int, expire_once: bool = False) -> Any:
    state = {"expired": not expire_once}

    def handler(method: str, path: str, query: Any, body: Any) -> RawResponse:
        q = dict(query)
        limit, start = int(q["limit"]), int(q.get("continue") or 0)
        if start and not state["expired"]:
            state["expired"] = True
            return status(410, "The provided continue parameter is too old", "Expired")
        items = [{"metadata": {"name": f"p{i}", "namespace": "ns"}} for i in range(start, min(total, start + limit))]
        nxt = start + limit if start + limit < total else None
        meta: dict[str, Any] = {"resourceVersion": "7"}
        if nxt:
            meta.update({"continue": str(nxt), "remainingItemCount": total - nxt})
        return RawResponse(200, orjson.dumps({"kind": "PodList", "metadata": meta, "items": items}))
    return handler


def test_lists_are_paginated_and_an_expired_continue_restarts_once() -> None:
    c, _ = fake(_paged(12), page_size=5)
    assert [p["metadata"]["name"] for p in c.list("pods")] == [f"p{i}" for i in range(12)]
    assert [q for _, path, q in c.transport.calls if path == "/api/v1/pods"] == [  # type: ignore[attr-defined]
        (("limit", "5"),), (("limit", "5"), ("continue", "5")), (("limit", "5"), ("continue", "10"))]
    c, _ = fake(_paged(12, expire_once=True), page_size=5)
    assert len(c.list("pods")) == 12


def test_kinds_fall_back_to_the_well_known_table_when_discovery_is_refused() -> None:
    def handler(method: str, path: str, *a: Any) -> RawResponse:
        if path in ("/apis", "/api/v1"):
            return status(403, "no discovery for you")
        return RawResponse(200, b'{"items": []}')

    c = KubeClient(FunctionTransport(handler), settings=KubeSettings(retries=0))
    assert c.resolve("deploy").qualified == "deployments.apps"
    with pytest.raises(Forbidden):
        c.resolve("widgets")


# -- against the simulator over HTTPS --------------------------------------------------------------------
@pytest.fixture(scope="module")
def kube(sim_kubeconfig: Path) -> Iterator[KubeClient]:
    world(sim_kubeconfig)
    c = KubeClient.from_kubeconfig(sim_kubeconfig)
    yield c
    c.close()


def test_discovery_resolves_every_spelling_and_crds(kube: KubeClient, sim_kubeconfig: Path) -> None:
    for name in ("deploy", "deployments", "deployment", "Deployment", "deployments.apps", "deployments.v1.apps"):
        assert kube.resolve(name).qualified == "deployments.apps", name
    assert kube.resolve("po").resource == "pods" and kube.resolve("hpa").group == "autoscaling"
    crd = KubeClient.from_kubeconfig(sim_kubeconfig)  # fresh discovery after the CRD exists
    crd.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                op=Op("create", "customresourcedefinitions", "apiextensions.k8s.io"), body={
                    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": {"name": "widgets.example.com"},
                    "spec": {"group": "example.com", "scope": "Namespaced",
                             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                                 "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}})
    try:
        time.sleep(0.2)
        assert crd.resolve("wd").qualified == "widgets.example.com"
        assert crd.list("widgets.example.com", "default") == []
        with pytest.raises(NotFound, match='resource type "gadgets"'):
            crd.resolve("gadgets")
    finally:  # the cluster is shared by the session: other tests rely on Widget being unknown
        crd.request("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
                    op=Op("delete", "customresourcedefinitions", "apiextensions.k8s.io"))
        crd.close()


def test_not_found_over_https(kube: KubeClient) -> None:
    with pytest.raises(NotFound, match='pods "nope" not found'):
        kube.get("pods", "nope", "tools-world")


def test_non_admin_user_gets_forbidden_naming_the_permission(sim_cluster: Any, tmp_path: Path) -> None:
    sim_cluster.add_user("bob-token-123", "bob")
    path = tmp_path / "bob.yaml"
    path.write_text(yaml.safe_dump(sim_cluster.kubeconfig(token="bob-token-123", user="bob")))
    bob = KubeClient.from_kubeconfig(path)
    with pytest.raises(Forbidden) as e:
        bob.list("pods", "tools-world")
    assert str(e.value).startswith("cannot list pods in namespace tools-world (verb=list, resource=pods)")
    assert 'user "bob"' in str(e.value)
    with pytest.raises(Forbidden, match=r"cannot get pods/log in namespace tools-world \(verb=get, resource=pods/log\)"):
        bob.log("tools-world", "stuck")
    bob.close()


def test_stopped_server_gives_tool_unavailable_fast(sim_cluster: Any, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on: what a stopped API server looks like
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = sim_cluster.kubeconfig()
    cfg["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path = tmp_path / "dead.yaml"
    path.write_text(yaml.safe_dump(cfg))
    dead = KubeClient.from_kubeconfig(path, settings=KubeSettings(retries=2, backoff_s=0.05, request_timeout_s=2))
    t0 = time.perf_counter()
    with pytest.raises(ToolUnavailable, match=r"cannot reach the API server .* \(gave up after 3 attempts\)"):
        dead.list("pods")
    assert time.perf_counter() - t0 < 2.0


def test_clients_per_context_are_built_once(sim_kubeconfig: Path) -> None:
    clients = KubeClients(KubeSettings(kubeconfig=sim_kubeconfig))
    assert clients.contexts() == ["prophet-sim"]
    a = clients.for_context("prophet-sim")
    assert clients.for_context("prophet-sim") is a and a.cluster == "prophet-sim"
    assert a.get_json("/version", op=Op("get", "version"))["gitVersion"]
    clients.close()
