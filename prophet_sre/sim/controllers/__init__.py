"""The simulator's controllers: what kube-controller-manager, kube-scheduler and the kubelets do.

`default_controllers` returns them in an order that lets one `ControllerManager.drain()` round carry
a change all the way through (Deployment -> ReplicaSet -> pods -> binding -> kubelet -> endpoints),
so a burst of creations settles in few rounds.
"""

from __future__ import annotations

from prophet_sre.sim.controllers.base import Controller, ControllerContext, ControllerManager
from prophet_sre.sim.controllers.cronjob import CronJobController
from prophet_sre.sim.controllers.daemonset import DaemonSetController
from prophet_sre.sim.controllers.deployment import DeploymentController
from prophet_sre.sim.controllers.disruption import DisruptionController
from prophet_sre.sim.controllers.endpoints import EndpointsController
from prophet_sre.sim.controllers.endpointslice import EndpointSliceController
from prophet_sre.sim.controllers.gc import GarbageCollector
from prophet_sre.sim.controllers.hpa import HorizontalPodAutoscalerController
from prophet_sre.sim.controllers.ipam import ServiceIPAllocator
from prophet_sre.sim.controllers.job import JobController
from prophet_sre.sim.controllers.kubelet import KubeletController
from prophet_sre.sim.controllers.namespace import NamespaceController
from prophet_sre.sim.controllers.nodelifecycle import NodeLifecycleController
from prophet_sre.sim.controllers.nodestatus import NodeStatusController
from prophet_sre.sim.controllers.quota import ResourceQuotaController
from prophet_sre.sim.controllers.replicaset import ReplicaSetController
from prophet_sre.sim.controllers.runtime import ContainerRuntime, DefaultRuntime, PullResult, RunPlan
from prophet_sre.sim.controllers.scheduler import SchedulerController
from prophet_sre.sim.controllers.statefulset import StatefulSetController
from prophet_sre.sim.controllers.volume import PersistentVolumeController

__all__ = [
    "ContainerRuntime", "Controller", "ControllerContext", "ControllerManager", "DefaultRuntime",
    "PullResult", "RunPlan", "ServiceIPAllocator", "default_controllers",
]


def default_controllers(ctx: ControllerContext) -> list[Controller]:
    """One instance of every core controller, producers before consumers."""
    return [
        NamespaceController(ctx),
        HorizontalPodAutoscalerController(ctx),
        DeploymentController(ctx),
        ReplicaSetController(ctx),
        StatefulSetController(ctx),
        DaemonSetController(ctx),
        CronJobController(ctx),
        JobController(ctx),
        PersistentVolumeController(ctx),
        SchedulerController(ctx),
        KubeletController(ctx),
        NodeStatusController(ctx),
        NodeLifecycleController(ctx),
        EndpointsController(ctx),
        EndpointSliceController(ctx),
        DisruptionController(ctx),
        ResourceQuotaController(ctx),
        GarbageCollector(ctx),
    ]
