"""The Hubble tool against the simulator's Relay-compatible gRPC server, and the east-west detectors.

A module cluster without controllers gets a fixed flow set written straight into `cluster.flowlog`
(namespace `hb-tools`): a quiet baseline (web -> api HTTP 200s and DNS lookups, a scanner pod touching
two peers) from ~6 min to ~1 min ago, then a recent minute with web -> api 20x200 + 10x503, 12
POLICY_DENIED drops web -> db:5432, 15 NXDOMAIN answers to web, 11 SERVICE_BACKEND_NOT_FOUND drops
to the Service `ghost`, a new web -> cache:6379 edge, and the scanner contacting 57 peers on 23 ports.
A second cluster runs the real traffic model with a `network_flood` fault.

Covers: the CLI's filter building (`--namespace` = two filters, one-side flags AND), filters on the
wire (namespace, verdict, protocol, http status, port, label, pod), last N, since, follow (bounded by
count and duration), ServerStatus, the service map's numbers, every detector firing on its pattern and
fan-out staying quiet on normal traffic (synthetic and traffic-model generated), jsonpb save/read round
trip and legacy `-o json` lines, `FindingSource` use through `analyze`, and fast, typed failures
(unreachable relay, bad filters). Not covered: TLS to a relay (the simulator serves plaintext only).
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from net_support import free_port, wait_for

from prophet_sre import errors
from prophet_sre.domain import FindingSource, ResourceRef
from prophet_sre.protos.flow import flow_pb2
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.sim.flows import FlowEndpoint, FlowL7, FlowRecord
from prophet_sre.tools import hubble_jsonpb, servicemap
from prophet_sre.tools.analyze import Scope, analyze
from prophet_sre.tools.budget import Budget
from prophet_sre.tools.eastwest import EastWestConfig, HubbleSource, detect
from prophet_sre.tools.hubble import HubbleTool
from prophet_sre.tools.hubble_flows import FlowFilterSpec, FlowView

NS, VICTIMS = "hb-tools", "hb-victims"
SCAN_PORTS = (21, 22, 23, 25, 53, 80, 110, 135, 139, 143, 443, 445, 993, 1433, 2379, 3306, 3389, 5432, 5900,
              6379, 8080, 9200, 27017)


def ep(ns: str, pod: str, ip: str, app: str, workload: str = "") -> FlowEndpoint:
    labels = tuple(sorted([f"k8s:app={app}", f"k8s:io.kubernetes.pod.namespace={ns}"]))
    return FlowEndpoint(ip=ip, namespace=ns, pod_name=pod, labels=labels, workload_name=workload or app,
                        workload_kind="Deployment", node_name="worker-1")


WEB = ep(NS, "web-7d9f-abcde", "10.244.1.10", "web")
API = ep(NS, "api-5c6d-fghij", "10.244.2.11", "api")
DB = ep(NS, "db-0", "10.244.2.12", "db", workload="db")
CACHE = ep(NS, "cache-6b7c-klmno", "10.244.2.13", "cache")
SCANNER = ep(NS, "scanner-5f5f-zzzzz", "10.244.1.66", "scanner")
DNS = ep("kube-system", "coredns-6d4b-aaaaa", "10.244.0.5", "kube-dns", workload="coredns")
GHOST_VIP = FlowEndpoint(ip="10.96.0.50", labels=("reserved:world",))


class Writer:
    """Builds FlowRecords at given times (seconds before `now`)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.records: list[FlowRecord] = []

    def add(self, ago: float, src: FlowEndpoint, dst: FlowEndpoint, **kw: Any) -> None:
        self.records.append(FlowRecord(time=self.now - timedelta(seconds=ago), source=src, destination=dst, **kw))

    def http(self, ago: float, src: FlowEndpoint, dst: FlowEndpoint, code: int, port: int = 8080) -> None:
        self.add(ago, src, dst, destination_port=port, source_port=40000, tcp_flags=("SYN",))
        self.add(ago - 0.001, dst, src, source_port=port, destination_port=40000, tcp_flags=("SYN", "ACK"),
                 is_reply=True)
        self.add(ago - 0.002, src, dst, destination_port=port, source_port=40000, traffic_direction="INGRESS",
                 l7=FlowL7(type="REQUEST", http_method="GET", http_url="/items"))
        self.add(ago - 0.05, dst, src, source_port=port, destination_port=40000, is_reply=True,
                 traffic_direction="INGRESS",
                 l7=FlowL7(type="RESPONSE", http_code=code, http_method="GET", http_url="/items",
                           latency_ns=48_000_000))

    def dns(self, ago: float, client: FlowEndpoint, query: str, rcode: int) -> None:
        self.add(ago, client, DNS, protocol="UDP", source_port=50000, destination_port=53,
                 l7=FlowL7(type="REQUEST", dns_query=query, dns_qtypes=("A",)))
        self.add(ago - 0.001, DNS, client, protocol="UDP", source_port=53, destination_port=50000, is_reply=True,
                 l7=FlowL7(type="RESPONSE", dns_query=query, dns_qtypes=("A",), dns_rcode=rcode))

    def syn(self, ago: float, src: FlowEndpoint, dst: FlowEndpoint, port: int, **kw: Any) -> None:
        self.add(ago, src, dst, destination_port=port, source_port=41000, tcp_flags=("SYN",), **kw)


