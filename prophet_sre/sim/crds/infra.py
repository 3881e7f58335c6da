"""Infrastructure-provider cluster CRDs (`infrastructure.cluster.x-k8s.io`): AWSCluster (CAPA, v1beta2
stored), GCPCluster (CAPG, v1beta1), AzureCluster (CAPZ, v1beta1) and DockerCluster (CAPD, v1beta2 stored).

These are what a Cluster's `spec.infrastructureRef` points at, and the only reliable way to tell which cloud
a workload cluster runs on (Cluster objects carry no provider label). Versions, short names and printer
columns follow each provider's CRD, so `kubectl get awsclusters` prints what an SRE expects.
"""

from __future__ import annotations

from prophet_sre.sim.crds.schema import (
    BOOLEAN,
    CONDITIONS,
    INTEGER,
    OPEN,
    STRING,
    Column,
    Obj,
    Version,
    age,
    array,
    condition_status,
    crd,
    obj,
    root_schema,
)

GROUP = "infrastructure.cluster.x-k8s.io"
CATEGORIES = ("cluster-api",)
CLUSTER_LABEL_COLUMN = r".metadata.labels.cluster\.x-k8s\.io/cluster-name"
_ENDPOINT = obj(host=STRING, port=INTEGER)
_STATUS = obj(ready=BOOLEAN, conditions=CONDITIONS, failureDomains=OPEN, network=OPEN,
              initialization=obj(provisioned=BOOLEAN))


def _labels(provider: str, contract: str, versions: str) -> dict[str, str]:
    return {"cluster.x-k8s.io/provider": f"infrastructure-{provider}", "clusterctl.cluster.x-k8s.io": "",
            f"cluster.x-k8s.io/{contract}": versions}


def aws_cluster() -> Obj:
    spec = obj(region=STRING, sshKeyName=STRING, controlPlaneEndpoint=_ENDPOINT,
               network=obj(vpc=obj(id=STRING, cidrBlock=STRING), subnets=array(OPEN)),
               controlPlaneLoadBalancer=OPEN, bastion=OPEN)
    cols = [Column("Cluster", CLUSTER_LABEL_COLUMN, description="Cluster to which this AWSCluster belongs"),
            Column("Ready", ".status.ready", description="Cluster infrastructure is ready for EC2 instances"),
            Column("VPC", ".spec.network.vpc.id", description="AWS VPC the cluster is using"),
            Column("Endpoint", ".spec.controlPlaneEndpoint", description="API Endpoint", priority=1),
            Column("Bastion IP", ".status.bastion.publicIp", description="Bastion IP address for breakglass "
                                                                        "access")]
    schema = root_schema("AWSCluster", spec, _STATUS)
    return crd(GROUP, "AWSCluster", "awsclusters", [
        Version("v1beta1", schema, cols, deprecated=True),
        Version("v1beta2", schema, cols, storage=True),
    ], short=("awsc",), categories=CATEGORIES, labels=_labels("aws", "v1beta1", "v1beta1_v1beta2"))


def gcp_cluster() -> Obj:
    spec = obj(project=STRING, region=STRING, controlPlaneEndpoint=_ENDPOINT,
               network=obj(name=STRING, autoCreateSubnetworks=BOOLEAN, subnets=array(OPEN)),
               failureDomains=array(STRING))
    cols = [Column("Cluster", CLUSTER_LABEL_COLUMN, description="Cluster to which this GCPCluster belongs"),
            Column("Ready", ".status.ready", description="Cluster infrastructure is ready for GCE instances"),
            Column("Network", ".spec.network.name", description="GCP network the cluster is using"),
            Column("Endpoint", ".status.apiEndpoints[0]", description="API Endpoint", priority=1)]
    return crd(GROUP, "GCPCluster", "gcpclusters", [
        Version("v1beta1", root_schema("GCPCluster", spec, _STATUS), cols, storage=True),
    ], categories=CATEGORIES, labels=_labels("gcp", "v1beta1", "v1beta1"))


def azure_cluster() -> Obj:
    spec = obj(location=STRING, resourceGroup=STRING, subscriptionID=STRING, controlPlaneEndpoint=_ENDPOINT,
               networkSpec=OPEN, identityRef=OPEN, azureEnvironment=STRING)
    cols = [Column("Cluster", CLUSTER_LABEL_COLUMN, description="Cluster to which this AzureCluster belongs"),
            Column("Ready", ".status.conditions[?(@.type=='Ready')].status"),
            Column("Reason", ".status.conditions[?(@.type=='Ready')].reason"),
            Column("Message", ".status.conditions[?(@.type=='Ready')].message", priority=1),
            Column("Resource Group", ".spec.resourceGroup", priority=1),
            Column("SubscriptionID", ".spec.subscriptionID", priority=1),
            Column("Location", ".spec.location", priority=1),
            Column("Endpoint", ".spec.controlPlaneEndpoint.host", description="Control Plane Endpoint", priority=1),
            age("this AzureCluster")]
    return crd(GROUP, "AzureCluster", "azureclusters", [
        Version("v1beta1", root_schema("AzureCluster", spec, _STATUS), cols, storage=True),
    ], categories=CATEGORIES, labels=_labels("azure", "v1beta1", "v1beta1"))


def docker_cluster() -> Obj:
    spec = obj(controlPlaneEndpoint=_ENDPOINT, failureDomains=array(OPEN), loadBalancer=OPEN)
    v2_cols = [Column("Cluster", CLUSTER_LABEL_COLUMN, description="Cluster"),
               condition_status("Paused", "Paused", "Reconciliation paused", 10),
               Column("Provisioned", ".status.initialization.provisioned", "boolean",
                      "Cluster infrastructure is fully provisioned"),
               age("DockerCluster")]
    v1_cols = [Column("Cluster", CLUSTER_LABEL_COLUMN, description="Cluster"),
               Column("Ready", ".status.ready", "boolean"), age("DockerCluster")]
    schema = root_schema("DockerCluster", spec, _STATUS)
    return crd(GROUP, "DockerCluster", "dockerclusters", [
        Version("v1beta1", schema, v1_cols, deprecated=True),
        Version("v1beta2", schema, v2_cols, storage=True),
    ], categories=CATEGORIES, labels=_labels("docker", "v1beta2", "v1beta2"))


def infra_crds() -> list[Obj]:
    return [aws_cluster(), gcp_cluster(), azure_cluster(), docker_cluster()]
