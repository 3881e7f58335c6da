"""Cluster API fleet tools against a running `SimFleet` (mgmt + aws, gcp, azure) over HTTPS.

Covers: the inventory (three workload clusters, providers AWS/GCP/Azure from `infrastructureRef.kind`,
replica counts, key conditions, MachineDeployments), workload clients built from the `<name>-kubeconfig`
Secrets listing each cluster's own Nodes (and cached), the errors (no Cluster, no Secret, a Secret without
`value`, a Secret that is not a kubeconfig, a cluster that is not a management cluster), global traffic
weights read from the HTTPRoute (and after they change), fleet health and `CapiSource` findings when
healthy, after `fleet.degrade("gcp")` (degraded, with CAPI's condition texts), with `api_down`
(unreachable via `RemoteConnectionProbe`) and when Prophet's own probe cannot reach a workload API.
Pure helpers (message flattening, provider names, backend-to-cluster mapping) are tested without servers.
Not covered: CAPI v1beta1-only management clusters, MachinePools, kubeconfigs with exec plugins.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client as kclient
from kubernetes import config as kconfig

from prophet_sre.config import KubeSettings
from prophet_sre.domain import FindingSource, ResourceRef, Severity
from prophet_sre.errors import NotFound, ToolError
from prophet_sre.tools import analyze
from prophet_sre.tools.capi import CapiSource, FleetInventory
from prophet_sre.tools.capi.models import Condition, flatten, provider_of
from prophet_sre.tools.capi.traffic import choose, cluster_of_backend, kube_lookup, split
from prophet_sre.tools.kube import FunctionTransport, KubeClient
from prophet_sre.tools.kube.transport import TransportError

T = TypeVar("T")
NS = "fleet"


@dataclass
class Fleet:
    sim: Any
    kubeconfig: Path
    kube: KubeClient
    api: kclient.ApiClient
    """The official client on the management context, for setting things up as a user would."""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    from prophet_sre.sim.fleet import SimFleet

    sim = SimFleet(["mgmt", "aws", "gcp", "azure"], speed=30.0, workers=2).start()
    try:
        path = sim.write_kubeconfig(tmp_path_factory.mktemp("capi") / "config")
        kube = KubeClient.from_kubeconfig(path, "mgmt", cluster="mgmt")
        api = kconfig.new_client_from_config(config_file=str(path), context="mgmt")
        yield Fleet(sim, path, kube, api)
        api.close()
        kube.close()
    finally:
        sim.stop()


@pytest.fixture
def inventory(fleet: Fleet) -> Iterator[FleetInventory]:
    inv = FleetInventory(fleet.kube)
    yield inv
    inv.close()


def eventually(check: Callable[[], T], what: str, timeout_s: float = 25.0) -> T:
    """`check()` once it stops raising AssertionError (the fleet controller resyncs every 2 sim seconds)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s}s waiting for {what}") from None
            time.sleep(0.2)


# -- inventory ---------------------------------------------------------------------------------------------
def test_inventory_shows_the_workload_clusters_and_their_providers(inventory: FleetInventory) -> None:
    clusters = {c.name: c for c in inventory.clusters()}
    assert sorted(clusters) == ["aws", "azure", "gcp"]
    assert {n: c.provider for n, c in clusters.items()} == {"aws": "AWS", "gcp": "GCP", "azure": "Azure"}
    aws = clusters["aws"]
    assert (aws.namespace, aws.phase, aws.infrastructure_kind, aws.available, aws.paused) == (
        NS, "Provisioned", "AWSCluster", True, False)
    assert aws.version.startswith("v1.")
    assert (aws.control_plane.desired, aws.control_plane.ready) == (1, 1)
    assert (aws.workers.desired, aws.workers.ready, aws.workers.available) == (2, 2, 2)
    assert {"Available", "RemoteConnectionProbe", "WorkersAvailable"} <= set(aws.conditions)
    assert aws.conditions["RemoteConnectionProbe"].reason == "ProbeSucceeded" and not aws.failing()
    [md] = aws.machine_deployments
    assert (md.name, md.cluster, md.phase, md.replicas.desired, md.replicas.ready, md.ok) == (
        "aws-md-0", "aws", "Running", 2, 2, True)
    assert inventory.served()


