"""The traffic model on the in-process harness.

Covers: request rates and counter consistency, the flow budget, error propagation along a
frontend -> backend -> db chain (faults, scaled-to-zero backends), connection-pool exhaustion and
its fix by scaling the caller, DNS failures (NXDOMAIN / SERVFAIL), policy drops (with a fake policy
engine), refused connections from the behaviour model, latency / degraded-cluster / flood knobs,
and determinism for a seed. Not covered here: the HTTP exposition (test_metrics.py) and a real
Prometheus (tests/integration/test_prometheus.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from prophet_sre.sim.flows import FlowEndpoint, PolicyRef


def test_rates_match_rps_and_hubble_counters_agree(shop: Any) -> None:
    shop.run(20)
    assert 990 <= shop.requests("frontend", "200") <= 1010  # external load at the root = its outgoing rps
    assert 990 <= shop.requests("backend", "200") <= 1010
    assert 990 <= shop.requests("db", "200") <= 1010
    assert shop.requests("frontend", prefix="5") == 0
    c = shop.model.counters
    served = sum(c.http_requests.values())
    assert c.hubble_flows[("HTTP", "L7", "HTTP", "FORWARDED")] == 2 * served
    assert c.hubble_tcp_flags[("SYN", "IPv4")] == served == c.hubble_tcp_flags[("SYN-ACK", "IPv4")]
    assert sum(c.hubble_http.values()) == served
    assert sum(c.dns_requests.values()) > 0  # background lookups from frontend and backend pods
    stats = shop.stats("shop/frontend")
    assert abs(stats.rps - 50) < 3 and stats.error_share == 0 and 0.005 < stats.latency_s < 0.1


def test_flows_carry_identity_workload_and_l7(shop: Any) -> None:
    mark = shop.flowlog.seen_flows
    shop.run(3)
    flows = shop.flows_since(mark)
    responses = [f for f in flows if f.l7 and f.l7.type == "RESPONSE" and f.l7.http_code]
    assert responses and all(f.is_reply for f in responses)
    to_backend = [f for f in flows if f.destination.workload_name == "backend" and f.l7 is None]
    assert to_backend
    f = to_backend[0]
    assert f.destination.workload_kind == "Deployment" and f.destination_service == ("backend", "shop")
    assert "k8s:app=backend" in f.destination.labels and f.destination.identity >= 256
    assert not any("pod-template-hash" in label for label in f.destination.labels)
    assert f.source.workload_name == "frontend" and f.source.node_name and f.node_name
    dns = [f for f in flows if f.l7 and f.l7.dns_query]
    assert dns and dns[0].l7.dns_query.endswith(".shop.svc.cluster.local.")
    assert [f.time for f in flows] == sorted(f.time for f in flows)


def test_flow_sampling_is_bounded_but_counters_are_exact(shop_factory: Any) -> None:
    s = shop_factory(edges=[{"from": "shop/frontend", "to": "shop/backend", "rps": 300}], max_flows_per_s=200)
    mark = s.flowlog.seen_flows
    s.run(5)
    assert len(s.flows_since(mark)) <= 5 * 200 * 1.15
    assert 1490 <= s.requests("backend", "200") <= 1510
    assert s.model.counters.hubble_flows[("HTTP", "L7", "HTTP", "FORWARDED")] >= 2 * 2 * 1490


def test_saturated_pods_queue_then_shed(shop_factory: Any) -> None:
    """Two backend pods limited to 0.2 CPU serve ~200 rps each: at 600 rps latency climbs and the excess fails."""
    s = shop_factory(edges=[{"from": "shop/frontend", "to": "shop/backend", "rps": 600}], max_flows_per_s=200,
                     replicas=(4, 2, 1))
    s.h.patch("Deployment", "shop", "backend", lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]
              .__setitem__("limits", {"cpu": "200m"}))
    s.run(30)
    assert s.stats("shop/backend").latency_s > 1.0 and s.requests("backend", "503") > 0
    s.scale("backend", 4)
    s.run(60)  # the queued backlog drains at (capacity - load) per second
    assert s.stats("shop/backend").latency_s < 0.1 and s.stats("shop/frontend").error_share < 0.01


def test_backend_errors_become_frontend_5xx(shop: Any) -> None:
    shop.run(5)
    shop.knobs.add("error_rate", "shop/db", {"share": 1.0, "code": 500}, since_s=shop.now())
    shop.run(10)
    assert shop.requests("db", "500") >= 450
    assert shop.requests("backend", "502") >= 450  # db 500 -> backend 502
    assert shop.requests("frontend", "502") >= 450  # -> frontend 502
    assert shop.stats("shop/frontend").error_share > 0.95


def test_partial_error_rate_propagates_proportionally(shop: Any) -> None:
    shop.knobs.add("error_rate", "shop/backend", {"percent": 20}, since_s=shop.now())
    shop.run(30)
    share = shop.requests("frontend", prefix="5") / shop.requests("frontend")
    assert 0.15 < share < 0.25


def test_backend_scaled_to_zero_means_503_and_backend_not_found(shop: Any) -> None:
    shop.run(3)
    mark = shop.flowlog.seen_flows
    shop.scale("backend", 0)
    shop.run(10)
    assert shop.requests("frontend", "503") >= 400
    assert shop.model.counters.hubble_drops[("SERVICE_BACKEND_NOT_FOUND", "TCP")] >= 400
    drops = [f for f in shop.flows_since(mark) if f.drop_reason == "SERVICE_BACKEND_NOT_FOUND"]
    assert drops and drops[0].verdict == "DROPPED" and drops[0].destination_service == ("backend", "shop")
    assert shop.stats("shop/frontend").error_share == 1.0
    shop.scale("backend", 2)
    shop.run(10)
    assert shop.stats("shop/frontend").error_share == 0.0


def test_pool_exhaustion_latency_recovers_when_the_backend_scales(shop: Any) -> None:
    shop.run(5)
    base = shop.stats("shop/frontend").latency_s
    shop.knobs.add("pool_exhaustion", "shop/db", {"pool_size": 10, "in_use": 12}, since_s=shop.now())
    shop.run(40)
    hot = shop.stats("shop/frontend")
    assert hot.latency_s > 2.0 and base < 0.1  # seconds, not milliseconds
    assert hot.error_share > 0.05  # pool timeouts turn into 5xx
    pools = shop.model.counters.pools
    assert len(pools) == 2 and all(g.in_use == 10 and g.max == 10 for g in pools.values())
    shop.scale("backend", 4)  # 4 pools of 10 instead of 2: demand per pool halves
    shop.run(60)
    cool = shop.stats("shop/frontend")
    assert cool.latency_s < 0.1 and cool.error_share < 0.01
    assert len(pools) == 4 and all(g.in_use <= 7 for g in pools.values())


def test_scaling_the_db_does_not_fix_a_client_pool(shop: Any) -> None:
    shop.knobs.add("pool_exhaustion", "shop/db", {"pool_size": 10, "in_use": 12}, since_s=shop.now())
    shop.run(30)
    shop.scale("db", 3)
    shop.run(40)
    assert shop.stats("shop/frontend").latency_s > 2.0


def test_dns_nxdomain_for_one_service(shop: Any) -> None:
    shop.run(3)
    mark = shop.flowlog.seen_flows
    shop.knobs.add("dns_failure", "shop/backend", {"rcode": "NXDOMAIN"}, since_s=shop.now())
    shop.run(10)
    flows = shop.flows_since(mark)
    answers = [f for f in flows if f.l7 and f.l7.type == "RESPONSE" and f.l7.dns_query.startswith("backend.shop")]
    assert answers and all(f.l7.dns_rcode == 3 and not f.l7.dns_ips for f in answers)
    db_answers = [f for f in flows if f.l7 and f.l7.type == "RESPONSE" and f.l7.dns_query.startswith("db.shop")]
    assert all(f.l7.dns_rcode == 0 and f.l7.dns_ips for f in db_answers)
    c = shop.model.counters
    assert sum(n for (_, rc), n in c.dns_responses.items() if rc == "NXDOMAIN") > 0
    assert c.hubble_dns_responses[("Non-Existent Domain", "A", "0")] > 0
    assert shop.stats("shop/frontend").error_share == 1.0 and shop.requests("frontend", "503") >= 450


def test_dns_servfail_for_one_workloads_lookups(shop: Any) -> None:
    """A workload target (`shop/deployment/frontend`) fails the lookups that workload makes, not others'."""
    shop.run(3)
    mark = shop.flowlog.seen_flows
    shop.knobs.add("dns_failure", "shop/deployment/frontend", {"rcode": "SERVFAIL"}, since_s=shop.now())
    shop.run(10)
    answers = [f for f in shop.flows_since(mark) if f.l7 and f.l7.type == "RESPONSE"]
    mine = [f for f in answers if f.l7.dns_query.startswith("backend.shop")]
    others = [f for f in answers if f.l7.dns_query.startswith("db.shop")]  # the backend's lookups
    assert mine and all(f.l7.dns_rcode == 2 for f in mine)
    assert others and all(f.l7.dns_rcode == 0 for f in others)
    assert shop.stats("shop/frontend").error_share == 1.0


