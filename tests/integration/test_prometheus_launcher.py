"""`prophet_sre.sim.prometheus.PrometheusServer`: a real Prometheus (Debian binary) scraping a simulator.

Covers start/stop (the URL answers, then stops answering and the temp dir is removed), the sim's
metrics becoming queryable through `PrometheusTool`, the context-manager form, a bad target URL, a
server that exits early (error carries its log), and a missing binary (PATH without it) ->
`ToolUnavailable` with the install hint. Skipped when the binary is not installed, except the
missing-binary test, which needs no binary.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from prophet_sre.errors import InvalidInput, ToolUnavailable
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.sim.prometheus import PrometheusServer, prometheus_binary, scrape_config
from prophet_sre.tools.prometheus import PrometheusTool

pytestmark = pytest.mark.timeout(120)
needs_binary = pytest.mark.skipif(prometheus_binary() is None, reason="Debian package `prometheus` not installed")


@pytest.fixture(scope="module")
def cluster() -> SimCluster:
    c = SimCluster(ClusterOptions(speed=50.0))
    c.start()
    yield c
    c.stop()


@needs_binary
def test_start_stop_and_sim_metrics_queryable(cluster: SimCluster) -> None:
    server = PrometheusServer([cluster.metrics_url])
    url = server.start()
    root = server.root
    assert root is not None and root.is_dir()
    try:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
        tool = PrometheusTool(url, timeout_s=5.0)
        deadline = time.monotonic() + 30
        samples = []
        while time.monotonic() < deadline:
            samples = tool.instant('up{job="target-0"}')
            if samples and samples[0].value == 1.0:
                break
            time.sleep(0.5)
        assert samples and samples[0].value == 1.0, samples
        # a series that only the simulator exports (kube-state-metrics style)
        names = tool.instant('count({__name__=~"kube_.*"})')
        assert names and names[0].value > 0
    finally:
        server.stop()
    assert not server.running
    assert not root.exists(), "the temp dir it made is removed"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/-/ready", timeout=1)
    server.stop()  # idempotent


@needs_binary
def test_context_manager_with_own_root(tmp_path: Path) -> None:
    with PrometheusServer([], root=tmp_path / "p") as server:
        assert httpx.get(f"{server.url}/-/ready", timeout=2).status_code == 200
    assert not server.running
    assert (tmp_path / "p" / "prometheus.yml").exists(), "a given root is kept"


@needs_binary
def test_exit_before_ready_reports_the_log(tmp_path: Path) -> None:
    server = PrometheusServer([], root=tmp_path)
    # a data dir that is a file: prometheus cannot open its TSDB and exits
    (tmp_path / "data").write_text("not a directory")
    with pytest.raises(ToolUnavailable, match="prometheus exited") as info:
        server.start(timeout_s=20)
    assert "data" in str(info.value)
    assert not server.running


def test_missing_binary_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert prometheus_binary() is None
    with pytest.raises(ToolUnavailable, match="install the Debian/Ubuntu package `prometheus`"):
        PrometheusServer(["http://127.0.0.1:1/metrics"]).start()


def test_bad_target_and_interval_are_clear_errors() -> None:
    with pytest.raises(InvalidInput, match="not a URL"):
        scrape_config(["localhost:9090"])
    with pytest.raises(InvalidInput, match="scrape_interval_s"):
        PrometheusServer([], scrape_interval_s=0)
    text = scrape_config(["https://127.0.0.1:6443/metrics"], 2.0)
    assert "scrape_interval: 2s" in text and "insecure_skip_verify" in text
