"""The CRD manifests: accepted by the simulated API server, served as the right types, printer columns
that parse and evaluate on the fleet's objects.

Covers: names/scopes/short names/categories, v1beta2 storage + v1beta1 served for CAPI, the `scale`
subresource with its selector path, every printer column's JSONPath, the tables kubectl gets for the
fleet's objects. Skips: OpenAPI rendering of the schemas (the OpenAPI builder's own tests cover it).
"""

from __future__ import annotations

from typing import Any

import pytest

from prophet_sre.sim import crds
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.sim.jsonpath import compile_path
from prophet_sre.sim.tables import build_table

CAPI = "cluster.x-k8s.io"


@pytest.fixture(scope="module")
def served() -> SimCluster:
    c = SimCluster(ClusterOptions(tls=False, controllers=False))
    assert crds.install(c.store, crds.all_crds()) == len(crds.all_crds())
    assert crds.install(c.store, crds.all_crds()) == 0  # idempotent
    return c


def test_every_crd_passes_the_servers_validation_and_is_established(served: SimCluster) -> None:
    rt = served.registry.storage_type("apiextensions.k8s.io", "customresourcedefinitions")
    assert rt is not None
    stored = {o["metadata"]["name"]: o for o in served.store.objects(rt)}
    for crd in crds.all_crds():
        obj = stored[crd["metadata"]["name"]]
        conds = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
        assert conds == {"NamesAccepted": "True", "Established": "True"}
        assert sum(v["storage"] for v in obj["spec"]["versions"]) == 1


@pytest.mark.parametrize(("group", "plural", "kind", "short", "storage", "others"), [
    (CAPI, "clusters", "Cluster", ("cl",), "v1beta2", ("v1beta1",)),
    (CAPI, "clusterclasses", "ClusterClass", ("cc",), "v1beta2", ("v1beta1",)),
    (CAPI, "machinedeployments", "MachineDeployment", ("md",), "v1beta2", ("v1beta1",)),
    (CAPI, "machinesets", "MachineSet", ("ms",), "v1beta2", ("v1beta1",)),
    (CAPI, "machines", "Machine", ("ma",), "v1beta2", ("v1beta1",)),
    (CAPI, "machinehealthchecks", "MachineHealthCheck", ("mhc", "mhcs"), "v1beta2", ("v1beta1",)),
    ("controlplane.cluster.x-k8s.io", "kubeadmcontrolplanes", "KubeadmControlPlane", ("kcp",), "v1beta2",
     ("v1beta1",)),
    ("infrastructure.cluster.x-k8s.io", "awsclusters", "AWSCluster", ("awsc",), "v1beta2", ("v1beta1",)),
    ("infrastructure.cluster.x-k8s.io", "gcpclusters", "GCPCluster", (), "v1beta1", ()),
    ("infrastructure.cluster.x-k8s.io", "azureclusters", "AzureCluster", (), "v1beta1", ()),
    ("infrastructure.cluster.x-k8s.io", "dockerclusters", "DockerCluster", (), "v1beta2", ("v1beta1",)),
    ("gateway.networking.k8s.io", "httproutes", "HTTPRoute", (), "v1", ("v1beta1",)),
    ("gateway.networking.k8s.io", "gateways", "Gateway", ("gtw",), "v1", ("v1beta1",)),
    ("gateway.networking.k8s.io", "gatewayclasses", "GatewayClass", ("gc",), "v1", ("v1beta1",)),
    ("multicluster.x-k8s.io", "serviceimports", "ServiceImport", ("svcim",), "v1alpha1", ()),
])
def test_served_types(served: SimCluster, group: str, plural: str, kind: str, short: tuple[str, ...],
                      storage: str, others: tuple[str, ...]) -> None:
    rt = served.registry.storage_type(group, plural)
    assert rt is not None and rt.kind == kind and rt.version == storage and rt.crd
    assert rt.short_names == short
    assert rt.namespaced == (kind != "GatewayClass")
    assert "status" in rt.subresources
    for v in others:
        other = served.registry.get(group, v, plural)
        assert other is not None and not other.storage and other.storage_key == rt.storage_key
    if group == CAPI or group.endswith(".cluster.x-k8s.io"):
        assert rt.categories == ("cluster-api",)


@pytest.mark.parametrize(("group", "plural"), [(CAPI, "machinedeployments"), (CAPI, "machinesets"),
                                               ("controlplane.cluster.x-k8s.io", "kubeadmcontrolplanes")])
def test_scale_subresource_reads_the_selector_from_status(served: SimCluster, group: str, plural: str) -> None:
    rt = served.registry.storage_type(group, plural)
    assert rt is not None and rt.scale is not None and "scale" in rt.subresources
    assert (rt.scale.spec_replicas_path, rt.scale.status_replicas_path, rt.scale.label_selector_path) == (
        ".spec.replicas", ".status.replicas", ".status.selector")


