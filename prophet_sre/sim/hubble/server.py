"""The simulated Hubble Relay: a `grpc.aio` server on 127.0.0.1 serving `observer.Observer` and health.

It runs on its own thread and event loop rather than the API server's, so a client streaming tens of
thousands of flows never delays kubectl, and it can be started and stopped with two calls from
`SimCluster.start()`/`stop()`. Methods are registered by hand (generic handlers) instead of through
the generated servicer base class because GetFlows yields pre-serialised responses from the
converter's cache, which the generated handler would try to serialise again.

`grpc.health.v1.Health/Check` answers SERVING for "" and "hubble.server.Observer" (what `hubble
status` asks); the standard `grpc_health` package is used when installed, else Prophet's own stubs.
Every RPC sends the `hubble-relay-version` header the CLI compares against its own version.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc

from prophet_sre.errors import SimError
from prophet_sre.protos.observer import observer_pb2
from prophet_sre.sim.clock import SimClock
from prophet_sre.sim.flows import FlowLog
from prophet_sre.sim.hubble.observer import ObserverService
from prophet_sre.sim.registry import Registry
from prophet_sre.sim.store import Store

try:  # the standard stubs, when someone installed grpcio-health-checking
    from grpc_health.v1 import health_pb2  # type: ignore[import-not-found]
except ImportError:
    from prophet_sre.protos.health import health_pb2

if TYPE_CHECKING:
    from prophet_sre.sim.cluster import SimCluster

OBSERVER_SERVICE = "observer.Observer"
HEALTH_SERVICE = "grpc.health.v1.Health"
SERVING_NAMES = frozenset(("", "hubble.server.Observer", OBSERVER_SERVICE))


def _serialize(msg: Any) -> bytes:
    return msg if isinstance(msg, bytes) else msg.SerializeToString()


class HealthService:
    """grpc.health.v1.Health: the relay is SERVING for as long as it runs."""

    def __init__(self) -> None:
        self.closing: asyncio.Event | None = None
        """Set at shutdown so open Watch streams end normally; created on the server's loop."""

    async def check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if request.service not in SERVING_NAMES:
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    async def watch(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        known = request.service in SERVING_NAMES
        yield health_pb2.HealthCheckResponse(
            status=health_pb2.HealthCheckResponse.SERVING if known else health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
        if self.closing is not None:  # the status never changes; wait for the client or shutdown
            await self.closing.wait()


def generic_handlers(observer: ObserverService, health: HealthService) -> list[grpc.GenericRpcHandler]:
    """Method table of both services, usable with any grpc.aio server."""
    req = observer_pb2
    obs = grpc.method_handlers_generic_handler(OBSERVER_SERVICE, {
        "GetFlows": grpc.unary_stream_rpc_method_handler(
            observer.get_flows, request_deserializer=req.GetFlowsRequest.FromString, response_serializer=_serialize),
        "GetAgentEvents": grpc.unary_stream_rpc_method_handler(
            observer.unimplemented, request_deserializer=req.GetAgentEventsRequest.FromString,
            response_serializer=_serialize),
        "GetDebugEvents": grpc.unary_stream_rpc_method_handler(
            observer.unimplemented, request_deserializer=req.GetDebugEventsRequest.FromString,
            response_serializer=_serialize),
        "GetNodes": grpc.unary_unary_rpc_method_handler(
            observer.get_nodes, request_deserializer=req.GetNodesRequest.FromString, response_serializer=_serialize),
        "GetNamespaces": grpc.unary_unary_rpc_method_handler(
            observer.get_namespaces, request_deserializer=req.GetNamespacesRequest.FromString,
            response_serializer=_serialize),
        "ServerStatus": grpc.unary_unary_rpc_method_handler(
            observer.server_status, request_deserializer=req.ServerStatusRequest.FromString,
            response_serializer=_serialize),
    })
    hc = grpc.method_handlers_generic_handler(HEALTH_SERVICE, {
        "Check": grpc.unary_unary_rpc_method_handler(
            health.check, request_deserializer=health_pb2.HealthCheckRequest.FromString,
            response_serializer=_serialize),
        "Watch": grpc.unary_stream_rpc_method_handler(
            health.watch, request_deserializer=health_pb2.HealthCheckRequest.FromString,
            response_serializer=_serialize),
    })
    return [obs, hc]


class HubbleServer:
    """A Hubble Relay-compatible endpoint for one simulated cluster, on its own thread."""

    def __init__(self, *, flowlog: FlowLog, clock: SimClock, cluster_name: str, store: Store | None = None,
                 registry: Registry | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.observer = ObserverService(flowlog=flowlog, store=store, registry=registry, clock=clock,
                                        cluster_name=cluster_name)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @classmethod
    def for_cluster(cls, cluster: SimCluster) -> HubbleServer:
        return cls(flowlog=cluster.flowlog, clock=cluster.clock, cluster_name=cluster.options.name,
                   store=cluster.store, registry=cluster.registry, host=cluster.options.host)

    @property
    def address(self) -> str:
        """`host:port` for `hubble --server` and `grpc.insecure_channel`."""
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> HubbleServer:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name=f"hubble-{self.observer.cluster_name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or self._error is not None:
            raise SimError(f"simulated Hubble Relay did not start on {self.host}: {self._error or 'timeout'}")
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # loop closed meanwhile
                pass
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as e:  # noqa: BLE001 - reported to the starting thread
            self._error = e
            self._ready.set()
        finally:
            _drain(loop)
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        health = HealthService()
        health.closing = asyncio.Event()
        server.add_generic_rpc_handlers(generic_handlers(self.observer, health))
        self.port = server.add_insecure_port(f"{self.host}:{self.port}")
        await server.start()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            self.observer.close_streams()
            health.closing.set()
            await server.stop(grace=1.0)


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and await what is left (streams still open at stop) so nothing is destroyed while pending."""
    leftover = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in leftover:
        task.cancel()
    if leftover:
        loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