def victim(i: int) -> FlowEndpoint:
    return ep(VICTIMS, f"victim-{i}", f"10.244.3.{i + 1}", "victim")


def write_world(cluster: SimCluster) -> Writer:
    w = Writer(cluster.clock.now())
    for ago in range(400, 69, -10):  # baseline: quiet and regular
        w.http(ago, WEB, API, 200)
        w.dns(ago - 1, WEB, "api.hb-tools.svc.cluster.local.", 0)
        w.syn(ago - 2, SCANNER, victim((ago // 10) % 2), 80)
    for i in range(30):  # the recent minute
        w.http(55 - i * 1.5, WEB, API, 503 if i % 3 == 0 else 200)
    for i in range(12):
        w.syn(50 - i, WEB, DB, 5432, verdict="DROPPED", drop_reason="POLICY_DENIED")
    for i in range(15):
        w.dns(45 - i, WEB, f"nope{i % 3}.hb-tools.svc.cluster.local.", 3)
    for i in range(11):
        w.syn(40 - i, WEB, GHOST_VIP, 80, verdict="DROPPED", drop_reason="SERVICE_BACKEND_NOT_FOUND",
              destination_service=("ghost", NS))
    for i in range(3):
        w.syn(30 - i, WEB, CACHE, 6379)
    for i in range(57):
        for port in (SCAN_PORTS[i % 23], SCAN_PORTS[(i + 7) % 23]):
            w.syn(58 - i * 0.8, SCANNER, victim(i), port)
    w.records.sort(key=lambda r: r.time)
    cluster.flowlog.append(w.records)
    return w


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[SimCluster, Writer]]:
    cluster = SimCluster(ClusterOptions(name="hubble-tool", controllers=False, workers=2))
    cluster.start()
    try:
        yield cluster, write_world(cluster)
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def tool(world: tuple[SimCluster, Writer]) -> Iterator[HubbleTool]:
    cluster, _ = world
    with HubbleTool(cluster.hubble_address, now=cluster.clock.now) as t:
        yield t


@pytest.fixture(scope="module")
def pinned(world: tuple[SimCluster, Writer]) -> Iterator[HubbleTool]:
    """A tool whose "now" is the moment the world was written, so windows cut the flow set exactly."""
    cluster, w = world
    with HubbleTool(cluster.hubble_address, now=lambda: w.now) as t:
        yield t


def _touches(r: FlowRecord, ns: str) -> bool:
    return ns in (r.source.namespace, r.destination.namespace)


# -- filters -------------------------------------------------------------------------------------------------
def test_filters_are_built_like_the_cli() -> None:
    both = FlowFilterSpec(namespace=["shop"]).whitelist()
    assert [list(f.source_pod) for f in both] == [["shop/"], []]
    assert [list(f.destination_pod) for f in both] == [[], ["shop/"]]
    one = FlowFilterSpec(from_pod=["shop/web"], to_port=[80], verdict=["dropped"]).whitelist()
    assert len(one) == 1 and list(one[0].source_pod) == ["shop/web"] and list(one[0].destination_port) == ["80"]
    assert list(one[0].verdict) == [flow_pb2.DROPPED]
    mixed = FlowFilterSpec(namespace=["shop"], protocol=["DNS"]).whitelist()
    assert len(mixed) == 2 and all(list(f.protocol) == ["dns"] for f in mixed)
    assert FlowFilterSpec().whitelist() == []


def test_filters_on_the_wire(world: tuple[SimCluster, Writer], tool: HubbleTool) -> None:
    _, w = world
    ns = tool.flows(FlowFilterSpec(namespace=[NS])).flows
    assert len(ns) == sum(_touches(r, NS) for r in w.records)
    dropped = tool.flows(FlowFilterSpec(namespace=[NS], verdict=["DROPPED"])).flows
    assert len(dropped) == 23 and all(f.dropped for f in dropped)
    assert len(tool.flows(FlowFilterSpec(namespace=[NS], protocol=["dns"])).flows) == 2 * 34 + 2 * 15
    errors_5xx = tool.flows(FlowFilterSpec(namespace=[NS], http_status=["5+"])).flows
    assert len(errors_5xx) == 10 and {f.http_code for f in errors_5xx} == {503}
    to_db = tool.flows(FlowFilterSpec(namespace=[NS], to_port=[5432])).flows
    assert len(to_db) == 12 + 5 and {f.destination.pod for f in to_db} == {"db-0", "victim-10", "victim-17",
                                                                          "victim-33", "victim-40", "victim-56"}
    scanner = tool.flows(FlowFilterSpec(from_label=["app=scanner"])).flows
    assert len(scanner) == 34 + 114 and {f.source.workload for f in scanner} == {"scanner"}
    web = tool.flows(FlowFilterSpec(pod=[f"{NS}/web-"])).flows
    assert web and all("web-" in (f.source.pod + f.destination.pod) for f in web)
    assert tool.flows(FlowFilterSpec(namespace=["nowhere"])).flows == []


def test_last_n_and_since(world: tuple[SimCluster, Writer], tool: HubbleTool) -> None:
    _, w = world
    mine = [r for r in w.records if _touches(r, NS)]
    last = tool.flows(FlowFilterSpec(namespace=[NS]), last=5).flows
    assert [f.time for f in last] == [r.time for r in mine[-5:]]
    cut = w.now - timedelta(seconds=30)
    recent = tool.flows(FlowFilterSpec(namespace=[NS]), since=cut).flows
    assert len(recent) == sum(r.time >= cut for r in mine) and all(f.time >= cut for f in recent)
    relative = tool.flows(FlowFilterSpec(namespace=[NS]), since=30).flows  # seconds before tool.now()
    assert 0 < len(relative) <= len(recent)
    text = tool.observe_tool(FlowFilterSpec(namespace=[NS]), last=3)
    assert text.ok and len(text.text.splitlines()) == 4 and "->" in text.text


def test_follow_is_bounded(world: tuple[SimCluster, Writer], tool: HubbleTool) -> None:
    cluster, _ = world
    fol = ep("hb-follow", "live-1111-aaaaa", "10.244.4.1", "live")
    peer = ep("hb-follow", "peer-2222-bbbbb", "10.244.4.2", "peer")

    def produce() -> None:
        time.sleep(0.4)
        for i in range(8):
            w = Writer(cluster.clock.now())
            w.syn(0, fol, peer, 9000 + i)
            cluster.flowlog.append(w.records)
            time.sleep(0.02)

    async def collect(max_flows: int, duration_s: float) -> list[int]:
        return [f.destination_port async for f in tool.follow(FlowFilterSpec(namespace=["hb-follow"]),
                                                              max_flows=max_flows, duration_s=duration_s)]

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    assert asyncio.run(collect(5, 10.0)) == [9000, 9001, 9002, 9003, 9004]
    producer.join()
    t0 = time.monotonic()
    assert asyncio.run(collect(5, 0.5)) == []  # nothing new: ends when the duration is over
    assert time.monotonic() - t0 < 3


def test_status(tool: HubbleTool, world: tuple[SimCluster, Writer]) -> None:
    st = tool.status()
    assert st.num_flows >= len(world[1].records) and st.max_flows > 0 and st.version
    r = tool.status_tool()
    assert r.ok and r.text.startswith("Healthcheck (via") and "Current/Max Flows" in r.text


# -- service map and detectors --------------------------------------------------------------------------------
def test_service_map_numbers(pinned: HubbleTool) -> None:
    smap = pinned.service_map(60, FlowFilterSpec(namespace=[NS]))
    api = smap.edge(f"{NS}/web", f"{NS}/api")
    assert api is not None and (api.requests, api.responses, api.errors) == (30, 30, 10)
    assert api.error_ratio == pytest.approx(1 / 3) and api.request_rate == pytest.approx(0.5)
    assert api.ports == ["8080/TCP"] and api.latency_ms == pytest.approx(48)
    db = smap.edge(f"{NS}/web", f"{NS}/db")
    assert db is not None and db.drops == 12 and db.drop_ratio == 1.0 and db.drop_reasons == {"POLICY_DENIED": 12}
    ghost = smap.edge(f"{NS}/web", f"{NS}/ghost (service)")
    assert ghost is not None and ghost.drop_reasons == {"SERVICE_BACKEND_NOT_FOUND": 11}
    dns = smap.edge(f"{NS}/web", "kube-system/coredns")
    assert dns is not None and (dns.dns_queries, dns.dns_errors, dns.dns_rcodes) == (15, 15, {"NXDOMAIN": 15})
    cache = smap.edge(f"{NS}/web", f"{NS}/cache")
    assert cache is not None and cache.connections == 3 and cache.drop_ratio == 0
    text, _ = smap.render(Budget(400))
    assert len(text) <= Budget(400).max_chars and text.splitlines()[1].startswith(f"{NS}/web -> ")
    assert pinned.service_map_tool(60, FlowFilterSpec(namespace=[NS])).tokens <= pinned.budget.max_tokens


def test_eastwest_detectors_fire_on_their_patterns(pinned: HubbleTool) -> None:
    source = HubbleSource(pinned, config=EastWestConfig(window_s=60, baseline_s=340))
    found = {(f.analyzer, str(f.ref)): f for f in source.report(NS).findings}
    fan = found[("eastwest.fanout", f"{NS}/pod/{SCANNER.pod_name}")]
    assert fan.errors == [f"pod {NS}/{SCANNER.pod_name} contacted 57 peers on 23 ports in 60s (baseline 2)"]
    assert fan.source == FindingSource.HUBBLE and fan.parent == ResourceRef(kind="Deployment", namespace=NS,
                                                                            name="scanner")
    assert not any(a == "eastwest.fanout" and "web" in r for a, r in found)  # normal traffic stays quiet
    drops = found[("eastwest.drops", f"{NS}/pod/{WEB.pod_name}")]
    assert "12 flows dropped (POLICY_DENIED 12)" in drops.errors[0] and f"{NS}/db:5432" in drops.errors[0]
    ghost = found[("eastwest.drops", f"{NS}/service/ghost")]
    assert ghost.errors[0].startswith(f"service {NS}/ghost has no backends: 11 connections dropped")
    dns = found[("eastwest.dns", f"{NS}/pod/{WEB.pod_name}")]
    assert dns.errors[0].startswith(f"pod {NS}/{WEB.pod_name} got 15 NXDOMAIN answers in 60s for 3 names")
    new = found[("eastwest.new_edge", f"{NS}/pod/{WEB.pod_name}")]
    assert f"{NS}/cache:6379" in new.errors[0] and new.severity == "warning"
    assert len(found) == 5, sorted(found)
    report = analyze([source], Scope(namespace=NS))
    assert report.sources == {"hubble": "ok"} and len(report.findings) == 5
    assert "eastwest.fanout" in source.report_tool(NS).text


def test_jsonpb_round_trip(tool: HubbleTool, tmp_path: Path) -> None:
    path = tmp_path / "flows.jsonl"
    spec = FlowFilterSpec(namespace=[NS])
    since = tool.now() - timedelta(seconds=60)
    n = tool.save_file(path, spec, since=since)
    live = tool.flows(spec, since=since).flows
    read = tool.read_file(path).flows
    assert n == len(live) == len(read) and read == live
    first = path.read_text().splitlines()[0]
    assert first.startswith('{"flow":{"time":"') and '"node_name":"hubble-tool/worker-1"' in first
    assert servicemap.build(read, window_s=60) == servicemap.build(live, window_s=60)
    legacy = tmp_path / "legacy.json"  # `hubble observe -o json`: bare flows
    legacy.write_text("\n".join(hubble_jsonpb.dumps_flow(r.flow) for r in
                                tool.responses(spec, last=4) if r.HasField("flow")) + "\n\n")
    assert tool.read_file(legacy).flows == live[-4:]
    assert detect(read).flows == len(read)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(first + "\nnot json\n")
    with pytest.raises(errors.InvalidQuery, match="bad.jsonl:2"):
        tool.read_file(bad)


def test_failures_are_fast_and_typed(tool: HubbleTool) -> None:
    t0 = time.monotonic()
    down = HubbleTool(f"127.0.0.1:{free_port()}", timeout_s=3)
    with pytest.raises(errors.ToolUnavailable, match="unavailable"):
        down.status()
    with pytest.raises(errors.ToolUnavailable):
        down.flows(last=5)
    assert down.observe_tool().error_type == "ToolUnavailable"

    async def follow_down() -> list[FlowView]:
        return [f async for f in down.follow(duration_s=5)]
    with pytest.raises(errors.ToolUnavailable):
        asyncio.run(follow_down())
    report = analyze([HubbleSource(down)], Scope())
    assert report.sources == {"hubble": "failed"} and "unavailable" in report.notes[0]
    assert time.monotonic() - t0 < 2
    with pytest.raises(errors.InvalidQuery, match="Hubble rejected"):
        tool.flows(FlowFilterSpec(dns_query=["("]))
    with pytest.raises(errors.InvalidQuery):
        tool.flows(FlowFilterSpec(verdict=["SOMETIMES"]))
    with pytest.raises(errors.InvalidQuery):
        tool.flows(last=5, since=60)


# -- the traffic model's flows --------------------------------------------------------------------------------
def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "flood"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "web", "image": "nginx:1.27", "ports": [{"name": "http", "containerPort": 80}]}]}}}}