def test_dns_servfail_cluster_wide(shop: Any) -> None:
    shop.knobs.add("dns_failure", "kube-system/coredns", {}, since_s=shop.now())
    shop.run(5)
    c = shop.model.counters
    assert sum(n for (_, rc), n in c.dns_responses.items() if rc == "SERVFAIL") > 0
    assert shop.stats("shop/frontend").error_share == 1.0 and shop.stats("shop/backend").rps == 0
    db = [f for f in shop.flowlog.snapshot() if f.l7 and f.l7.type == "RESPONSE" and f.l7.dns_query.startswith("db.")]
    assert db and db[-1].l7.dns_rcode == 2  # the backend cannot resolve the db either


@dataclass(frozen=True)
class FakeVerdict:
    allowed: bool
    drop_reason: str = ""
    egress_denied_by: tuple[PolicyRef, ...] = ()
    ingress_denied_by: tuple[PolicyRef, ...] = ()


class FakeQuarantine:
    """A FAKE policy engine (not the real one): pods labelled quarantine=true can neither call nor be
    called (an explicit deny, POLICY_DENY), DNS included. Records how often it was asked."""

    POLICY = PolicyRef("quarantine", "shop")

    def __init__(self) -> None:
        self.calls = 0

    def evaluate(self, src: FlowEndpoint, dst: FlowEndpoint, port: int, protocol: str) -> FakeVerdict:
        self.calls += 1
        if "k8s:quarantine=true" in src.labels:
            return FakeVerdict(False, "POLICY_DENY", egress_denied_by=(self.POLICY,))
        if "k8s:quarantine=true" in dst.labels:
            return FakeVerdict(False, "POLICY_DENY", ingress_denied_by=(self.POLICY,))
        return FakeVerdict(True)


