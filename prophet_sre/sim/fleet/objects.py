"""The Cluster API objects that describe one workload cluster in the management cluster.

For a workload cluster `aws` the management cluster holds, in namespace `fleet`: a v1beta2 `Cluster` with a
ClusterClass topology, its `AWSCluster`, a `KubeadmControlPlane` `aws-control-plane`, a `MachineDeployment`
`aws-md-0` with its `MachineSet`, one `Machine` per node, a `MachineHealthCheck`, and the
`aws-kubeconfig` Secret. Names, labels, ownerReferences and references follow what `clusterctl` plus the
kubeadm and infrastructure providers create, so CAPI-aware tooling finds everything where it looks.
These builders only shape objects; `fleet.setup` creates them and the fleet controller keeps their status.
"""

from __future__ import annotations

import base64
from typing import Any

import yaml

from prophet_sre.sim.controllers.common import hex_digest, owner_reference
from prophet_sre.sim.discovery import KUBE_VERSION
from prophet_sre.sim.fleet.providers import INFRA_GROUP, Provider

Obj = dict[str, Any]
NAMESPACE = "fleet"
CAPI = "cluster.x-k8s.io"
CAPI_V = f"{CAPI}/v1beta2"
CONTROLPLANE_GROUP = "controlplane.cluster.x-k8s.io"
BOOTSTRAP_GROUP = "bootstrap.cluster.x-k8s.io"
CLUSTER_NAME_LABEL = f"{CAPI}/cluster-name"
DEPLOYMENT_LABEL = f"{CAPI}/deployment-name"
SET_LABEL = f"{CAPI}/set-name"
CONTROL_PLANE_LABEL = f"{CAPI}/control-plane"
CONTROL_PLANE_NAME_LABEL = f"{CAPI}/control-plane-name"
MACHINE_FINALIZER = "machine.cluster.x-k8s.io"
MACHINE_ANNOTATION = f"{CAPI}/machine"  # on Nodes: which Machine hosts them
SECRET_TYPE = f"{CAPI}/secret"
K8S_VERSION = str(KUBE_VERSION["gitVersion"]).split("-")[0]
WORKER_CLASS = "default-worker"
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def suffix(*parts: str) -> str:
    """Five generateName-style characters, deterministic in `parts`."""
    digest = bytes.fromhex(hex_digest("suffix", *parts))
    return "".join(_NAME_CHARS[b % len(_NAME_CHARS)] for b in digest[:5])


def md_name(cluster: str) -> str:
    return f"{cluster}-md-0"


def kcp_name(cluster: str) -> str:
    return f"{cluster}-control-plane"


def _meta(name: str, cluster: str, **extra: Any) -> Obj:
    meta: Obj = {"name": name, "namespace": NAMESPACE, "labels": {CLUSTER_NAME_LABEL: cluster}}
    for key, value in extra.items():
        if key == "labels":
            meta["labels"].update(value)
        else:
            meta[key] = value
    return meta


def _ref(group: str, kind: str, name: str) -> Obj:
    return {"apiGroup": group, "kind": kind, "name": name}


def namespace() -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": {"kubernetes.io/metadata.name": NAMESPACE}},
            "spec": {"finalizers": ["kubernetes"]}}


def cluster_class(p: Provider) -> Obj:
    name = f"{p.name}-default"
    return {"apiVersion": CAPI_V, "kind": "ClusterClass",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "infrastructure": {"templateRef": {"apiVersion": p.infra_api_version,
                                                   "kind": f"{p.infra_kind}Template", "name": name}},
                "controlPlane": {"templateRef": {"apiVersion": f"{CONTROLPLANE_GROUP}/v1beta2",
                                                 "kind": "KubeadmControlPlaneTemplate", "name": name},
                                 "machineInfrastructure": {"templateRef": {
                                     "apiVersion": p.infra_api_version, "kind": p.machine_template_kind,
                                     "name": f"{name}-control-plane"}}},
                "workers": {"machineDeployments": [{
                    "class": WORKER_CLASS,
                    "bootstrap": {"templateRef": {"apiVersion": f"{BOOTSTRAP_GROUP}/v1beta2",
                                                  "kind": "KubeadmConfigTemplate", "name": f"{name}-worker"}},
                    "infrastructure": {"templateRef": {"apiVersion": p.infra_api_version,
                                                       "kind": p.machine_template_kind, "name": f"{name}-worker"}},
                }]},
            }}


