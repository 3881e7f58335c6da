"""The simulated Hubble Relay over real gRPC, with a client built from `prophet_sre.protos`.

Flows are written straight into `cluster.flowlog`, so these tests do not depend on the traffic model
(written separately; it may add flows of its own to the same log). Every flow query is therefore
scoped by a whitelist to the test's own namespaces, and counts are compared with the log itself.

Covers: health check; the `hubble-relay-version` header; `number` (last / `first`), `since`/`until`,
`follow` (history then live; live only; lost_events for a lagging client); INVALID_ARGUMENT for number+since, first+follow and bad
filters; whitelist OR across filters and AND inside one (the CLI's `--namespace X` = two filters),
blacklist; verdict, drop reason, http_status_code, protocol, DNS, label, port, node, event type,
reply and direction filters; the converted flow fields; field masks; ServerStatus, GetNodes,
GetNamespaces; unimplemented agent events; the jsonpb line format round trip; and an end-to-end
quarantine: a CiliumNetworkPolicy CRD and policy created through the REST API make the registered
policy engine drop the pod's traffic with POLICY_DENY, and the resulting flow reads back over gRPC.
Not covered: TLS to the relay (the simulator serves plaintext only), agent/debug events.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import field_mask_pb2

from prophet_sre.protos.flow import flow_pb2
from prophet_sre.protos.observer import observer_pb2, observer_pb2_grpc
from prophet_sre.protos.relay import relay_pb2
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.sim.flows import FlowEndpoint, FlowL7, FlowRecord, PolicyRef
from prophet_sre.sim.hubble import jsonpb
from prophet_sre.sim.hubble.convert import record_from_flow
from prophet_sre.sim.hubble.server import health_pb2  # grpc_health's stubs when installed, else ours
from prophet_sre.sim.netpolicy import cilium_policy_crds

F = flow_pb2
NS_A, NS_B = "hb-shop", "hb-pay"


def ep(ns: str, pod: str, ip: str, node: str = "worker-1", **labels: str) -> FlowEndpoint:
    lbls = tuple(sorted([f"k8s:{k}={v}" for k, v in labels.items()] + [f"k8s:io.kubernetes.pod.namespace={ns}"]))
    return FlowEndpoint(ip=ip, namespace=ns, pod_name=pod, labels=lbls, workload_name=pod.rsplit("-", 2)[0],
                        workload_kind="Deployment", node_name=node)


WEB = ep(NS_A, "web-7d9f-abcde", "10.244.1.10", app="web")
API = ep(NS_A, "api-5c6d-fghij", "10.244.2.11", node="worker-2", app="api", tier="backend")
PAY = ep(NS_B, "pay-6b7c-klmno", "10.244.2.12", node="worker-2", app="pay")
WORLD = FlowEndpoint(ip="203.0.113.9", labels=("reserved:world",))


@pytest.fixture(scope="module")
def cluster() -> Iterator[SimCluster]:
    c = SimCluster(ClusterOptions(name="hubble-it", controllers=False, workers=2))
    c.start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def stub(cluster: SimCluster) -> Iterator[observer_pb2_grpc.ObserverStub]:
    with grpc.insecure_channel(cluster.hubble_address) as channel:
        yield observer_pb2_grpc.ObserverStub(channel)


@pytest.fixture(scope="module")
def base(cluster: SimCluster) -> datetime:
    """Write the module's flow set once: 12 flows, one second apart, ending a minute before now."""
    t0 = cluster.clock.now().replace(microsecond=0) - timedelta(seconds=72)
    deny = PolicyRef(name="quarantine", namespace=NS_A, labels=("k8s:io.cilium.k8s.policy.name=quarantine",),
                     revision=6)
    specs: list[dict[str, Any]] = [
        dict(source=WEB, destination=API, destination_port=8080, tcp_flags=("SYN",)),
        dict(source=API, destination=WEB, source_port=8080, destination_port=40001, tcp_flags=("SYN", "ACK"),
             is_reply=True, traffic_direction="INGRESS"),
        dict(source=WEB, destination=API, destination_port=8080,
             l7=FlowL7(type="REQUEST", http_method="GET", http_url="http://api:8080/v1/items?id=3"),
             destination_service=("api", NS_A)),
        dict(source=API, destination=WEB, is_reply=True, destination_port=40001,
             l7=FlowL7(type="RESPONSE", latency_ns=12_000_000, http_code=503, http_method="GET",
                       http_url="http://api:8080/v1/items?id=3")),
        dict(source=API, destination=WEB, is_reply=True, destination_port=40001,
             l7=FlowL7(type="RESPONSE", latency_ns=3_000_000, http_code=404, http_method="POST",
                       http_url="http://api:8080/admin")),
        dict(source=WEB, destination=PAY, destination_port=9000, verdict="DROPPED", drop_reason="POLICY_DENIED",
             tcp_flags=("SYN",), traffic_direction="INGRESS", node_name="worker-2"),
        dict(source=WEB, destination=WORLD, destination_port=443, verdict="DROPPED", drop_reason="POLICY_DENY",
             tcp_flags=("SYN",), egress_denied_by=(deny,)),
        dict(source=PAY, destination=API, protocol="UDP", source_port=53000, destination_port=53,
             l7=FlowL7(type="REQUEST", dns_query="api.hb-shop.svc.cluster.local.", dns_qtypes=("A",))),
        dict(source=API, destination=PAY, protocol="UDP", source_port=53, destination_port=53000, is_reply=True,
             l7=FlowL7(type="RESPONSE", dns_query="api.hb-shop.svc.cluster.local.", dns_qtypes=("A",),
                       dns_ips=("10.96.0.20",))),
        dict(source=PAY, destination=PAY, destination_port=9000, tcp_flags=("SYN",)),
        dict(source=API, destination=PAY, destination_port=9000, verdict="DROPPED",
             drop_reason="SERVICE_BACKEND_NOT_FOUND", tcp_flags=("SYN",)),
        dict(source=WORLD, destination=WEB, destination_port=80, tcp_flags=("SYN",), traffic_direction="INGRESS",
             node_name="worker-1"),
    ]
    cluster.flowlog.append([FlowRecord(time=t0 + timedelta(seconds=i), **s) for i, s in enumerate(specs)])
    return t0


