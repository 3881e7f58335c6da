"""Real kubectl against the OpenAPI documents, served by a throwaway stub (discovery + openapi only).

The stub is deliberately tiny - the real simulated API server replaces it - but it is enough to show
that kubectl explain walks our schemas, that kubectl finds server-side field validation in our paths,
and that client-side apply builds its strategic merge patch from our `x-kubernetes-patch-*` extensions.
"""

from __future__ import annotations

import copy
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from prophet_sre.sim.openapi import OpenAPIBuilder
from prophet_sre.sim.registry import Registry, ResourceType

DEPLOY_URL = "/apis/apps/v1/namespaces/default/deployments/web"

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
"""

_LAST_APPLIED = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.26"}, {"name": "side", "image": "busybox"}]}}},
}
LIVE_DEPLOYMENT = {
    **_LAST_APPLIED,
    "metadata": {"name": "web", "namespace": "default", "uid": "4b1c", "resourceVersion": "7", "generation": 1,
                 "annotations": {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(_LAST_APPLIED)}},
}

CRONTAB_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "crontabs.stable.example.com"},
    "spec": {"group": "stable.example.com", "scope": "Namespaced",
             "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "description": "CronTab runs a command on a schedule.",
                 "properties": {"spec": {"type": "object", "properties": {
                     "cronSpec": {"type": "string", "description": "Schedule in cron format."}}}}}}}]},
}


@dataclass
class Stub:
    """What the stub saw and what it holds."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)


def _json(obj: Any, code: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=code, media_type="application/json")


def _resource(rt: ResourceType) -> dict[str, Any]:
    return {"name": rt.plural, "singularName": rt.singular_name, "namespaced": rt.namespaced, "kind": rt.kind,
            "verbs": list(rt.verbs), "shortNames": list(rt.short_names)}


