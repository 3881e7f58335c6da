"""Cluster API v1beta2 status, computed from what the workload cluster's Nodes say.

Pure functions: given a Machine and its Node (or nothing), a MachineDeployment and its Machines, and so
on up to the Cluster, they return the `status` the CAPI controllers would write - phases, replica
counters and conditions with CAPI's reasons and message shapes (`* MachineDeployment aws-md-0: 0
available replicas, at least 2 required ...`). Condition times are left out; `conditions.merge` adds
them against the stored object. No I/O here, which is what makes the health reflection unit-testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prophet_sre.sim.clock import parse_time, rfc3339
from prophet_sre.sim.controllers.kubelet import go_duration
from prophet_sre.sim.fleet import conditions as c
from prophet_sre.sim.fleet import objects as o
from prophet_sre.sim.fleet.conditions import FALSE, TRUE, UNKNOWN, cond
from prophet_sre.sim.fleet.nodes import NodeView

Obj = dict[str, Any]
PROVISION_S = 6.0
"""Sim seconds from Machine creation until its instance is up and the Node registers."""


@dataclass(frozen=True)
class Probe:
    """The management cluster's view of one workload cluster's API server."""

    ok: bool = True
    last_ok: str = ""


def age_s(obj: Obj, now: datetime) -> float:
    created = parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    return 0.0 if created is None else (now - created).total_seconds()


def _since_s(ts: str, now: datetime) -> float:
    t = parse_time(ts)
    return 0.0 if t is None else (now - t).total_seconds()


def _node_conditions(node: NodeView | None, machine: Obj, probe: Probe) -> tuple[Obj, Obj]:
    """NodeReady and NodeHealthy of a Machine."""
    if not probe.ok:
        msg = f"Remote connection probe failed, probe last succeeded at {probe.last_ok}"
        return (cond("NodeReady", UNKNOWN, "ConnectionDown", msg), cond("NodeHealthy", UNKNOWN, "ConnectionDown", msg))
    if node is None:
        pid = machine["spec"].get("providerID")
        msg = (f"Waiting for a Node with spec.providerID {pid} to exist" if pid
               else f"Waiting for {machine['spec']['infrastructureRef']['kind']} to report spec.providerID")
        return (cond("NodeReady", UNKNOWN, "NodeDoesNotExist", msg), cond("NodeHealthy", UNKNOWN, "NodeDoesNotExist",
                                                                          msg))
    detail = f"* Node.Ready: {node.ready_message}" if node.ready_message else "* Node.Ready: Condition is not True"
    if node.ready == TRUE:
        ready = cond("NodeReady", TRUE, "NodeReady")
    elif node.ready == FALSE:
        ready = cond("NodeReady", FALSE, "NodeNotReady", detail)
    else:
        ready = cond("NodeReady", UNKNOWN, "NodeReadyUnknown", detail)
    if node.ready == TRUE and not node.problems:
        healthy = cond("NodeHealthy", TRUE, "NodeHealthy")
    elif node.ready == FALSE or node.problems:
        msg = "\n".join([detail] * (node.ready != TRUE) + [f"* Node.{p}: Condition is True" for p in node.problems])
        healthy = cond("NodeHealthy", FALSE, "NodeNotHealthy", msg)
    else:
        healthy = cond("NodeHealthy", UNKNOWN, "NodeHealthyUnknown", detail)
    return ready, healthy


def health_check(machine: Obj, node: NodeView | None, mhc: Obj | None, now: datetime) -> Obj | None:
    """HealthCheckSucceeded for a Machine a MachineHealthCheck targets (None when none does)."""
    if mhc is None or o.CONTROL_PLANE_LABEL in (machine["metadata"].get("labels") or {}):
        return None
    checks = mhc["spec"].get("checks") or {}
    if node is None:
        startup = float(checks.get("nodeStartupTimeoutSeconds") or 600)
        if machine["spec"].get("providerID") and age_s(machine, now) > startup:
            return cond("HealthCheckSucceeded", FALSE, "NodeStartupTimeout",
                        f"Health check failed: Node failed to report startup in {go_duration(startup)}")
        return cond("HealthCheckSucceeded", TRUE, "HealthCheckSucceeded")
    for rule in checks.get("unhealthyNodeConditions") or ():
        timeout = float(rule.get("timeoutSeconds") or 0)
        if rule.get("type") == "Ready" and rule.get("status") == node.ready and \
                _since_s(node.ready_since, now) > timeout:
            return cond("HealthCheckSucceeded", FALSE, "UnhealthyNode",
                        f"Health check failed: Condition Ready on Node {node.name} was {node.ready} for more than "
                        f"{go_duration(timeout)}")
    return cond("HealthCheckSucceeded", TRUE, "HealthCheckSucceeded")


def machine_status(machine: Obj, node: NodeView | None, now: datetime, *, probe: Probe = Probe(),
                   mhc: Obj | None = None, drained: bool = False) -> Obj:
    """A Machine's v1beta2 status: phase, nodeRef, addresses and conditions."""
    old = machine.get("status") or {}
    deleting = bool(machine["metadata"].get("deletionTimestamp"))
    infra_ready = bool(machine["spec"].get("providerID")) or node is not None
    if deleting:
        phase = "Deleting"
    elif node is not None or old.get("nodeRef"):
        phase = "Running"
    elif infra_ready:
        phase = "Provisioned"
    else:
        phase = "Provisioning"
    infra_kind = machine["spec"]["infrastructureRef"]["kind"]
    infra = (cond("InfrastructureReady", TRUE, "Ready") if infra_ready else
             cond("InfrastructureReady", FALSE, "NotReady", f"{infra_kind} status.initialization.provisioned is false"))
    node_ready, node_healthy = _node_conditions(node, machine, probe) if infra_ready else (
        cond("NodeReady", UNKNOWN, "NodeDoesNotExist", f"Waiting for {infra_kind} to report spec.providerID"),
        cond("NodeHealthy", UNKNOWN, "NodeDoesNotExist", f"Waiting for {infra_kind} to report spec.providerID"))
    hc = health_check(machine, node, mhc, now)
    inputs = [infra, node_healthy] + ([hc] if hc else [])
    if deleting:
        stage = "DeletingNode" if drained else "DrainingNode"
        ready = cond("Ready", FALSE, "NotReady", f"* Deleting: Machine deletion in progress, stage: {stage}")
        deleting_c = cond("Deleting", TRUE, stage, "Drain not completed yet" if not drained else "")
    else:
        ready = _summary("Ready", inputs, "Ready", "NotReady", "ReadyUnknown")
        deleting_c = cond("Deleting", FALSE, "NotDeleting")
    available = (cond("Available", TRUE, "Available") if ready["status"] == TRUE
                 else cond("Available", FALSE, "NotReady", "* Ready: Machine is not ready"))
    conds = [available, ready, cond("UpToDate", TRUE, "UpToDate"),
             cond("BootstrapConfigReady", TRUE, "Ready"), infra, node_ready, node_healthy]
    if hc:
        conds.append(hc)
    conds += [deleting_c, cond("Paused", FALSE, "NotPaused")]
    status: Obj = {"conditions": conds, "phase": phase,
                   "initialization": {"infrastructureProvisioned": infra_ready, "bootstrapDataSecretCreated": True},
                   "observedGeneration": machine["metadata"].get("generation", 1)}
    if node is not None:
        status["nodeRef"] = {"name": node.name}
        status["nodeInfo"] = node.node_info
        status["addresses"] = [{"type": a["type"], "address": a["address"]} for a in node.addresses]
    elif old.get("nodeRef"):
        status.update({k: old[k] for k in ("nodeRef", "nodeInfo", "addresses") if k in old})
    if machine["spec"].get("failureDomain"):
        status["failureDomain"] = machine["spec"]["failureDomain"]
    same = old.get("phase") == phase and old.get("lastUpdated")
    status["lastUpdated"] = old["lastUpdated"] if same else rfc3339(now)
    return status


