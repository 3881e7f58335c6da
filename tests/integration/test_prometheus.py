"""A real Prometheus scrapes the simulated cluster's `/metrics`; PromQL sees the sim's story.

Covers: the plain-HTTP scrape endpoint of a running `SimCluster` (`metrics_url`), `promtool check
metrics` on its body, kube-state-metrics series queried with PromQL, and a backend failure (the
backend scaled to 0) turning `sum(rate(http_requests_total{service="frontend",code=~"5.."}[..]))`
from 0 into > 0 through the traffic model.

Uses the Debian `prometheus` binary from PATH (skipped when it is not installed; `scripts/test`
installs it). Pods run on the plain `DefaultRuntime` (every server healthy and ready) so the test sees
the traffic and metrics path only; the behaviour model has its own tests. Rates are per *wall* second
at clock speed 10, i.e. 10x the sim rps - fine for "zero vs. non-zero".
"""

from __future__ import annotations

import copy
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.sim.controllers.runtime import DefaultRuntime

pytestmark = pytest.mark.timeout(120)
PROMETHEUS = shutil.which("prometheus")
FRONTEND_5XX = 'sum(rate(http_requests_total{namespace="shop",service="frontend",code=~"5.."}[5s]))'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "web", "image": "nginx:1.27", "ports": [{"name": "http", "containerPort": 80}],
                          "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}}}


def _service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "shop"},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


def _wait(what: str, check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture
def shop_cluster() -> Iterator[SimCluster]:
    cluster = SimCluster(ClusterOptions(name="prom-test", speed=10.0))
    cluster.controller_ctx.extras["container_runtime"] = DefaultRuntime()
    for key in ("serving", "usage", "behaviour"):  # the behaviour model's seams, registered with its runtime
        cluster.controller_ctx.extras.pop(key, None)
    cluster.start()

    def setup() -> None:
        for obj in ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
                    _deployment("frontend", 2), _service("frontend"), _deployment("backend", 2), _service("backend")):
            rt = cluster.registry.by_kind(obj["apiVersion"], obj["kind"])
            assert rt is not None
            cluster.store.create(rt, obj)

    try:
        cluster.call_in_loop(setup)
        _wait("frontend and backend available", lambda: all(_available(cluster, n) == 2
                                                            for n in ("frontend", "backend", "coredns")))
        cluster.call_in_loop(lambda: cluster.traffic.load([{"from": "shop/frontend", "to": "shop/backend",
                                                             "rps": 20}]))
        yield cluster
    finally:
        cluster.stop()


def _available(cluster: SimCluster, name: str) -> int:
    rt = cluster.registry.by_kind("apps/v1", "Deployment")
    assert rt is not None
    ns = "kube-system" if name == "coredns" else "shop"
    obj = cluster.store.try_get(rt, ns, name)
    return int(((obj or {}).get("status") or {}).get("availableReplicas") or 0)


@pytest.fixture
def prometheus(shop_cluster: SimCluster, tmp_path: Path) -> Iterator[str]:
    if PROMETHEUS is None:
        pytest.skip("the prometheus binary is not installed (Debian package `prometheus`; scripts/test installs it)")
    target = shop_cluster.metrics_url.removeprefix("http://").split("/", 1)[0]
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                      "scrape_configs:\n"
                      "  - job_name: prophet-sim\n"
                      "    metrics_path: /metrics\n"
                      f"    static_configs: [{{targets: ['{target}']}}]\n")
    port = _free_port()
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait("prometheus ready", lambda: _ready(url), timeout_s=20)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def test_prometheus_sees_backend_failure_as_frontend_5xx(shop_cluster: SimCluster, prometheus: str) -> None:
    from prometheus_api_client import PrometheusConnect
    from urllib3.util import Retry

    prom = PrometheusConnect(url=prometheus, disable_ssl=True, retry=Retry(total=0))

    def scalar(query: str) -> float | None:
        result = prom.custom_query(query)
        return float(result[0]["value"][1]) if result else None

    body = httpx.get(shop_cluster.metrics_url, timeout=5).text
    lint = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True, timeout=30) \
        if shutil.which("promtool") else None
    assert lint is None or lint.returncode == 0, lint.stdout + lint.stderr

    avail = 'kube_deployment_status_replicas_available{namespace="shop",deployment="backend"}'
    _wait("backend available in Prometheus", lambda: scalar(avail) == 2)
    _wait("frontend traffic in Prometheus",
          lambda: (scalar('sum(rate(http_requests_total{namespace="shop",service="frontend"}[5s]))') or 0) > 0)
    assert (scalar(FRONTEND_5XX) or 0.0) == 0.0

    def scale_backend_to_zero() -> None:
        rt = shop_cluster.registry.by_kind("apps/v1", "Deployment")
        assert rt is not None
        obj = copy.deepcopy(shop_cluster.store.get(rt, "shop", "backend"))
        obj["spec"]["replicas"] = 0
        shop_cluster.store.update(rt, obj)

    shop_cluster.call_in_loop(scale_backend_to_zero)
    _wait("frontend 5xx in Prometheus", lambda: (scalar(FRONTEND_5XX) or 0) > 0, timeout_s=30)
    _wait("backend unavailable in Prometheus", lambda: scalar(avail) == 0)
    drops = scalar('sum(hubble_drop_total{reason="SERVICE_BACKEND_NOT_FOUND"})')
    assert drops is not None and drops > 0
    up = scalar('up{job="prophet-sim"}')
    assert up == 1.0
