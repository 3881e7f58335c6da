"""east-west-scan as an SRE meets it: Hubble shows the scan, deleting the pod does not stop it, a quarantine does.

The scenario's `network_flood` makes the reporting pod open TCP connections to its neighbours on 12
ports at 200 per sim second. kubectl sees a healthy pod; the flows, read over the simulated Hubble
Relay's gRPC API with the generated stubs (`prophet_sre.protos`), show the fan-out: many peers in two
namespaces, every probed port, mostly answered with RST.

- wrong: `kubectl delete pod` - the Deployment replaces the pod and the replacement scans the same way
  (and the forensics are gone);
- right: a quarantine policy for pods labelled `quarantine=true`, then `kubectl label pod` on the
  scanner: its new connections are DROPPED by policy, the shop's own traffic is untouched, the
  Deployment is unchanged (the scenario's `unchanged` check). Two forms, both allowed by the design
  (`quarantine`: CiliumNetworkPolicy or NetworkPolicy): a CiliumNetworkPolicy with `ingressDeny`/
  `egressDeny` for all entities (drop reason POLICY_DENY; the cilium.io CRDs are installed here, as a
  Cilium install would have them), or a default-deny NetworkPolicy (POLICY_DENIED).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import timestamp_pb2
from product_support import Kube, past_the_faults, pods, start_cluster, wait_for, window

from prophet_sre.protos.flow import flow_pb2 as F
from prophet_sre.protos.observer import observer_pb2, observer_pb2_grpc
from prophet_sre.sim.cluster import SimCluster
from prophet_sre.sim.netpolicy import cilium_policy_crds

pytestmark = pytest.mark.timeout(120)
NS = "shop"
SCANNED_PORTS = {22, 80, 443, 2379, 3306, 5432, 6379, 6443, 8080, 9200, 10250, 27017}  # the scenario's list
FLOW_BUDGET = 300.0
"""Sampled flows per sim second: the scan alone is 400 (SYN + answer), so about a third are kept."""

CILIUM_QUARANTINE = """\
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: quarantine, namespace: shop}
spec:
  endpointSelector: {matchLabels: {quarantine: "true"}}
  ingressDeny: [{fromEntities: [all]}]
  egressDeny: [{toEntities: [all]}]
"""
K8S_QUARANTINE = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: quarantine, namespace: shop}
spec:
  podSelector: {matchLabels: {quarantine: "true"}}
  policyTypes: [Ingress, Egress]
"""