def mine(**kw: Any) -> list[F.FlowFilter]:
    """`--namespace hb-shop --namespace hb-pay` as the CLI sends it, plus extra fields in each filter."""
    return [F.FlowFilter(source_pod=[f"{NS_A}/", f"{NS_B}/"], **kw),
            F.FlowFilter(destination_pod=[f"{NS_A}/", f"{NS_B}/"], **kw)]


def get(stub: Any, base: datetime | None = None, **kw: Any) -> list[F.Flow]:
    """Flows of the test namespaces; by default only the module's 12 (other tests append more)."""
    kw.setdefault("whitelist", mine())
    if base is not None and not any(k in kw for k in ("number", "since", "until", "follow")):
        kw.update(since=ts(base), until=ts(base + timedelta(seconds=11)))
    return [r.flow for r in stub.GetFlows(observer_pb2.GetFlowsRequest(**kw), timeout=10)]


def ports(flows: list[F.Flow]) -> list[int]:
    return [f.l4.TCP.destination_port or f.l4.UDP.destination_port for f in flows]


def ts(dt: datetime) -> Any:
    from google.protobuf import timestamp_pb2
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(dt)
    return out


# -- transport ---------------------------------------------------------------------------------------------
def test_health_check_and_version_header(cluster: SimCluster, stub: Any) -> None:
    with grpc.insecure_channel(cluster.hubble_address) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                                    response_deserializer=health_pb2.HealthCheckResponse.FromString)
        ok = check(health_pb2.HealthCheckRequest(service="hubble.server.Observer"), timeout=5)
        assert ok.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as err:
            check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    _, call = stub.ServerStatus.with_call(observer_pb2.ServerStatusRequest(), timeout=5)
    assert dict(call.initial_metadata())["hubble-relay-version"] == "1.19.4"


