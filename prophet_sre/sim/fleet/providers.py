"""Which cloud a workload cluster runs on, and what that cloud's names look like.

A workload cluster's provider comes from its name (`aws*`, `gcp*`, `azure*`, anything else Docker), the
convention `SimFleet` documents. The provider decides the infrastructure kind a Cluster points at, the
region and zones its nodes are labelled with, the instance type, and the shape of `spec.providerID` on
Nodes and Machines - the details an SRE (or an agent) uses to tell clusters apart.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from prophet_sre.sim.controllers.common import hex_digest

INFRA_GROUP = "infrastructure.cluster.x-k8s.io"
SIM_PROJECT = "prophet-sim"


@dataclass(frozen=True)
class Provider:
    """Everything provider-specific the fleet writes."""

    name: str  # aws | gcp | azure | docker
    infra_kind: str
    infra_version: str
    machine_template_kind: str
    region: str
    zones: tuple[str, ...]
    instance_type: str
    kernel: str

    @property
    def infra_api_version(self) -> str:
        return f"{INFRA_GROUP}/{self.infra_version}"

    def zone(self, i: int) -> str:
        return self.zones[i % len(self.zones)]

    def provider_id(self, cluster: str, node: str, zone: str) -> str:
        """The cloud's providerID for the instance that runs `node` (stable for a cluster/node pair)."""
        digest = hex_digest("instance", cluster, node)
        if self.name == "aws":
            return f"aws:///{zone}/i-0{digest[:16]}"
        if self.name == "gcp":
            return f"gce://{SIM_PROJECT}/{zone}/{cluster}-{node}"
        if self.name == "azure":
            return (f"azure:///subscriptions/{subscription_id(cluster)}/resourceGroups/{resource_group(cluster)}"
                    f"/providers/Microsoft.Compute/virtualMachines/{cluster}-{node}")
        return f"docker:////{cluster}-{node}"

    def infra_spec(self, cluster: str, host: str, port: int) -> dict[str, object]:
        """The provider-specific `spec` of the infrastructure cluster object."""
        endpoint = {"host": host, "port": port}
        if self.name == "aws":
            digest = hex_digest("vpc", cluster)
            return {"region": self.region, "sshKeyName": "default", "controlPlaneEndpoint": endpoint,
                    "network": {"vpc": {"id": f"vpc-0{digest[:16]}", "cidrBlock": "10.0.0.0/16"},
                                "subnets": [{"id": f"subnet-0{hex_digest('subnet', cluster, z)[:16]}",
                                             "availabilityZone": z, "isPublic": False} for z in self.zones]}}
        if self.name == "gcp":
            return {"project": SIM_PROJECT, "region": self.region, "controlPlaneEndpoint": endpoint,
                    "network": {"name": f"{cluster}-network", "autoCreateSubnetworks": False}}
        if self.name == "azure":
            return {"location": self.region, "resourceGroup": resource_group(cluster),
                    "subscriptionID": subscription_id(cluster), "controlPlaneEndpoint": endpoint,
                    "networkSpec": {"vnet": {"name": f"{cluster}-vnet", "cidrBlocks": ["10.0.0.0/8"]}},
                    "azureEnvironment": "AzurePublicCloud"}
        return {"controlPlaneEndpoint": endpoint}

    def failure_domains(self) -> list[dict[str, object]]:
        return [{"name": z, "controlPlane": True} for z in self.zones]


def subscription_id(cluster: str) -> str:
    return str(uuid.UUID(hex_digest("subscription", cluster)[:32]))


def resource_group(cluster: str) -> str:
    return f"{cluster}-rg"


AWS = Provider("aws", "AWSCluster", "v1beta2", "AWSMachineTemplate", "us-east-1",
               ("us-east-1a", "us-east-1b", "us-east-1c"), "m5.xlarge", "6.8.0-1021-aws")
GCP = Provider("gcp", "GCPCluster", "v1beta1", "GCPMachineTemplate", "us-central1",
               ("us-central1-a", "us-central1-b", "us-central1-c"), "n2-standard-4", "6.8.0-1019-gcp")
AZURE = Provider("azure", "AzureCluster", "v1beta1", "AzureMachineTemplate", "eastus",
                 ("eastus-1", "eastus-2", "eastus-3"), "Standard_D4s_v5", "6.8.0-1020-azure")
DOCKER = Provider("docker", "DockerCluster", "v1beta2", "DockerMachineTemplate", "local",
                  ("local-a", "local-b", "local-c"), "docker", "6.8.0-generic")


def provider_for(cluster: str) -> Provider:
    """The provider of a workload cluster, by name prefix (aws*, gcp*, azure*; anything else is Docker)."""
    lowered = cluster.lower()
    for p in (AWS, GCP, AZURE):
        if lowered.startswith(p.name):
            return p
    return DOCKER