def _summary(type_: str, inputs: list[Obj], ok: str, bad: str, unknown: str) -> Obj:
    falses = [x for x in inputs if x["status"] == FALSE]
    unknowns = [x for x in inputs if x["status"] == UNKNOWN]
    if not falses and not unknowns:
        return cond(type_, TRUE, ok)
    picked = falses or unknowns
    lines = []
    for x in picked:
        msg = x.get("message", "")
        lines.append(f"* {x['type']}:" + ("\n" + c.indent(msg) if "\n" in msg or msg.startswith("*")
                                           else f" {msg}" if msg else ""))
    return cond(type_, FALSE if falses else UNKNOWN, bad if falses else unknown, "\n".join(lines))


@dataclass(frozen=True)
class Counts:
    replicas: int
    ready: int
    available: int
    up_to_date: int

    def as_status(self, desired: int | None = None) -> Obj:
        out: Obj = {} if desired is None else {"desiredReplicas": desired}
        out.update({"replicas": self.replicas, "readyReplicas": self.ready, "availableReplicas": self.available,
                    "upToDateReplicas": self.up_to_date})
        return out


def count(machines: list[Obj]) -> Counts:
    def has(m: Obj, t: str) -> bool:
        return c.is_true(m, t)
    live = [m for m in machines if not m["metadata"].get("deletionTimestamp")]
    return Counts(len(machines), sum(has(m, "Ready") for m in machines),
                  sum(has(m, "Available") for m in machines), sum(has(m, "UpToDate") for m in live))