# -- request semantics -------------------------------------------------------------------------------------
def test_number_last_and_first(stub: Any, base: datetime) -> None:
    assert len(get(stub, base)) == 12
    everything = get(stub, number=10_000)
    assert len(everything) >= 12
    assert [f.time.ToDatetime(UTC) for f in everything] == sorted(f.time.ToDatetime(UTC) for f in everything)
    last3 = get(stub, number=3)
    assert [f.uuid for f in last3] == [f.uuid for f in everything[-3:]]
    first2 = get(stub, number=2, first=True)
    assert [f.uuid for f in first2] == [f.uuid for f in everything[:2]]


def test_since_until_window(stub: Any, base: datetime) -> None:
    flows = get(stub, since=ts(base + timedelta(seconds=2)), until=ts(base + timedelta(seconds=4)))
    assert [f.time.ToDatetime(UTC) for f in flows] == [base + timedelta(seconds=s) for s in (2, 3, 4)]
    assert len(get(stub, since=ts(base + timedelta(seconds=11)), until=ts(base + timedelta(seconds=30)))) == 1
    assert len(get(stub, until=ts(base - timedelta(seconds=1)))) == 0


@pytest.mark.parametrize("request_kw, needle", [
    ({"number": 5, "since": "BASE"}, "number"),
    ({"first": True, "follow": True}, "follow"),
    ({"whitelist": [F.FlowFilter(http_status_code=["5xx"])]}, "status code"),
    ({"whitelist": [F.FlowFilter(dns_query=["(unclosed"])]}, "regular expression"),
    ({"whitelist": [F.FlowFilter(protocol=["carrier-pigeon"])]}, "protocol"),
    ({"whitelist": [F.FlowFilter(source_pod=[""])]}, "[namespace/]"),
    ({"whitelist": [F.FlowFilter(experimental=F.FlowFilter.Experimental(cel_expression=["true"]))]}, "CEL"),
])
def test_invalid_requests(stub: Any, base: datetime, request_kw: dict[str, Any], needle: str) -> None:
    kw = {k: (ts(base) if v == "BASE" else v) for k, v in request_kw.items()}
    with pytest.raises(grpc.RpcError) as err:
        list(stub.GetFlows(observer_pb2.GetFlowsRequest(**kw), timeout=5))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in err.value.details()


def test_follow_streams_history_then_live_flows(cluster: SimCluster, stub: Any, base: datetime) -> None:
    ns = "hb-follow"
    src = ep(ns, "client-1-x", "10.244.9.1")
    cluster.flowlog.append([FlowRecord(time=cluster.clock.now(), source=src, destination=WEB, destination_port=p)
                            for p in (0, 1)])
    call = stub.GetFlows(observer_pb2.GetFlowsRequest(
        number=1, follow=True, whitelist=[F.FlowFilter(source_pod=[f"{ns}/"])]), timeout=20)
    received: list[F.Flow] = []

    def writer() -> None:
        call.initial_metadata()  # the server subscribes before it sends the headers
        for port in (2, 3):
            time.sleep(0.05)
            cluster.flowlog.append([FlowRecord(time=cluster.clock.now(), source=WEB, destination=src),
                                    FlowRecord(time=cluster.clock.now(), source=src, destination=WEB,
                                               destination_port=port)])

    t = threading.Thread(target=writer)
    t.start()
    for resp in call:
        received.append(resp.flow)
        if len(received) == 3:
            call.cancel()
            break
    t.join()
    assert ports(received) == [1, 2, 3]  # the last history flow, then the live ones in order


def test_follow_without_number_sends_only_new_flows(cluster: SimCluster, stub: Any, base: datetime) -> None:
    call = stub.GetFlows(observer_pb2.GetFlowsRequest(follow=True, whitelist=mine()), timeout=20)
    call.initial_metadata()
    cluster.flowlog.append([FlowRecord(time=cluster.clock.now(), source=PAY, destination=WEB, destination_port=7)])
    first = next(iter(call)).flow
    call.cancel()
    assert first.l4.TCP.destination_port == 7 and first.destination.pod_name == WEB.pod_name


