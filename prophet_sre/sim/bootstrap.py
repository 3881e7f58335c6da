"""The objects a fresh simulated cluster starts with, shaped like a new kubeadm/kind cluster.

Namespaces, nodes with complete status (capacity, conditions with the kubelet's reasons, nodeInfo),
the `kubernetes` and `kube-dns` Services, CoreDNS, the default StorageClass and the system
PriorityClasses: what `kubectl get all -A`, `kubectl describe node` and every SRE tool expect to find
before anything is deployed. RBAC bootstrap objects come from `sim/rbac.py`.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prophet_sre.sim.clock import rfc3339
from prophet_sre.sim.controllers.common import hex_digest, parse_quantity
from prophet_sre.sim.discovery import KUBE_VERSION

Obj = dict[str, Any]
COREDNS_IMAGE = "registry.k8s.io/coredns/coredns:v1.12.0"
CONTAINERD_VERSION = "containerd://2.0.3"
OS_IMAGE = "Debian GNU/Linux 12 (bookworm)"
KERNEL_VERSION = "6.8.0-1021-aws"
REGION = "us-east-1"
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
EPHEMERAL_KI = 102_626_232


@dataclass
class NodeSpec:
    name: str
    role: str = "worker"  # "control-plane" | "worker"
    cpu: str = "4"
    memory: str = "16Gi"
    pods: str = "110"
    zone: str = f"{REGION}a"
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    instance_type: str = "m5.xlarge"


def default_nodes(n_workers: int = 2) -> list[NodeSpec]:
    """One tainted control-plane node and `n_workers` workers spread over three zones."""
    zones = [f"{REGION}{z}" for z in "abc"]
    nodes = [NodeSpec(name="control-plane", role="control-plane", zone=zones[0], taints=[dict(CONTROL_PLANE_TAINT)])]
    nodes += [NodeSpec(name=f"worker-{i + 1}", zone=zones[i % len(zones)]) for i in range(n_workers)]
    return nodes


def _uuid(*parts: str) -> str:
    return str(uuid.UUID(hex_digest(*parts)[:32]))


def _namespace(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def _ki(value: str) -> int:
    return int(parse_quantity(value) // 1024)


def node_object(spec: NodeSpec, index: int, cluster_name: str, now: datetime | None = None) -> Obj:
    labels = {
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": spec.name, "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": spec.instance_type,
        "topology.kubernetes.io/region": REGION, "topology.kubernetes.io/zone": spec.zone,
    }
    if spec.role == "control-plane":
        labels["node-role.kubernetes.io/control-plane"] = ""
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
    labels.update(spec.labels)
    mem_ki = _ki(spec.memory)
    capacity = {"cpu": spec.cpu, "ephemeral-storage": f"{EPHEMERAL_KI}Ki", "hugepages-1Gi": "0",
                "hugepages-2Mi": "0", "memory": f"{mem_ki}Ki", "pods": spec.pods}
    allocatable = dict(capacity, memory=f"{mem_ki - 102_400}Ki")  # eviction-hard memory.available<100Mi
    cidr = str(ipaddress.ip_network(f"10.244.{index}.0/24"))
    ip = f"172.18.0.{index + 2}"
    conds = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
    ts = rfc3339(now) if now is not None else None
    node_spec: Obj = {"podCIDR": cidr, "podCIDRs": [cidr], "providerID": f"kind://docker/{cluster_name}/{spec.name}"}
    if spec.taints:
        node_spec["taints"] = [dict(t) for t in spec.taints]
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels, "annotations": {
            "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
            "node.alpha.kubernetes.io/ttl": "0",
            "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": node_spec,
        "status": {
            "capacity": capacity, "allocatable": allocatable,
            "conditions": [{"type": t, "status": s, "lastHeartbeatTime": ts, "lastTransitionTime": ts,
                            "reason": r, "message": m} for t, s, r, m in conds],
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": spec.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": hex_digest("machine", cluster_name, spec.name)[:32],
                "systemUUID": _uuid("system", cluster_name, spec.name),
                "bootID": _uuid("boot", cluster_name, spec.name),
                "kernelVersion": KERNEL_VERSION, "osImage": OS_IMAGE,
                "containerRuntimeVersion": CONTAINERD_VERSION, "kubeletVersion": KUBE_VERSION["gitVersion"],
                "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64",
            },
            "images": [],
            "runtimeHandlers": [{"name": "runc", "features": {"recursiveReadOnlyMounts": True, "userNamespaces": True}},
                                {"name": "", "features": {"recursiveReadOnlyMounts": True, "userNamespaces": True}}],
        },
    }


def _kubernetes_service(api_host: str, api_port: int) -> list[Obj]:
    try:
        ip = str(ipaddress.ip_address(api_host))
    except ValueError:
        ip = "127.0.0.1"
    labels = {"component": "apiserver", "provider": "kubernetes"}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default",
                                                                "labels": labels},
           "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                    "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
                    "internalTrafficPolicy": "Cluster",
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": api_port}]}}
    ep = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kubernetes", "namespace": "default",
                                                                "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
          "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "https", "port": api_port, "protocol": "TCP"}]}]}
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "kubernetes", "namespace": "default",
                        "labels": {"kubernetes.io/service-name": "kubernetes"}},
           "addressType": "IPv4",
           "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
           "ports": [{"name": "https", "port": api_port, "protocol": "TCP"}]}
    return [svc, ep, eps]


COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"""