def test_every_printer_column_parses(served: SimCluster) -> None:
    for rt in served.registry:
        for col in rt.printer_columns:
            compile_path(col.json_path)
            assert col.type in ("string", "integer", "number", "boolean", "date"), (rt.kind, col.name)


def _table(api: Any, kind: str, objects: list[dict[str, Any]], version: str | None = None) -> list[dict[str, Any]]:
    rt = api.rt(kind)
    if version:
        rt = api.cluster().registry.get(rt.group, version, rt.plural)
    table = build_table(rt, objects, now=api.fleet.clock.now())
    names = [c["name"] for c in table["columnDefinitions"]]
    rows = []
    for row in table["rows"]:
        cells: dict[str, Any] = {}
        for name, cell in zip(names, row["cells"], strict=True):
            cells.setdefault(name, cell)  # MachineDeployment has two "Available" columns: keep the first
        rows.append(cells)
    return rows


def test_cluster_table_shows_phase_availability_and_replicas(shared_fleet: Any) -> None:
    rows = _table(shared_fleet, "Cluster", shared_fleet.list("Cluster"))
    assert [r["Name"] for r in rows] == ["aws", "azure", "gcp"]
    for r in rows:
        assert r["ClusterClass"] == f"{r['Name']}-default"
        assert (r["Available"], r["Phase"], r["Version"]) == ("True", "Provisioned", "v1.33.4")
        assert (r["CP Desired"], r["CP Available"], r["W Desired"], r["W Available"], r["W Up-to-date"]) == (
            1, 1, 2, 2, 2)


def test_machine_deployment_machine_and_kcp_tables(shared_fleet: Any) -> None:
    [md] = _table(shared_fleet, "MachineDeployment", [shared_fleet.get("MachineDeployment", "aws-md-0")])
    assert md["Cluster"] == "aws" and md["Available"] == "True" and md["Phase"] == "Running"
    assert (md["Desired"], md["Current"], md["Ready"], md["Up-to-date"]) == (2, 2, 2, 2)
    rows = _table(shared_fleet, "Machine", shared_fleet.of_cluster("Machine", "gcp"))
    assert sorted(r["Node Name"] for r in rows) == ["control-plane", "worker-1", "worker-2"]
    assert {(r["Cluster"], r["Ready"], r["Available"], r["Up-to-date"], r["Phase"]) for r in rows} == {
        ("gcp", "True", "True", "True", "Running")}
    assert all(r["Provider ID"].startswith("gce://") for r in rows)
    [kcp] = _table(shared_fleet, "KubeadmControlPlane", [shared_fleet.get("KubeadmControlPlane", "azure-control-plane")])
    assert (kcp["Cluster"], kcp["Available"], kcp["Desired"], kcp["Initialized"]) == ("azure", "True", 1, True)
    [mhc] = _table(shared_fleet, "MachineHealthCheck", [shared_fleet.of_cluster("MachineHealthCheck", "aws")[0]])
    assert (mhc["Cluster"], mhc["Replicas"], mhc["Healthy"]) == ("aws", 2, 2)


def test_v1beta1_columns_read_the_same_objects(shared_fleet: Any) -> None:
    [row] = _table(shared_fleet, "Cluster", [shared_fleet.get("Cluster", "aws")], version="v1beta1")
    assert (row["Phase"], row["Version"]) == ("Provisioned", "v1.33.4")


def test_infrastructure_and_gateway_tables(shared_fleet: Any) -> None:
    [aws] = _table(shared_fleet, "AWSCluster", [shared_fleet.get("AWSCluster", "aws")])
    assert aws["Cluster"] == "aws" and aws["Ready"] == "true" and aws["VPC"].startswith("vpc-0")
    [gcp] = _table(shared_fleet, "GCPCluster", [shared_fleet.get("GCPCluster", "gcp")])
    assert (gcp["Cluster"], gcp["Ready"], gcp["Network"]) == ("gcp", "true", "gcp-network")
    [azure] = _table(shared_fleet, "AzureCluster", [shared_fleet.get("AzureCluster", "azure")])
    assert (azure["Cluster"], azure["Ready"], azure["Location"]) == ("azure", "True", "eastus")
    [gw] = _table(shared_fleet, "Gateway", [shared_fleet.get("Gateway", "global-gateway")])
    assert (gw["Class"], gw["Address"], gw["Programmed"]) == ("prophet-sim", "203.0.113.10", "True")
    [route] = _table(shared_fleet, "HTTPRoute", [shared_fleet.get("HTTPRoute", "global-shop")])
    assert route["Hostnames"] == '["shop.example.com"]'
