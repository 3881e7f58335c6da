"""K8sGPT: the `k8sgpt serve` gRPC client, the operator's Result objects, and the FindingSource over both.

The k8sgpt binary cannot be installed here, so the client is tested against a gRPC server built IN THIS
TEST from the same `.proto` (prophet_sre/protos/k8sgpt/k8sgpt.proto: `schema.v1`, the method paths and
field numbers of protocols.md §2.1). It answers with canned responses, so what is tested is our side of
the wire: the request fields we send, the mapping of each Result shape (namespaced, Node, Log's
`ns/pod/container`, a parent), status/problems/warnings, an error response, gRPC status codes, a slow
server (deadline), a port that refuses and one that accepts TCP but never speaks HTTP/2 (connect timeout).

The Result reader runs against a simulated cluster over HTTPS, with the `results.core.k8sgpt.ai` CRD
written here from protocols.md §2.5 and created by the test (before: "not installed"; after: findings).
Not covered: TLS to k8sgpt serve, `explain=True` with a real AI backend, the real k8sgpt server's texts
(the analyzers' tests compare our texts with K8sGPT's).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from kubernetes import client as kclient
from kubernetes import config as kconfig

from prophet_sre.config import K8sGPTSettings
from prophet_sre.domain import FindingSource, ResourceRef
from prophet_sre.errors import ConfigError, Forbidden, ToolError, ToolUnavailable
from prophet_sre.protos.k8sgpt import k8sgpt_pb2 as pb
from prophet_sre.protos.k8sgpt import k8sgpt_pb2_grpc as pb_grpc
from prophet_sre.tools import analyze
from prophet_sre.tools.k8sgpt import K8sGPTClient, K8sGPTSource, ResultReader
from prophet_sre.tools.k8sgpt.client import parse_address
from prophet_sre.tools.kube import KubeClient


# -- a k8sgpt serve stand-in --------------------------------------------------------------------------------
def _result(kind: str, name: str, *texts: str, parent: str = "") -> pb.Result:
    return pb.Result(kind=kind, name=name, parent_object=parent,
                     error=[pb.ErrorDetail(text=t, sensitive=[pb.SensitiveData(unmasked="web", masked="xYz")])
                            for t in texts])


PROBLEMS = pb.AnalyzeResponse(status="ProblemDetected", problems=5, errors=[
    '"Foo" filter does not exist. Please run k8sgpt filters list.'], results=[
    _result("Pod", "shop/web-7d9f-abcde", 'Back-off pulling image "nginx:nope"'),
    _result("Deployment", "shop/web", "Deployment shop/web has 2 replicas but 0 are available with status running",
            parent=""),
    _result("ReplicaSet", "shop/web-7d9f", "pods \"web-7d9f-\" is forbidden: exceeded quota: q",
            parent="Deployment/web"),
    _result("Node", "worker-1", "worker-1 has condition of type Ready, reason NodeStatusUnknown: "
            "Kubelet stopped posting node status."),
    _result("Pod", "shop/api-0/main", "error: connection refused"),
    _result("Service", "shop/quiet"),  # no error entries: not a problem
])


class FakeAnalyzer(pb_grpc.ServerAnalyzerServiceServicer):
    """Canned answers chosen by the request's namespace; every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[pb.AnalyzeRequest] = []

    def Analyze(self, request: pb.AnalyzeRequest, context: grpc.ServicerContext) -> pb.AnalyzeResponse:
        self.requests.append(request)
        ns = request.namespace
        if ns == "healthy":
            return pb.AnalyzeResponse(status="OK", problems=0)
        if ns == "broken":
            return pb.AnalyzeResponse(error=pb.Error(message="failed to create k8s client: no kubeconfig", code=1))
        if ns == "slow":
            time.sleep(2.0)
            return pb.AnalyzeResponse(status="OK")
        if ns == "denied":
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "no")
        if ns == "bad":
            context.abort(grpc.StatusCode.UNKNOWN, "unsupported output format: yaml. Available format json,text")
        if ns == "overloaded":
            context.abort(grpc.StatusCode.UNAVAILABLE, "shutting down")
        return PROBLEMS


class FakeConfig(pb_grpc.ServerConfigServiceServicer):
    def ListIntegrations(self, request: pb.ListIntegrationsRequest,
                         context: grpc.ServicerContext) -> pb.ListIntegrationsResponse:
        return pb.ListIntegrationsResponse(trivy=pb.Trivy(enabled=True, namespace="trivy-system"))