def test_lagging_follower_gets_lost_events(cluster: SimCluster, stub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from prophet_sre.sim.hubble import observer
    monkeypatch.setattr(observer, "MAX_BACKLOG", 3)
    src = ep("hb-lag", "client-1-x", "10.244.9.2")
    call = stub.GetFlows(observer_pb2.GetFlowsRequest(
        follow=True, whitelist=[F.FlowFilter(source_pod=["hb-lag/"])]), timeout=20)
    call.initial_metadata()
    for port in range(1, 41):  # one burst: the stream's queue backs up past the limit
        cluster.flowlog.append([FlowRecord(time=cluster.clock.now(), source=src, destination=WEB, destination_port=port)])
    got_flows, lost = 0, 0
    for resp in call:
        if resp.HasField("lost_events"):
            assert resp.lost_events.source == F.OBSERVER_EVENTS_QUEUE
            lost += resp.lost_events.num_events_lost
        else:
            got_flows += 1
        if got_flows + lost >= 40:
            break
    call.cancel()
    assert lost > 0 and got_flows + lost == 40


# -- filters -----------------------------------------------------------------------------------------------
def test_whitelist_or_across_filters_and_within_one(stub: Any, base: datetime) -> None:
    either = get(stub, base, whitelist=[F.FlowFilter(source_pod=[f"{NS_B}/"]),
                                        F.FlowFilter(destination_pod=[f"{NS_B}/"])])
    assert len(either) == 5  # --namespace hb-pay: PAY on either side
    both = get(stub, base, whitelist=[F.FlowFilter(source_pod=[f"{NS_A}/"], destination_pod=[f"{NS_B}/"])])
    assert {(f.source.namespace, f.destination.namespace) for f in both} == {(NS_A, NS_B)} and len(both) == 3
    prefix = get(stub, base, whitelist=[F.FlowFilter(source_pod=[f"{NS_A}/web-"])])
    assert {f.source.pod_name for f in prefix} == {WEB.pod_name} and len(prefix) == 4
    assert get(stub, base, whitelist=[F.FlowFilter(source_pod=["web-"])]) == []  # bare name = namespace default
    blacklisted = get(stub, base, blacklist=[F.FlowFilter(verdict=[F.DROPPED])])
    assert len(blacklisted) == 9 and all(f.verdict == F.FORWARDED for f in blacklisted)


@pytest.mark.parametrize("extra, expected_ports", [
    ({"verdict": [F.DROPPED]}, [9000, 443, 9000]),
    ({"drop_reason_desc": [F.POLICY_DENY, F.SERVICE_BACKEND_NOT_FOUND]}, [443, 9000]),
    ({"http_status_code": ["5+"]}, [40001]),
    ({"http_status_code": ["404", "2+"]}, [40001]),
    ({"protocol": ["dns"]}, [53, 53000]),
    ({"protocol": ["udp"], "reply": [True]}, [53000]),
    ({"dns_query": [r"svc\.cluster"]}, [53, 53000]),
    ({"http_method": ["post"]}, [40001]),
    ({"http_path": ["^/v1/items$"]}, [8080, 40001]),
    ({"source_label": ["k8s:tier in (backend),app"], "destination_port": ["9000"]}, [9000]),
    ({"destination_label": ["reserved:world"]}, [443]),
    ({"source_ip": ["203.0.113.0/24"]}, [80]),
    ({"node_name": ["hubble-it/worker-2"]}, [40001, 40001, 9000, 53, 53000, 9000, 9000]),
    ({"node_name": ["worker-*"], "source_workload": [F.Workload(name="pay", kind="Deployment")]}, [53, 9000]),
    ({"node_name": ["hubble-it/", "other/*"], "destination_port": ["80"]}, [80]),
    ({"node_name": ["other/"]}, []),
    ({"event_type": [F.EventTypeFilter(type=129)], "traffic_direction": [F.EGRESS]}, [8080, 40001, 40001, 53, 53000]),
    ({"event_type": [F.EventTypeFilter(type=1, match_sub_type=True, sub_type=133)]}, [9000]),
    ({"tcp_flags": [F.TCPFlags(SYN=True, ACK=True)]}, [40001]),
    ({"source_workload": [F.Workload(name="pay")]}, [53, 9000]),
    ({"destination_service": [f"{NS_A}/ap"]}, [8080]),
])
def test_field_filters(stub: Any, base: datetime, extra: dict[str, Any], expected_ports: list[int]) -> None:
    assert ports(get(stub, base, whitelist=mine(**extra))) == expected_ports


# -- conversion --------------------------------------------------------------------------------------------
def test_converted_flow_fields(stub: Any, base: datetime) -> None:
    flows = get(stub, base)
    syn, http_req, http_resp, denied = flows[0], flows[2], flows[3], flows[6]
    assert syn.IP.source == WEB.ip and syn.IP.ipVersion == F.IPv4 and syn.l4.TCP.flags.SYN
    assert syn.source.pod_name == WEB.pod_name and syn.source.cluster_name == "hubble-it"
    assert "k8s:app=web" in syn.source.labels and syn.source.workloads[0].kind == "Deployment"
    assert syn.source.identity >= 256 and syn.source.ID > 0
    assert syn.node_name == "hubble-it/worker-1" and syn.Type == F.L3_L4 and syn.verdict == F.FORWARDED
    assert syn.event_type.type == 4 and syn.trace_observation_point == F.FROM_ENDPOINT
    assert syn.Summary == "TCP Flags: SYN" and syn.emitter.name == "Hubble" and syn.uuid
    assert not syn.HasField("is_reply") or not syn.is_reply.value
    assert flows[1].is_reply.value and flows[1].traffic_direction == F.INGRESS
    assert http_req.Type == F.L7 and http_req.event_type.type == 129 and http_req.l7.type == F.REQUEST
    assert http_req.l7.http.method == "GET" and http_req.destination_service.name == "api"
    assert http_resp.l7.http.code == 503 and http_resp.l7.latency_ns == 12_000_000
    assert http_resp.Summary == "HTTP/1.1 503 12ms (GET http://api:8080/v1/items?id=3)"
    assert denied.verdict == F.DROPPED and denied.drop_reason == 181 and denied.drop_reason_desc == F.POLICY_DENY
    assert denied.event_type.type == 5 and denied.egress_denied_by[0].name == "quarantine"
    assert denied.egress_denied_by[0].revision == 6 and denied.destination.identity == 2
    assert flows[5].drop_reason == 133 and flows[5].node_name == "hubble-it/worker-2"
    assert flows[7].l7.dns.query.startswith("api.") and flows[8].l7.dns.ips == ["10.96.0.20"]


def test_field_mask_trims_flows(stub: Any, base: datetime) -> None:
    mask = field_mask_pb2.FieldMask(paths=["time", "verdict", "source.pod_name", "aggregate"])
    f = get(stub, number=1, field_mask=mask)[0]
    assert f.source.pod_name and not f.source.labels and not f.HasField("l4") and f.HasField("time")
    with pytest.raises(grpc.RpcError) as err:
        get(stub, number=1, field_mask=field_mask_pb2.FieldMask(paths=["invalid-path"]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_jsonpb_round_trip(stub: Any, base: datetime) -> None:
    responses = list(stub.GetFlows(observer_pb2.GetFlowsRequest(
        since=ts(base), until=ts(base + timedelta(seconds=11)), whitelist=mine()), timeout=10))
    lines = [jsonpb.dumps_response(r) for r in responses]
    denied = next(line for line in lines if "POLICY_DENY" in line)
    for key in ('"IP":{', '"Type":"L3_L4"', '"drop_reason":181', '"revision":"6"', '"kind":"CiliumNetworkPolicy"',
                '"node_name":"hubble-it/worker-1"', '"flags":{"SYN":true}'):
        assert key in denied, key
    assert '"latency_ns":"12000000"' in lines[3] and '"is_reply":true' in lines[3]
    back = list(jsonpb.iter_responses(lines + ["", jsonpb.dumps_flow(responses[0].flow)]))
    assert back[:12] == responses and back[12].flow == responses[0].flow
    rec = record_from_flow(back[3].flow)
    assert rec.l7 is not None and rec.l7.http_code == 503 and rec.source.pod_name == API.pod_name
    assert rec.verdict == "FORWARDED" and rec.is_reply is True and rec.destination_port == 40001


# -- unary RPCs --------------------------------------------------------------------------------------------
def test_server_status(cluster: SimCluster, stub: Any, base: datetime) -> None:
    st = stub.ServerStatus(observer_pb2.ServerStatusRequest(), timeout=5)
    assert st.num_flows == len(cluster.flowlog) and st.max_flows == cluster.flowlog.max_flows
    assert st.seen_flows == cluster.flowlog.seen_flows >= 12
    assert st.num_connected_nodes.value == 3 and st.num_unavailable_nodes.value == 0
    assert st.version == "1.19.4" and st.uptime_ns > 0 and st.flows_rate >= 0


def test_get_nodes_and_namespaces(cluster: SimCluster, stub: Any, base: datetime) -> None:
    nodes = stub.GetNodes(observer_pb2.GetNodesRequest(), timeout=5).nodes
    assert [n.name for n in nodes] == ["hubble-it/control-plane", "hubble-it/worker-1", "hubble-it/worker-2"]
    assert all(n.state == relay_pb2.NODE_CONNECTED and n.address.endswith(":4244") for n in nodes)
    assert nodes[2].num_flows >= 7 and all(n.version == "1.19.4" for n in nodes)
    namespaces = stub.GetNamespaces(observer_pb2.GetNamespacesRequest(), timeout=5).namespaces
    assert {(n.cluster, n.namespace) for n in namespaces} >= {("hubble-it", NS_A), ("hubble-it", NS_B)}


def test_agent_events_are_unimplemented(stub: Any) -> None:
    with pytest.raises(grpc.RpcError) as err:
        list(stub.GetAgentEvents(observer_pb2.GetAgentEventsRequest(number=1), timeout=5))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


# -- end to end: quarantine by label through the API ----------------------------------------------------------
def test_quarantine_policy_through_the_api_drops_with_policy_deny(cluster: SimCluster, stub: Any) -> None:
    headers = {"Authorization": f"Bearer {cluster.admin_token}"}
    with httpx.Client(base_url=cluster.url, headers=headers, verify=str(cluster.ca_file), timeout=10) as api:
        crd = next(c for c in cilium_policy_crds() if c["spec"]["names"]["kind"] == "CiliumNetworkPolicy")
        assert api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd).status_code == 201
        served = api.get("/apis/cilium.io/v2").json()
        cnp = next(r for r in served["resources"] if r["name"] == "ciliumnetworkpolicies")
        assert cnp["namespaced"] and set(cnp["shortNames"]) == {"cnp", "ciliumnp"}
        assert any(r["name"] == "ciliumnetworkpolicies/status" for r in served["resources"])
        policy = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
                  "metadata": {"name": "quarantine", "namespace": "default"},
                  "spec": {"endpointSelector": {"matchLabels": {"quarantine": "true"}},
                           "ingressDeny": [{"fromEntities": ["all"]}], "egressDeny": [{"toEntities": ["all"]}]}}
        created = api.post("/apis/cilium.io/v2/namespaces/default/ciliumnetworkpolicies", json=policy)
        assert created.status_code == 201, created.text
    jailed = ep("default", "web-1-x", "10.244.1.50", app="web", quarantine="true")
    peer = ep("default", "api-1-y", "10.244.2.51", app="api")
    engine = cluster.controller_ctx.extras["policy"]
    verdict = engine.evaluate(jailed, peer, 8080, "TCP")
    assert verdict.verdict == "DROPPED" and verdict.drop_reason == "POLICY_DENY" and verdict.direction == "EGRESS"
    assert [(p.name, p.namespace, p.kind) for p in verdict.egress_denied_by] == [
        ("quarantine", "default", "CiliumNetworkPolicy")]
    assert engine.evaluate(peer, jailed, 8080, "TCP").ingress_denied_by[0].name == "quarantine"
    assert engine.evaluate(peer, ep("default", "db-1-z", "10.244.2.52", app="db"), 5432, "TCP").allowed
    cluster.flowlog.append([FlowRecord(
        time=cluster.clock.now(), source=jailed, destination=peer, destination_port=8080, tcp_flags=("SYN",),
        verdict=verdict.verdict, drop_reason=verdict.drop_reason, egress_denied_by=verdict.egress_denied_by)])
    [flow] = get(stub, number=1, whitelist=[F.FlowFilter(source_pod=["default/web-1"],
                                                         drop_reason_desc=[F.POLICY_DENY])])
    assert flow.egress_denied_by[0].kind == "CiliumNetworkPolicy" and flow.drop_reason == 181
