"""The `observer.Observer` RPCs of the simulated Hubble Relay, over the cluster's `FlowLog`.

Request semantics follow Hubble (observer.proto and the hubble CLI):
- `number`: the last N matching flows, oldest first; with `first`, the first N. `number` cannot be
  combined with `since`/`until`, nor `first` with `follow` (INVALID_ARGUMENT).
- `number == 0`: every buffered matching flow - except with `follow` and no `since`, where only
  new flows are sent (what `hubble observe --follow` sends).
- `since`/`until` bound flow times (both inclusive); with `follow`, the stream ends at the first
  live flow after `until`.
- `follow`: after the history, new flows are streamed as the traffic model appends them
  (`FlowLog.subscribe`), until the client cancels or the server stops. A client that falls more than
  `MAX_BACKLOG` batches behind loses them and gets a `lost_events` response instead (source
  OBSERVER_EVENTS_QUEUE), as Hubble does, rather than the server buffering without bound.
- `field_mask` (paths relative to `flow.Flow`) trims each flow.
One simulated cluster is one relay over all its nodes, so GetNodes lists every Node object and
ServerStatus sums them; node states follow the nodes' Ready condition.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf import field_mask_pb2, wrappers_pb2

from prophet_sre.protos.flow import flow_pb2
from prophet_sre.protos.observer import observer_pb2
from prophet_sre.protos.relay import relay_pb2
from prophet_sre.sim.clock import SimClock
from prophet_sre.sim.flows import FlowLog, FlowRecord
from prophet_sre.sim.hubble import filters
from prophet_sre.sim.hubble.convert import HUBBLE_VERSION, FlowConverter, to_datetime
from prophet_sre.sim.registry import Registry
from prophet_sre.sim.store import Store

RELAY_VERSION_HEADER = "hubble-relay-version"
AGENT_PORT = 4244
"""Port of the per-node Hubble server, as `GetNodes` reports node addresses."""
UNMODELLED = ("aggregate", "l4.VRRP", "l4.IGMP")
"""flow.Flow field paths real Hubble knows but our .proto leaves out; field masks may name them."""
RATE_WINDOW_S = 60.0
"""Sim seconds over which `ServerStatus.flows_rate` averages."""
MAX_BACKLOG = 256
"""FlowLog batches a follow stream may lag behind before they are dropped and reported as lost."""
"""Sim seconds over which `ServerStatus.flows_rate` averages."""


class RequestError(ValueError):
    """A GetFlows request Hubble would reject with INVALID_ARGUMENT."""


@dataclass(frozen=True)
class FlowQuery:
    """A validated GetFlows request, ready to run against the ring."""

    number: int
    first: bool
    follow: bool
    since: datetime | None
    until: datetime | None
    keep: Callable[[FlowRecord], bool] | None
    mask: Any | None  # google.protobuf.FieldMask with paths, or None

    def in_window(self, rec: FlowRecord) -> bool:
        t = rec.time if rec.time.tzinfo is not None else rec.time.replace(tzinfo=UTC)
        return (self.since is None or t >= self.since) and (self.until is None or t <= self.until)

    @property
    def live_only(self) -> bool:
        """`hubble observe --follow` without --last/--since: no history, only flows from now on."""
        return self.number == 0 and self.follow and self.since is None

    def history(self, ring: list[FlowRecord]) -> list[FlowRecord]:
        """The buffered flows to send before any live ones, oldest first."""
        keep = self.keep
        timed = self.since is not None or self.until is not None
        if self.live_only:
            return []
        if self.number and not self.first:
            out: list[FlowRecord] = []
            for rec in reversed(ring):
                if (keep is None or keep(rec)) and (not timed or self.in_window(rec)):
                    out.append(rec)
                    if len(out) >= self.number:
                        break
            out.reverse()
            return out
        selected = [r for r in ring if (keep is None or keep(r)) and (not timed or self.in_window(r))]
        return selected[: self.number] if self.number else selected


def parse_request(req: observer_pb2.GetFlowsRequest, conv: FlowConverter) -> FlowQuery:
    has_since, has_until = req.HasField("since"), req.HasField("until")
    if req.number and (has_since or has_until):
        raise RequestError("cannot combine number with since/until")
    if req.first and req.follow:
        raise RequestError("first cannot be specified with follow")
    mask = None
    if req.HasField("field_mask") and req.field_mask.paths:
        # Paths into Cilium fields the simulator never fills are fine (nothing to copy); others must exist.
        mask = field_mask_pb2.FieldMask(paths=[p for p in req.field_mask.paths if not p.startswith(UNMODELLED)])
        if not mask.IsValidForDescriptor(flow_pb2.Flow.DESCRIPTOR):
            raise RequestError(f"invalid fieldmask: {list(req.field_mask.paths)}")
    try:
        keep = filters.request_predicate(filters.compile_filters(req.whitelist, conv),
                                         filters.compile_filters(req.blacklist, conv))
    except filters.FilterError as e:
        raise RequestError(str(e)) from e
    return FlowQuery(
        number=req.number, first=req.first, follow=req.follow,
        since=to_datetime(req.since.seconds, req.since.nanos) if has_since else None,
        until=to_datetime(req.until.seconds, req.until.nanos) if has_until else None,
        keep=keep, mask=mask)


class ObserverService:
    """The Observer RPC handlers (grpc.aio behaviours) for one simulated cluster."""

    def __init__(self, *, flowlog: FlowLog, store: Store | None, registry: Registry | None, clock: SimClock,
                 cluster_name: str) -> None:
        self.flowlog = flowlog
        self.store = store
        self.registry = registry
        self.clock = clock
        self.cluster_name = cluster_name
        self.converter = FlowConverter(cluster_name)
        self._started_s = clock.elapsed()
        self._live: set[asyncio.Queue[list[FlowRecord] | None]] = set()

    def close_streams(self) -> None:
        """End every `follow` stream normally (status OK), as a relay shutting down does. Loop thread only."""
        for queue in self._live:
            queue.put_nowait(None)

    @staticmethod
    async def _headers(context: grpc.aio.ServicerContext) -> None:
        await context.send_initial_metadata(((RELAY_VERSION_HEADER, HUBBLE_VERSION),))

    # -- GetFlows ---------------------------------------------------------------------------------------
    async def get_flows(self, request: observer_pb2.GetFlowsRequest,
                        context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        try:
            query = parse_request(request, self.converter)
        except RequestError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
            return
        encode = self._encoder(query)
        log = self.flowlog
        queue: asyncio.Queue[list[FlowRecord] | None] | None = None
        seen_before = log.seen_flows
        if query.follow:  # before the headers: a client that has them may rely on being subscribed
            queue = log.subscribe(asyncio.get_running_loop())  # type: ignore[assignment]
            self._live.add(queue)
        try:
            await self._headers(context)
            ring = log.snapshot()
            # Flows appended between subscribe() and snapshot() are in both; when the history was taken
            # from that snapshot, skip their queued copies. `pending` keeps those records alive so their
            # id()s stay unique while we compare.
            appended = log.seen_flows - seen_before if queue is not None and not query.live_only else 0
            pending = ring[max(0, len(ring) - appended):] if appended else []
            overlap = {id(r) for r in pending}
            history = query.history(ring)
            del ring
            for rec in history:
                yield encode(rec)
            del history
            if queue is None:
                return
            keep, timed = query.keep, query.since is not None or query.until is not None
            while True:
                batch = await queue.get()
                if batch is None:  # close_streams()
                    return
                if queue.qsize() > MAX_BACKLOG:
                    lost, closing = self._drop_backlog(queue, batch)
                    yield self._lost_event(lost)
                    if closing:
                        return
                    continue
                for rec in batch:
                    if overlap and id(rec) in overlap:
                        overlap.discard(id(rec))
                        if not overlap:
                            pending = []
                        continue
                    if query.until is not None and not _before(rec, query.until):
                        return
                    if (keep is None or keep(rec)) and (not timed or query.in_window(rec)):
                        yield encode(rec)
        finally:
            if queue is not None:
                self._live.discard(queue)
                log.unsubscribe(queue)  # type: ignore[arg-type]

    @staticmethod
    def _drop_backlog(queue: asyncio.Queue[list[FlowRecord] | None], batch: list[FlowRecord]) -> tuple[int, bool]:
        """Empty a lagging stream's queue: (records dropped, whether the server is closing)."""
        lost = len(batch)
        while not queue.empty():
            more = queue.get_nowait()
            if more is None:
                return lost, True
            lost += len(more)
        return lost, False

    def _lost_event(self, lost: int) -> bytes:
        resp = observer_pb2.GetFlowsResponse()
        resp.lost_events.source = flow_pb2.OBSERVER_EVENTS_QUEUE
        resp.lost_events.num_events_lost = lost
        resp.time.FromDatetime(self.clock.now())
        return resp.SerializeToString()

    def _encoder(self, query: FlowQuery) -> Callable[[FlowRecord], bytes]:
        if query.mask is None:
            return self.converter.to_bytes
        mask = query.mask

        def masked(rec: FlowRecord) -> bytes:
            full = self.converter.to_response(rec)
            out = observer_pb2.GetFlowsResponse(node_name=full.node_name)
            out.time.CopyFrom(full.time)
            mask.MergeMessage(full.flow, out.flow)
            return out.SerializeToString()
        return masked

    # -- unary RPCs -------------------------------------------------------------------------------------
    async def server_status(self, request: observer_pb2.ServerStatusRequest,
                            context: grpc.aio.ServicerContext) -> observer_pb2.ServerStatusResponse:
        await self._headers(context)
        nodes = self._nodes()
        down = [name for name, ready in nodes if not ready]
        return observer_pb2.ServerStatusResponse(
            num_flows=len(self.flowlog), max_flows=self.flowlog.max_flows, seen_flows=self.flowlog.seen_flows,
            uptime_ns=self._uptime_ns(),
            num_connected_nodes=wrappers_pb2.UInt32Value(value=len(nodes) - len(down)),
            num_unavailable_nodes=wrappers_pb2.UInt32Value(value=len(down)), unavailable_nodes=down,
            version=HUBBLE_VERSION, flows_rate=self._flows_rate())

    async def get_nodes(self, request: observer_pb2.GetNodesRequest,
                        context: grpc.aio.ServicerContext) -> observer_pb2.GetNodesResponse:
        await self._headers(context)
        ring = self.flowlog.snapshot()
        per_node = Counter(self.converter.node_name(r) for r in ring)
        nodes = self._nodes()
        share = self.flowlog.max_flows // max(1, len(nodes))
        seen_ratio = self.flowlog.seen_flows / max(1, len(ring))
        resp = observer_pb2.GetNodesResponse()
        for (name, ready), address in zip(nodes, self._addresses(), strict=True):
            count = per_node.get(name, 0)
            resp.nodes.add(name=name, version=HUBBLE_VERSION, address=f"{address}:{AGENT_PORT}",
                           state=relay_pb2.NODE_CONNECTED if ready else relay_pb2.NODE_UNAVAILABLE,
                           tls=observer_pb2.TLS(enabled=False), uptime_ns=self._uptime_ns(),
                           num_flows=count, max_flows=share, seen_flows=int(count * seen_ratio))
        return resp

    async def get_namespaces(self, request: observer_pb2.GetNamespacesRequest,
                             context: grpc.aio.ServicerContext) -> observer_pb2.GetNamespacesResponse:
        """Namespaces with flows in the last hour (sim time), as Hubble answers it."""
        await self._headers(context)
        horizon = self.clock.now() - timedelta(hours=1)
        seen: set[tuple[str, str]] = set()
        for rec in reversed(self.flowlog.snapshot()):
            t = rec.time if rec.time.tzinfo is not None else rec.time.replace(tzinfo=UTC)
            if t < horizon:
                break
            for ep in (rec.source, rec.destination):
                if ep.namespace:
                    seen.add((self.converter.cluster_of(ep), ep.namespace))
        resp = observer_pb2.GetNamespacesResponse()
        for cluster, ns in sorted(seen, key=lambda cn: (cn[1], cn[0])):
            resp.namespaces.add(cluster=cluster, namespace=ns)
        return resp

    async def unimplemented(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "agent and debug events are not simulated")
        yield b""  # pragma: no cover - makes this an async generator like the real streaming RPCs

    # -- helpers ----------------------------------------------------------------------------------------
    def _uptime_ns(self) -> int:
        return int((self.clock.elapsed() - self._started_s) * 1e9)

    def _flows_rate(self) -> float:
        horizon = self.clock.now() - timedelta(seconds=RATE_WINDOW_S)
        n = 0
        for rec in reversed(self.flowlog.snapshot()):
            if _older(rec, horizon):
                break
            n += 1
        window = min(RATE_WINDOW_S, max(self.clock.elapsed() - self._started_s, 1e-9))
        return n / window

    def _node_objects(self) -> list[dict[str, Any]]:
        if self.store is None or self.registry is None:
            return []
        rt = self.registry.storage_type("", "nodes")
        return sorted(self.store.objects(rt), key=lambda n: n["metadata"]["name"]) if rt else []

    def _nodes(self) -> list[tuple[str, bool]]:
        out = []
        for node in self._node_objects():
            conds = (node.get("status") or {}).get("conditions") or []
            ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)
            out.append((f"{self.cluster_name}/{node['metadata']['name']}", ready))
        return out

    def _addresses(self) -> list[str]:
        out = []
        for node in self._node_objects():
            addrs = (node.get("status") or {}).get("addresses") or []
            out.append(next((a["address"] for a in addrs if a.get("type") == "InternalIP"), ""))
        return out


def _older(rec: FlowRecord, horizon: datetime) -> bool:
    t = rec.time if rec.time.tzinfo is not None else rec.time.replace(tzinfo=UTC)
    return t < horizon


def _before(rec: FlowRecord, until: datetime) -> bool:
    t = rec.time if rec.time.tzinfo is not None else rec.time.replace(tzinfo=UTC)
    return t <= until