def test_cluster_by_name_finds_its_namespace(inventory: FleetInventory) -> None:
    gcp = inventory.cluster("gcp")
    assert (gcp.namespace, gcp.provider, [m.name for m in gcp.machine_deployments]) == (NS, "GCP", ["gcp-md-0"])
    with pytest.raises(NotFound, match="no Cluster named 'nope' in any namespace"):
        inventory.cluster("nope")


def test_workload_clients_from_secrets_list_each_clusters_nodes(inventory: FleetInventory) -> None:
    prefixes = {"aws": "aws:///us-east-1", "gcp": "gce://", "azure": "azure:///subscriptions/"}
    for name, prefix in prefixes.items():
        c = inventory.workload_client(name)
        nodes = c.list("nodes")
        assert c.cluster == name
        assert sorted(n["metadata"]["name"] for n in nodes) == ["control-plane", "worker-1", "worker-2"]
        assert all(n["spec"]["providerID"].startswith(prefix) for n in nodes), name
    assert inventory.workload_client("aws") is inventory.workload_client("aws", NS)  # cached


def test_not_a_management_cluster(inventory: FleetInventory) -> None:
    workload = FleetInventory(inventory.workload_client("aws"))
    assert workload.served() is False and CapiSource(workload).available() is False
    with pytest.raises(NotFound, match="does not serve clusters.cluster.x-k8s.io/v1beta2; is it a Cluster API"):
        workload.clusters()


# -- errors around the kubeconfig Secret ------------------------------------------------------------------
def _secret(fleet: Fleet, namespace: str, name: str, data: dict[str, str]) -> None:
    core = kclient.CoreV1Api(fleet.api)
    try:
        core.create_namespace({"metadata": {"name": namespace}})
    except kclient.ApiException as e:
        if e.status != 409:
            raise
    core.create_namespaced_secret(namespace, {"metadata": {"name": name}, "type": "cluster.x-k8s.io/secret",
                                              "data": data})


def test_missing_secret_is_not_found_with_what_to_check(inventory: FleetInventory) -> None:
    with pytest.raises(NotFound) as e:
        inventory.workload_client("aws", namespace="default")
    assert str(e.value) == ("no kubeconfig Secret default/aws-kubeconfig for cluster aws: Cluster API writes it "
                            "(key `value`) once the control plane is initialized; check "
                            "`kubectl get cluster aws -n default`")
    with pytest.raises(NotFound, match="no Cluster named 'ghost'"):
        inventory.workload_client("ghost")


def test_bad_secrets(fleet: Fleet, inventory: FleetInventory) -> None:
    _secret(fleet, "broken", "nokey-kubeconfig", {"other": base64.b64encode(b"x").decode()})
    _secret(fleet, "broken", "junk-kubeconfig", {"value": base64.b64encode(b"token: s3cret\n").decode()})
    with pytest.raises(NotFound, match="Secret broken/nokey-kubeconfig has no key `value`"):
        inventory.workload_client("nokey", namespace="broken")
    with pytest.raises(ToolError, match="key `value` is not a kubeconfig") as e:
        inventory.workload_client("junk", namespace="broken")
    assert "s3cret" not in str(e.value)