def _quarantine_one_backend(shop: Any) -> str:
    pod = shop.h.list("Pod", "shop", labels={"app": "backend"})[0]
    name = pod["metadata"]["name"]
    shop.h.patch("Pod", "shop", name, lambda p: p["metadata"]["labels"].__setitem__("quarantine", "true"))
    return name


def test_policy_denied_connections_are_dropped_with_the_verdict(shop: Any) -> None:
    engine = FakeQuarantine()
    shop.h.ctx.extras["policy"] = engine
    shop.run(2)
    name = _quarantine_one_backend(shop)
    shop.run(1)  # responses already under way are still written
    mark = shop.flowlog.seen_flows
    shop.run(10)
    flows = shop.flows_since(mark)
    ingress = [f for f in flows if f.verdict == "DROPPED" and f.destination.pod_name == name]
    assert ingress and all(f.drop_reason == "POLICY_DENY" and f.ingress_denied_by == (FakeQuarantine.POLICY,)
                           and f.traffic_direction == "INGRESS" for f in ingress)
    egress = [f for f in flows if f.verdict == "DROPPED" and f.source.pod_name == name]
    assert egress and all(f.egress_denied_by and f.traffic_direction == "EGRESS" for f in egress)
    assert not [f for f in flows if f.verdict == "FORWARDED" and name in (f.source.pod_name, f.destination.pod_name)
                and f.l7 is not None]
    assert shop.model.counters.hubble_drops[("POLICY_DENY", "TCP")] > 0
    assert 0.3 < shop.stats("shop/frontend").error_share < 0.7  # one of two backends unreachable -> 504s
    assert shop.requests("frontend", "504") > 0
    assert engine.calls < 200  # verdicts are cached per tick and label set, not asked per request


