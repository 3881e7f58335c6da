"""kube-state-metrics: the object state series, with the real exporter's names, labels and value rules.

Each object's lines depend only on the object, so they are rendered once per resourceVersion and
reused by every scrape until the object changes; a 1,000-pod cluster costs a join, not a re-render.
Like kube-state-metrics, enumerations are one series per possible value with 0/1 (`phase`, condition
`status`), and `*_reason` series exist only for the reason that currently applies.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from prophet_sre.sim.controllers.common import controller_ref, parse_quantity
from prophet_sre.sim.metrics.text import Exposition, sample
from prophet_sre.sim.store import Store

Obj = dict[str, Any]
Lines = dict[str, list[str]]

FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("kube_pod_info", "gauge", "Information about pod."),
    ("kube_pod_owner", "gauge", "Information about the Pod's owner."),
    ("kube_pod_status_phase", "gauge", "The pods current phase."),
    ("kube_pod_status_ready", "gauge", "Describes whether the pod is ready to serve requests."),
    ("kube_pod_status_scheduled", "gauge", "Describes the status of the scheduling process for the pod."),
    ("kube_pod_container_info", "gauge", "Information about a container in a pod."),
    ("kube_pod_container_status_ready", "gauge", "Describes whether the containers readiness check succeeded."),
    ("kube_pod_container_status_running", "gauge", "Describes whether the container is currently in running state."),
    ("kube_pod_container_status_waiting", "gauge", "Describes whether the container is currently in waiting state."),
    ("kube_pod_container_status_terminated", "gauge",
     "Describes whether the container is currently in terminated state."),
    ("kube_pod_container_status_restarts_total", "counter",
     "The number of container restarts per container."),
    ("kube_pod_container_status_waiting_reason", "gauge",
     "Describes the reason the container is currently in waiting state."),
    ("kube_pod_container_status_terminated_reason", "gauge",
     "Describes the reason the container is currently in terminated state."),
    ("kube_pod_container_status_last_terminated_reason", "gauge",
     "Describes the last reason the container was in terminated state."),
    ("kube_pod_container_resource_requests", "gauge",
     "The number of requested request resource by a container. It is recommended to use the "
     "kube_pod_resource_requests metric exposed by kube-scheduler instead, as it is more precise."),
    ("kube_pod_container_resource_limits", "gauge",
     "The number of requested limit resource by a container. It is recommended to use the "
     "kube_pod_resource_limits metric exposed by kube-scheduler instead, as it is more precise."),
    ("kube_deployment_spec_replicas", "gauge", "Number of desired pods for a deployment."),
    ("kube_deployment_status_replicas", "gauge", "The number of replicas per deployment."),
    ("kube_deployment_status_replicas_ready", "gauge", "The number of ready replicas per deployment."),
    ("kube_deployment_status_replicas_available", "gauge", "The number of available replicas per deployment."),
    ("kube_deployment_status_replicas_unavailable", "gauge", "The number of unavailable replicas per deployment."),
    ("kube_deployment_status_replicas_updated", "gauge", "The number of updated replicas per deployment."),
    ("kube_deployment_status_observed_generation", "gauge",
     "The generation observed by the deployment controller."),
    ("kube_deployment_metadata_generation", "gauge",
     "Sequence number representing a specific generation of the desired state."),
    ("kube_deployment_status_condition", "gauge", "The current status conditions of a deployment."),
    ("kube_statefulset_replicas", "gauge", "Number of desired pods for a StatefulSet."),
    ("kube_statefulset_status_replicas_ready", "gauge", "The number of ready replicas per StatefulSet."),
    ("kube_daemonset_status_desired_number_scheduled", "gauge",
     "The number of nodes that should be running the daemon pod."),
    ("kube_daemonset_status_number_ready", "gauge",
     "The number of nodes that should be running the daemon pod and have one or more of the daemon pod "
     "running and ready."),
    ("kube_node_info", "gauge", "Information about a cluster node."),
    ("kube_node_status_condition", "gauge", "The condition of a cluster node."),
    ("kube_node_spec_unschedulable", "gauge", "Whether a node can schedule new pods."),
    ("kube_node_status_allocatable", "gauge", "The allocatable for different resources of a node that are "
     "available for scheduling."),
    ("kube_horizontalpodautoscaler_spec_min_replicas", "gauge",
     "Lower limit for the number of pods that can be set by the autoscaler, default 1."),
    ("kube_horizontalpodautoscaler_spec_max_replicas", "gauge",
     "Upper limit for the number of pods that can be set by the autoscaler; cannot be smaller than MinReplicas."),
    ("kube_horizontalpodautoscaler_status_current_replicas", "gauge",
     "Current number of replicas of pods managed by this autoscaler."),
    ("kube_horizontalpodautoscaler_status_desired_replicas", "gauge",
     "Desired number of replicas of pods managed by this autoscaler."),
    ("kube_persistentvolumeclaim_status_phase", "gauge",
     "The phase the persistent volume claim is currently in."),
    ("kube_namespace_status_phase", "gauge", "kubernetes namespace status phase."),
    ("kube_endpoint_address", "gauge", "Information about Endpoint addresses."),
)
POD_PHASES = ("Pending", "Succeeded", "Failed", "Unknown", "Running")
BOOL3 = ("true", "false", "unknown")
UNITS = {"cpu": "core", "memory": "byte", "ephemeral-storage": "byte", "pods": "integer"}


def _add(out: Lines, family: str, labels: dict[str, object], value: float) -> None:
    out.setdefault(family, []).append(sample(family, labels, value))


def _bool3(out: Lines, family: str, base: dict[str, object], key: str, status: str) -> None:
    s = (status or "Unknown").lower()
    for v in BOOL3:
        _add(out, family, {**base, key: v}, 1 if s == v else 0)


def _resources(out: Lines, family: str, base: dict[str, object], res: dict[str, Any]) -> None:
    for name in sorted(res):
        unit = UNITS.get(name) or ("byte" if name.startswith("hugepages-") else "integer")
        _add(out, family, {**base, "resource": name.replace(".", "_").replace("/", "_"), "unit": unit},
             parse_quantity(res[name]))


def pod_lines(pod: Obj) -> Lines:
    out: Lines = {}
    m, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    base: dict[str, object] = {"namespace": m.get("namespace", ""), "pod": m["name"], "uid": m.get("uid", "")}
    ref = controller_ref(pod) or {}
    node = spec.get("nodeName", "")
    _add(out, "kube_pod_info", {**base, "host_ip": status.get("hostIP", ""), "pod_ip": status.get("podIP", ""),
                                "node": node, "created_by_kind": ref.get("kind", ""),
                                "created_by_name": ref.get("name", ""),
                                "priority_class": spec.get("priorityClassName", ""),
                                "host_network": str(bool(spec.get("hostNetwork"))).lower()}, 1)
    _add(out, "kube_pod_owner", {**base, "owner_kind": ref.get("kind", "<none>"),
                                 "owner_name": ref.get("name", "<none>"),
                                 "owner_is_controller": "true" if ref else "<none>"}, 1)
    phase = status.get("phase", "")
    for p in POD_PHASES:
        _add(out, "kube_pod_status_phase", {**base, "phase": p}, 1 if phase == p else 0)
    conds = {c.get("type"): c.get("status", "") for c in status.get("conditions") or ()}
    if "Ready" in conds:
        _bool3(out, "kube_pod_status_ready", base, "condition", conds["Ready"])
    if "PodScheduled" in conds:
        _bool3(out, "kube_pod_status_scheduled", base, "condition", conds["PodScheduled"])
    specs = {c.get("name"): c for c in spec.get("containers") or ()}
    for cs in status.get("containerStatuses") or ():
        cb = {**base, "container": cs.get("name", "")}
        state = cs.get("state") or {}
        _add(out, "kube_pod_container_info", {**cb, "image_spec": (specs.get(cs.get("name")) or {}).get("image", ""),
                                              "image": cs.get("image", ""), "image_id": cs.get("imageID", ""),
                                              "container_id": cs.get("containerID", "")}, 1)
        _add(out, "kube_pod_container_status_ready", cb, 1 if cs.get("ready") else 0)
        _add(out, "kube_pod_container_status_running", cb, 1 if "running" in state else 0)
        _add(out, "kube_pod_container_status_waiting", cb, 1 if "waiting" in state else 0)
        _add(out, "kube_pod_container_status_terminated", cb, 1 if "terminated" in state else 0)
        _add(out, "kube_pod_container_status_restarts_total", cb, int(cs.get("restartCount") or 0))
        if "waiting" in state and (state["waiting"] or {}).get("reason"):
            _add(out, "kube_pod_container_status_waiting_reason", {**cb, "reason": state["waiting"]["reason"]}, 1)
        if "terminated" in state and (state["terminated"] or {}).get("reason"):
            _add(out, "kube_pod_container_status_terminated_reason",
                 {**cb, "reason": state["terminated"]["reason"]}, 1)
        last = ((cs.get("lastState") or {}).get("terminated") or {}).get("reason")
        if last:
            _add(out, "kube_pod_container_status_last_terminated_reason", {**cb, "reason": last}, 1)
    for name, c in specs.items():
        res = c.get("resources") or {}
        cb = {**base, "container": name, "node": node}
        _resources(out, "kube_pod_container_resource_requests", cb, res.get("requests") or {})
        _resources(out, "kube_pod_container_resource_limits", cb, res.get("limits") or {})
    return out


def deployment_lines(d: Obj) -> Lines:
    out: Lines = {}
    m, spec, status = d["metadata"], d.get("spec") or {}, d.get("status") or {}
    base: dict[str, object] = {"namespace": m.get("namespace", ""), "deployment": m["name"]}
    _add(out, "kube_deployment_spec_replicas", base, int(spec.get("replicas", 1) or 0))
    for fam, key in (("kube_deployment_status_replicas", "replicas"),
                     ("kube_deployment_status_replicas_ready", "readyReplicas"),
                     ("kube_deployment_status_replicas_available", "availableReplicas"),
                     ("kube_deployment_status_replicas_unavailable", "unavailableReplicas"),
                     ("kube_deployment_status_replicas_updated", "updatedReplicas"),
                     ("kube_deployment_status_observed_generation", "observedGeneration")):
        _add(out, fam, base, int(status.get(key) or 0))
    _add(out, "kube_deployment_metadata_generation", base, int(m.get("generation") or 0))
    for c in status.get("conditions") or ():
        _bool3(out, "kube_deployment_status_condition", {**base, "condition": c.get("type", "")}, "status",
               c.get("status", ""))
    return out


def statefulset_lines(s: Obj) -> Lines:
    out: Lines = {}
    base: dict[str, object] = {"namespace": s["metadata"].get("namespace", ""), "statefulset": s["metadata"]["name"]}
    _add(out, "kube_statefulset_replicas", base, int((s.get("spec") or {}).get("replicas", 1) or 0))
    _add(out, "kube_statefulset_status_replicas_ready", base, int((s.get("status") or {}).get("readyReplicas") or 0))
    return out


def daemonset_lines(s: Obj) -> Lines:
    out: Lines = {}
    base: dict[str, object] = {"namespace": s["metadata"].get("namespace", ""), "daemonset": s["metadata"]["name"]}
    status = s.get("status") or {}
    _add(out, "kube_daemonset_status_desired_number_scheduled", base, int(status.get("desiredNumberScheduled") or 0))
    _add(out, "kube_daemonset_status_number_ready", base, int(status.get("numberReady") or 0))
    return out


def node_lines(n: Obj) -> Lines:
    out: Lines = {}
    m, spec, status = n["metadata"], n.get("spec") or {}, n.get("status") or {}
    base: dict[str, object] = {"node": m["name"]}
    info = status.get("nodeInfo") or {}
    ip = next((a.get("address") for a in status.get("addresses") or () if a.get("type") == "InternalIP"), "")
    _add(out, "kube_node_info", {**base, "kernel_version": info.get("kernelVersion", ""),
                                 "os_image": info.get("osImage", ""),
                                 "container_runtime_version": info.get("containerRuntimeVersion", ""),
                                 "kubelet_version": info.get("kubeletVersion", ""),
                                 "provider_id": spec.get("providerID", ""), "internal_ip": ip}, 1)
    for c in status.get("conditions") or ():
        _bool3(out, "kube_node_status_condition", {**base, "condition": c.get("type", "")}, "status",
               c.get("status", ""))
    _add(out, "kube_node_spec_unschedulable", base, 1 if spec.get("unschedulable") else 0)
    _resources(out, "kube_node_status_allocatable", base, status.get("allocatable") or {})
    return out


def hpa_lines(h: Obj) -> Lines:
    out: Lines = {}
    spec, status = h.get("spec") or {}, h.get("status") or {}
    base: dict[str, object] = {"namespace": h["metadata"].get("namespace", ""),
                               "horizontalpodautoscaler": h["metadata"]["name"]}
    _add(out, "kube_horizontalpodautoscaler_spec_min_replicas", base, int(spec.get("minReplicas", 1) or 1))
    _add(out, "kube_horizontalpodautoscaler_spec_max_replicas", base, int(spec.get("maxReplicas") or 0))
    _add(out, "kube_horizontalpodautoscaler_status_current_replicas", base, int(status.get("currentReplicas") or 0))
    _add(out, "kube_horizontalpodautoscaler_status_desired_replicas", base, int(status.get("desiredReplicas") or 0))
    return out


def pvc_lines(p: Obj) -> Lines:
    out: Lines = {}
    base: dict[str, object] = {"namespace": p["metadata"].get("namespace", ""),
                               "persistentvolumeclaim": p["metadata"]["name"]}
    phase = (p.get("status") or {}).get("phase", "Pending")
    for ph in ("Lost", "Bound", "Pending"):
        _add(out, "kube_persistentvolumeclaim_status_phase", {**base, "phase": ph}, 1 if phase == ph else 0)
    return out


def namespace_lines(ns: Obj) -> Lines:
    out: Lines = {}
    phase = (ns.get("status") or {}).get("phase", "Active")
    for ph in ("Active", "Terminating"):
        _add(out, "kube_namespace_status_phase", {"namespace": ns["metadata"]["name"], "phase": ph},
             1 if phase == ph else 0)
    return out


def endpoints_lines(ep: Obj) -> Lines:
    out: Lines = {}
    base: dict[str, object] = {"namespace": ep["metadata"].get("namespace", ""), "endpoint": ep["metadata"]["name"]}
    for subset in ep.get("subsets") or ():
        for key, ready in (("addresses", "true"), ("notReadyAddresses", "false")):
            for a in subset.get(key) or ():
                _add(out, "kube_endpoint_address", {**base, "ip": a.get("ip", ""), "ready": ready}, 1)
    return out


COLLECTORS: tuple[tuple[str, str, Callable[[Obj], Lines]], ...] = (
    ("", "namespaces", namespace_lines), ("", "nodes", node_lines), ("", "pods", pod_lines),
    ("apps", "deployments", deployment_lines), ("apps", "statefulsets", statefulset_lines),
    ("apps", "daemonsets", daemonset_lines), ("autoscaling", "horizontalpodautoscalers", hpa_lines),
    ("", "persistentvolumeclaims", pvc_lines), ("", "endpoints", endpoints_lines),
)


class KubeStateMetrics:
    """Renders every collector's objects, caching each object's lines by (type, uid, resourceVersion)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[tuple[str, str], tuple[str, Lines]] = {}
        self._lock = threading.Lock()

    def collect(self, exp: Exposition) -> None:
        with self._lock:  # scrapes run on the loop, tests and benchmarks may render from their own thread
            self._collect(exp)

    def _collect(self, exp: Exposition) -> None:
        for name, type_, help_ in FAMILIES:
            exp.family(name, type_, help_)
        live: set[tuple[str, str]] = set()
        for group, plural, fn in COLLECTORS:
            rt = self.store.registry.storage_type(group, plural)
            if rt is None:
                continue
            objs = sorted(self.store.objects(rt), key=lambda o: (o["metadata"].get("namespace", ""),
                                                                 o["metadata"]["name"]))
            for obj in objs:
                key = (plural, obj["metadata"].get("uid", "") or obj["metadata"]["name"])
                rv = obj["metadata"].get("resourceVersion", "")
                hit = self._cache.get(key)
                if hit is None or hit[0] != rv:
                    hit = (rv, fn(obj))
                    self._cache[key] = hit
                live.add(key)
                for fam, lines in hit[1].items():
                    exp.extend(fam, lines)
        if len(self._cache) > len(live) * 2 + 100:
            self._cache = {k: v for k, v in self._cache.items() if k in live}