def _machines_ready(machines: list[Obj], type_: str = "MachinesReady") -> Obj:
    if not machines:
        return cond(type_, TRUE, "NoReplicas")
    return c.aggregate(type_, [(m["metadata"]["name"], c.get(m, "Ready")) for m in machines],
                       true_reason="Ready", false_reason="NotReady", unknown_reason="ReadyUnknown", noun="Machine")


def _scaling(desired: int, current: int) -> list[Obj]:
    up = (cond("ScalingUp", TRUE, "ScalingUp", f"Scaling up from {current} to {desired} replicas")
          if desired > current else cond("ScalingUp", FALSE, "NotScalingUp"))
    down = (cond("ScalingDown", TRUE, "ScalingDown", f"Scaling down from {current} to {desired} replicas")
            if desired < current else cond("ScalingDown", FALSE, "NotScalingDown"))
    return [up, down]


def _selector(obj: Obj) -> str:
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def scalable_status(obj: Obj, machines: list[Obj], *, with_available: bool) -> Obj:
    """MachineDeployment (`with_available`) or MachineSet status from the machines it owns."""
    desired = int(obj["spec"].get("replicas") or 0)
    n = count(machines)
    if n.replicas > desired:
        phase = "ScalingDown"
    elif desired > n.ready:
        phase = "ScalingUp"
    else:
        phase = "Running"
    conds: list[Obj] = []
    if with_available:
        if n.available >= desired:
            conds.append(cond("Available", TRUE, "Available"))
        else:
            conds.append(cond("Available", FALSE, "NotAvailable",
                              f"{n.available} available replicas, at least {desired} required "
                              f"(spec.strategy.rollout.maxUnavailable is 0, spec.replicas is {desired})"))
    conds += [_machines_ready(machines), cond("MachinesUpToDate", TRUE, "UpToDate")]
    if with_available:
        conds.append(cond("RollingOut", FALSE, "NotRollingOut"))
    conds += _scaling(desired, n.replicas)  # CAPI counts every Machine, deleting ones included
    conds += [cond("Remediating", FALSE, "NotRemediating"), cond("Deleting", FALSE, "NotDeleting"),
              cond("Paused", FALSE, "NotPaused")]
    status: Obj = {"conditions": conds, "observedGeneration": obj["metadata"].get("generation", 1),
                   "selector": _selector(obj), **n.as_status()}
    if with_available:
        status["phase"] = phase
    return status


def control_plane_status(kcp: Obj, machines: list[Obj]) -> Obj:
    """KubeadmControlPlane status: available while at least one control-plane machine is ready."""
    n = count(machines)
    if n.ready:
        available = cond("Available", TRUE, "Available")
    else:
        available = cond("Available", FALSE, "NotAvailable",
                         "There are no Machines with healthy control plane components, at least 1 required")
    labels = kcp["metadata"].get("labels") or {}
    conds = [available, cond("CertificatesAvailable", TRUE, "Available"), cond("Initialized", TRUE, "Initialized"),
             cond("EtcdClusterHealthy", TRUE if n.ready else UNKNOWN, "Healthy" if n.ready else "HealthUnknown"),
             cond("ControlPlaneComponentsHealthy", TRUE if n.ready else UNKNOWN,
                  "Healthy" if n.ready else "HealthUnknown"),
             _machines_ready(machines), cond("MachinesUpToDate", TRUE, "UpToDate"),
             cond("RollingOut", FALSE, "NotRollingOut"),
             *_scaling(int(kcp["spec"].get("replicas") or 0), n.replicas),
             cond("Remediating", FALSE, "NotRemediating"), cond("Deleting", FALSE, "NotDeleting"),
             cond("Paused", FALSE, "NotPaused")]
    return {"conditions": conds, "observedGeneration": kcp["metadata"].get("generation", 1),
            "selector": f"{o.CLUSTER_NAME_LABEL}={labels.get(o.CLUSTER_NAME_LABEL, '')},{o.CONTROL_PLANE_LABEL}",
            "version": kcp["spec"].get("version", o.K8S_VERSION), "initialization": {"controlPlaneInitialized": True},
            **n.as_status()}


