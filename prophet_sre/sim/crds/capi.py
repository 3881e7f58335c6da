"""Cluster API core CRDs (`cluster.x-k8s.io`): Cluster, ClusterClass, MachineDeployment, MachineSet,
Machine, MachineHealthCheck - v1beta2 stored, v1beta1 still served and marked deprecated.

Names, short names, scopes, subresources (MachineDeployment and MachineSet have `scale` with the selector
in `.status.selector`) and printer columns follow the Cluster API v1.11+ CRDs, because `kubectl get
clusters,md,machines` and `clusterctl`-style tooling depend on exactly these. The v1beta1 versions share
storage with v1beta2 and there is no conversion webhook: reading through v1beta1 returns the v1beta2
shape (a real management cluster converts; see the fleet package docstring).
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

GROUP = "cluster.x-k8s.io"
CATEGORIES = ("cluster-api",)
LABELS = {"cluster.x-k8s.io/provider": "cluster-api", "clusterctl.cluster.x-k8s.io": ""}

CONTRACT_REF = obj("A ContractVersionedObjectReference (same namespace, no version).",
                   apiGroup=STRING, kind=STRING, name=STRING)
REPLICA_COUNTS = obj(desiredReplicas=INTEGER, replicas=INTEGER, readyReplicas=INTEGER,
                     availableReplicas=INTEGER, upToDateReplicas=INTEGER)
PAUSED = condition_status("Paused", "Paused", "Reconciliation paused", 10)


def _cluster() -> Obj:
    spec = obj("ClusterSpec defines the desired state of Cluster.",
               paused=BOOLEAN,
               clusterNetwork=obj(apiServerPort=INTEGER, services=obj(cidrBlocks=array(STRING)),
                                  pods=obj(cidrBlocks=array(STRING)), serviceDomain=STRING),
               controlPlaneEndpoint=obj(host=STRING, port=INTEGER),
               controlPlaneRef=CONTRACT_REF, infrastructureRef=CONTRACT_REF,
               topology=obj(classRef=obj(name=STRING, namespace=STRING), version=STRING,
                            controlPlane=obj(replicas=INTEGER), workers=OPEN, variables=array(OPEN)))
    status = obj("ClusterStatus defines the observed state of Cluster.",
                 conditions=CONDITIONS, phase=STRING, observedGeneration={"type": "integer", "format": "int64"},
                 initialization=obj(infrastructureProvisioned=BOOLEAN, controlPlaneInitialized=BOOLEAN),
                 controlPlane=REPLICA_COUNTS, workers=REPLICA_COUNTS, failureDomains=array(OPEN))
    v2_cols = [
        Column("ClusterClass", ".spec.topology.classRef.name", description="ClusterClass of this Cluster, empty if "
                                                                          "the Cluster is not using a ClusterClass"),
        condition_status("Available", "Available", "Cluster pass all availability checks"),
        Column("CP Desired", ".status.controlPlane.desiredReplicas", "integer", "The desired number of control "
                                                                                "plane machines"),
        Column("CP Current", ".status.controlPlane.replicas", "integer", "The number of control plane machines", 10),
        Column("CP Ready", ".status.controlPlane.readyReplicas", "integer", "The number of control plane machines "
                                                                           "with Ready condition true", 10),
        Column("CP Available", ".status.controlPlane.availableReplicas", "integer", "The number of control plane "
                                                                                   "machines with Available "
                                                                                   "condition true"),
        Column("CP Up-to-date", ".status.controlPlane.upToDateReplicas", "integer", "The number of control plane "
                                                                                   "machines with UpToDate "
                                                                                   "condition true"),
        Column("W Desired", ".status.workers.desiredReplicas", "integer", "The desired number of worker machines"),
        Column("W Current", ".status.workers.replicas", "integer", "The number of worker machines", 10),
        Column("W Ready", ".status.workers.readyReplicas", "integer", "The number of worker machines with Ready "
                                                                     "condition true", 10),
        Column("W Available", ".status.workers.availableReplicas", "integer", "The number of worker machines with "
                                                                             "Available condition true"),
        Column("W Up-to-date", ".status.workers.upToDateReplicas", "integer", "The number of worker machines with "
                                                                             "UpToDate condition true"),
        PAUSED,
        Column("Phase", ".status.phase", description="Cluster status such as Pending/Provisioning/Provisioned/"
                                                     "Deleting/Failed"),
        age("Cluster"),
        Column("Version", ".spec.topology.version", description="Kubernetes version associated with this Cluster"),
    ]
    v1_cols = [Column("ClusterClass", ".spec.topology.class"), Column("Phase", ".status.phase"), age("Cluster"),
               Column("Version", ".spec.topology.version")]
    schema = root_schema("Cluster", spec, status)
    return crd(GROUP, "Cluster", "clusters", [
        Version("v1beta1", schema, v1_cols, deprecated=True),
        Version("v1beta2", schema, v2_cols, storage=True),
    ], short=("cl",), categories=CATEGORIES, labels=LABELS)


def _cluster_class() -> Obj:
    schema = root_schema("ClusterClass", obj(infrastructure=OPEN, controlPlane=OPEN, workers=OPEN,
                                             variables=array(OPEN), patches=array(OPEN)),
                         obj(conditions=CONDITIONS, variables=array(OPEN), observedGeneration=INTEGER))
    v2_cols = [condition_status("Variables Ready", "VariablesReady", "Schema for variables in the ClusterClass "
                                                                     "is ready"),
               PAUSED, age("ClusterClass")]
    return crd(GROUP, "ClusterClass", "clusterclasses", [
        Version("v1beta1", schema, [age("ClusterClass")], deprecated=True),
        Version("v1beta2", schema, v2_cols, storage=True),
    ], short=("cc",), categories=CATEGORIES, labels=LABELS)


_MACHINE_TEMPLATE = obj(metadata=obj(labels=OPEN, annotations=OPEN),
                        spec=obj(clusterName=STRING, version=STRING, bootstrap=OPEN, infrastructureRef=CONTRACT_REF,
                                 failureDomain=STRING))
_SCALABLE_STATUS = obj(conditions=CONDITIONS, selector=STRING, replicas=INTEGER, readyReplicas=INTEGER,
                       availableReplicas=INTEGER, upToDateReplicas=INTEGER, phase=STRING,
                       observedGeneration={"type": "integer", "format": "int64"})


def _machine_deployment() -> Obj:
    spec = obj(clusterName=STRING, replicas=INTEGER, selector=OPEN, template=_MACHINE_TEMPLATE, rollout=OPEN,
               deletion=obj(order=STRING), remediation=OPEN, machineNaming=OPEN, paused=BOOLEAN)
    v2_cols = [
        Column("Cluster", ".spec.clusterName", description="Cluster"),
        condition_status("Available", "Available", "Cluster pass all availability checks"),
        Column("Desired", ".spec.replicas", "integer", "The desired number of machines"),
        Column("Current", ".status.replicas", "integer", "The number of machines"),
        Column("Ready", ".status.readyReplicas", "integer", "The number of machines with Ready condition true"),
        Column("Available", ".status.availableReplicas", "integer", "The number of machines with Available "
                                                                   "condition true"),
        Column("Up-to-date", ".status.upToDateReplicas", "integer", "The number of machines with UpToDate "
                                                                   "condition true"),
        PAUSED,
        Column("Phase", ".status.phase", description="MachineDeployment status such as ScalingUp/ScalingDown/"
                                                     "Running/Failed/Unknown"),
        age("MachineDeployment"),
        Column("Version", ".spec.template.spec.version", description="Kubernetes version associated with this "
                                                                     "MachineDeployment"),
    ]
    v1_cols = [
        Column("Cluster", ".spec.clusterName", description="Cluster"),
        Column("Desired", ".spec.replicas", "integer", priority=10),
        Column("Replicas", ".status.replicas", "integer"),
        Column("Ready", ".status.readyReplicas", "integer"),
        Column("Updated", ".status.updatedReplicas", "integer"),
        Column("Unavailable", ".status.unavailableReplicas", "integer"),
        Column("Phase", ".status.phase"),
        age("MachineDeployment"),
        Column("Version", ".spec.template.spec.version"),
    ]
    schema = root_schema("MachineDeployment", spec, _SCALABLE_STATUS)
    return crd(GROUP, "MachineDeployment", "machinedeployments", [
        Version("v1beta1", schema, v1_cols, deprecated=True, scale=True),
        Version("v1beta2", schema, v2_cols, storage=True, scale=True),
    ], short=("md",), categories=CATEGORIES, labels=LABELS)


def _machine_set() -> Obj:
    spec = obj(clusterName=STRING, replicas=INTEGER, selector=OPEN, template=_MACHINE_TEMPLATE, deletion=OPEN)
    v2_cols = [
        Column("Cluster", ".spec.clusterName", description="Cluster"),
        Column("Desired", ".spec.replicas", "integer", "The desired number of machines"),
        Column("Current", ".status.replicas", "integer", "The number of machines"),
        Column("Ready", ".status.readyReplicas", "integer", "The number of machines with Ready condition true"),
        Column("Available", ".status.availableReplicas", "integer", "The number of machines with Available "
                                                                   "condition true"),
        Column("Up-to-date", ".status.upToDateReplicas", "integer", "The number of machines with UpToDate "
                                                                   "condition true"),
        PAUSED, age("MachineSet"),
        Column("Version", ".spec.template.spec.version", description="Kubernetes version associated with this "
                                                                     "MachineSet"),
    ]
    v1_cols = [Column("Cluster", ".spec.clusterName"), Column("Desired", ".spec.replicas", "integer", priority=10),
               Column("Replicas", ".status.replicas", "integer"), Column("Ready", ".status.readyReplicas", "integer"),
               Column("Available", ".status.availableReplicas", "integer"), age("MachineSet"),
               Column("Version", ".spec.template.spec.version")]
    schema = root_schema("MachineSet", spec, _SCALABLE_STATUS)
    return crd(GROUP, "MachineSet", "machinesets", [
        Version("v1beta1", schema, v1_cols, deprecated=True, scale=True),
        Version("v1beta2", schema, v2_cols, storage=True, scale=True),
    ], short=("ms",), categories=CATEGORIES, labels=LABELS)


def _machine() -> Obj:
    spec = obj(clusterName=STRING, bootstrap=obj(configRef=CONTRACT_REF, dataSecretName=STRING),
               infrastructureRef=CONTRACT_REF, version=STRING, providerID=STRING, failureDomain=STRING,
               minReadySeconds=INTEGER, readinessGates=array(OPEN), deletion=OPEN, taints=array(OPEN))
    status = obj(conditions=CONDITIONS, nodeRef=obj(name=STRING), nodeInfo=OPEN, phase=STRING,
                 addresses=array(obj(type=STRING, address=STRING)), lastUpdated={"type": "string"},
                 initialization=obj(infrastructureProvisioned=BOOLEAN, bootstrapDataSecretCreated=BOOLEAN),
                 failureDomain=STRING, observedGeneration={"type": "integer", "format": "int64"})
    v2_cols = [
        Column("Cluster", ".spec.clusterName", description="Cluster"),
        Column("Node Name", ".status.nodeRef.name", description="Node name associated with this machine"),
        Column("Provider ID", ".spec.providerID", description="Provider ID", priority=10),
        condition_status("Ready", "Ready", "Machine pass all readiness checks"),
        condition_status("Available", "Available", "Machine is Ready for at least MinReadySeconds"),
        condition_status("Up-to-date", "UpToDate", "Machine spec matches the spec of the Machine's owner resource, "
                                                   "e.g. MachineDeployment"),
        Column("Internal-IP", '.status.addresses[?(@.type=="InternalIP")].address', description="Internal IP of "
                                                                                                "the machine",
               priority=10),
        Column("External-IP", '.status.addresses[?(@.type=="ExternalIP")].address', description="External IP of "
                                                                                                "the machine",
               priority=10),
        Column("OS-Image", ".status.nodeInfo.osImage", description="OS Image reported by the node", priority=10),
        PAUSED,
        Column("Phase", ".status.phase", description="Machine status such as Terminating/Pending/Running/Failed "
                                                     "etc"),
        age("Machine"),
        Column("Version", ".spec.version", description="Kubernetes version associated with this Machine"),
    ]
    v1_cols = [Column("Cluster", ".spec.clusterName"), Column("NodeName", ".status.nodeRef.name"),
               Column("ProviderID", ".spec.providerID"), Column("Phase", ".status.phase"), age("Machine"),
               Column("Version", ".spec.version")]
    schema = root_schema("Machine", spec, status)
    return crd(GROUP, "Machine", "machines", [
        Version("v1beta1", schema, v1_cols, deprecated=True),
        Version("v1beta2", schema, v2_cols, storage=True),
    ], short=("ma",), categories=CATEGORIES, labels=LABELS)


def _machine_health_check() -> Obj:
    spec = obj(clusterName=STRING, selector=OPEN,
               checks=obj(nodeStartupTimeoutSeconds=INTEGER, unhealthyNodeConditions=array(OPEN),
                          unhealthyMachineConditions=array(OPEN)),
               remediation=obj(triggerIf=OPEN, templateRef=OPEN))
    status = obj(conditions=CONDITIONS, expectedMachines=INTEGER, currentHealthy=INTEGER,
                 remediationsAllowed=INTEGER, targets=array(STRING),
                 observedGeneration={"type": "integer", "format": "int64"})
    v2_cols = [Column("Cluster", ".spec.clusterName", description="Cluster"),
               Column("Replicas", ".status.expectedMachines", "integer", "Number of machines currently monitored"),
               Column("Healthy", ".status.currentHealthy", "integer", "Current observed healthy machines"),
               PAUSED, age("MachineHealthCheck")]
    v1_cols = [Column("Cluster", ".spec.clusterName"), Column("ExpectedMachines", ".status.expectedMachines", "integer"),
               Column("MaxUnhealthy", ".spec.maxUnhealthy"), Column("CurrentHealthy", ".status.currentHealthy", "integer"),
               age("MachineHealthCheck")]
    schema = root_schema("MachineHealthCheck", spec, status)
    return crd(GROUP, "MachineHealthCheck", "machinehealthchecks", [
        Version("v1beta1", schema, v1_cols, deprecated=True),
        Version("v1beta2", schema, v2_cols, storage=True),
    ], short=("mhc", "mhcs"), categories=CATEGORIES, labels=LABELS)


def kubeadm_control_plane() -> Obj:
    """`controlplane.cluster.x-k8s.io` KubeadmControlPlane (kcp), v1beta2 stored, with `scale`."""
    spec = obj(replicas=INTEGER, version=STRING, machineTemplate=obj(spec=obj(infrastructureRef=CONTRACT_REF)),
               kubeadmConfigSpec=OPEN, rollout=OPEN, remediation=OPEN)
    status = obj(conditions=CONDITIONS, selector=STRING, replicas=INTEGER, readyReplicas=INTEGER,
                 availableReplicas=INTEGER, upToDateReplicas=INTEGER, version=STRING,
                 initialization=obj(controlPlaneInitialized=BOOLEAN),
                 observedGeneration={"type": "integer", "format": "int64"})
    cluster_col = Column("Cluster", r".metadata.labels.cluster\.x-k8s\.io/cluster-name", description="Cluster")
    v2_cols = [
        cluster_col, condition_status("Available", "Available", "Cluster pass all availability checks"),
        Column("Desired", ".spec.replicas", "integer", "The desired number of machines"),
        Column("Current", ".status.replicas", "integer", "The number of machines"),
        Column("Ready", ".status.readyReplicas", "integer", "The number of machines with Ready condition true"),
        Column("Available", ".status.availableReplicas", "integer", "The number of machines with Available "
                                                                   "condition true"),
        Column("Up-to-date", ".status.upToDateReplicas", "integer", "The number of machines with UpToDate "
                                                                   "condition true"),
        PAUSED,
        Column("Initialized", ".status.initialization.controlPlaneInitialized", "boolean",
               "This denotes whether or not the control plane can accept requests"),
        age("KubeadmControlPlane"),
        Column("Version", ".spec.version", description="Kubernetes version associated with this control plane"),
    ]
    v1_cols = [cluster_col, Column("Initialized", ".status.initialized", "boolean"),
               Column("API Server Available", ".status.ready", "boolean"),
               Column("Desired", ".spec.replicas", "integer", priority=10),
               Column("Replicas", ".status.replicas", "integer"), Column("Ready", ".status.readyReplicas", "integer"),
               Column("Updated", ".status.updatedReplicas", "integer"),
               Column("Unavailable", ".status.unavailableReplicas", "integer"), age("KubeadmControlPlane"),
               Column("Version", ".spec.version")]
    schema = root_schema("KubeadmControlPlane", spec, status)
    return crd("controlplane.cluster.x-k8s.io", "KubeadmControlPlane", "kubeadmcontrolplanes", [
        Version("v1beta1", schema, v1_cols, deprecated=True, scale=True),
        Version("v1beta2", schema, v2_cols, storage=True, scale=True),
    ], short=("kcp",), categories=CATEGORIES,
        labels={"cluster.x-k8s.io/provider": "control-plane-kubeadm", "clusterctl.cluster.x-k8s.io": ""})


def core_crds() -> list[Obj]:
    """The `cluster.x-k8s.io` CRDs, in the order `clusterctl init` would install them."""
    return [_cluster(), _cluster_class(), _machine_deployment(), _machine_set(), _machine(), _machine_health_check()]
