"""Launch a real local Prometheus server that scrapes simulators (or any `/metrics` URL).

`prophet demo`, the eval harness and the tests need PromQL over the simulator's metrics, and the honest
way to get it is the real Prometheus server: the one operators run, with its own rate() and staleness
rules. This module starts the Debian `prometheus` binary on 127.0.0.1 (a free port, its own TSDB
directory, `--log.level=warn`), waits for `/-/ready`, and stops it again. It never downloads anything: a
missing binary is a `ToolUnavailable` naming the package to install.

    with PrometheusServer([cluster.metrics_url]) as prom:
        PrometheusTool(prom.url).query("up")
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO
from urllib.parse import urlsplit

import httpx

from prophet_sre.errors import InvalidInput, ToolUnavailable

log = logging.getLogger(__name__)

INSTALL_HINT = "install the Debian/Ubuntu package `prometheus` (apt-get install prometheus)"
_LOG_TAIL_CHARS = 2000


def prometheus_binary() -> Path | None:
    """The `prometheus` server binary on PATH (the Debian package puts it in /usr/bin), else None."""
    found = shutil.which("prometheus")
    return Path(found) if found else None


PORT_ATTEMPTS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _duration(seconds: float) -> str:
    """Prometheus' duration syntax takes no fractions: 0.1 s is `100ms`, 2 s is `2s`."""
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def scrape_config(targets: Sequence[str], scrape_interval_s: float = 1.0) -> str:
    """The `prometheus.yml` text: one job per target URL (`http://host:port/path`), labelled `target-N`."""
    interval = _duration(max(scrape_interval_s, 0.05))
    timeout = _duration(max(min(scrape_interval_s, 10.0), 0.05))
    lines = [f"global: {{scrape_interval: {interval}, evaluation_interval: {interval}, scrape_timeout: {timeout}}}",
             "scrape_configs:"]
    for i, target in enumerate(targets):
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput(f"scrape target {target!r} is not a URL like http://127.0.0.1:9100/metrics")
        lines += [f"  - job_name: target-{i}", f"    metrics_path: '{parts.path or '/metrics'}'",
                  f"    scheme: {parts.scheme}", f"    static_configs: [{{targets: ['{parts.netloc}']}}]"]
        if parts.scheme == "https":
            lines.append("    tls_config: {insecure_skip_verify: true}")
    return "\n".join(lines) + "\n"


class PrometheusServer:
    """One Prometheus process scraping `targets` every `scrape_interval_s` seconds.

    `root` is where its config, TSDB and log go; without one a temporary directory is made and removed
    by `stop()`. `url` is set by `start()` (the base URL, `http://127.0.0.1:PORT`).
    """

    def __init__(self, targets: Sequence[str], *, root: Path | None = None, scrape_interval_s: float = 1.0) -> None:
        if scrape_interval_s <= 0:
            raise InvalidInput(f"scrape_interval_s must be positive (got {scrape_interval_s})")
        self.targets = list(targets)
        self.scrape_interval_s = scrape_interval_s
        self._root_given = root
        self.root: Path | None = root
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self, timeout_s: float = 20) -> str:
        """Start the server and return its base URL once `/-/ready` answers 200.

        Raises ToolUnavailable when the binary is missing (with the install hint), when the process
        exits early (with the tail of its log) or when it is not ready within `timeout_s`.
        """
        if self._proc is not None:
            return self.url
        binary = prometheus_binary()
        if binary is None:
            raise ToolUnavailable(f"the prometheus server binary is not on PATH: {INSTALL_HINT}")
        config_text = scrape_config(self.targets, self.scrape_interval_s)
        if self._root_given is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="prophet-prometheus-")
            self.root = Path(self._tmp.name)
        assert self.root is not None
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "prometheus.yml"
        config.write_text(config_text)
        deadline = time.monotonic() + timeout_s
        for _ in range(PORT_ATTEMPTS):
            # the port is free when chosen, but another process may take it before Prometheus binds it
            # (it cannot be handed a bound socket): that attempt fails fast and the next picks another
            self._launch(binary, config, _free_port())
            if self._wait_ready(deadline):
                return self.url
        tail = self.log_tail()
        self.stop()
        raise ToolUnavailable(f"prometheus found its port taken {PORT_ATTEMPTS} times in a row: {tail}")

    def _launch(self, binary: Path, config: Path, port: int) -> None:
        assert self.root is not None
        if self._log is not None:
            self._log.close()
        self._log = (self.root / "prometheus.log").open("wb")
        cmd = [str(binary), f"--config.file={config}", f"--storage.tsdb.path={self.root / 'data'}",
               f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
        log.debug("starting %s", " ".join(cmd))
        self._proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"

    def _wait_ready(self, deadline: float) -> bool:
        """True when ready; False when it exited because its port was taken."""
        assert self._proc is not None
        while True:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                tail = self.log_tail()
                if "address already in use" in tail:
                    log.info("prometheus: %s was taken before it could bind; trying another port", self.url)
                    self._proc = None
                    return False
                self.stop()
                raise ToolUnavailable(f"prometheus exited with code {code} before it was ready: {tail}")
            if self._ready():
                log.info("prometheus ready at %s scraping %d target(s)", self.url, len(self.targets))
                return True
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise ToolUnavailable(f"prometheus was not ready in time (at {self.url}): {tail}", retry_after_s=5)
            time.sleep(0.1)

    def wait_for_scrapes(self, timeout_s: float = 20.0) -> bool:
        """Wait until every target has been scraped successfully once (`up == 1` for each). Prometheus
        applies its scrape targets ~5 wall seconds after start; a simulated world waits for this before its
        faults are scheduled, or the first minutes of a fast sim would never be seen."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                got = httpx.get(f"{self.url}/api/v1/query", params={"query": "up == 1"}, timeout=1.0).json()
                if len((got.get("data") or {}).get("result") or []) >= len(self.targets):
                    return True
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        """Terminate the process (kill it if it does not exit in 10 s) and remove a temp dir we made."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self.root = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self) -> str:
        """The end of the server's log (for error messages); empty when there is none."""
        if self.root is None:
            return ""
        path = self.root / "prometheus.log"
        if self._log is not None:
            self._log.flush()
        try:
            text = path.read_text(errors="replace").strip()
        except OSError:
            return ""
        return text[-_LOG_TAIL_CHARS:] or "(no output)"

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"PrometheusServer(url={self.url!r}, targets={self.targets!r}, running={self.running})"


__all__ = ["INSTALL_HINT", "PrometheusServer", "prometheus_binary", "scrape_config"]