def test_refused_connections_when_the_server_does_not_listen(shop: Any) -> None:
    """`extras["serving"]` (the behaviour model's seam) returning None = nothing listens: RST, caller 502."""
    shop.h.ctx.extras["serving"] = lambda pod, port, path: None if pod["metadata"]["labels"].get("app") == "db" \
        else 200
    mark = shop.flowlog.seen_flows
    shop.run(5)
    assert shop.requests("backend", "502") >= 200
    assert shop.requests("db") == 0
    rst = [f for f in shop.flows_since(mark) if f.tcp_flags == ("RST", "ACK")]
    assert rst and rst[0].is_reply and rst[0].source.workload_name == "db"


def test_latency_knob_and_degraded_cluster(shop: Any) -> None:
    shop.run(3)
    base = shop.stats("shop/frontend").latency_s
    eff = shop.knobs.add("latency", "shop/deployment/db", {"ms": 400}, since_s=shop.now())
    shop.run(3)
    assert shop.stats("shop/db").latency_s > 0.4 and shop.stats("shop/frontend").latency_s > base + 0.39
    shop.knobs.remove(eff.id)
    shop.knobs.add("cluster_degraded", "test", {"latency_ms": 1000, "error_share": 0.5}, since_s=shop.now())
    shop.run(10)
    assert shop.stats("shop/frontend").latency_s > 3.0 and shop.stats("shop/frontend").error_share > 0.5


def test_network_flood_produces_syn_and_rst(shop: Any) -> None:
    pod = shop.h.list("Pod", "shop", labels={"app": "frontend"})[0]["metadata"]["name"]
    shop.knobs.add("network_flood", f"shop/pod/{pod}", {"ports": [22, 80, 3306], "peers": 5, "rate": 300},
                   since_s=shop.now())
    mark = shop.flowlog.seen_flows
    shop.run(5)
    c = shop.model.counters
    assert c.hubble_tcp_flags[("SYN", "IPv4")] > 1500 + shop.requests("frontend")
    flood = [f for f in shop.flows_since(mark) if f.source.pod_name == pod and f.destination_port in (22, 3306)]
    assert flood and len({f.destination.ip for f in flood}) > 1
    replies = [f for f in shop.flows_since(mark) if f.destination.pod_name == pod and f.tcp_flags == ("RST", "ACK")]
    assert replies


def _signature(s: Any) -> list[tuple[Any, ...]]:
    return [(f.source.ip, f.destination.ip, f.verdict, f.drop_reason, f.tcp_flags, f.source_port,
             f.destination_port, f.l7.http_code if f.l7 else None, f.l7.latency_ns if f.l7 else None, f.uuid)
            for f in s.flowlog.snapshot()]