class Server:
    def __init__(self, *, with_config: bool = True) -> None:
        self.analyzer = FakeAnalyzer()
        self.grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_ServerAnalyzerServiceServicer_to_server(self.analyzer, self.grpc)
        if with_config:
            pb_grpc.add_ServerConfigServiceServicer_to_server(FakeConfig(), self.grpc)
        self.port = self.grpc.add_insecure_port("127.0.0.1:0")
        self.grpc.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.grpc.stop(grace=None)


@pytest.fixture
def k8sgpt(server: Server) -> Iterator[K8sGPTClient]:
    with K8sGPTClient(server.address, timeout_s=5.0, connect_timeout_s=2.0, cluster="prod") as c:
        yield c


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the client --------------------------------------------------------------------------------------------
def test_analysis_maps_every_result_shape(k8sgpt: K8sGPTClient) -> None:
    a = k8sgpt.analysis("shop", ["Pod", "Log"], "app=web")
    assert (a.status, a.problems) == ("ProblemDetected", 5)
    assert a.warnings == ['"Foo" filter does not exist. Please run k8sgpt filters list.']
    by = {(f.ref.kind, f.ref.name): f for f in a.findings}
    assert len(a.findings) == 5  # the Service without errors is dropped
    assert all(f.source == FindingSource.K8SGPT and f.ref.cluster == "prod" for f in a.findings)
    pod = by["Pod", "web-7d9f-abcde"]
    assert (pod.ref.namespace, pod.errors, pod.analyzer, pod.parent) == (
        "shop", ['Back-off pulling image "nginx:nope"'], "Pod", None)
    assert "unmasked" not in str(pod.evidence)  # sensitive values never reach a finding
    node = by["Node", "worker-1"]
    assert node.ref.namespace == "" and node.errors[0].startswith("worker-1 has condition of type Ready")
    log = by["Pod", "api-0"]
    assert (log.ref.namespace, log.analyzer, log.evidence["container"], log.evidence["k8sgpt_name"]) == (
        "shop", "Log", "main", "shop/api-0/main")
    rs = by["ReplicaSet", "web-7d9f"]
    assert rs.parent == ResourceRef(cluster="prod", kind="Deployment", namespace="shop", name="web")
    assert by["Deployment", "web"].parent is None  # empty parent_object (what gRPC usually sends)
    # written back in K8sGPT's JSON shape, names as K8sGPT spells them
    assert analyze.result(log)["name"] == "shop/api-0/main"


def test_request_carries_scope_and_defaults(k8sgpt: K8sGPTClient, server: Server) -> None:
    k8sgpt.analyze("shop", ["Pod", "Service"], "tier=web")
    req = server.analyzer.requests[-1]
    assert (req.namespace, list(req.filters), req.label_selector) == ("shop", ["Pod", "Service"], "tier=web")
    assert (req.explain, req.output, req.anonymize, req.max_concurrency) == (False, "json", False, 0)
    k8sgpt.analyze(explain=True)
    assert server.analyzer.requests[-1].explain is True and server.analyzer.requests[-1].namespace == ""


def test_ok_status_means_no_findings(k8sgpt: K8sGPTClient) -> None:
    a = k8sgpt.analysis("healthy")
    assert (a.findings, a.status, a.problems, a.warnings) == ([], "OK", 0, [])


def test_error_response_is_a_tool_error(k8sgpt: K8sGPTClient) -> None:
    with pytest.raises(ToolError, match="could not analyze: failed to create k8s client: no kubeconfig") as e:
        k8sgpt.analyze("broken")
    assert type(e.value) is ToolError


@pytest.mark.parametrize(("namespace", "error", "text"), [
    ("denied", Forbidden, "refused the call: PERMISSION_DENIED"),
    ("bad", ToolError, "unsupported output format"),
    ("overloaded", ToolUnavailable, "UNAVAILABLE: shutting down"),
])
def test_grpc_status_codes_map_to_our_errors(k8sgpt: K8sGPTClient, namespace: str, error: type[Exception],
                                             text: str) -> None:
    with pytest.raises(error, match=text) as e:
        k8sgpt.analyze(namespace)
    assert type(e.value) is error
    assert not isinstance(e.value, grpc.RpcError)


def test_slow_server_hits_the_deadline(server: Server) -> None:
    with K8sGPTClient(server.address, timeout_s=0.3) as c:
        t0 = time.monotonic()
        with pytest.raises(ToolUnavailable, match="did not answer within 0.3s"):
            c.analyze("slow")
        assert time.monotonic() - t0 < 1.5


def test_refused_port_is_unavailable_quickly() -> None:
    with K8sGPTClient(f"127.0.0.1:{_free_port()}", connect_timeout_s=0.5) as c:
        t0 = time.monotonic()
        with pytest.raises(ToolUnavailable, match="did not accept a connection within 0.5s"):
            c.analyze()
        assert time.monotonic() - t0 < 1.5