class Hubble:
    """GetFlows over real gRPC against the cluster's Hubble Relay address."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self.channel = grpc.insecure_channel(cluster.hubble_address)
        self.stub = observer_pb2_grpc.ObserverStub(self.channel)

    def flows(self, since: datetime | None = None, number: int = 5000, **filt: list) -> list[F.Flow]:
        """Flows matching one whitelist filter: all of them since a sim time, else the last `number`
        (the relay, like Hubble's, refuses `number` together with `since`)."""
        req = observer_pb2.GetFlowsRequest(whitelist=[F.FlowFilter(**filt)])
        if since is not None:
            stamp = timestamp_pb2.Timestamp()
            stamp.FromDatetime(since)
            req.since.CopyFrom(stamp)
        else:
            req.number = number
        return [r.flow for r in self.stub.GetFlows(req, timeout=20) if r.HasField("flow")]

    def scan_from(self, pod: str, since: datetime | None = None) -> list[F.Flow]:
        """Connection attempts (SYN only) the pod sent."""
        return [f for f in self.flows(since, source_pod=[f"{NS}/{pod}"], tcp_flags=[F.TCPFlags(SYN=True)])
                if not f.l4.TCP.flags.ACK]


def _fans_out(flows: list[F.Flow]) -> bool:
    """The signature of a scan: every probed port, at least 5 peers, in more than one namespace."""
    ports = {f.l4.TCP.destination_port for f in flows}
    peers = {(f.destination.namespace, f.destination.pod_name) for f in flows}
    return ports == SCANNED_PORTS and len(peers) >= 5 and len({ns for ns, _ in peers}) >= 2


def _scanner(k: Kube) -> str:
    [pod] = [p["metadata"]["name"] for p in pods(k, NS, "app=reporting") if not p["metadata"].get("deletionTimestamp")]
    return pod


@pytest.fixture
def scan(tmp_path: Path) -> Iterator[tuple[SimCluster, Kube, Hubble]]:
    cluster, k = start_cluster("east-west-scan", tmp_path, flow_budget=FLOW_BUDGET)
    hubble = Hubble(cluster)
    try:
        past_the_faults(cluster)
        yield cluster, k, hubble
    finally:
        hubble.channel.close()
        cluster.stop()


@pytest.mark.parametrize("policy", ["cilium", "networkpolicy"])
def test_east_west_scan(scan: tuple[SimCluster, Kube, Hubble], policy: str) -> None:
    cluster, k, hubble = scan
    pod = _scanner(k)
    [row] = k.rows("pods", "-n", NS, "-l", "app=reporting")
    assert (row["READY"], row["STATUS"], row["RESTARTS"]) == ("1/1", "Running", "0"), "kubectl sees a healthy pod"

    # the fault, in Hubble: one pod fans out over many peers and ports; most ports answer RST
    syns = wait_for(lambda: (f := hubble.scan_from(pod)) and _fans_out(f) and f, timeout=30,
                    what="the reporting pod's scan in Hubble")
    assert {F.Verdict.Name(f.verdict) for f in syns} == {"FORWARDED"}
    answers = hubble.flows(destination_pod=[f"{NS}/{pod}"], source_pod=[f"{NS}/", "kube-system/"])
    flags = Counter("RST" if f.l4.TCP.flags.RST else "SYN-ACK" for f in answers if f.l4.TCP.flags.ACK
                    and f.l4.TCP.source_port in SCANNED_PORTS)
    assert flags["RST"] > 2 * flags["SYN-ACK"] > 0, flags
    w = window(cluster, 10)
    assert w.rate("hubble_tcp_flags_total", flag="RST") > 100  # ~200 probes/s, nearly all refused

    # wrong: deleting the pod - its Deployment starts another one, and that one scans too
    k("delete", "pod", pod, "-n", NS, "--wait=false")
    new = wait_for(lambda: (p := _scanner(k)) != pod and p, timeout=30, what="the replacement pod")
    wait_for(lambda: _fans_out(hubble.scan_from(new)), timeout=30, what="the replacement to scan")
    generation = k("get", "deployment", "reporting", "-n", NS, "-o", "jsonpath={.metadata.generation}")

    # right: quarantine the pod (keep it for forensics), by policy + label
    if policy == "cilium":
        k("apply", "-f", "-", input=yaml.safe_dump_all(cilium_policy_crds()))
        k("wait", "--for=condition=Established", "crd/ciliumnetworkpolicies.cilium.io", "--timeout=30s")
        k("apply", "-f", "-", input=CILIUM_QUARANTINE)
    else:
        k("apply", "-f", "-", input=K8S_QUARANTINE)
    assert "labeled" in k("label", "pod", new, "-n", NS, "quarantine=true")
    since = cluster.clock.now()

    def blocked() -> list[F.Flow]:
        recent = hubble.scan_from(new, since)[-200:]
        return recent if len(recent) >= 50 and all(f.verdict == F.DROPPED for f in recent) else []

    dropped = wait_for(blocked, timeout=30, what="the scanner's connections to be dropped")
    reason, name = ("POLICY_DENY", "quarantine") if policy == "cilium" else ("POLICY_DENIED", "")
    assert {F.DropReason.Name(f.drop_reason_desc) for f in dropped} == {reason}
    assert {d.name for f in dropped for d in f.egress_denied_by} == ({name} if name else set())
    assert all(f.source.pod_name == new and "k8s:quarantine=true" in f.source.labels for f in dropped)
    w = window(cluster, 20)  # from now on, every probe is dropped
    assert w.rate("hubble_drop_total", reason=reason) > 100  # the scenario's check: drops by policy
    assert w.rate("hubble_tcp_flags_total", flag="RST") < w.rate("hubble_drop_total", reason=reason) / 10
    # the rest of the shop is untouched: frontend -> backend still forwarded, no errors
    shop = hubble.flows(since, source_pod=[f"{NS}/frontend-"], destination_pod=[f"{NS}/backend-"])
    assert shop and {F.Verdict.Name(f.verdict) for f in shop} == {"FORWARDED"}
    assert w.rate("http_requests_total", service="frontend", code="200") > 30
    assert w.increase("http_requests_total", service="frontend", code=re.compile("5..")) == 0
    # the pod is still there for forensics, the Deployment unchanged
    assert _scanner(k) == new
    assert k("get", "deployment", "reporting", "-n", NS, "-o", "jsonpath={.metadata.generation}") == generation
