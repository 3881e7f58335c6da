"""Health reflection: workload Nodes -> Machines -> MachineDeployment/KCP/MHC -> Cluster conditions.

Covers: a healthy fleet's status, the `cluster_degraded` fault end to end (kubelets stop, Nodes go
Unknown after the grace period, every CAPI level reports it with CAPI's reasons and messages, other
clusters unaffected, recovery), the MachineHealthCheck timeout, `api_down` (RemoteConnectionProbe after
the remote-connection grace), `nodes: all`, where the fault is read from, and the pure status
functions. Skips: timing against wall clock (the integration test does that).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prophet_sre.sim.clock import rfc3339
from prophet_sre.sim.controllers.kubelet import STOPPED_ANNOTATION
from prophet_sre.sim.fleet import conditions, health
from prophet_sre.sim.fleet.nodes import NodeView

MD_MESSAGE = ("0 available replicas, at least 2 required (spec.strategy.rollout.maxUnavailable is 0, "
              "spec.replicas is 2)")


def _conds(obj: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in obj["status"]["conditions"]}


def test_healthy_fleet_status(shared_fleet: Any) -> None:
    api = shared_fleet
    for name in ("aws", "gcp", "azure"):
        c = api.get("Cluster", name)
        assert c["status"]["phase"] == "Provisioned"
        assert c["status"]["initialization"] == {"infrastructureProvisioned": True, "controlPlaneInitialized": True}
        assert c["status"]["controlPlane"] == {"desiredReplicas": 1, "replicas": 1, "readyReplicas": 1,
                                               "availableReplicas": 1, "upToDateReplicas": 1}
        assert c["status"]["workers"] == {"desiredReplicas": 2, "replicas": 2, "readyReplicas": 2,
                                          "availableReplicas": 2, "upToDateReplicas": 2}
        conds = _conds(c)
        for t in ("Available", "InfrastructureReady", "ControlPlaneInitialized", "ControlPlaneAvailable",
                  "WorkersAvailable", "ControlPlaneMachinesReady", "WorkerMachinesReady", "RemoteConnectionProbe"):
            assert conds[t][0] == "True", (name, t, conds[t])
        assert conds["RemoteConnectionProbe"] == ("True", "ProbeSucceeded")
        assert conds["ScalingUp"] == ("False", "NotScalingUp") and conds["Paused"] == ("False", "NotPaused")
        assert all(x["observedGeneration"] == 1 and x["lastTransitionTime"] for x in c["status"]["conditions"])
        md = api.get("MachineDeployment", f"{name}-md-0")
        assert {k: md["status"][k] for k in ("replicas", "readyReplicas", "availableReplicas", "upToDateReplicas",
                                             "phase")} == {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2,
                                                           "upToDateReplicas": 2, "phase": "Running"}
        mhc = api.of_cluster("MachineHealthCheck", name)[0]
        assert (mhc["status"]["expectedMachines"], mhc["status"]["currentHealthy"]) == (2, 2)
        for m in api.of_cluster("Machine", name):
            mc = _conds(m)
            assert mc["NodeHealthy"] == ("True", "NodeHealthy") and mc["NodeReady"] == ("True", "NodeReady")
            assert mc["Ready"][0] == mc["Available"][0] == "True"


def test_status_writes_stop_when_nothing_changes(shared_fleet: Any) -> None:
    before = shared_fleet.get("Cluster", "aws")["metadata"]["resourceVersion"]
    shared_fleet.run_for(10)
    assert shared_fleet.get("Cluster", "aws")["metadata"]["resourceVersion"] == before


def test_cluster_degraded_end_to_end(fleet: Any) -> None:
    api = fleet
    api.fleet.degrade("gcp")
    api.run_for(2)
    nodes = api.nodes("gcp")
    assert nodes["worker-1"]["metadata"]["annotations"][STOPPED_ANNOTATION] == "true"
    assert STOPPED_ANNOTATION not in (nodes["control-plane"]["metadata"].get("annotations") or {})
    assert api.condition(api.get("Cluster", "gcp"), "WorkersAvailable")["status"] == "True"  # within the grace

    assert api.settle(lambda: api.condition(api.get("Cluster", "gcp"), "WorkersAvailable")["status"] == "False",
                      max_s=70)
    ready = {n: next(c for c in o["status"]["conditions"] if c["type"] == "Ready")
             for n, o in api.nodes("gcp").items()}
    assert (ready["worker-1"]["status"], ready["worker-1"]["reason"]) == ("Unknown", "NodeStatusUnknown")
    assert ready["control-plane"]["status"] == "True"

    c = api.get("Cluster", "gcp")
    workers = api.condition(c, "WorkersAvailable")
    assert workers["reason"] == "NotAvailable"
    assert workers["message"] == f"* MachineDeployment gcp-md-0: {MD_MESSAGE}"
    available = api.condition(c, "Available")
    assert (available["status"], available["reason"]) == ("False", "NotAvailable")
    assert "WorkersAvailable" in available["message"] and "gcp-md-0" in available["message"]
    assert api.condition(c, "WorkerMachinesReady")["status"] == "Unknown"
    assert "Kubelet stopped posting node status." in api.condition(c, "WorkerMachinesReady")["message"]
    assert _conds(c)["ControlPlaneAvailable"][0] == "True" and _conds(c)["RemoteConnectionProbe"][0] == "True"
    assert c["status"]["workers"]["availableReplicas"] == 0 and c["status"]["phase"] == "Provisioned"

    md = api.get("MachineDeployment", "gcp-md-0")
    assert (md["status"]["availableReplicas"], md["status"]["readyReplicas"], md["status"]["phase"]) == (
        0, 0, "ScalingUp")
    assert api.condition(md, "Available")["message"] == MD_MESSAGE
    for m in api.of_cluster("Machine", "gcp"):
        if "cluster.x-k8s.io/control-plane" in m["metadata"]["labels"]:
            continue
        assert _conds(m)["NodeHealthy"] == ("Unknown", "NodeHealthyUnknown")
        assert _conds(m)["NodeReady"] == ("Unknown", "NodeReadyUnknown")
        assert _conds(m)["Available"][0] == "False" and m["status"]["phase"] == "Running"
        assert _conds(m)["HealthCheckSucceeded"] == ("True", "HealthCheckSucceeded")  # not yet 5 minutes
    assert api.fleet.cluster_available() == {"aws": True, "gcp": False, "azure": True}

    api.run_for(300, step=5)  # the MachineHealthCheck's 5m timeout
    mhc = api.of_cluster("MachineHealthCheck", "gcp")[0]
    assert (mhc["status"]["expectedMachines"], mhc["status"]["currentHealthy"]) == (2, 0)
    assert _conds(mhc)["RemediationAllowed"] == ("False", "TooManyUnhealthy")
    m = next(m for m in api.of_cluster("Machine", "gcp") if m["status"]["nodeRef"]["name"] == "worker-1")
    hc = api.condition(m, "HealthCheckSucceeded")
    assert hc["reason"] == "UnhealthyNode"
    assert hc["message"] == "Health check failed: Condition Ready on Node worker-1 was Unknown for more than 5m0s"

    assert api.fleet.recover("gcp") == 1
    api.run_for(4)
    assert STOPPED_ANNOTATION not in (api.nodes("gcp")["worker-1"]["metadata"].get("annotations") or {})
    c = api.get("Cluster", "gcp")
    assert _conds(c)["Available"] == ("True", "Available") and _conds(c)["WorkersAvailable"][0] == "True"
    assert api.get("MachineDeployment", "gcp-md-0")["status"]["phase"] == "Running"


def test_api_down_fails_the_remote_connection_probe_after_the_grace_period(small_fleet: Any) -> None:
    api = small_fleet
    api.fleet.degrade("aws", api_down=True)
    api.run_for(30)
    assert api.condition(api.get("Cluster", "aws"), "RemoteConnectionProbe")["status"] == "True"
    api.run_for(30)
    probe = api.condition(api.get("Cluster", "aws"), "RemoteConnectionProbe")
    assert (probe["status"], probe["reason"]) == ("False", "ProbeFailed")
    assert probe["message"].startswith("Remote connection probe failed, probe last succeeded at ")
    m = api.of_cluster("Machine", "aws")[0]
    assert _conds(m)["NodeHealthy"] == ("Unknown", "ConnectionDown")
    assert api.condition(api.get("Cluster", "aws"), "Available")["status"] == "False"
    api.fleet.recover("aws")
    api.run_for(4)
    assert api.condition(api.get("Cluster", "aws"), "RemoteConnectionProbe")["status"] == "True"


def test_nodes_all_takes_the_control_plane_down_too(small_fleet: Any) -> None:
    api = small_fleet
    api.fleet.degrade("aws", nodes="all")
    api.run_for(60)
    c = api.get("Cluster", "aws")
    assert _conds(c)["ControlPlaneAvailable"] == ("False", "NotAvailable")
    assert _conds(api.get("KubeadmControlPlane", "aws-control-plane"))["Available"][0] == "False"


def test_the_fault_is_read_from_the_workload_clusters_own_knobs(small_fleet: Any) -> None:
    api = small_fleet
    api.fleet.management.knobs.add("cluster_degraded", "aws")  # the management cluster's knobs: not ours
    api.fleet["aws"].knobs.add("cluster_degraded", "somewhere-else")  # another target: not this cluster
    api.run_for(60)
    assert api.condition(api.get("Cluster", "aws"), "Available")["status"] == "True"


def test_machine_status_from_node_views() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    machine = {"metadata": {"name": "m", "creationTimestamp": rfc3339(now - timedelta(minutes=10)),
                            "labels": {}, "generation": 1},
               "spec": {"providerID": "aws:///x/i-1", "infrastructureRef": {"kind": "AWSMachine"},
                        "failureDomain": "x"}}

    def node(ready: str, reason: str, message: str, problems: tuple[str, ...] = (), since_min: int = 1) -> NodeView:
        return NodeView("worker-9", ready, reason, message, rfc3339(now - timedelta(minutes=since_min)), problems,
                        "m", False, "aws:///x/i-1")

    st = health.machine_status(machine, node("True", "KubeletReady", ""), now)
    assert _conds({"status": st})["Ready"] == ("True", "Ready") and st["nodeRef"] == {"name": "worker-9"}
    st = health.machine_status(machine, node("False", "KubeletNotReady", "PLEG is not healthy"), now)
    assert _conds({"status": st})["NodeHealthy"] == ("False", "NodeNotHealthy")
    assert _conds({"status": st})["Ready"] == ("False", "NotReady")
    st = health.machine_status(machine, node("True", "KubeletReady", "", ("MemoryPressure",)), now)
    assert _conds({"status": st})["NodeHealthy"] == ("False", "NodeNotHealthy")
    assert "Node.MemoryPressure" in next(c for c in st["conditions"] if c["type"] == "NodeHealthy")["message"]
    st = health.machine_status(machine, None, now)
    assert st["phase"] == "Provisioned" and _conds({"status": st})["NodeHealthy"][1] == "NodeDoesNotExist"
    st = health.machine_status({**machine, "spec": {**machine["spec"], "providerID": ""}}, None, now)
    assert st["phase"] == "Provisioning" and _conds({"status": st})["InfrastructureReady"][0] == "False"


def test_condition_times_survive_unchanged_status() -> None:
    old = conditions.merge([], [conditions.cond("Ready", "True", "Ready")], "2026-01-01T00:00:00Z", 1)
    same = conditions.merge(old, [conditions.cond("Ready", "True", "Ready")], "2026-01-01T00:05:00Z", 1)
    assert same == old
    flipped = conditions.merge(old, [conditions.cond("Ready", "False", "NotReady", "x")], "2026-01-01T00:05:00Z", 2)
    assert flipped == [{"type": "Ready", "status": "False", "observedGeneration": 2,
                        "lastTransitionTime": "2026-01-01T00:05:00Z", "reason": "NotReady", "message": "x"}]
