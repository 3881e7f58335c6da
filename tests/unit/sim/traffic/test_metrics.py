"""`/metrics` rendering and serving on the in-process harness.

Covers: text-format validity (one HELP/TYPE per family, label escaping, no timestamps), counters that
only grow and agree with the traffic model, kube-state-metrics series and value rules, cAdvisor
integrals over sim time (CPU, CFS throttling, OOM events) with a fake usage function, and the plain
HTTP server (keep-alive, gzip, 404). A real Prometheus scraping it: tests/integration/test_prometheus.py.
"""

from __future__ import annotations

import asyncio
import gzip
import re
from typing import Any

from prophet_sre.sim.metrics import ClusterMetrics, MetricsServer
from prophet_sre.sim.metrics.cadvisor import ContainerMeter, ContainerState, throttle_share
from prophet_sre.sim.metrics.text import Exposition, sample

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? '
                  r'(-?[0-9.e+-]+|NaN|[+-]Inf)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Samples of an exposition; asserts the grammar and one HELP/TYPE per family."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name = line.split()[2]
            assert name not in typed, f"second TYPE for {name}"
            typed.add(name)
            continue
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, f"bad sample line: {line!r}"
        key = (m.group(1), frozenset(LABEL.findall(m.group(2) or "")))
        assert key not in out, f"duplicate series {line!r}"
        out[key] = float(m.group(3))
    return out


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def test_text_format_escaping_and_grouping() -> None:
    exp = Exposition()
    fam = exp.family("x_total", "counter", "An x.")
    fam.add({"a": 'q"uo\\te\nnl'}, 1.5)
    exp.family("y", "gauge", "A y.").add({}, float("inf"))
    fam.add((("a", "b"),), 2)
    text = exp.render()
    assert text.splitlines()[:4] == ["# HELP x_total An x.", "# TYPE x_total counter",
                                     'x_total{a="q\\"uo\\\\te\\nnl"} 1.5', 'x_total{a="b"} 2']
    assert "y +Inf" in text and text.endswith("\n")
    assert sample("z", {}, 3.0) == "z 3"


def test_metrics_agree_with_the_traffic_model_and_only_grow(shop: Any) -> None:
    metrics = ClusterMetrics(shop.h.ctx)
    shop.run(10)
    first = parse(metrics.render())
    shop.knobs.add("error_rate", "shop/backend", {"share": 1.0}, since_s=shop.now())
    shop.run(10)
    second = parse(metrics.render())
    for key, v in first.items():
        if key[0].endswith(("_total", "_count", "_sum", "_bucket")):
            assert second.get(key, v) >= v, key
    assert value(second, "http_requests_total", service="frontend") == shop.requests("frontend")
    assert value(second, "http_requests_total", service="frontend", code="502") >= 450
    assert value(first, "http_requests_total", service="frontend", code="502") == 0
    assert value(second, "http_request_duration_seconds_count", service="backend") == shop.requests("backend")
    assert value(second, "http_request_duration_seconds_bucket", service="backend", le="+Inf") == \
        shop.requests("backend")
    assert value(second, "hubble_flows_processed_total", type="L7", subtype="HTTP") == \
        2 * sum(shop.model.counters.http_requests.values())
    assert value(second, "coredns_dns_requests_total") == value(second, "coredns_dns_responses_total") > 0
    # the backend's client pools to the db: 2 backend pods x the default 10 connections
    assert value(second, "db_pool_connections_max", service="backend", pool="db") == 20
    assert value(second, "prophet_sim_elapsed_seconds") > 0