def _dns() -> list[Obj]:
    labels = {"k8s-app": "kube-dns"}
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "kube-dns", "namespace": "kube-system",
                        "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                                   "kubernetes.io/name": "CoreDNS"},
                        "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}},
           "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                    "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
                    "internalTrafficPolicy": "Cluster", "selector": dict(labels),
                    "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                              {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                              {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]}}
    container = {
        "name": "coredns", "image": COREDNS_IMAGE, "imagePullPolicy": "IfNotPresent",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                  {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                  {"name": "metrics", "containerPort": 9153, "protocol": "TCP"}],
        "resources": {"limits": {"memory": "170Mi"}, "requests": {"cpu": "100m", "memory": "70Mi"}},
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080, "scheme": "HTTP"}, "initialDelaySeconds": 60,
                          "timeoutSeconds": 5, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 5},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181, "scheme": "HTTP"}, "timeoutSeconds": 1,
                           "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"add": ["NET_BIND_SERVICE"],
                                                                                  "drop": ["ALL"]},
                            "readOnlyRootFilesystem": True},
        "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/coredns", "readOnly": True}],
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": dict(labels)},
        "spec": {
            "replicas": 2, "selector": {"matchLabels": dict(labels)}, "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [container], "dnsPolicy": "Default", "nodeSelector": {"kubernetes.io/os": "linux"},
                    "priorityClassName": "system-cluster-critical", "restartPolicy": "Always",
                    "schedulerName": "default-scheduler", "securityContext": {},
                    "serviceAccountName": "coredns", "serviceAccount": "coredns",
                    "terminationGracePeriodSeconds": 30,
                    "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                    {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                    "volumes": [{"name": "config-volume", "configMap": {
                        "name": "coredns", "items": [{"key": "Corefile", "path": "Corefile"}], "defaultMode": 420}}],
                },
            },
        },
    }
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", "namespace": "kube-system"}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
          "data": {"Corefile": COREFILE}}
    return [sa, cm, svc, deploy]


def _storage_and_priority() -> list[Obj]:
    sc = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
          "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
          "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete",
          "volumeBindingMode": "WaitForFirstConsumer"}
    pcs = [
        {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "system-cluster-critical"},
         "value": 2_000_000_000, "globalDefault": False, "preemptionPolicy": "PreemptLowerPriority",
         "description": "Used for system critical pods that must run in the cluster, but can be moved to another "
                        "node if necessary."},
        {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "system-node-critical"},
         "value": 2_000_001_000, "globalDefault": False, "preemptionPolicy": "PreemptLowerPriority",
         "description": "Used for system critical pods that must not be moved from their current node."},
    ]
    return [sc, *pcs]


def bootstrap_objects(*, cluster_name: str, nodes: list[NodeSpec], api_host: str, api_port: int,
                      now: datetime | None = None) -> list[Obj]:
    """Every object of a fresh cluster, namespaces first (create them in this order).

    `now` (sim time) stamps the node conditions; without it they stay null until the first kubelet
    heartbeat, which follows immediately when the controllers run.
    """
    objs: list[Obj] = [_namespace(n) for n in ("default", "kube-system", "kube-public", "kube-node-lease")]
    objs += [node_object(n, i, cluster_name, now) for i, n in enumerate(nodes)]
    objs += _kubernetes_service(api_host, api_port)
    objs += _dns()
    objs += _storage_and_priority()
    return objs