def test_server_that_never_speaks_grpc_is_unavailable_quickly() -> None:
    """A TCP listener that accepts and then says nothing (a hung process, a wrong port behind a proxy)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        with K8sGPTClient(f"127.0.0.1:{listener.getsockname()[1]}", timeout_s=30, connect_timeout_s=0.5) as c:
            t0 = time.monotonic()
            with pytest.raises(ToolUnavailable):
                c.analyze()
            assert time.monotonic() - t0 < 1.5
    finally:
        stop.set()
        t.join()
        for s in held:
            s.close()
        listener.close()


def test_integrations_and_unimplemented_service() -> None:
    s = Server(with_config=False)
    try:
        with K8sGPTClient(s.address) as c:
            with pytest.raises(ToolError, match="is not implemented there; is .* really `k8sgpt serve`"):
                c.integrations()
    finally:
        s.grpc.stop(grace=None)


def test_integrations(k8sgpt: K8sGPTClient) -> None:
    assert k8sgpt.integrations() == {"trivy": {"enabled": True, "skip_install": False,
                                               "namespace": "trivy-system"}}


@pytest.mark.parametrize(("address", "target", "tls"), [
    ("k8sgpt.k8sgpt:8080", "k8sgpt.k8sgpt:8080", False), ("http://localhost:8080/", "localhost:8080", False),
    ("tls://k8sgpt:443", "k8sgpt:443", True), ("grpc://10.0.0.1:8080", "10.0.0.1:8080", False),
])
def test_parse_address(address: str, target: str, tls: bool) -> None:
    assert parse_address(address) == (target, tls)


def test_empty_address_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="k8sgpt.address"):
        parse_address("  ")
    assert K8sGPTClient.from_settings(K8sGPTSettings()) is None


# -- the source over gRPC ----------------------------------------------------------------------------------------
def test_source_prefers_the_server(server: Server) -> None:
    src = K8sGPTSource.from_settings(K8sGPTSettings(address=server.address), None)
    report = analyze.analyze([src], analyze.Scope(namespace="shop", filters=("Pod",)))
    assert src.mode == "grpc" and report.sources == {"k8sgpt": "ok"}
    assert len(report.findings) == 5 and report.notes[0].endswith("ProblemDetected, 5 problem(s)")
    assert any("filter does not exist" in n for n in report.notes)
    assert server.analyzer.requests[-1].namespace == "shop"


def test_source_without_server_or_crd_is_unavailable_so_analyzers_take_over() -> None:
    src = K8sGPTSource.from_settings(K8sGPTSettings(address=f"127.0.0.1:{_free_port()}", connect_timeout_s=0.3),
                                     None)
    t0 = time.monotonic()
    report = analyze.analyze([src], analyze.Scope())
    assert time.monotonic() - t0 < 1.0
    assert report.sources == {"k8sgpt": "unavailable"} and not report.usable
    assert "did not accept a connection" in src.reason
    bare = K8sGPTSource()
    assert bare.available() is False and "no k8sgpt.address configured" in bare.reason


# -- the operator's Result objects on a simulated cluster ----------------------------------------------------------
RESULT_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "results.core.k8sgpt.ai"},
    "spec": {
        "group": "core.k8sgpt.ai", "scope": "Namespaced",
        "names": {"kind": "Result", "listKind": "ResultList", "plural": "results", "singular": "result"},
        "versions": [{
            "name": "v1alpha1", "served": True, "storage": True, "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"name": "Kind", "type": "string", "jsonPath": ".spec.kind"},
                {"name": "Backend", "type": "string", "jsonPath": ".spec.backend"},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                "spec": {"type": "object", "properties": {
                    "backend": {"type": "string"},
                    "autoRemediationStatus": {"type": "object", "properties": {"phase": {"type": "integer"}}},
                    "kind": {"type": "string"}, "name": {"type": "string"},
                    "error": {"type": "array", "items": {"type": "object", "properties": {
                        "text": {"type": "string"},
                        "sensitive": {"type": "array", "items": {"type": "object", "properties": {
                            "unmasked": {"type": "string"}, "masked": {"type": "string"}}}}}}},
                    "details": {"type": "string"}, "parentObject": {"type": "string"}}},
                "status": {"type": "object", "properties": {
                    "lifecycle": {"type": "string"}, "webhook": {"type": "string"},
                    "contentHash": {"type": "string"}}}}}},
        }],
    },
}
OPERATOR_NS = "k8sgpt-operator-system"


def result_object(kind: str, name: str, texts: list[str], parent: str = "") -> dict[str, Any]:
    """A Result as the operator writes it: named after spec.name without `-` and `/`, in its CR's namespace."""
    return {"apiVersion": "core.k8sgpt.ai/v1alpha1", "kind": "Result",
            "metadata": {"name": name.replace("-", "").replace("/", ""), "namespace": OPERATOR_NS,
                         "labels": {"k8sgpts.k8sgpt.ai/name": "k8sgpt-sample",
                                    "k8sgpts.k8sgpt.ai/namespace": OPERATOR_NS,
                                    "k8sgpts.k8sgpt.ai/backend": "openai"}},
            "spec": {"backend": "openai", "kind": kind, "name": name, "details": "", "parentObject": parent,
                     "error": [{"text": t, "sensitive": []} for t in texts]}}