# -- traffic ------------------------------------------------------------------------------------------------
def test_traffic_weights_read_back(fleet: Fleet, inventory: FleetInventory) -> None:
    split_now = inventory.traffic()
    assert split_now.route == "fleet/global-shop"
    assert split_now.weights == {"aws": 1, "gcp": 1, "azure": 1} and split_now.unmapped == []
    assert inventory.traffic_weights("fleet/global-shop") == split_now.weights
    custom = kclient.CustomObjectsApi(fleet.api)
    args = ("gateway.networking.k8s.io", "v1", NS, "httproutes", "global-shop")
    route = custom.get_namespaced_custom_object(*args)
    # the ServiceImports the route points at carry cluster.x-k8s.io/cluster-name: mapped without names
    assert split(route, [], kube_lookup(fleet.kube)).weights == {"aws": 1, "gcp": 1, "azure": 1}
    original = [dict(b) for b in route["spec"]["rules"][0]["backendRefs"]]
    for b, w in zip(route["spec"]["rules"][0]["backendRefs"], (3, 0, 1), strict=True):
        b["weight"] = w
    custom.replace_namespaced_custom_object(*args, route)
    try:
        weights = inventory.traffic_weights()
        assert weights == dict(zip([b["name"].removeprefix("shop-") for b in original], (3, 0, 1), strict=True))
        assert inventory.traffic().shares[next(k for k, v in weights.items() if v == 3)] == 0.75
    finally:
        route = custom.get_namespaced_custom_object(*args)
        route["spec"]["rules"][0]["backendRefs"] = original
        custom.replace_namespaced_custom_object(*args, route)
    with pytest.raises(NotFound, match="no HTTPRoute fleet/nope"):
        inventory.traffic("fleet/nope")


# -- health and findings ----------------------------------------------------------------------------------
def test_healthy_fleet_has_no_findings(inventory: FleetInventory) -> None:
    health = inventory.health()
    assert [(c.name, c.state, c.nodes_ready) for c in health.clusters] == [
        ("aws", "healthy", (3, 3)), ("azure", "healthy", (3, 3)), ("gcp", "healthy", (3, 3))]
    assert health.unhealthy == [] and "gcp (GCP): healthy, nodes 3/3 Ready" in health.summary()
    report = analyze.analyze([CapiSource(inventory)], analyze.Scope())
    assert report.sources == {"capi": "ok"} and report.findings == []
    assert report.notes == ["capi: 3 workload cluster(s): aws healthy, azure healthy, gcp healthy"]


def test_degraded_cluster_is_reported_with_capis_words(fleet: Fleet, inventory: FleetInventory) -> None:
    fleet.sim.degrade("gcp")
    try:
        first = eventually(lambda: _assert_state(inventory, "gcp", "degraded", probe=True), "gcp degraded")
        # our probe sees the kubelets' heartbeat Leases go quiet first (~20 s in, the node controller waits 40 s)
        # and keeps saying so while the fault lasts
        silent = [p for p in first.problems if "stopped renewing their heartbeat Lease" in p]
        assert silent and silent[0].startswith("2/3 Nodes of cluster gcp stopped renewing"), first.problems

        def gcp_degraded() -> Any:
            h = inventory.health()
            gcp = h.get("gcp")
            assert gcp is not None and gcp.state == "degraded" and gcp.failing, gcp  # CAPI's own verdict too
            return h
        health = eventually(gcp_degraded, "gcp degraded in CAPI's conditions")
        assert {c.name: c.state for c in health.clusters} == {"aws": "healthy", "azure": "healthy", "gcp": "degraded"}
        gcp = health.get("gcp")
        assert gcp is not None and gcp.provider == "GCP"
        assert any("stopped renewing their heartbeat Lease" in p for p in gcp.problems)
        assert gcp.problems[0].startswith("Cluster gcp has condition Available=False, reason NotAvailable: "
                                          "WorkersAvailable: MachineDeployment gcp-md-0: 0 available replicas")
        assert any(p.startswith("Cluster gcp has condition WorkersAvailable=False") for p in gcp.problems)
        assert any(e.startswith("MachineDeployment gcp-md-0: 0/2 available") for e in gcp.evidence)
        assert gcp.nodes_ready is not None and gcp.nodes_ready[0] < 3

        report = analyze.analyze([CapiSource(inventory)], analyze.Scope(namespace="shop"))
        by_kind = {f.ref.kind: f for f in report.findings}
        assert sorted(by_kind) == ["Cluster", "MachineDeployment"]
        cluster = by_kind["Cluster"]
        assert cluster.source == FindingSource.CAPI and cluster.severity == Severity.ERROR
        assert cluster.ref == ResourceRef(cluster="mgmt", kind="Cluster", namespace=NS, name="gcp")
        assert cluster.errors[0].startswith("Cluster gcp has condition Available=False, reason NotAvailable:")
        assert (cluster.evidence["provider"], cluster.evidence["state"]) == ("GCP", "degraded")
        md = by_kind["MachineDeployment"]
        assert md.ref.name == "gcp-md-0" and md.parent == cluster.ref
        assert md.errors[0].startswith("MachineDeployment fleet/gcp-md-0 has condition Available=False, "
                                       "reason NotAvailable: 0 available replicas, at least 2 required")
        only_md = analyze.analyze([CapiSource(inventory, probe=False)], analyze.Scope(filters=("MachineDeployment",)))
        assert [f.ref.kind for f in only_md.findings] == ["MachineDeployment"]
        assert analyze.analyze([CapiSource(inventory)], analyze.Scope(filters=("Pod",))).findings == []
    finally:
        fleet.sim.recover("gcp")
    eventually(lambda: _assert_state(inventory, "gcp", "healthy"), "gcp healthy again")


