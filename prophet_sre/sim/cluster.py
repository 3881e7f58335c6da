"""One simulated cluster: registry + store + admission + controllers + API server, startable in-process.

`SimCluster.start()` runs uvicorn and the controller manager on a private event loop in a background
thread, waits until `/readyz` answers, and returns; `stop()` shuts both down. Tests use it directly;
`prophet sim up` wraps it with signal handling and a kubeconfig.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from prophet_sre.errors import SimError
from prophet_sre.sim import bootstrap, control, crd_validation, defaults, rbac, validation
from prophet_sre.sim import status as st
from prophet_sre.sim.api import ADMIN, ApiContext, SimApiApp
from prophet_sre.sim.clock import SimClock
from prophet_sre.sim.controllers import default_controllers
from prophet_sre.sim.controllers.admission import install_admission  # [workloads]
from prophet_sre.sim.controllers.base import ControllerContext, ControllerManager
from prophet_sre.sim.controllers.ipam import ServiceIPAllocator
from prophet_sre.sim.events import EventRecorder
from prophet_sre.sim.faults import FaultEngine
from prophet_sre.sim.flows import FlowLog
from prophet_sre.sim.knobs import Knobs
from prophet_sre.sim.logs import PodLogs
from prophet_sre.sim.metrics import MetricsServer  # [traffic/metrics]
from prophet_sre.sim.netpolicy import PolicyEngine  # [hubble/netpolicy]
from prophet_sre.sim.registry import Registry, ResourceType
from prophet_sre.sim.scenario import apply as scenario_apply
from prophet_sre.sim.scenario.apply import Loaded
from prophet_sre.sim.sockets import listening_socket
from prophet_sre.sim.store import Store, WatchEvent
from prophet_sre.sim.tls import ServingCert, make_serving_cert
from prophet_sre.sim.traffic import TrafficModel  # [traffic/metrics]

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")


@dataclass
class ClusterOptions:
    name: str = "prophet-sim"
    host: str = "127.0.0.1"
    port: int = 0
    speed: float = 1.0
    workers: int = 2
    controllers: bool = True
    tls: bool = True
    """Serve HTTPS (client-go sends bearer tokens only over TLS); the CA goes into the kubeconfig."""
    extra: dict[str, Any] = field(default_factory=dict)
    scenarios: list[Path] = field(default_factory=list)
    """Scenario files (sim/scenario) applied right after bootstrap, before the controllers start."""


def admit_defaults_and_validation(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None,
                                  op: str) -> None:
    """Mutating then validating admission, in that order, like kube-apiserver.

    Custom resources are first pruned and defaulted against their served version's schema, and their
    schema errors join the ObjectMeta ones in the same 422 (sim/crd_validation.py)."""
    defaults.apply_defaults(rt, obj, old=old)
    if rt.crd:
        crd_validation.prepare(rt, obj)
    errors = validation.validate(rt, obj, old)
    if errors:
        bad_decode = validation.decode_error_status(rt, errors)
        if bad_decode is not None:  # a wrong type is a 400 (the body does not decode), not a 422
            raise st.bad_request(bad_decode["message"])
    if rt.crd:  # a custom resource's wrong types are schema errors: 422, not 400
        errors = errors + crd_validation.validate(rt, obj, old)
    if errors:
        raise st.invalid(validation.invalid_status(rt, obj.get("metadata", {}).get("name", ""), errors))


class SimCluster:
    """A simulated Kubernetes cluster serving the real REST API on 127.0.0.1."""

    def __init__(self, options: ClusterOptions | None = None, *, clock: SimClock | None = None) -> None:
        self.options = options or ClusterOptions()
        self.registry = Registry()
        # fleet: several clusters share one clock so their timestamps and timers line up (sim/fleet)
        self.clock = clock if clock is not None else SimClock(speed=self.options.speed)
        self.store = Store(self.registry, self.clock)
        self.logs = PodLogs()
        self.events = EventRecorder(self.store, self.registry, self.clock)
        self.admin_token = secrets.token_hex(16)
        self.ctx = ApiContext(store=self.store, registry=self.registry, clock=self.clock, logs=self.logs,
                              tokens={self.admin_token: ADMIN})
        self.store.add_admission(admit_defaults_and_validation)
        self.store.add_admission(ServiceIPAllocator(self.store, self.registry))
        install_admission(self.store, self.registry)  # [workloads] storage + ResourceQuota admission (last)
        self.store.subscribe(self._on_crd_event)
        self.knobs = Knobs()
        self.flowlog = FlowLog()
        self.controller_ctx = ControllerContext(store=self.store, registry=self.registry, clock=self.clock,
                                                events=self.events, logs=self.logs, cluster_name=self.options.name,
                                                extras={"knobs": self.knobs, "flowlog": self.flowlog,
                                                        "policy": PolicyEngine(self.store, self.registry)})
        # scenario faults fire on the manager's sim-clock timers (sim/faults.py)
        self.faults = FaultEngine(self.controller_ctx, self.knobs)
        self.scenarios: list[Loaded] = []
        # [traffic/metrics] request model + plain-HTTP /metrics; both tick on the manager's sim timers
        self.traffic = TrafficModel(self.controller_ctx)
        self.metrics = MetricsServer(self.controller_ctx, host=self.options.host)
        self.manager = ControllerManager(self.controller_ctx, [
            *(default_controllers(self.controller_ctx) if self.options.controllers else []), self.faults.controller,
            *self.traffic.controllers(), *self.metrics.controllers()])
        self.ctx.extra_routes.extend(control.routes(self))  # /sim/v1/ control API (sim/control.py)
        self.port = self.options.port
        self._sock: socket.socket | None = None
        self.hubble: Any = None  # [hubble] the Hubble Relay gRPC server (sim/hubble); address below
        self.hubble_address = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._bootstrapped = False
        self.cert: ServingCert | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="prophet-sim-")
        if self.options.tls:
            self.cert = make_serving_cert([self.options.host], cluster_name=self.options.name)

    # -- CRDs become served types the moment they are stored ------------------------------------
    def _on_crd_event(self, ev: WatchEvent) -> None:
        if ev.storage_key != CRD_KEY:
            return
        if ev.type == "DELETED":
            for rt in self.registry.remove_crd(ev.obj["metadata"]["name"]):
                if rt.storage:
                    self.store.drop_type(rt)
        else:
            self.registry.add_crd(ev.obj)

    # -- identity ---------------------------------------------------------------------------------
    @property
    def metrics_url(self) -> str:
        """Prometheus scrape URL (plain HTTP, started with the API server). [traffic/metrics]"""
        return self.metrics.url

    @property
    def url(self) -> str:
        scheme = "https" if self.options.tls else "http"
        return f"{scheme}://{self.options.host}:{self.port}"

    def add_user(self, token: str, name: str, groups: tuple[str, ...] = ()) -> None:
        """Register a bearer token for a (non-admin) user; RBAC decides what it may do."""
        self.ctx.tokens[token] = rbac.UserInfo(name=name, groups=tuple(groups) + ("system:authenticated",))

    def kubeconfig(self, *, context: str = "prophet-sim", token: str | None = None, user: str = "admin") -> dict:
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": context, "cluster": {"server": self.url, **(
                {"certificate-authority-data": self.cert.ca_b64} if self.cert else {})}}],
            "users": [{"name": f"{context}-{user}", "user": {"token": token or self.admin_token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-{user}",
                                                       "namespace": "default"}}],
            "current-context": context,
        }

    def write_kubeconfig(self, path: Path | str, *, context: str = "prophet-sim") -> Path:
        path = Path(path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.kubeconfig(context=context), sort_keys=False))
        path.chmod(0o600)
        return path

    # -- lifecycle --------------------------------------------------------------------------------
    def bootstrap(self) -> None:
        if self._bootstrapped:
            return
        self._bootstrapped = True
        objs = rbac.bootstrap_objects() + bootstrap.bootstrap_objects(
            cluster_name=self.options.name, nodes=bootstrap.default_nodes(self.options.workers),
            api_host=self.options.host, api_port=self.port, now=self.clock.now())
        ns_first = sorted(objs, key=lambda o: 0 if o.get("kind") == "Namespace" else 1)
        for obj in ns_first:
            rt = self.registry.by_kind(obj["apiVersion"], obj["kind"])
            if rt is None:
                raise SimError(f"bootstrap object of unknown kind {obj['apiVersion']}/{obj['kind']}")
            try:
                self.store.create(rt, obj)
            except st.ApiError as e:
                if e.reason != "AlreadyExists":
                    raise SimError(f"bootstrap {obj['kind']} {obj['metadata'].get('name')}: {e.message}") from e

    def start(self, timeout_s: float = 20.0) -> SimCluster:
        if self._thread is not None:
            return self
        self.reserve_port()
        self.ctx.server_address = f"{self.options.host}:{self.port}"
        self.bootstrap()
        for path in self.options.scenarios:  # all-or-nothing per file; raises InvalidInput/SimError
            scenario_apply.load_file(self, path)
        from prophet_sre.sim.hubble import HubbleServer  # [hubble] lazy: grpc loads on start
        self.hubble = HubbleServer.for_cluster(self).start(timeout_s)
        self.hubble_address = self.hubble.address
        self._thread = threading.Thread(target=self._run, name=f"sim-{self.options.name}", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s) or self._error is not None:
            raise SimError(f"simulated cluster did not start on {self.url}: {self._error or 'timeout'}")
        return self

    def reserve_port(self) -> int:
        """Bind the API server's listening socket now and return its port (with port 0 the OS picks one).

        The server later serves on this very socket, so nothing else - another test worker, a Prometheus
        started meanwhile - can take the port between choosing it and listening on it."""
        if self._sock is None:
            try:
                self._sock = listening_socket(self.options.host, self.port, backlog=2048)
            except OSError as e:
                raise SimError(f"cannot listen on {self.options.host}:{self.port}: {e}") from e
            self.port = int(self._sock.getsockname()[1])
        return self.port

    def release_port(self) -> None:
        """Close the reserved sockets - the API server's and /metrics' - after the servers stopped, or for a
        cluster that never started."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.metrics.release()  # [traffic/metrics]

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        tls: dict[str, Any] = {}
        if self.cert is not None:
            _, crt, key = self.cert.write(Path(self._tmp.name))
            tls = {"ssl_certfile": str(crt), "ssl_keyfile": str(key)}
        config = uvicorn.Config(SimApiApp(self.ctx), host=self.options.host, port=self.port, log_level="warning",
                                lifespan="off", access_log=False, loop="asyncio", http="httptools",
                                timeout_keep_alive=30, ws="none", **tls)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]

        async def main() -> None:
            self.manager.start(loop)
            await self.metrics.start()  # [traffic/metrics] /metrics on its own port
            sockets = [self._sock] if self._sock is not None else None
            serve = loop.create_task(self._server.serve(sockets=sockets))  # type: ignore[union-attr]
            while not self._server.started:  # type: ignore[union-attr]
                if serve.done():
                    break
                await asyncio.sleep(0.01)
            self._started.set()
            await serve
            await self.metrics.stop()  # [traffic/metrics]
            await self.manager.stop()

        try:
            loop.run_until_complete(main())
        except BaseException as e:  # noqa: BLE001 - reported to the starting thread
            self._error = e
            self._started.set()
        finally:
            loop.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self.hubble is not None:  # [hubble]
            self.hubble.stop()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.release_port()
        self._tmp.cleanup()

    def call_in_loop(self, fn: Any, *args: Any) -> Any:
        """Run `fn(*args)` on the cluster's loop thread and return its result (for tests, benchmarks)."""
        if self._loop is None:
            return fn(*args)
        fut = asyncio.run_coroutine_threadsafe(_as_coro(fn, *args), self._loop)
        return fut.result()

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Wait until the controllers have no queued work (timers may still be pending)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.manager.pending() == 0:
                return True
            time.sleep(0.02)
        return False

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate as a file, for clients that want a path (requests `verify=`)."""
        if self.cert is None:
            return None
        path = Path(self._tmp.name) / "ca.crt"
        if not path.exists():
            self.cert.write(Path(self._tmp.name))
        return path

    def __enter__(self) -> SimCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _as_coro(fn: Any, *args: Any) -> Any:
    return fn(*args)
