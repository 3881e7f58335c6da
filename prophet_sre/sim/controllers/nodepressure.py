"""Node pressure as the kubelet reports it: conditions, taints, events and the evicted pod's status.

One table per pressure type (memory, disk, pid) holds the kubelet's exact condition reasons and
messages, the taint the node lifecycle controller adds, and the resource and thresholds the eviction
manager names in `The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. `
- the message that ends up in the pod's status, its `Evicted` event and K8sGPT's report.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from prophet_sre.sim.controllers.common import parse_quantity
from prophet_sre.sim.validation_quantity import BINARY_SI, format_quantity

Obj = dict[str, Any]


@dataclass(frozen=True)
class Pressure:
    condition: str
    on: tuple[str, str]
    off: tuple[str, str]
    taint: str
    resource: str
    event_on: str
    event_off: str


PRESSURE: dict[str, Pressure] = {
    "memory": Pressure("MemoryPressure", ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
                       ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"), "memory-pressure",
                       "memory", "NodeHasInsufficientMemory", "NodeHasSufficientMemory"),
    "disk": Pressure("DiskPressure", ("KubeletHasDiskPressure", "kubelet has disk pressure"),
                     ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"), "disk-pressure",
                     "ephemeral-storage", "NodeHasDiskPressure", "NodeHasNoDiskPressure"),
    "pid": Pressure("PIDPressure", ("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
                    ("KubeletHasSufficientPID", "kubelet has sufficient PID available"), "pid-pressure", "pids",
                    "NodeHasInsufficientPID", "NodeHasSufficientPID"),
}


def _thresholds(kind: str, node: Obj) -> tuple[str, str]:
    """Default (threshold, available): the kubelet's eviction-hard defaults, half of it left."""
    if kind == "memory":
        return "100Mi", "50Mi"
    if kind == "disk":
        cap = parse_quantity(((node.get("status") or {}).get("capacity") or {}).get("ephemeral-storage") or 0)
        ki = Decimal(int(cap * 0.10) // 1024 * 1024)
        return format_quantity(ki, BINARY_SI), format_quantity(Decimal(int(ki) // 2048 * 1024), BINARY_SI)
    return "1000", "500"


def eviction_message(kind: str, node: Obj, params: dict[str, Any]) -> str:
    """The eviction manager's message (with its trailing space), thresholds from the fault's params."""
    threshold, available = _thresholds(kind, node)
    threshold = str(params.get("threshold", threshold))
    available = str(params.get("available", available))
    return (f"The node was low on resource: {PRESSURE[kind].resource}. Threshold quantity: {threshold}, "
            f"available: {available}. ")


def evicted_status(pod: Obj, message: str, now: str) -> Obj:
    """The status the kubelet posts for a pod it evicted: Failed/Evicted, containers killed."""
    status = copy.deepcopy(pod.get("status") or {})
    status.update(phase="Failed", reason="Evicted", message=message)
    conds = [c for c in status.get("conditions") or () if c.get("type") != "DisruptionTarget"]
    for c in conds:
        if c.get("type") in ("Ready", "ContainersReady") and c.get("status") != "False":
            c.update(status="False", lastTransitionTime=now)
        if c.get("type") == "PodReadyToStartContainers":
            c.update(status="False", lastTransitionTime=now)
    conds.insert(0, {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None, "lastTransitionTime": now,
                     "reason": "TerminationByKubelet", "message": message})
    status["conditions"] = conds
    for cs in status.get("containerStatuses") or ():
        running = (cs.get("state") or {}).get("running")
        if running is not None:
            cs["state"] = {"terminated": {"exitCode": 137, "reason": "Error", "startedAt": running.get("startedAt"),
                                          "finishedAt": now, "containerID": cs.get("containerID", "")}}
        cs["ready"] = False
        cs["started"] = False
    return status
