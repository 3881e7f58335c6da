"""`prophet operator` as a process: health endpoint, leader election, then kopf driving the controller.

Order of life: serve `/healthz` (so a follower's liveness probe passes while it waits), wait to lead
(`LeaseElector.acquire`), renew in a background thread, run kopf until told to stop. If the lease is
lost the operator stops acting at once and returns exit code 1 (its pod restarts as a follower, as
client-go controllers do); a clean stop (SIGTERM, Ctrl-C) releases the lease so a follower takes over
without waiting out its duration.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prophet_sre.config import Settings
from prophet_sre.operator.controller import Controller, OperatorConfig
from prophet_sre.operator.leader import LeaseConfig, LeaseElector
from prophet_sre.tools.kube.client import KubeClients

log = logging.getLogger(__name__)


class _State:
    def __init__(self, identity: str) -> None:
        self.identity = identity
        self.leading = False
        self.lost = False


def serve_health(host: str, port: int, state: _State) -> ThreadingHTTPServer:
    """`GET /healthz` (alive: 200) and `GET /readyz` (200; says whether this replica leads)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.path not in ("/healthz", "/readyz"):
                self.send_error(404)
                return
            ok = not state.lost
            body = json.dumps({"identity": state.identity, "leader": state.leading, "ok": ok}).encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("health: " + format, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="prophet-health", daemon=True).start()
    return server


def run_operator(settings: Settings, config: OperatorConfig, lease: LeaseConfig, *,
                 stop: threading.Event | None = None, health: tuple[str, int] | None = None,
                 controller_kw: dict[str, Any] | None = None) -> int:
    """Run until `stop` is set (or a signal, on the main thread); 0 after a clean stop, 1 when the lease
    was lost. `controller_kw` goes to `Controller` (tests: a scripted LLM, `knowledge=False`)."""
    import kopf

    from prophet_sre.operator.kopf_app import build_registry

    stop = stop or threading.Event()
    state = _State(config.identity)
    server = serve_health(*health, state) if health else None
    clients = KubeClients(settings.kube)
    elector = LeaseElector(clients.for_cluster(""), config.identity, lease)
    controller: Controller | None = None
    kopf_stop = threading.Event()
    try:
        log.info("operator %s: waiting to lead (lease %s/%s)", config.identity, lease.namespace, lease.name)
        if not elector.acquire(stop):
            return 0
        state.leading = True
        controller = Controller(settings, config, clients=clients, **(controller_kw or {}))

        def renew() -> None:
            renew_stop = threading.Event()

            def relay() -> None:
                stop.wait()
                renew_stop.set()
                kopf_stop.set()

            threading.Thread(target=relay, daemon=True).start()
            elector.renew_forever(renew_stop)
            if elector.lost.is_set():
                state.lost = True
                assert controller is not None
                controller.stopped.set()
                kopf_stop.set()

        threading.Thread(target=renew, name="prophet-lease", daemon=True).start()
        registry = build_registry(controller, settings, interval_s=config.interval_s)
        namespaces = config.namespaces
        asyncio.run(kopf.operator(registry=registry, standalone=True, stop_flag=kopf_stop,
                                  clusterwide=not namespaces, namespaces=namespaces or []))
        return 1 if elector.lost.is_set() else 0
    finally:
        stop.set()
        if controller is not None:
            controller.stopped.set()
            controller.close()
        if not elector.lost.is_set():
            elector.release()
        if server is not None:
            server.shutdown()
        clients.close()


__all__ = ["run_operator", "serve_health"]
