"""The Prometheus tool and the anomaly scores, against a real Prometheus scraping a simulated cluster.

Covers:
- anomaly scoring on synthetic series: constant baseline, noisy baseline, a spike, a one-sample blip,
  recovery (one-sided), NaN/empty input, short baselines with and without a nominal level;
- the client boundary with a fake client (the transport seam): label summarisation, top-N within the
  budget, error translation (400 -> InvalidQuery with Prometheus's text, 503 -> ToolUnavailable);
- against a real Prometheus (1 s scrapes of `SimCluster.metrics_url`; shop: frontend -> backend and
  frontend -> catalog): compact instant and range results, bad PromQL and a down server failing fast,
  and an injected `error_rate` on backend driving backend's error-ratio score over 0.8 while catalog
  stays low, both in the `AnomalyReport` and as a `Finding` from `PrometheusSource`.
Not covered here: the pod-level signals' values on live data (the sim's container usage model has its
own tests); they are exercised through the owner mapping only.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from net_support import free_port, wait_for
from prometheus_api_client import PrometheusApiClientException

from prophet_sre import errors
from prophet_sre.domain import FindingSource, ResourceRef
from prophet_sre.tools import anomaly
from prophet_sre.tools.analyze import Scope, analyze
from prophet_sre.tools.budget import Budget
from prophet_sre.tools.prometheus import PrometheusTool, split_common
from prophet_sre.tools.signals import AnomalyDetector, PrometheusSource, Windows, workload_of_pod

NS = "shop"


# -- anomaly scoring on synthetic series -------------------------------------------------------------------
def test_constant_zero_baseline_spike_scores_high_and_flat_scores_low() -> None:
    flat = anomaly.robust_score([0.0] * 30, [0.0] * 8, floor=0.01, nominal=0.0)
    assert flat.score < 0.02 and flat.z == 0
    spike = anomaly.robust_score([0.0] * 30, [0.42] * 8, floor=0.01, nominal=0.0)
    assert spike.score > 0.99 and spike.baseline == 0 and spike.value == pytest.approx(0.42)
    small = anomaly.robust_score([0.0] * 30, [0.005] * 8, floor=0.01, nominal=0.0)  # below the floor
    assert small.score < 0.05


def test_noisy_baseline_needs_a_real_deviation() -> None:
    base = [0.10 + 0.02 * math.sin(i) for i in range(60)]  # 0.08..0.12
    normal = anomaly.robust_score(base, [0.11, 0.09, 0.12, 0.10], floor=0.001)
    assert normal.score < 0.2
    high = anomaly.robust_score(base, [0.30] * 6, floor=0.001)
    assert high.score > 0.95 and high.z > 5


def test_outliers_in_the_baseline_do_not_hide_the_next_incident() -> None:
    base = [0.0] * 50 + [0.9] * 10  # an earlier incident inside the baseline
    s = anomaly.robust_score(base, [0.5] * 5, floor=0.01, nominal=0.0)
    assert s.baseline == 0 and s.score > 0.99


def test_one_odd_sample_and_recovery_stay_low() -> None:
    blip = anomaly.robust_score([0.0] * 30, [0.0, 0.0, 0.8, 0.0, 0.0], floor=0.01)
    assert blip.score < 0.02
    recovered = anomaly.robust_score([0.4] * 30, [0.0] * 5, floor=0.01)
    assert recovered.score < 0.01 and recovered.z < 0


def test_nan_empty_and_short_baselines() -> None:
    assert anomaly.robust_score([], [], floor=0.01).reason == "no data"
    assert anomaly.robust_score([0.1] * 5, [math.nan, math.inf], floor=0.01).reason == "no data"
    nominal = anomaly.robust_score([math.nan], [0.5, 0.5], floor=0.01, nominal=0.0)
    assert nominal.score > 0.99 and nominal.baseline == 0
    waiting = anomaly.robust_score([0.2], [0.5], floor=0.01)
    assert waiting.score == 0 and waiting.reason == "no baseline yet" and waiting.value == 0.5


def test_logistic_calibration() -> None:
    assert anomaly.logistic(0) < 0.02
    assert anomaly.logistic(3) == pytest.approx(0.5)
    assert 0.8 < anomaly.logistic(4) < 0.85
    assert anomaly.logistic(5) > 0.95 and anomaly.logistic(1e9) == 1.0 and anomaly.logistic(-1e9) == 0.0


def test_split_points_and_report_grouping() -> None:
    pts = [(float(t), float(t)) for t in range(100)]
    base, rec = anomaly.split_points(pts, now=99, recent_s=10, baseline_s=30)
    assert rec == [float(t) for t in range(89, 100)] and base == [float(t) for t in range(59, 89)]
    svc = ResourceRef(kind="Service", namespace=NS, name="a")
    hi = anomaly.SignalScore(signal="error_ratio", ref=svc, score=anomaly.Score(score=0.97), message="m1")
    lo = anomaly.SignalScore(signal="latency_p99", ref=svc, score=anomaly.Score(score=0.2), message="m2")
    rep = anomaly.build_report([lo, hi], threshold=0.8, baseline_s=30, recent_s=10)
    assert [w.strongest.signal for w in rep.workloads] == ["error_ratio"] and rep.score_of(svc) == 0.97
    assert "0.97" in rep.render(Budget())[0] and rep.workload_scores() == {str(svc): 0.97}


def test_workload_of_pod() -> None:
    assert workload_of_pod(NS, "web-7d9f8c6b5-x2k4q") == ResourceRef(kind="Deployment", namespace=NS, name="web")
    assert workload_of_pod(NS, "db-0").kind == "Pod"


# -- the client boundary, with a fake client -------------------------------------------------------------
class FakeClient:
    def __init__(self, result: Any = None, exc: Exception | None = None) -> None:
        self.result, self.exc = result, exc

    def custom_query(self, query: str, params: dict[str, Any] | None = None) -> Any:
        if self.exc:
            raise self.exc
        return self.result

    def custom_query_range(self, query: str, start_time: Any, end_time: Any, step: str,
                           params: dict[str, Any] | None = None) -> Any:
        return self.custom_query(query)


def test_instant_result_is_summarised_and_bounded() -> None:
    rows = [{"metric": {"__name__": "up", "job": "sim", "pod": f"web-{i:03d}"}, "value": [0, str(i)]}
            for i in range(400)]
    tool = PrometheusTool("http://prom", client=FakeClient(rows), budget=Budget(300))
    r = tool.query("up", top=50)
    assert r.ok and r.truncated and r.tokens <= 300
    lines = r.text.splitlines()
    assert lines[1] == 'common labels: up{job="sim"}' and lines[2].startswith('{pod="web-399"}  399')
    assert "more series" in r.omitted and r.data["series"] == 400
    assert split_common([{"a": "1"}]) == ({}, [{"a": "1"}])


def test_errors_are_translated() -> None:
    bad = PrometheusApiClientException("HTTP Status Code 400 (b'{\"status\":\"error\",\"errorType\":\"bad_data\","
                                       "\"error\":\"1:5: parse error: unclosed left parenthesis\"}')")
    with pytest.raises(errors.InvalidQuery, match="unclosed left parenthesis") as e:
        PrometheusTool("http://prom", client=FakeClient(exc=bad)).instant("sum(")
    assert isinstance(e.value, errors.InvalidInput)
    busy = PrometheusApiClientException("HTTP Status Code 503 (b'Service Unavailable')")
    r = PrometheusTool("http://prom", client=FakeClient(exc=busy)).query("up")
    assert r.status == "error" and r.error_type == "ToolUnavailable"


# -- against a real Prometheus -------------------------------------------------------------------------------
def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "web", "image": "nginx:1.27", "ports": [{"name": "http", "containerPort": 80}],
                          "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}}}


def _service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


@pytest.fixture(scope="module")
def shop() -> Iterator[Any]:
    from prophet_sre.sim.cluster import ClusterOptions, SimCluster
    from prophet_sre.sim.controllers.runtime import DefaultRuntime

    cluster = SimCluster(ClusterOptions(name="prom-tool", speed=10.0))
    cluster.controller_ctx.extras["container_runtime"] = DefaultRuntime()  # every server healthy and ready
    for key in ("serving", "usage", "behaviour"):
        cluster.controller_ctx.extras.pop(key, None)
    cluster.start()

    def setup() -> None:
        for obj in ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
                    *(x for n in ("frontend", "backend", "catalog") for x in (_deployment(n, 2), _service(n)))):
            rt = cluster.registry.by_kind(obj["apiVersion"], obj["kind"])
            cluster.store.create(rt, copy.deepcopy(obj))

    def available(name: str) -> int:
        rt = cluster.registry.by_kind("apps/v1", "Deployment")
        obj = cluster.store.try_get(rt, NS, name) or {}
        return int((obj.get("status") or {}).get("availableReplicas") or 0)

    try:
        cluster.call_in_loop(setup)
        wait_for("shop available", lambda: all(available(n) == 2 for n in ("frontend", "backend", "catalog")))
        cluster.call_in_loop(lambda: cluster.traffic.load([
            {"from": f"{NS}/frontend", "to": f"{NS}/backend", "rps": 20},
            {"from": f"{NS}/frontend", "to": f"{NS}/catalog", "rps": 20}]))
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def prom(shop: Any, prometheus_factory: Callable[[list[str]], str]) -> PrometheusTool:
    tool = PrometheusTool(prometheus_factory([shop.metrics_url]), timeout_s=5.0)
    query = f'sum(rate(http_requests_total{{namespace="{NS}"}}[5s]))'
    wait_for("shop traffic in Prometheus", lambda: len(
        [p for s in tool.series(query, start=time.time() - 10, end=time.time(), step_s=1) for p in s.points]) >= 3)
    return tool


def test_query_and_range_are_compact(prom: PrometheusTool) -> None:
    r = prom.query(f'kube_pod_info{{namespace="{NS}"}}', top=2)
    assert r.ok and r.data["series"] == 6 and r.truncated
    assert f'namespace="{NS}"' in r.text.splitlines()[1]  # shared labels are printed once
    assert len([x for x in r.text.splitlines() if x.startswith("{")]) == 2
    rr = prom.query_range(f'sum by (service) (rate(http_requests_total{{namespace="{NS}"}}[5s]))',
                               minutes=0.5, step_s=1)
    assert rr.ok and rr.data["series"] == 3 and "trend:" in rr.text and rr.tokens <= prom.budget.max_tokens
    usage = prom.pod_usage(NS)
    assert all(isinstance(v.memory_mi, float) for v in usage.values())


def test_bad_promql_and_down_server_fail_fast(prom: PrometheusTool) -> None:
    t0 = time.monotonic()
    r = prom.query("sum(rate(http_requests_total[5m])")
    assert r.status == "error" and r.error_type == "InvalidQuery" and "parse error" in r.error
    down = PrometheusTool(f"http://127.0.0.1:{free_port()}", timeout_s=2.0)
    with pytest.raises(errors.ToolUnavailable, match="unreachable"):
        down.instant("up")
    assert down.query("up").error_type == "ToolUnavailable"
    assert time.monotonic() - t0 < 2.0
    report = analyze([PrometheusSource(AnomalyDetector(down))], Scope(namespace=NS))
    assert report.sources == {"prometheus": "failed"} and "unreachable" in report.notes[0]


def test_injected_error_rate_raises_the_right_score(shop: Any, prom: PrometheusTool) -> None:
    windows = Windows(baseline_s=30, recent_s=4, rate_s=4, step_s=1)
    det = AnomalyDetector(prom, windows=windows)
    backend, catalog = (ResourceRef(kind="Service", namespace=NS, name=n) for n in ("backend", "catalog"))
    wait_for("a baseline of error ratios", lambda: _baseline_points(det, backend) >= 8, timeout_s=20)
    before = det.report(NS)
    assert before.workloads == [], before.render(Budget())[0]
    assert before.score_of(backend, "error_ratio") < 0.2

    effect = shop.knobs.add("error_rate", f"{NS}/backend", {"share": 0.5})
    try:
        wait_for("backend's error ratio anomalous",
                 lambda: det.report(NS).score_of(backend, "error_ratio") > 0.8, timeout_s=20, every_s=0.5)
        rep = det.report(NS)
        top = next(w for w in rep.workloads if w.ref == backend)
        assert top.strongest.signal == "error_ratio" and top.score > 0.8
        assert rep.score_of(catalog) < 0.5 and all(w.ref != catalog for w in rep.workloads)
        found = PrometheusSource(det).findings(Scope(namespace=NS)).findings
        f = next(f for f in found if f.ref == backend and f.analyzer == "error_ratio")
        assert f.source == FindingSource.PROMETHEUS and f.errors[0].startswith("error ratio 0.")
        assert f.errors[0].endswith("(baseline 0.00) on service backend")
        assert f.evidence["score"] > 0.8 and "http_requests_total" in f.evidence["promql"]
        assert not any(f.ref == catalog for f in found)
        assert "error ratio" in det.report_tool(NS).text
    finally:
        shop.knobs.remove(effect.id)


def _baseline_points(det: AnomalyDetector, ref: ResourceRef) -> int:
    scores, _ = det.scores(NS)
    return max((s.score.n_baseline for s in scores if s.ref == ref and s.signal == "error_ratio"), default=0)