def _app(registry: Registry, stub: Stub) -> Starlette:
    builder = OpenAPIBuilder(registry)
    pods, deployments = registry.get("", "v1", "pods"), registry.get("apps", "v1", "deployments")
    assert pods and deployments

    async def version(_: Request) -> Response:
        return _json({"major": "1", "minor": "37", "gitVersion": "v1.37.1", "platform": "linux/amd64"})

    async def api(_: Request) -> Response:
        return _json({"kind": "APIVersions", "versions": ["v1"],
                      "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})

    async def api_v1(_: Request) -> Response:
        return _json({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
                      "resources": [_resource(pods)]})

    served = {"apps/v1": [deployments], **{rt.group_version: [rt] for rt in registry if rt.crd}}

    async def apis(_: Request) -> Response:
        groups = []
        for group_version in served:
            gv = {"groupVersion": group_version, "version": group_version.split("/")[1]}
            groups.append({"name": group_version.split("/")[0], "versions": [gv], "preferredVersion": gv})
        return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})

    async def group_version(request: Request) -> Response:
        gv = f"{request.path_params['group']}/{request.path_params['version']}"
        if gv not in served:
            return await objects(request)
        return _json({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                      "resources": [_resource(rt) for rt in served[gv]]})

    async def v3_index(_: Request) -> Response:
        return _json(builder.v3_index())

    async def v3_doc(request: Request) -> Response:
        parts = request.path_params["gv"].split("/")
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        doc = builder.v3_document(group, version) if len(parts) in (2, 3) else None
        return _json(doc) if doc is not None else _json({"kind": "Status", "code": 404}, 404)

    async def v2(_: Request) -> Response:
        return _json(builder.v2_document())

    async def objects(request: Request) -> Response:
        obj = stub.objects.get(request.url.path)
        if obj is not None:
            return _json(obj)
        return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "reason": "NotFound", "code": 404, "message": "not found"}, 404)

    app = Starlette(routes=[
        Route("/version", version), Route("/api", api), Route("/api/v1", api_v1), Route("/apis", apis),
        Route("/apis/{group}/{version}", group_version), Route("/openapi/v3", v3_index), Route("/openapi/v3/{gv:path}", v3_doc),
        Route("/openapi/v2", v2),
        Route("/{rest:path}", objects, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ])

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        stub.requests.append({"method": scope["method"], "path": scope["path"],
                              "query": scope["query_string"].decode(), "headers": headers,
                              "body": b"".join(chunks).decode()})
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await app(scope, replay, send)

    return recording  # type: ignore[return-value]


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    state = Stub(url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    registry = Registry()
    registry.add_crd(CRONTAB_CRD)
    server = uvicorn.Server(uvicorn.Config(_app(registry, state), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "stub server did not start"
        time.sleep(0.02)
    yield state
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def _kubectl_binary() -> str:
    candidate = Path(sys.executable).parent / "kubectl"
    found = str(candidate) if candidate.exists() else shutil.which("kubectl")
    if not found:
        pytest.skip("kubectl not installed")
    return found


@pytest.fixture
def kubectl(stub: Stub, tmp_path: Path):
    """Runs kubectl against the stub with a fresh discovery/openapi cache per test."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "stub",
        "clusters": [{"name": "stub", "cluster": {"server": stub.url}}],
        "users": [{"name": "u", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "u", "namespace": "default"}}],
    }))
    binary = _kubectl_binary()
    stub.requests.clear()
    stub.objects.clear()

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"), *args]
        env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
        return subprocess.run(cmd, capture_output=True, text=True, input=stdin, timeout=60, env=env)

    return run


def test_explain_prints_container_image_description(kubectl) -> None:
    proc = kubectl("explain", "deployment.spec.template.spec.containers.image")
    assert proc.returncode == 0, proc.stderr
    assert "KIND:       Deployment" in proc.stdout and "GROUP:      apps" in proc.stdout
    assert "FIELD: image <string>" in proc.stdout
    assert "Container image name." in proc.stdout


def test_explain_lists_fields_through_refs(kubectl) -> None:
    proc = kubectl("explain", "deployment.spec.template.spec.containers")
    assert proc.returncode == 0, proc.stderr
    assert "FIELD: containers <[]Container>" in proc.stdout
    for line in ("image\t<string>", "name\t<string> -required-", "ports\t<[]ContainerPort>",
                 "resources\t<ResourceRequirements>"):
        assert line in proc.stdout, line
    pods = kubectl("explain", "pods.spec.containers.resources.limits")
    assert pods.returncode == 0, pods.stderr
    assert "KIND:       Pod" in pods.stdout and "FIELD: limits <map[string]Quantity>" in pods.stdout


def test_explain_custom_resource(kubectl) -> None:
    proc = kubectl("explain", "crontab.spec.cronSpec")
    assert proc.returncode == 0, proc.stderr
    assert "GROUP:      stable.example.com" in proc.stdout and "KIND:       CronTab" in proc.stdout
    assert "Schedule in cron format." in proc.stdout
    top = kubectl("explain", "ct")
    assert top.returncode == 0, top.stderr
    assert "CronTab runs a command on a schedule." in top.stdout
    assert "metadata\t<ObjectMeta>" in top.stdout


def test_apply_uses_server_side_field_validation(kubectl, stub: Stub) -> None:
    """kubectl found `fieldValidation` on our PATCH/POST operations, so it never needs /openapi/v2."""
    proc = kubectl("apply", "-f", "-", stdin=MANIFEST)
    creates = [r for r in stub.requests if r["method"] == "POST"]
    assert creates and "fieldValidation=Strict" in creates[0]["query"], proc.stderr
    assert not [r for r in stub.requests if r["path"] == "/openapi/v2"]
    assert "failed to download openapi" not in proc.stderr


def test_client_side_apply_patches_with_our_merge_keys(kubectl, stub: Stub) -> None:
    stub.objects[DEPLOY_URL] = copy.deepcopy(LIVE_DEPLOYMENT)
    proc = kubectl("apply", "-f", "-", stdin=MANIFEST)
    assert proc.returncode == 0, proc.stderr
    assert "deployment.apps/web configured" in proc.stdout
    assert "warning" not in proc.stderr.lower(), proc.stderr
    (patch,) = [r for r in stub.requests if r["method"] == "PATCH"]
    assert patch["headers"]["content-type"] == "application/strategic-merge-patch+json"
    assert "fieldValidation=Strict" in patch["query"]
    pod_spec = json.loads(patch["body"])["spec"]["template"]["spec"]
    # Merge by name: keep order, replace `web`, delete the container the manifest dropped.
    assert pod_spec["$setElementOrder/containers"] == [{"name": "web"}]
    assert {"$patch": "delete", "name": "side"} in pod_spec["containers"]
    # The patch came from our v3 schema: the v2 fallback was never fetched.
    assert not [r for r in stub.requests if r["path"] == "/openapi/v2"]


def test_server_side_apply_sends_field_validation(kubectl, stub: Stub) -> None:
    stub.objects[DEPLOY_URL] = copy.deepcopy(LIVE_DEPLOYMENT)
    proc = kubectl("apply", "--server-side", "-f", "-", stdin=MANIFEST)
    assert proc.returncode == 0, proc.stderr
    applies = [r for r in stub.requests if r["method"] == "PATCH"
               and r["headers"]["content-type"] == "application/apply-patch+yaml"]
    assert applies and applies[0]["query"].startswith("fieldManager=kubectl&")
    # (a second apply patch from manager kubectl-last-applied keeps the annotation in step)
    assert all("fieldValidation=Strict" in r["query"] for r in applies)
