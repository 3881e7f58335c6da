"""Fixtures for the tool tests: a real Prometheus server (Debian `prometheus` binary) for any scrape target.

`prometheus_factory(targets)` starts one Prometheus per call (`prophet_sre.sim.prometheus.PrometheusServer`),
scraping every target URL (e.g. a `SimCluster.metrics_url`) once a second, waits for `/-/ready`, and stops
it when the module ends. Tests are skipped when the binary is missing (`scripts/test` installs it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from prophet_sre.sim.prometheus import PrometheusServer, prometheus_binary


@pytest.fixture(scope="module")
def prometheus_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[list[str]], str]]:
    """Start a Prometheus scraping `targets` (URLs) every second; returns its base URL."""
    if prometheus_binary() is None:
        pytest.skip("the prometheus binary is not installed (Debian package `prometheus`; scripts/test installs it)")
    servers: list[PrometheusServer] = []

    def start(targets: list[str]) -> str:
        server = PrometheusServer(targets, root=tmp_path_factory.mktemp("prometheus"), scrape_interval_s=1.0)
        servers.append(server)
        return server.start(timeout_s=20)

    yield start
    for server in servers:
        server.stop()
