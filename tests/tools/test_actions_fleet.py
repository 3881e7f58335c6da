"""Fleet actions against a running `SimFleet` (mgmt + aws + gcp, one kubeconfig, a context each).

Covers: `scale_nodes` on the management cluster's MachineDeployment through `/scale` (dry-run leaves
it alone; execution adds a Node to the workload cluster; the inverse scales back; a `Cluster` target
finds its MachineDeployment), and `failover` re-weighting the global HTTPRoute's backendRefs by the
`-<cluster>` name convention (dry-run diffs the weight; `fleet.traffic_shares()` follows the
execution; the inverse restores the previous shares; an unknown cluster is NotFound). Actions are
prepared with `KubeClients`, so `target.cluster` picks the context.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import actions_world as aw
import pytest

from prophet_sre.config import KubeSettings
from prophet_sre.domain import FailoverAction, ResourceRef, ScaleNodesAction
from prophet_sre.sim.fleet import SimFleet
from prophet_sre.tools.actions import blast_radius, prepare
from prophet_sre.tools.kube import KubeClients


@dataclass
class Fleet:
    sim: SimFleet
    clients: KubeClients


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    sim = SimFleet(("mgmt", "aws", "gcp"), speed=20.0, workers=2).start()
    try:
        path = sim.write_kubeconfig(Path(tempfile.mkdtemp(prefix="prophet-fleet-")) / "config")
        clients = KubeClients(KubeSettings(kubeconfig=path))
        yield Fleet(sim, clients)
        clients.close()
    finally:
        sim.stop()


def worker_nodes(f: Fleet, cluster: str) -> list[str]:
    return sorted(n["metadata"]["name"] for n in f.clients.for_context(cluster).list("nodes")
                  if "node-role.kubernetes.io/control-plane" not in n["metadata"].get("labels", {}))


def md_replicas(f: Fleet) -> int:
    md = f.clients.for_context("mgmt").get("machinedeployments.cluster.x-k8s.io", "aws-md-0", "fleet")
    return int(md["spec"]["replicas"])


def test_scale_nodes_adds_a_node_to_the_workload_cluster(fleet: Fleet) -> None:
    target = ResourceRef(cluster="mgmt", kind="MachineDeployment", namespace="fleet", name="aws-md-0")
    assert worker_nodes(fleet, "aws") == ["worker-1", "worker-2"]
    p = prepare(ScaleNodesAction(target=target, replicas=3), fleet.clients)
    [req] = p.requests()
    assert (req.path, req.body) == ("/apis/cluster.x-k8s.io/v1beta2/namespaces/fleet/machinedeployments/aws-md-0/scale",
                                    {"spec": {"replicas": 3}})
    assert p.blast_radius().nodes == 1
    dry = p.dry_run()
    assert dry.ok and "@@ spec.replicas\n- 2\n+ 3" in dry.diff and md_replicas(fleet) == 2
    result = p.execute()
    assert result.ok and result.before == {"replicas": 2}
    aw.wait_for(lambda: worker_nodes(fleet, "aws") == ["worker-1", "worker-2", "worker-3"], "a third aws worker")
    inverse = p.inverse(result.before)
    assert isinstance(inverse, ScaleNodesAction) and inverse.replicas == 2
    assert prepare(inverse, fleet.clients).execute().ok and md_replicas(fleet) == 2
    by_cluster = ScaleNodesAction(target=target.model_copy(update={"kind": "Cluster", "name": "gcp"}), replicas=2)
    assert prepare(by_cluster, fleet.clients).execute().changed == {"skipped": "already at 2 replicas"}


def test_failover_shifts_the_traffic_shares(fleet: Fleet) -> None:
    route = ResourceRef(cluster="mgmt", kind="HTTPRoute", namespace="fleet", name="global-shop")
    assert fleet.sim.traffic_shares() == {"aws": 0.5, "gcp": 0.5}
    action = FailoverAction(target=route, weights={"gcp": 0, "aws": 100})
    assert "aws 50%->100%" in blast_radius(action, fleet.clients).detail
    p = prepare(action, fleet.clients)
    [req] = p.requests()
    assert req.content_type == "application/merge-patch+json" and req.body["metadata"]["resourceVersion"]
    mgmt = fleet.clients.for_context("mgmt")
    rv = mgmt.get("httproutes.gateway.networking.k8s.io", "global-shop", "fleet")["metadata"]["resourceVersion"]
    dry = p.dry_run()
    assert dry.ok, dry.error
    assert "spec.rules[0].backendRefs[shop-gcp].weight\n- 1\n+ 0" in dry.diff
    assert fleet.sim.traffic_shares() == {"aws": 0.5, "gcp": 0.5}
    assert mgmt.get("httproutes.gateway.networking.k8s.io", "global-shop", "fleet")["metadata"]["resourceVersion"] == rv
    result = p.execute()
    assert result.ok, result.error
    assert fleet.sim.traffic_shares() == {"aws": 1.0, "gcp": 0.0}
    assert result.before == {"weights": {"aws": 1, "gcp": 1}} and result.after == {"weights": {"aws": 100, "gcp": 0}}
    inverse = p.inverse(result.before)
    assert inverse is not None and inverse.weights == {"aws": 1, "gcp": 1}
    assert prepare(inverse, fleet.clients).execute().ok
    assert fleet.sim.traffic_shares() == {"aws": 0.5, "gcp": 0.5}


def test_failover_mapping_conventions(fleet: Fleet) -> None:
    """The fleet's backends carry `cluster.x-k8s.io/cluster-name`; plain Services map by their `-<cluster>` suffix."""
    route = ResourceRef(cluster="mgmt", kind="HTTPRoute", namespace="fleet", name="global-shop")
    dry = prepare(FailoverAction(target=route, weights={"azure": 1}), fleet.clients).dry_run()
    assert dry.error_type == "NotFound"
    assert dry.error == "no backendRef of HTTPRoute fleet/global-shop belongs to cluster(s) azure (mapped: aws, gcp)"
    mgmt = fleet.clients.for_context("mgmt")
    aw.create(mgmt, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                     "metadata": {"name": "by-suffix", "namespace": "fleet"},
                     "spec": {"rules": [{"backendRefs": [{"name": "web-aws", "port": 80, "weight": 3},
                                                         {"name": "web-gcp", "port": 80},
                                                         {"name": "web-other", "port": 80, "weight": 5}]}]}})
    result = prepare(FailoverAction(target=route.model_copy(update={"name": "by-suffix"}), weights={"aws": 0, "gcp": 2}),
                     fleet.clients).execute()
    assert result.ok and result.before == {"weights": {"aws": 3, "gcp": 1}}
    refs = mgmt.get("httproutes.gateway.networking.k8s.io", "by-suffix", "fleet")["spec"]["rules"][0]["backendRefs"]
    assert [r.get("weight") for r in refs] == [0, 2, 5]