def cluster(name: str, p: Provider, host: str, port: int) -> Obj:
    return {
        "apiVersion": CAPI_V, "kind": "Cluster",
        "metadata": _meta(name, name),
        "spec": {
            "clusterNetwork": {"apiServerPort": port, "services": {"cidrBlocks": ["10.96.0.0/12"]},
                               "pods": {"cidrBlocks": ["10.244.0.0/16"]}, "serviceDomain": "cluster.local"},
            "controlPlaneEndpoint": {"host": host, "port": port},
            "controlPlaneRef": _ref(CONTROLPLANE_GROUP, "KubeadmControlPlane", kcp_name(name)),
            "infrastructureRef": _ref(INFRA_GROUP, p.infra_kind, name),
            "topology": {"classRef": {"name": f"{p.name}-default"}, "version": K8S_VERSION,
                         "controlPlane": {"replicas": 1},
                         "workers": {"machineDeployments": [{"class": WORKER_CLASS, "name": "md-0"}]}},
        },
    }


def infra_cluster(name: str, p: Provider, host: str, port: int, owner: Obj) -> Obj:
    return {"apiVersion": p.infra_api_version, "kind": p.infra_kind,
            "metadata": _meta(name, name, ownerReferences=[owner_reference(owner, block=True)]),
            "spec": p.infra_spec(name, host, port)}


def kubeadm_control_plane(name: str, p: Provider, owner: Obj) -> Obj:
    return {
        "apiVersion": f"{CONTROLPLANE_GROUP}/v1beta2", "kind": "KubeadmControlPlane",
        "metadata": _meta(kcp_name(name), name, ownerReferences=[owner_reference(owner)]),
        "spec": {
            "replicas": 1, "version": K8S_VERSION,
            "machineTemplate": {"spec": {"infrastructureRef": _ref(INFRA_GROUP, p.machine_template_kind,
                                                                   f"{name}-control-plane")}},
            "kubeadmConfigSpec": {"clusterConfiguration": {"apiServer": {"certSANs": ["localhost", "127.0.0.1"]}},
                                  "initConfiguration": {"nodeRegistration": {"name": "{{ ds.meta_data.local_hostname }}"}},
                                  "joinConfiguration": {"nodeRegistration": {"name": "{{ ds.meta_data.local_hostname }}"}}},
            "rollout": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
        },
    }


def worker_selector(cluster_name: str) -> Obj:
    return {"matchLabels": {CLUSTER_NAME_LABEL: cluster_name, DEPLOYMENT_LABEL: md_name(cluster_name)}}


def _machine_template(cluster_name: str, p: Provider, labels: dict[str, str]) -> Obj:
    return {"metadata": {"labels": labels},
            "spec": {"clusterName": cluster_name, "version": K8S_VERSION,
                     "bootstrap": {"configRef": _ref(BOOTSTRAP_GROUP, "KubeadmConfigTemplate",
                                                     md_name(cluster_name))},
                     "infrastructureRef": _ref(INFRA_GROUP, p.machine_template_kind, md_name(cluster_name))}}