@pytest.fixture(scope="module")
def crd_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """A simulated cluster of our own: the Result CRD is created (and must first be absent) here only."""
    from prophet_sre.sim.cluster import ClusterOptions, SimCluster

    cluster = SimCluster(ClusterOptions(name="k8sgpt-sim", workers=1, controllers=False))
    cluster.start()
    try:
        yield cluster.write_kubeconfig(tmp_path_factory.mktemp("k8sgpt") / "config"), cluster
    finally:
        cluster.stop()


def test_results_from_the_operator(crd_cluster: tuple[Path, Any], server: Server) -> None:
    kubeconfig, _ = crd_cluster
    kube = KubeClient.from_kubeconfig(kubeconfig)
    reader = ResultReader(kube, OPERATOR_NS)
    assert reader.served() is False
    down = f"127.0.0.1:{_free_port()}"
    src = K8sGPTSource.from_settings(K8sGPTSettings(results_namespace=OPERATOR_NS), kube)
    assert src.available() is False and "Result CRD (results.core.k8sgpt.ai) is not installed" in src.reason

    api = kconfig.new_client_from_config(config_file=str(kubeconfig))
    kclient.ApiextensionsV1Api(api).create_custom_resource_definition(RESULT_CRD)
    kclient.CoreV1Api(api).create_namespace({"metadata": {"name": OPERATOR_NS}})
    custom = kclient.CustomObjectsApi(api)
    for obj in (result_object("Pod", "shop/web-7d9f-abcde", ['Back-off pulling image "nginx:nope"'],
                              "Deployment/web"),
                result_object("Node", "worker-1", ["worker-1 has condition of type Ready, reason "
                                                   "NodeStatusUnknown: Kubelet stopped posting node status."]),
                result_object("Pod", "billing/api-0/main", ["error: connection refused"]),
                result_object("Service", "shop/quiet", [])):
        custom.create_namespaced_custom_object("core.k8sgpt.ai", "v1alpha1", OPERATOR_NS, "results", obj)

    assert reader.served() is True
    found = {(f.ref.kind, f.ref.namespace, f.ref.name): f for f in reader.findings()}
    assert sorted(found) == [("Node", "", "worker-1"), ("Pod", "billing", "api-0"), ("Pod", "shop", "web-7d9f-abcde")]
    pod = found["Pod", "shop", "web-7d9f-abcde"]
    assert pod.parent == ResourceRef(kind="Deployment", namespace="shop", name="web")
    assert pod.evidence["result"] == f"{OPERATOR_NS}/shopweb7d9fabcde" and pod.evidence["backend"] == "openai"
    assert found["Pod", "billing", "api-0"].analyzer == "Log"
    # scope: the target's namespace (cluster-scoped findings always pass) and analyzer filters
    assert {f.ref.name for f in reader.findings("shop")} == {"web-7d9f-abcde", "worker-1"}
    assert {f.ref.name for f in reader.findings(None, ["Log"])} == {"api-0"}

    # no server configured -> Results; a configured server that is down -> Results, marked degraded
    for settings, degraded in ((K8sGPTSettings(results_namespace=OPERATOR_NS), False),
                               (K8sGPTSettings(address=down, connect_timeout_s=0.3), True)):
        src = K8sGPTSource.from_settings(settings, kube)
        report = analyze.analyze([src], analyze.Scope(namespace="shop"))
        assert src.mode == "results"
        assert report.sources == {"k8sgpt": "degraded" if degraded else "ok"}
        assert {f.ref.name for f in report.findings} == {"web-7d9f-abcde", "worker-1"}
        assert any("Result objects" in n for n in report.notes)
    # a configured server that is up wins over the Result objects
    src = K8sGPTSource.from_settings(K8sGPTSettings(address=server.address), kube)
    assert src.available() and src.mode == "grpc"
    api.close()
    kube.close()