def test_deterministic_for_a_seed(shop_factory: Any) -> None:
    runs = []
    for _ in range(2):
        s = shop_factory(seed=42)
        s.knobs.add("error_rate", "shop/backend", {"share": 0.3}, since_s=s.now() + 3)
        s.run(8)
        runs.append((_signature(s), Counter({k[1:]: v for k, v in s.model.counters.http_requests.items()})))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    other = shop_factory(seed=43)
    other.run(8)
    assert _signature(other) != runs[0][0]


class FakeBehaviour:
    """A FAKE behaviour model (not the real one): records `set_load` / `log_request` calls and declares a
    client pool of 4 connections, 2 s timeout, for the backend image (`catalog.lookup(image).pool`)."""

    @dataclass(frozen=True)
    class Pool:
        size: int = 4
        timeout_ms: int = 2000

    @dataclass(frozen=True)
    class Spec:
        pool: Any = None

    def __init__(self) -> None:
        self.loads: dict[tuple[str, str], float] = {}
        self.lines: list[tuple[str, int]] = []
        self.catalog = self

    def lookup(self, image: str) -> Any:
        return self.Spec(self.Pool())

    def set_load(self, namespace: str, pod: str, rps: float) -> None:
        self.loads[(namespace, pod)] = rps

    def log_request(self, pod: dict[str, Any], port: int, method: str, path: str, code: int, client: str) -> None:
        self.lines.append((pod["metadata"]["name"], code))


def test_behaviour_hooks_load_access_logs_and_image_pools(shop: Any) -> None:
    fake = FakeBehaviour()
    shop.h.ctx.extras["behaviour"] = fake
    shop.run(5)
    backends = {p["metadata"]["name"] for p in shop.h.list("Pod", "shop", labels={"app": "backend"})}
    assert {k[1] for k in fake.loads} >= backends and all(20 <= fake.loads[("shop", b)] <= 30 for b in backends)
    assert fake.lines and len(fake.lines) <= 5 * 5 * 2  # at most 2 lines per pod and sim second
    pools = shop.model.counters.pools
    assert pools and all(g.max == 4 for g in pools.values())  # the caller image's pool size
    shop.scale("backend", 0)
    shop.run(5)
    assert all(fake.loads[("shop", b)] == 0 for b in backends)


def test_database_ports_are_plain_tcp(shop: Any) -> None:
    """A Postgres port carries no HTTP: L3/L4 flows only, no `http_requests_total` for it, and the behaviour
    model's `serving()` (HTTP only, None elsewhere) does not turn it into refused connections."""
    h = shop.h
    pg = h.deployment("pg", "shop", replicas=1)
    pg["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"name": "postgres", "containerPort": 5432,
                                                                 "protocol": "TCP"}]
    h.create(pg)
    h.create(h.service("pg", "shop", port=5432, target="postgres"))
    h.settle(lambda: any(h.running_ready(p) for p in h.list("Pod", "shop", labels={"app": "pg"})), max_s=30)
    h.ctx.extras["serving"] = lambda pod, port, path: 200 if port == 80 else None
    shop.model.load([{"from": "shop/backend", "to": "shop/pg", "rps": 30}, *[
        {"from": e.source.key, "to": e.target.key, "rps": e.rps} for e in shop.model.edges]])
    mark = shop.flowlog.seen_flows
    shop.run(5)
    assert shop.requests("pg") == 0 and shop.stats("shop/backend").error_share == 0
    to_pg = [f for f in shop.flows_since(mark) if f.destination.workload_name == "pg" or f.source.workload_name == "pg"]
    assert to_pg and all(f.l7 is None for f in to_pg)
    assert {f.tcp_flags for f in to_pg} == {("SYN",), ("SYN", "ACK"), ("ACK", "PSH")}
    pools = {k[3] for k in shop.model.counters.pools}
    assert "pg" in pools  # a database port gets the caller's connection pool