def test_kube_state_series(shop: Any) -> None:
    shop.scale("backend", 3)
    shop.run(5)
    s = parse(ClusterMetrics(shop.h.ctx).render())
    assert value(s, "kube_deployment_spec_replicas", namespace="shop", deployment="backend") == 3
    assert value(s, "kube_deployment_status_replicas_available", namespace="shop", deployment="backend") == 3
    assert value(s, "kube_deployment_status_condition", deployment="backend", condition="Available",
                 status="true") == 1
    pod = shop.h.list("Pod", "shop", labels={"app": "db"})[0]["metadata"]
    assert value(s, "kube_pod_status_phase", pod=pod["name"], phase="Running", uid=pod["uid"]) == 1
    assert value(s, "kube_pod_status_phase", pod=pod["name"], phase="Pending") == 0
    assert value(s, "kube_pod_status_ready", pod=pod["name"], condition="true") == 1
    assert value(s, "kube_pod_container_status_restarts_total", pod=pod["name"], container="web") == 0
    assert value(s, "kube_pod_container_resource_requests", pod=pod["name"], resource="cpu", unit="core") == 0.1
    assert value(s, "kube_node_status_condition", condition="Ready", status="true") >= 3
    assert value(s, "kube_node_spec_unschedulable") == 0
    assert not [k for k in s if k[0] == "kube_pod_container_status_waiting_reason" and ("namespace", "shop") in k[1]]


def test_waiting_and_last_terminated_reasons() -> None:
    from prophet_sre.sim.metrics.kube_state import pod_lines

    pod = {"metadata": {"name": "p", "namespace": "n", "uid": "u"}, "spec": {"containers": [{"name": "c"}]},
           "status": {"phase": "Running", "containerStatuses": [
               {"name": "c", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}}
    lines = pod_lines(pod)
    assert lines["kube_pod_container_status_waiting_reason"] == [
        'kube_pod_container_status_waiting_reason{namespace="n",pod="p",uid="u",container="c",'
        'reason="CrashLoopBackOff"} 1']
    assert 'reason="OOMKilled"} 1' in lines["kube_pod_container_status_last_terminated_reason"][0]
    assert lines["kube_pod_container_status_restarts_total"][0].endswith(" 4")


def test_cadvisor_integrates_usage_over_sim_time(shop: Any) -> None:
    shop.h.ctx.extras["usage"] = lambda pod: {"web": (0.25, 50 * 2**20)}
    meter = ContainerMeter(shop.h.ctx)
    meter.advance()
    for _ in range(10):
        shop.h.clock.advance(1.0)
        meter.advance()
    exp = Exposition()
    meter.collect(exp)
    s = parse(exp.render())
    pod = shop.h.list("Pod", "shop", labels={"app": "db"})[0]["metadata"]["name"]
    assert abs(value(s, "container_cpu_usage_seconds_total", pod=pod, container="web") - 2.5) < 1e-6
    assert value(s, "container_memory_working_set_bytes", pod=pod) == 50 * 2**20
    assert not [k for k in s if k[0] == "container_cpu_cfs_periods_total"]  # no CPU limit, no CFS series


def test_cfs_throttling_and_oom_events() -> None:
    assert throttle_share(0.5, 1.0) == 0 and throttle_share(1.0, 1.0) == 0.9
    st = ContainerState("n", "p", "c", "img")
    cs = {"lastState": {"terminated": {"reason": "OOMKilled", "finishedAt": "t1", "containerID": "a"}}}
    ContainerMeter._oom(st, cs)
    ContainerMeter._oom(st, cs)  # the same termination seen again
    ContainerMeter._oom(st, {"lastState": {"terminated": {"reason": "OOMKilled", "finishedAt": "t2",
                                                          "containerID": "b"}}})
    assert st.oom_events == 2


def test_http_server_keepalive_gzip_and_404(shop: Any) -> None:
    shop.run(3)
    server = MetricsServer(shop.h.ctx)

    async def scenario() -> list[tuple[bytes, bytes]]:
        await server.start()
        try:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            out = []
            for req in (b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                        b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
                        b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"):
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
                out.append((head, await reader.readexactly(length)))
            writer.close()
            return out
        finally:
            await server.stop()

    (h1, b1), (h2, b2), (h3, _) = asyncio.run(scenario())
    assert h1.startswith(b"HTTP/1.1 200") and b"text/plain; version=0.0.4" in h1
    assert b"Content-Encoding: gzip" in h2 and gzip.decompress(b2).startswith(b"# HELP")
    assert b"kube_pod_status_phase" in b1 and h3.startswith(b"HTTP/1.1 404")
    assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/metrics")
