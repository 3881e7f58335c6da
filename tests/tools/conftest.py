"""Fixtures for the tool tests: a real Prometheus server (Debian `prometheus` binary) for any scrape target.

`prometheus_factory(targets)` starts one Prometheus per call, scraping every target URL (e.g. a
`SimCluster.metrics_url`) once a second, waits for `/-/ready`, and stops it when the module ends. Tests
are skipped when the binary is missing (`scripts/test` installs it).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from net_support import free_port, wait_for

PROMETHEUS = shutil.which("prometheus")


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _config(targets: list[str]) -> str:
    lines = ["global: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 1s}", "scrape_configs:"]
    for i, target in enumerate(targets):
        parts = urlsplit(target)
        lines += [f"  - job_name: target-{i}", f"    metrics_path: {parts.path or '/metrics'}",
                  f"    scheme: {parts.scheme or 'http'}", f"    static_configs: [{{targets: ['{parts.netloc}']}}]"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prometheus_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[list[str]], str]]:
    """Start a Prometheus scraping `targets` (URLs) every second; returns its base URL."""
    if PROMETHEUS is None:
        pytest.skip("the prometheus binary is not installed (Debian package `prometheus`; scripts/test installs it)")
    procs: list[tuple[subprocess.Popen[bytes], object]] = []

    def start(targets: list[str]) -> str:
        root: Path = tmp_path_factory.mktemp("prometheus")
        config = root / "prometheus.yml"
        config.write_text(_config(targets))
        port = free_port()
        log = (root / "prometheus.log").open("w")
        proc = subprocess.Popen([str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={root / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                stdout=log, stderr=subprocess.STDOUT)
        procs.append((proc, log))
        url = f"http://127.0.0.1:{port}"
        wait_for("prometheus ready", lambda: _ready(url) or proc.poll() is not None, timeout_s=20)
        if proc.poll() is not None:
            raise AssertionError(f"prometheus exited: {(root / 'prometheus.log').read_text()[-2000:]}")
        return url

    yield start
    for proc, log in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()  # type: ignore[attr-defined]
