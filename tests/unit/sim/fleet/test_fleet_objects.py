"""The objects a fleet starts with: plausible Cluster API v1beta2, wired together as clusterctl would.

Covers: Cluster spec (refs without versions, topology, endpoint = the workload API server), provider
detection and infra objects, KubeadmControlPlane, MachineDeployment/MachineSet/Machine chain with
labels, owner references and finalizers, one Machine per Node with matching providerIDs, the
MachineHealthCheck, the `<name>-kubeconfig` Secret, the Nodes' cloud identity, the fleet kubeconfig.
Skips: what the objects look like after faults or scaling (test_fleet_health, test_fleet_scaling).
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import yaml

from prophet_sre.errors import SimError
from prophet_sre.sim.fleet import SimFleet, parse_names, provider_for

PROVIDER_IDS = {
    "aws": r"aws:///us-east-1[abc]/i-0[0-9a-f]{16}",
    "gcp": r"gce://prophet-sim/us-central1-[abc]/gcp-[a-z0-9-]+",
    "azure": r"azure:///subscriptions/[0-9a-f-]{36}/resourceGroups/azure-rg/providers/Microsoft\.Compute/"
             r"virtualMachines/azure-[a-z0-9-]+",
}
INFRA = {"aws": ("AWSCluster", "v1beta2"), "gcp": ("GCPCluster", "v1beta1"), "azure": ("AzureCluster", "v1beta1")}


@pytest.mark.parametrize("name", ["aws", "gcp", "azure"])
def test_cluster_spec(shared_fleet: Any, name: str) -> None:
    c = shared_fleet.get("Cluster", name)
    assert c["apiVersion"] == "cluster.x-k8s.io/v1beta2"
    spec = c["spec"]
    kind, version = INFRA[name]
    assert spec["infrastructureRef"] == {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": kind, "name": name}
    assert spec["controlPlaneRef"] == {"apiGroup": "controlplane.cluster.x-k8s.io", "kind": "KubeadmControlPlane",
                                       "name": f"{name}-control-plane"}
    workload = shared_fleet.fleet[name]
    assert spec["controlPlaneEndpoint"] == {"host": "127.0.0.1", "port": workload.port}
    assert spec["clusterNetwork"]["pods"]["cidrBlocks"] == ["10.244.0.0/16"]
    assert spec["clusterNetwork"]["services"]["cidrBlocks"] == ["10.96.0.0/12"]
    assert spec["topology"]["version"] == "v1.33.4" and spec["topology"]["classRef"] == {"name": f"{name}-default"}
    assert c["metadata"]["labels"] == {"cluster.x-k8s.io/cluster-name": name}
    infra = shared_fleet.get(kind, name)
    assert infra["apiVersion"] == f"infrastructure.cluster.x-k8s.io/{version}"
    assert infra["status"]["ready"] is True and infra["status"]["initialization"] == {"provisioned": True}
    assert infra["metadata"]["ownerReferences"][0]["uid"] == c["metadata"]["uid"]
    shared_fleet.get("ClusterClass", f"{name}-default")


def test_provider_specific_infrastructure(shared_fleet: Any) -> None:
    aws = shared_fleet.get("AWSCluster", "aws")["spec"]
    assert aws["region"] == "us-east-1" and aws["network"]["vpc"]["id"].startswith("vpc-0")
    gcp = shared_fleet.get("GCPCluster", "gcp")["spec"]
    assert gcp["project"] == "prophet-sim" and gcp["region"] == "us-central1"
    azure = shared_fleet.get("AzureCluster", "azure")["spec"]
    assert azure["location"] == "eastus" and azure["resourceGroup"] == "azure-rg"
    assert re.fullmatch(r"[0-9a-f-]{36}", azure["subscriptionID"])


def test_provider_by_name() -> None:
    assert [provider_for(n).infra_kind for n in ("aws", "aws-east", "gcp2", "azure-eu", "onprem", "mgmt")] == [
        "AWSCluster", "AWSCluster", "GCPCluster", "AzureCluster", "DockerCluster", "DockerCluster"]


def test_other_names_get_a_docker_cluster() -> None:
    fleet = SimFleet(("hub", "edge"), workers=1, tls=False).setup()
    api_rt = fleet.management.registry.storage_type("infrastructure.cluster.x-k8s.io", "dockerclusters")
    assert api_rt is not None
    [dc] = fleet.management.store.objects(api_rt)
    assert dc["metadata"]["name"] == "edge" and dc["spec"]["controlPlaneEndpoint"]["port"] == fleet["edge"].port


def test_control_plane_and_worker_objects(shared_fleet: Any) -> None:
    cluster = shared_fleet.get("Cluster", "aws")
    kcp = shared_fleet.get("KubeadmControlPlane", "aws-control-plane")
    assert kcp["spec"]["replicas"] == 1 and kcp["spec"]["version"] == "v1.33.4"
    assert kcp["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["kind"] == "AWSMachineTemplate"
    md = shared_fleet.get("MachineDeployment", "aws-md-0")
    assert md["spec"]["clusterName"] == "aws" and md["spec"]["replicas"] == 2
    assert md["spec"]["selector"]["matchLabels"] == md["spec"]["template"]["metadata"]["labels"] == {
        "cluster.x-k8s.io/cluster-name": "aws", "cluster.x-k8s.io/deployment-name": "aws-md-0"}
    assert md["metadata"]["ownerReferences"][0]["uid"] == cluster["metadata"]["uid"]
    assert md["status"]["selector"] == "cluster.x-k8s.io/cluster-name=aws,cluster.x-k8s.io/deployment-name=aws-md-0"
    [ms] = shared_fleet.of_cluster("MachineSet", "aws")
    assert ms["metadata"]["name"].startswith("aws-md-0-") and ms["spec"]["replicas"] == 2
    assert ms["metadata"]["ownerReferences"][0] == {"apiVersion": "cluster.x-k8s.io/v1beta2",
                                                    "kind": "MachineDeployment", "name": "aws-md-0",
                                                    "uid": md["metadata"]["uid"], "controller": True,
                                                    "blockOwnerDeletion": True}
    machines = shared_fleet.of_cluster("Machine", "aws")
    workers = [m for m in machines if "cluster.x-k8s.io/control-plane" not in m["metadata"]["labels"]]
    [cp] = [m for m in machines if m not in workers]
    assert cp["metadata"]["name"].startswith("aws-control-plane-")
    assert cp["metadata"]["ownerReferences"][0]["kind"] == "KubeadmControlPlane"
    assert len(workers) == 2
    for m in workers:
        assert m["metadata"]["labels"]["cluster.x-k8s.io/set-name"] == ms["metadata"]["name"]
        assert m["metadata"]["labels"]["cluster.x-k8s.io/deployment-name"] == "aws-md-0"
        assert m["metadata"]["finalizers"] == ["machine.cluster.x-k8s.io"]
        assert m["spec"]["bootstrap"]["configRef"]["kind"] == "KubeadmConfig"
        assert m["spec"]["infrastructureRef"] == {"apiGroup": "infrastructure.cluster.x-k8s.io",
                                                  "kind": "AWSMachine", "name": m["metadata"]["name"]}
    mhc = shared_fleet.of_cluster("MachineHealthCheck", "aws")[0]
    assert mhc["spec"]["selector"] == {"matchLabels": md["spec"]["selector"]["matchLabels"]}
    assert {(c["type"], c["status"]) for c in mhc["spec"]["checks"]["unhealthyNodeConditions"]} == {
        ("Ready", "Unknown"), ("Ready", "False")}


@pytest.mark.parametrize("name", ["aws", "gcp", "azure"])
def test_one_machine_per_node_with_matching_provider_ids(shared_fleet: Any, name: str) -> None:
    nodes = shared_fleet.nodes(name)
    machines = shared_fleet.of_cluster("Machine", name)
    assert len(machines) == len(nodes) == 3
    for m in machines:
        node = nodes[m["status"]["nodeRef"]["name"]]
        assert m["status"]["phase"] == "Running"
        assert m["spec"]["providerID"] == node["spec"]["providerID"]
        assert re.fullmatch(PROVIDER_IDS[name], m["spec"]["providerID"])
        assert node["metadata"]["annotations"]["cluster.x-k8s.io/machine"] == m["metadata"]["name"]
        assert node["metadata"]["annotations"]["cluster.x-k8s.io/cluster-name"] == name
        assert node["metadata"]["labels"]["topology.kubernetes.io/zone"] == m["spec"]["failureDomain"]
        assert m["status"]["addresses"][0] == {"type": "InternalIP",
                                               "address": node["status"]["addresses"][0]["address"]}
    regions = {n["metadata"]["labels"]["topology.kubernetes.io/region"] for n in nodes.values()}
    assert regions == {provider_for(name).region}


def test_kubeconfig_secret(shared_fleet: Any) -> None:
    secret = shared_fleet.get("Secret", "gcp-kubeconfig")
    assert secret["type"] == "cluster.x-k8s.io/secret"
    assert secret["metadata"]["labels"] == {"cluster.x-k8s.io/cluster-name": "gcp"}
    assert secret["metadata"]["ownerReferences"][0]["kind"] == "KubeadmControlPlane"
    config = yaml.safe_load(base64.b64decode(secret["data"]["value"]))
    workload = shared_fleet.fleet["gcp"]
    assert config["current-context"] == "gcp-admin@gcp"
    assert config["clusters"][0]["cluster"]["server"] == workload.url
    assert config["users"][0]["user"]["token"] == workload.admin_token


def test_fleet_kubeconfig_has_a_context_per_cluster(shared_fleet: Any) -> None:
    config = shared_fleet.fleet.kubeconfig()
    assert [c["name"] for c in config["contexts"]] == ["mgmt", "aws", "gcp", "azure"]
    assert config["current-context"] == "mgmt"
    by_name = {c["name"]: c["context"] for c in config["contexts"]}
    assert by_name["mgmt"]["namespace"] == "fleet" and by_name["aws"]["namespace"] == "default"
    servers = {c["name"]: c["cluster"]["server"] for c in config["clusters"]}
    assert servers == {n: c.url for n, c in shared_fleet.fleet.clusters.items()}
    assert len(set(servers.values())) == 4


def test_one_clock_for_the_fleet(shared_fleet: Any) -> None:
    clocks = {id(c.clock) for c in shared_fleet.fleet.clusters.values()}
    assert clocks == {id(shared_fleet.fleet.clock)}


def test_names() -> None:
    assert parse_names("mgmt, aws,gcp") == ["mgmt", "aws", "gcp"]
    assert parse_names("3") == ["mgmt", "aws", "gcp"]
    for bad in (["a", "a"], ["Mgmt"], [], ["under_score"]):
        with pytest.raises(SimError):
            SimFleet(bad)
    with pytest.raises(SimError):
        parse_names("9")
