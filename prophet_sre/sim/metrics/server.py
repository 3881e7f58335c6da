"""`/metrics` over plain HTTP on its own port, so a stock Prometheus scrapes it with no TLS settings.

The API server speaks HTTPS with bearer tokens; a scrape target should not need either. This is a
deliberately small HTTP/1.1 server on the cluster's event loop (GET/HEAD, keep-alive, gzip when
asked), because rendering must run on that loop anyway: the store, the traffic counters and the
container meter are all updated there, so a scrape sees one consistent moment of sim time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import socket

from prophet_sre.sim.controllers.base import Controller, ControllerContext
from prophet_sre.sim.metrics import app
from prophet_sre.sim.metrics.cadvisor import ContainerMeter, MeterController
from prophet_sre.sim.metrics.kube_state import KubeStateMetrics
from prophet_sre.sim.metrics.text import CONTENT_TYPE, Exposition
from prophet_sre.sim.sockets import listening_socket
from prophet_sre.sim.traffic.model import counters_of

log = logging.getLogger(__name__)
MAX_HEADER_BYTES = 16_384
IDLE_TIMEOUT_S = 120.0


class ClusterMetrics:
    """Everything `/metrics` shows for one cluster: kube-state, cAdvisor, application, DNS, Hubble."""

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.kube_state = KubeStateMetrics(ctx.store)
        self.meter = ContainerMeter(ctx)

    def controllers(self) -> list[Controller]:
        return [MeterController(self.ctx, self.meter)]

    def render(self) -> str:
        """The scrape body. Other models may append text via `ctx.extras["metrics_text"]`: a list of
        callables returning Prometheus text (e.g. the fleet's gauges); a failing one is skipped."""
        exp = Exposition()
        self.kube_state.collect(exp)
        self.meter.collect(exp)
        app.collect(exp, counters_of(self.ctx.extras), self.ctx.clock, self.ctx.cluster_name)
        body = exp.render()
        for extra in self.ctx.extras.get("metrics_text") or ():
            try:
                text = extra()
            except Exception:  # noqa: BLE001 - one bad contributor must not fail the scrape
                log.exception("a metrics_text contributor failed")
                continue
            if text:
                body += text if text.endswith("\n") else text + "\n"
        return body


class MetricsServer:
    """Serves `ClusterMetrics.render()` at `http://host:port/metrics`; start/stop on the cluster's loop."""

    def __init__(self, ctx: ControllerContext, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.metrics = ClusterMetrics(ctx)
        self.host = host
        self.port = port
        self._server: asyncio.AbstractServer | None = None
        self._sock: socket.socket | None = None
        self._conns: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """The scrape URL. Without a port, the first use binds a listening socket the server later serves
        on: a Prometheus is configured with this URL before the cluster starts, and nothing else (another
        test worker, another simulator) may take the port in between."""
        if self.port == 0 and self._sock is None:
            self._sock = listening_socket(self.host)
            self.port = int(self._sock.getsockname()[1])
        return f"http://{self.host}:{self.port}/metrics"

    def release(self) -> None:
        """Close a socket reserved by `url` that no server took over (a cluster that never started)."""
        if self._sock is not None and self._server is None:
            self._sock.close()
        self._sock = None

    def controllers(self) -> list[Controller]:
        return self.metrics.controllers()

    def render(self) -> str:
        return self.metrics.render()

    async def start(self) -> None:
        _ = self.url
        if self._sock is not None:  # the server owns the reserved socket from now on and closes it
            self._server = await asyncio.start_server(self._handle, sock=self._sock)
            self._sock = None
        else:
            self._server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._conns):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, TimeoutError,
                asyncio.CancelledError):
            pass
        finally:
            if task is not None:
                self._conns.discard(task)
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection should close."""
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT_S)
        if len(head) > MAX_HEADER_BYTES:
            return False
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return False
        method, target, version = parts
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        if int(headers.get("content-length", "0") or 0):
            await reader.readexactly(int(headers["content-length"]))
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        path = target.split("?", 1)[0]
        status, ctype, body, extra = "200 OK", CONTENT_TYPE, b"", ""
        if method not in ("GET", "HEAD"):
            status, ctype, body = "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        elif path == "/metrics":
            try:
                body = self.render().encode()
            except Exception:  # noqa: BLE001 - report as a failed scrape, keep serving
                log.exception("rendering /metrics failed")
                status, ctype, body = "500 Internal Server Error", "text/plain", b"render failed\n"
            if "gzip" in headers.get("accept-encoding", "") and len(body) > 1024:
                body, extra = gzip.compress(body, compresslevel=1), "Content-Encoding: gzip\r\n"
        elif path in ("/", "/healthz", "/-/healthy"):
            ctype, body = "text/plain", b"ok\n"
        else:
            status, ctype, body = "404 Not Found", "text/plain", b"not found\n"
        head_out = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{extra}"
                    f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n")
        writer.write(head_out.encode() + (b"" if method == "HEAD" else body))
        await writer.drain()
        return keep
