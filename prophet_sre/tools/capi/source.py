"""`CapiSource`: degraded and unreachable workload clusters as findings (`Finding(source=capi)`).

Why a FindingSource: a cluster-level failure explains everything that goes wrong inside that cluster
(pods Pending, endpoints empty, latency up), so the diagnoser must see it beside the per-object findings
- and it names the remedies the planner can choose: `failover` (traffic) and `scale_nodes`
(MachineDeployment). One finding per unhealthy Cluster, with CAPI's condition texts
(`Cluster gcp has condition Available=False, reason NotAvailable: ...`), plus one per MachineDeployment
that is not Available, whose parent is its Cluster.

Scope: a namespace scope is about workload namespaces, not the management cluster's, so it does not
filter these (as K8sGPT's Node analyzer ignores it); filters do: `Cluster`, `MachineDeployment`.
"""

from __future__ import annotations

from typing import Any

from prophet_sre.domain import Finding, FindingSource, ResourceRef, Severity
from prophet_sre.tools import analyze
from prophet_sre.tools.capi.inventory import FleetInventory
from prophet_sre.tools.capi.models import ClusterHealth, ClusterInfo, MachineDeploymentInfo

ANALYZER = "ClusterAPI"
KINDS = ("Cluster", "MachineDeployment")


class CapiSource:
    """Findings for the unhealthy clusters of one management cluster."""

    name = "capi"

    def __init__(self, inventory: FleetInventory, *, probe: bool = True) -> None:
        self.inventory = inventory
        self.probe = probe
        """Also ask each workload API server (through its kubeconfig Secret); off: CAPI's view only."""

    def available(self) -> bool:
        """The management cluster serves Cluster API (else Prophet runs against a single cluster)."""
        return self.inventory.served()

    def findings(self, scope: analyze.Scope) -> analyze.SourceResult:
        wanted = {k.lower() for k in scope.filters}
        if wanted and not wanted & {k.lower() for k in KINDS}:
            return analyze.SourceResult()
        infos = self.inventory.clusters()
        fleet = self.inventory.health(probe=self.probe, infos=infos)
        out: list[Finding] = []
        for info, h in zip(infos, fleet.clusters, strict=True):
            cluster_ref = self._ref("Cluster", info.namespace, info.name)
            if h.state != "healthy" and (not wanted or "cluster" in wanted):
                out.append(cluster_finding(cluster_ref, info, h))
            if not wanted or "machinedeployment" in wanted:
                out += [md_finding(self._ref("MachineDeployment", md.namespace, md.name), md, cluster_ref)
                        for md in info.machine_deployments if not md.ok]
        notes = [f"{len(fleet.clusters)} workload cluster(s): "
                 + ", ".join(f"{c.name} {c.state}" for c in fleet.clusters)] if fleet.clusters else []
        return analyze.SourceResult(out, notes)

    def _ref(self, kind: str, namespace: str, name: str) -> ResourceRef:
        return ResourceRef(cluster=self.inventory.kube.cluster, kind=kind, namespace=namespace, name=name)


def cluster_finding(ref: ResourceRef, info: ClusterInfo, h: ClusterHealth) -> Finding:
    errors = h.problems or h.evidence[:1]
    evidence: dict[str, Any] = {
        "state": h.state, "provider": info.provider, "phase": info.phase, "workload_cluster": info.name,
        "workers": info.workers.model_dump(), "control_plane": info.control_plane.model_dump(),
        "details": h.evidence}
    if h.nodes_ready:
        evidence["nodes_ready"] = f"{h.nodes_ready[0]}/{h.nodes_ready[1]}"
    return Finding(source=FindingSource.CAPI, ref=ref, errors=errors, analyzer=ANALYZER, evidence=evidence,
                   severity=Severity.CRITICAL if h.state == "unreachable" else Severity.ERROR)


def md_finding(ref: ResourceRef, md: MachineDeploymentInfo, parent: ResourceRef) -> Finding:
    text = (f"MachineDeployment {md.namespace}/{md.name} has condition {md.available.describe()}"
            if md.available else
            f"MachineDeployment {md.namespace}/{md.name} has {md.replicas.describe()}")
    evidence = {"workload_cluster": md.cluster, "phase": md.phase, "replicas": md.replicas.model_dump()}
    return Finding(source=FindingSource.CAPI, ref=ref, errors=[text], parent=parent, analyzer=ANALYZER,
                   evidence=evidence)


__all__ = ["ANALYZER", "CapiSource", "cluster_finding", "md_finding"]
