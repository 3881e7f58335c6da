"""`prepare(action, kube)`: the one place an `Action` variant meets the code that carries it out.

The table below must name every variant of `domain.Action` (a test checks it against `ACTION_TYPES`),
so a new variant cannot be planned by an agent and then fail only when someone tries to execute it.
"""

from __future__ import annotations

from prophet_sre.domain import Action
from prophet_sre.tools.actions import drain, escalate, fleet, generic, network, node, scaling, workload
from prophet_sre.tools.actions.base import ActionSettings, PreparedAction
from prophet_sre.tools.actions.results import BlastRadius
from prophet_sre.tools.kube.client import KubeClient, KubeClients

IMPLEMENTATIONS: dict[str, type[PreparedAction]] = {
    "restart": workload.Restart,
    "scale": scaling.Scale,
    "rollback": workload.Rollback,
    "delete_pod": workload.DeletePod,
    "set_resources": workload.SetResources,
    "patch": generic.Patch,
    "recreate": generic.Recreate,
    "cordon": node.Cordon,
    "uncordon": node.Uncordon,
    "drain": drain.Drain,
    "quarantine": network.Quarantine,
    "adjust_hpa": scaling.AdjustHPA,
    "scale_nodes": fleet.ScaleNodes,
    "failover": fleet.Failover,
    "escalate": escalate.Escalate,
}


def prepare(action: Action, kube: KubeClient | KubeClients,
            settings: ActionSettings | None = None) -> PreparedAction:
    """Bind `action` to the client of its cluster (`KubeClients`: the context named by `target.cluster`).

    Nothing is read or written here; the returned object reads on `render()`/`blast_radius()` and
    writes only on `execute()`.
    """
    client = kube.for_context(action.target.cluster or None) if isinstance(kube, KubeClients) else kube
    return IMPLEMENTATIONS[action.type](action, client, settings)


def blast_radius(action: Action, kube: KubeClient | KubeClients,
                 settings: ActionSettings | None = None) -> BlastRadius:
    """How many pods, replicas and nodes `action` would touch now, and in which namespaces (reads only)."""
    return prepare(action, kube, settings).blast_radius()


__all__ = ["IMPLEMENTATIONS", "blast_radius", "prepare"]