def machine_deployment(cluster_name: str, p: Provider, replicas: int, owner: Obj) -> Obj:
    name = md_name(cluster_name)
    labels = {CLUSTER_NAME_LABEL: cluster_name, DEPLOYMENT_LABEL: name}
    return {
        "apiVersion": CAPI_V, "kind": "MachineDeployment",
        "metadata": _meta(name, cluster_name, labels={"topology.cluster.x-k8s.io/owned": "",
                                                      "topology.cluster.x-k8s.io/deployment-name": "md-0"},
                          annotations={"machinedeployment.clusters.x-k8s.io/revision": "1"},
                          ownerReferences=[owner_reference(owner, controller=False, block=False)]),
        "spec": {"clusterName": cluster_name, "replicas": replicas, "selector": {"matchLabels": labels},
                 "template": _machine_template(cluster_name, p, labels),
                 "rollout": {"strategy": {"type": "RollingUpdate",
                                          "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}},
                 "deletion": {"order": "Newest"}},
    }


def machine_set(md: Obj, p: Provider) -> Obj:
    cluster_name = md["spec"]["clusterName"]
    template_hash = suffix("ms", cluster_name)
    name = f"{md['metadata']['name']}-{template_hash}"
    labels = {CLUSTER_NAME_LABEL: cluster_name, DEPLOYMENT_LABEL: md["metadata"]["name"],
              "machine-template-hash": template_hash}
    return {
        "apiVersion": CAPI_V, "kind": "MachineSet",
        "metadata": _meta(name, cluster_name, labels={DEPLOYMENT_LABEL: md["metadata"]["name"],
                                                      "machine-template-hash": template_hash},
                          annotations={"machinedeployment.clusters.x-k8s.io/revision": "1",
                                       "machinedeployment.clusters.x-k8s.io/desired-replicas":
                                           str(md["spec"]["replicas"])},
                          ownerReferences=[owner_reference(md)]),
        "spec": {"clusterName": cluster_name, "replicas": md["spec"]["replicas"],
                 "selector": {"matchLabels": labels},
                 "template": _machine_template(cluster_name, p, labels), "deletion": {"order": "Newest"}},
    }


def machine(name: str, cluster_name: str, p: Provider, owner: Obj, zone: str, *, control_plane: bool = False,
            provider_id: str = "") -> Obj:
    """A Machine owned by a MachineSet (worker) or the KubeadmControlPlane (control plane)."""
    if control_plane:
        labels = {CONTROL_PLANE_LABEL: "", CONTROL_PLANE_NAME_LABEL: owner["metadata"]["name"]}
    else:
        labels = {k: v for k, v in owner["spec"]["selector"]["matchLabels"].items() if k != CLUSTER_NAME_LABEL}
        labels[SET_LABEL] = owner["metadata"]["name"]
    infra_kind = p.machine_template_kind.removesuffix("Template")
    spec: Obj = {"clusterName": cluster_name, "version": K8S_VERSION,
                 "bootstrap": {"configRef": _ref(BOOTSTRAP_GROUP, "KubeadmConfig", name), "dataSecretName": name},
                 "infrastructureRef": _ref(INFRA_GROUP, infra_kind, name), "failureDomain": zone}
    if provider_id:
        spec["providerID"] = provider_id
    return {"apiVersion": CAPI_V, "kind": "Machine",
            "metadata": _meta(name, cluster_name, labels=labels, finalizers=[MACHINE_FINALIZER],
                              ownerReferences=[owner_reference(owner)]),
            "spec": spec}


def machine_health_check(cluster_name: str) -> Obj:
    return {
        "apiVersion": CAPI_V, "kind": "MachineHealthCheck",
        "metadata": _meta(f"{md_name(cluster_name)}-unhealthy-5m", cluster_name),
        "spec": {"clusterName": cluster_name, "selector": worker_selector(cluster_name),
                 "checks": {"nodeStartupTimeoutSeconds": 600,
                            "unhealthyNodeConditions": [{"type": "Ready", "status": "Unknown", "timeoutSeconds": 300},
                                                        {"type": "Ready", "status": "False", "timeoutSeconds": 300}]},
                 "remediation": {"triggerIf": {"unhealthyLessThanOrEqualTo": "40%"}}},
    }


def workload_kubeconfig(cluster_name: str, base: Obj) -> Obj:
    """The kubeconfig CAPI would write for a workload cluster, from the simulator's own one for it."""
    server = base["clusters"][0]["cluster"]
    user = base["users"][0]["user"]
    ctx = f"{cluster_name}-admin@{cluster_name}"
    return {"apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": cluster_name, "cluster": dict(server)}],
            "users": [{"name": f"{cluster_name}-admin", "user": dict(user)}],
            "contexts": [{"name": ctx, "context": {"cluster": cluster_name, "user": f"{cluster_name}-admin"}}],
            "current-context": ctx}


def kubeconfig_secret(cluster_name: str, kubeconfig: Obj, owner: Obj) -> Obj:
    value = yaml.safe_dump(kubeconfig, sort_keys=False).encode()
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": _meta(f"{cluster_name}-kubeconfig", cluster_name, ownerReferences=[owner_reference(owner)]),
            "type": SECRET_TYPE, "data": {"value": base64.b64encode(value).decode()}}