def _assert_state(inventory: FleetInventory, name: str, state: str, *, probe: bool = False) -> Any:
    h = inventory.health(probe=probe).get(name)
    assert h is not None and h.state == state, h
    return h


def test_api_down_makes_a_cluster_unreachable(fleet: Fleet, inventory: FleetInventory) -> None:
    fleet.sim.degrade("azure", api_down=True)
    try:
        eventually(lambda: _assert_state(inventory, "azure", "unreachable"), "azure unreachable")
        [finding] = [f for f in analyze.analyze([CapiSource(inventory, probe=False)], analyze.Scope()).findings
                     if f.ref.kind == "Cluster"]
        assert finding.severity == Severity.CRITICAL and finding.ref.name == "azure"
        assert any(e.startswith("Cluster azure has condition RemoteConnectionProbe=False, reason ProbeFailed")
                   for e in finding.errors)
    finally:
        fleet.sim.recover("azure")
    eventually(lambda: _assert_state(inventory, "azure", "healthy"), "azure healthy again")


def test_our_own_probe_failing_means_unreachable(fleet: Fleet) -> None:
    """CAPI still says Available, but Prophet cannot reach the workload API (a firewall, a dead VPN)."""
    def refuse(method: str, path: str, query: Any, body: Any) -> Any:
        raise TransportError("connection refused")
    dead = FleetInventory(fleet.kube, client_factory=lambda doc, name: KubeClient(
        FunctionTransport(refuse, server=doc["clusters"][0]["cluster"]["server"]), settings=KubeSettings(retries=0),
        cluster=name))
    health = dead.health()
    assert {c.state for c in health.clusters} == {"unreachable"}
    aws = health.get("aws")
    assert aws is not None and aws.problems[0].startswith("Cluster aws API server is unreachable from Prophet: "
                                                          "cannot reach the API server https://127.0.0.1:")
    assert aws.nodes_ready is None


