"""Fleet health: each workload cluster healthy, degraded or unreachable, with the evidence for it.

The verdict is CAPI's own, read from the Cluster: `RemoteConnectionProbe=False` means the management
cluster cannot reach the workload API (unreachable); any other key condition that is not True
(`Available`, `ControlPlaneAvailable`, `WorkersAvailable`, `InfrastructureReady`), a MachineDeployment
that is not Available, or a phase other than Provisioned means degraded. Our own probe of the workload
API (through its kubeconfig Secret) adds what CAPI may not have noticed yet - it cannot reach the API
from where Prophet runs - and the Node counts, as evidence. This module is pure: `FleetInventory.health`
does the I/O and calls `assess`.
"""

from __future__ import annotations

from dataclasses import dataclass

from prophet_sre.tools.capi.models import ClusterHealth, ClusterInfo, HealthState

HEALTHY_PHASES = frozenset({"Provisioned", ""})
"""An empty phase is a Cluster CAPI has not reconciled yet; conditions decide then."""


@dataclass(frozen=True)
class Probe:
    """What Prophet saw asking the workload cluster's own API server."""

    reachable: bool | None
    """True: answered; False: did not (ToolUnavailable); None: could not ask (no Secret, no permission)."""
    nodes_ready: tuple[int, int] | None = None
    error: str = ""


def assess(info: ClusterInfo, probe: Probe | None = None) -> ClusterHealth:
    """The health of one cluster from its CAPI view and (optionally) our probe of its API."""
    failing = info.failing()
    problems = [f"Cluster {info.name} has condition {c.describe()}" for c in failing]
    if info.phase not in HEALTHY_PHASES:
        problems.append(f"Cluster {info.name} is in phase {info.phase}")
    if probe is not None and probe.reachable is False:
        problems.append(f"Cluster {info.name} API server is unreachable from Prophet: {probe.error}")
    bad_mds = [md for md in info.machine_deployments if not md.ok]
    notes = [f"MachineDeployment {md.name}: {md.replicas.describe()}"
             + (f", phase {md.phase}" if md.phase else "") for md in bad_mds]
    state: HealthState = "degraded" if problems or bad_mds else "healthy"
    if state != "healthy":
        notes.append(f"workers {info.workers.describe()}; control plane {info.control_plane.describe()}")
    probe_down = info.conditions.get("RemoteConnectionProbe")
    if (probe_down is not None and probe_down.status == "False") or (probe and probe.reachable is False):
        state = "unreachable"
    if probe is not None and probe.reachable is None:
        notes.append(f"Cluster {info.name} API server not probed: {probe.error}")
    elif probe is not None and probe.nodes_ready and probe.nodes_ready[0] < probe.nodes_ready[1]:
        notes.append(f"{probe.nodes_ready[0]}/{probe.nodes_ready[1]} Nodes Ready in cluster {info.name}")
    if info.paused:
        notes.append(f"Cluster {info.name} is paused (spec.paused): Cluster API is not reconciling it")
    return ClusterHealth(name=info.name, namespace=info.namespace, provider=info.provider, state=state,
                         problems=problems, evidence=problems + notes, failing=failing,
                         nodes_ready=probe.nodes_ready if probe and probe.reachable else None)


__all__ = ["HEALTHY_PHASES", "Probe", "assess"]