def test_fanout_on_a_simulated_flood_and_not_on_normal_traffic() -> None:
    from prophet_sre.sim.controllers.runtime import DefaultRuntime

    cluster = SimCluster(ClusterOptions(name="hubble-flood", speed=5.0))
    cluster.controller_ctx.extras["container_runtime"] = DefaultRuntime()
    for key in ("serving", "usage", "behaviour"):
        cluster.controller_ctx.extras.pop(key, None)
    cluster.start()
    try:
        def setup() -> None:
            objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flood"}},
                    _deployment("frontend", 2), _deployment("backend", 2), _deployment("scanner", 1),
                    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "backend", "namespace": "flood"},
                     "spec": {"selector": {"app": "backend"}, "ports": [{"port": 80, "targetPort": "http"}]}}]
            for obj in objs:
                cluster.store.create(cluster.registry.by_kind(obj["apiVersion"], obj["kind"]), copy.deepcopy(obj))
        cluster.call_in_loop(setup)
        pods = cluster.registry.by_kind("v1", "Pod")
        wait_for("pods running", lambda: sum(1 for p in cluster.store.objects(pods)
                                             if p["metadata"].get("namespace") == "flood"
                                             and (p.get("status") or {}).get("podIP")) == 5)
        cluster.call_in_loop(lambda: cluster.traffic.load([{"from": "flood/frontend", "to": "flood/backend",
                                                             "rps": 5}]))
        config = EastWestConfig(window_s=10, baseline_s=60)
        with HubbleTool(cluster.hubble_address, now=cluster.clock.now) as t:
            source = HubbleSource(t, config=config)
            wait_for("normal traffic", lambda: len(t.flows(FlowFilterSpec(namespace=["flood"]), since=10).flows) > 50)
            quiet = source.report("flood")
            assert not [f for f in quiet.findings if f.analyzer == "eastwest.fanout"], quiet.findings
            cluster.knobs.add("network_flood", "flood/deployment/scanner", {"ports": 20, "rate": 100})
            wait_for("the flood seen", lambda: any(f.analyzer == "eastwest.fanout"
                                                   for f in source.report("flood").findings), timeout_s=15)
            fan = next(f for f in source.report("flood").findings if f.analyzer == "eastwest.fanout")
            assert fan.ref.name.startswith("scanner-") and "on 20 ports" in fan.errors[0]
    finally:
        cluster.stop()