# -- pure helpers -------------------------------------------------------------------------------------------
def test_silent_leases_are_measured_against_the_newest_renewal() -> None:
    from prophet_sre.tools.capi.health import Probe, assess, silent_leases
    from prophet_sre.tools.capi.models import ClusterInfo

    def lease(sec: int, duration: Any = 40) -> dict[str, Any]:
        return {"spec": {"renewTime": f"2026-11-29T10:00:{sec:02d}.000000Z", "leaseDurationSeconds": duration}}
    assert silent_leases([lease(50), lease(41), lease(25)]) == ((1, 3), 25.0)  # 9 s behind is on time, 25 s not
    assert silent_leases([lease(5), lease(5), lease(59)]) == ((2, 3), 54.0)
    assert silent_leases([lease(0), lease(1)]) == ((0, 2), 0.0)  # all quiet alike: nothing to compare with
    assert silent_leases([lease(0, None), {"spec": {}}, {}]) == ((0, 0), 0.0)  # malformed Leases are skipped
    info = ClusterInfo(name="aws", namespace=NS, provider="AWS", phase="Provisioned")
    one = assess(info, Probe(reachable=True, nodes_ready=(3, 3), silent_nodes=(1, 3), silent_for_s=25))
    assert one.state == "healthy"  # one quiet kubelet is a node problem, not the cluster's
    most = assess(info, Probe(reachable=True, nodes_ready=(3, 3), silent_nodes=(2, 3), silent_for_s=25))
    assert most.state == "degraded" and most.problems == [
        "2/3 Nodes of cluster aws stopped renewing their heartbeat Lease (up to 25 s behind the newest; "
        "kubelets renew every 10 s)"]


def test_flatten_and_describe() -> None:
    msg = ("* WorkersAvailable:\n  * MachineDeployment gcp-md-0: 0 available replicas, at least 2 required\n"
           "* ControlPlaneAvailable: not ready")
    assert flatten(msg) == ("WorkersAvailable: MachineDeployment gcp-md-0: 0 available replicas, at least 2 "
                            "required; ControlPlaneAvailable: not ready")
    c = Condition.parse({"type": "Available", "status": "False", "reason": "NotAvailable", "message": msg})
    assert c.describe().startswith("Available=False, reason NotAvailable: WorkersAvailable: MachineDeployment")
    assert Condition.parse({"type": "X", "status": None}).describe() == "X=Unknown"


@pytest.mark.parametrize(("kind", "provider"), [
    ("AWSCluster", "AWS"), ("AWSManagedCluster", "AWS"), ("GCPManagedCluster", "GCP"), ("AzureCluster", "Azure"),
    ("AzureASOManagedCluster", "Azure"), ("DockerCluster", "Docker"), ("VSphereCluster", "vSphere"),
    ("FooCluster", "Foo"), ("", "unknown")])
def test_provider_of(kind: str, provider: str) -> None:
    assert provider_of(kind) == provider


def test_backend_to_cluster_mapping() -> None:
    assert cluster_of_backend("shop-aws-east", ["east", "aws-east", "aws"]) == "aws-east"
    assert cluster_of_backend("shop-gcp", ["aws"]) is None
    route = {"metadata": {"namespace": "g", "name": "r"}, "spec": {"rules": [
        {"backendRefs": [{"name": "static"}]},
        {"backendRefs": [{"name": "web-aws"}, {"name": "web-gcp", "weight": 0}, {"name": "web-azure", "weight": 4},
                         {"name": "edge", "weight": 2}, {"name": "other"}]},
        {"backendRefs": [{"name": "api-gcp", "weight": 0}, {"name": "static"}]}]}}
    s = split(route, ["aws", "gcp", "azure"])
    assert (s.route, s.weights, s.unmapped) == ("g/r", {"aws": 1, "gcp": 0, "azure": 4}, ["static", "edge", "other"])
    assert s.shares == {"aws": 0.2, "gcp": 0.0, "azure": 0.8}
    # a label (or annotation) on the backend's object wins over the name
    labelled = split(route, ["aws", "gcp", "azure"], lambda ref, ns: (
        {"metadata": {"labels": {"prophet.io/cluster": "onprem"}}} if ref["name"] == "edge" else {}))
    assert labelled.weights == {"aws": 1, "gcp": 0, "azure": 4, "onprem": 2}
    assert choose([s, labelled], ["aws"]) is labelled
    with pytest.raises(ToolError, match="several HTTPRoutes route to the clusters"):
        choose([s, s], ["aws"])
    with pytest.raises(NotFound, match="no HTTPRoute sends traffic to the workload clusters"):
        choose([split({"spec": {}}, ["aws"])], ["aws"])