def health_check_status(mhc: Obj, machines: list[Obj]) -> Obj:
    """MachineHealthCheck status; remediation is short-circuited above `unhealthyLessThanOrEqualTo`."""
    total = len(machines)
    unhealthy = sum(1 for m in machines if c.status_of(m, "HealthCheckSucceeded") == FALSE)
    limit_text = str(((mhc["spec"].get("remediation") or {}).get("triggerIf") or {})
                     .get("unhealthyLessThanOrEqualTo", "100%"))
    limit = total * int(limit_text.rstrip("%")) // 100 if limit_text.endswith("%") else int(limit_text)
    if unhealthy > limit:
        allowed = cond("RemediationAllowed", FALSE, "TooManyUnhealthy",
                       f"Remediation is not allowed, the number of not started or unhealthy machines exceeds "
                       f"maxUnhealthy (total: {total}, unhealthy: {unhealthy}, maxUnhealthy: {limit_text})")
    else:
        allowed = cond("RemediationAllowed", TRUE, "RemediationAllowed")
    return {"conditions": [allowed, cond("Paused", FALSE, "NotPaused")], "expectedMachines": total,
            "currentHealthy": total - unhealthy, "remediationsAllowed": max(0, limit - unhealthy),
            "observedGeneration": mhc["metadata"].get("generation", 1),
            "targets": sorted(m["metadata"]["name"] for m in machines)}


def cluster_status(cluster: Obj, kcp: Obj | None, mds: list[Obj], cp_machines: list[Obj],
                   worker_machines: list[Obj], probe: Probe, failure_domains: list[Obj]) -> Obj:
    """The Cluster's phase, replica summaries and the v1beta2 condition set."""
    probe_c = (cond("RemoteConnectionProbe", TRUE, "ProbeSucceeded") if probe.ok else
               cond("RemoteConnectionProbe", FALSE, "ProbeFailed",
                    f"Remote connection probe failed, probe last succeeded at {probe.last_ok}"))
    kcp_avail = c.get(kcp, "Available") if kcp else None
    if kcp_avail is None:
        cp_c = cond("ControlPlaneAvailable", UNKNOWN, "ObjectDoesNotExist", "KubeadmControlPlane does not exist")
    else:
        cp_c = cond("ControlPlaneAvailable", kcp_avail["status"],
                    {TRUE: "Available", FALSE: "NotAvailable"}.get(kcp_avail["status"], "AvailableUnknown"),
                    kcp_avail.get("message", ""))
    if mds:
        workers_c = c.aggregate("WorkersAvailable", [(m["metadata"]["name"], c.get(m, "Available")) for m in mds],
                                true_reason="Available", false_reason="NotAvailable",
                                unknown_reason="AvailableUnknown", noun="MachineDeployment")
    else:
        workers_c = cond("WorkersAvailable", TRUE, "NoWorkers")
    infra_c = cond("InfrastructureReady", TRUE, "Ready")
    gates = [probe_c, infra_c, cp_c, workers_c]
    available = _summary("Available", gates, "Available", "NotAvailable", "AvailableUnknown")
    scaling = []
    for type_ in ("ScalingUp", "ScalingDown"):
        scaling.append(c.aggregate(type_, [(m["metadata"]["name"], _negate(c.get(m, type_))) for m in mds],
                                   true_reason=f"Not{type_}", false_reason=type_, unknown_reason=f"{type_}Unknown",
                                   noun="MachineDeployment"))
    scaling = [_flip(s) for s in scaling]
    conds = [available, infra_c, cond("ControlPlaneInitialized", TRUE, "Initialized"), cp_c, workers_c,
             _machines_ready(cp_machines, "ControlPlaneMachinesReady"),
             _machines_ready(worker_machines, "WorkerMachinesReady"),
             cond("ControlPlaneMachinesUpToDate", TRUE, "UpToDate"), cond("WorkerMachinesUpToDate", TRUE, "UpToDate"),
             probe_c, cond("RollingOut", FALSE, "NotRollingOut"), *scaling,
             cond("Remediating", FALSE, "NotRemediating"), cond("TopologyReconciled", TRUE, "ReconcileSucceeded"),
             cond("Deleting", FALSE, "NotDeleting"), cond("Paused", FALSE, "NotPaused")]
    cp_n, w_n = count(cp_machines), count(worker_machines)
    cp_desired = int((kcp or {}).get("spec", {}).get("replicas") or 0)
    w_desired = sum(int(m["spec"].get("replicas") or 0) for m in mds)
    return {"conditions": conds, "phase": "Provisioned", "observedGeneration": cluster["metadata"].get("generation", 1),
            "initialization": {"infrastructureProvisioned": True, "controlPlaneInitialized": True},
            "controlPlane": cp_n.as_status(cp_desired), "workers": w_n.as_status(w_desired),
            "failureDomains": failure_domains}


def _negate(x: Obj | None) -> Obj | None:
    """Scaling conditions are 'good' when False: swap so `aggregate` reports the True ones."""
    if x is None:
        return None
    flipped = {TRUE: FALSE, FALSE: TRUE}.get(x["status"], x["status"])
    return {**x, "status": flipped}


def _flip(x: Obj) -> Obj:
    return _negate(x) or x
