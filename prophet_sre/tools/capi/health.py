"""Fleet health: each workload cluster healthy, degraded or unreachable, with the evidence for it.

The verdict is CAPI's own, read from the Cluster: `RemoteConnectionProbe=False` means the management
cluster cannot reach the workload API (unreachable); any other key condition that is not True
(`Available`, `ControlPlaneAvailable`, `WorkersAvailable`, `InfrastructureReady`), a MachineDeployment
that is not Available, or a phase other than Provisioned means degraded. Our own probe of the workload
API (through its kubeconfig Secret) adds what CAPI may not have noticed yet - it cannot reach the API
from where Prophet runs, or most of its kubelets stopped renewing their heartbeat Leases (seen ~20 s
after they stop, where the node controller waits 40 s and CAPI reports after its next reconcile) - and
the Node counts, as evidence. This module is pure: `FleetInventory.health`
does the I/O and calls `assess`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prophet_sre.tools.capi.models import ClusterHealth, ClusterInfo, HealthState
from prophet_sre.tools.kube.objects import parse_time

HEALTHY_PHASES = frozenset({"Provisioned", ""})
"""An empty phase is a Cluster CAPI has not reconciled yet; conditions decide then."""


@dataclass(frozen=True)
class Probe:
    """What Prophet saw asking the workload cluster's own API server."""

    reachable: bool | None
    """True: answered; False: did not (ToolUnavailable); None: could not ask (no Secret, no permission)."""
    nodes_ready: tuple[int, int] | None = None
    error: str = ""
    silent_nodes: tuple[int, int] = (0, 0)
    """(silent, total) Node heartbeat Leases: silent when more than half its leaseDurationSeconds behind the
    cluster's newest Lease (kubelets renew every quarter duration, 10 s by default)."""
    silent_for_s: float = 0.0
    """How far the most silent Lease is behind the newest one."""


def silent_leases(leases: list[dict[str, Any]]) -> tuple[tuple[int, int], float]:
    """(silent, total) and the largest lag, for the Leases of `kube-node-lease` (see `Probe.silent_nodes`).

    Measured against the newest renewal in the same cluster, not against our clock: no skew between
    Prophet and the cluster, and a control plane that is slow to write every Lease delays them all alike.
    When every kubelet stops there is nothing to compare with, and CAPI's own conditions tell (later)."""
    renewed = []
    for lease in leases:
        spec = lease.get("spec") or {}
        t = parse_time(spec.get("renewTime"))
        duration = spec.get("leaseDurationSeconds")
        if t is not None and isinstance(duration, int) and duration > 0:
            renewed.append((t, duration))
    if not renewed:
        return (0, 0), 0.0
    newest = max(t for t, _ in renewed)
    lags = [((newest - t).total_seconds(), d) for t, d in renewed]
    silent = [lag for lag, d in lags if lag > d / 2]
    return (len(silent), len(renewed)), max(silent, default=0.0)


def assess(info: ClusterInfo, probe: Probe | None = None) -> ClusterHealth:
    """The health of one cluster from its CAPI view and (optionally) our probe of its API."""
    failing = info.failing()
    problems = [f"Cluster {info.name} has condition {c.describe()}" for c in failing]
    if info.phase not in HEALTHY_PHASES:
        problems.append(f"Cluster {info.name} is in phase {info.phase}")
    if probe is not None and probe.reachable is False:
        problems.append(f"Cluster {info.name} API server is unreachable from Prophet: {probe.error}")
    silent, total = probe.silent_nodes if probe is not None else (0, 0)
    if silent * 2 > total > 0:  # most kubelets went quiet: the node controller says so after 40 s, CAPI later
        problems.append(f"{silent}/{total} Nodes of cluster {info.name} stopped renewing their heartbeat Lease "
                        f"(up to {probe.silent_for_s:.0f} s behind the newest; kubelets renew every 10 s)")
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


__all__ = ["HEALTHY_PHASES", "Probe", "assess", "silent_leases"]
