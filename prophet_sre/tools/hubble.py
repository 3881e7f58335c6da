"""The Hubble tool: flows from a Hubble Relay (`observer.Observer`) or from saved jsonpb files.

`HubbleTool(address)` is a small gRPC client over the generated stubs (`prophet_sre.protos`):
`flows()` (GetFlows with the CLI's filters, `last`/`first` N, `since`/`until`), `follow()` (an async
iterator bounded by a flow count and a duration), `status()` (ServerStatus), `read_file()` (a saved
`hubble observe -o jsonpb` file), and `service_map()`; the `*_tool` methods wrap them in bounded
`ToolResult`s. Failures are translated once, here: UNAVAILABLE / DEADLINE_EXCEEDED (no relay, relay
down, too slow) -> `ToolUnavailable`, INVALID_ARGUMENT (a bad filter or request) -> `InvalidQuery` with
the relay's message, PERMISSION_DENIED / UNAUTHENTICATED -> `Forbidden`.

Calls never wait for a connection (`wait_for_ready` is off): an address where nothing listens fails
immediately, and every call has a deadline, so a black-holed relay costs at most `timeout_s`.

Time: `now` (injectable) decides what "the last 60 s" means. It defaults to the wall clock; a caller
whose flows carry another clock (a simulated cluster running faster than real time) passes its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import timestamp_pb2

from prophet_sre import errors
from prophet_sre.protos.observer import observer_pb2, observer_pb2_grpc
from prophet_sre.tools import budget as bud
from prophet_sre.tools import envelope, hubble_jsonpb, servicemap
from prophet_sre.tools.hubble_flows import FlowFilterSpec, FlowView, view

Result = envelope.ToolResult[Any]
DEFAULT_ADDRESS = "localhost:4245"
"""Hubble Relay's default address, as the CLI uses it; `tls://host:port` selects TLS."""
DEFAULT_TIMEOUT_S = 5.0
"""Deadline of unary calls (ServerStatus); the CLI's dial timeout is 5 s."""
STREAM_TIMEOUT_S = 30.0
"""Deadline of a GetFlows stream that is not `follow`: a full relay ring streams in a few seconds."""
MAX_FLOWS = 50_000
"""Most flows one analysis reads (a relay over many nodes can hold millions); the rest is reported."""


@dataclass(frozen=True)
class HubbleStatus:
    """ServerStatus, with what `hubble status` derives from it."""

    num_flows: int
    max_flows: int
    seen_flows: int
    uptime_s: float
    flows_per_s: float
    connected_nodes: int | None
    unavailable_nodes: int | None
    unavailable: tuple[str, ...]
    version: str

    def text(self) -> str:
        fill = f" ({self.num_flows / self.max_flows:.2%})" if self.max_flows else ""
        nodes = ("N/A" if self.connected_nodes is None else
                 f"{self.connected_nodes}/{self.connected_nodes + (self.unavailable_nodes or 0)}")
        lines = [f"Current/Max Flows: {self.num_flows:,}/{self.max_flows:,}{fill}", f"Flows/s: {self.flows_per_s:.2f}",
                 f"Connected Nodes: {nodes}", f"Version: {self.version or 'N/A'}"]
        if self.unavailable:
            lines.append(f"Unavailable Nodes: {len(self.unavailable)}: " + ", ".join(self.unavailable[:10]))
        return "\n".join(lines)


@dataclass
class FlowBatch:
    """Flows of one request, oldest first, and whether the `MAX_FLOWS` bound cut it short."""

    flows: list[FlowView]
    truncated: bool = False
    lost: int = 0
    """Flows the relay reported as lost (`lost_events`)."""


def _translate(e: grpc.RpcError, address: str, what: str) -> errors.ToolError:
    code = e.code() if hasattr(e, "code") else None
    detail = (e.details() if hasattr(e, "details") else "") or str(code)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return errors.InvalidQuery(f"Hubble rejected {what}: {detail}")
    if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
        return errors.Forbidden(f"Hubble Relay at {address} refused {what}: {detail}")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return errors.NotFound(f"{address} does not implement {what}: {detail}")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED,
                grpc.StatusCode.RESOURCE_EXHAUSTED):
        return errors.ToolUnavailable(f"Hubble Relay at {address} is unavailable for {what} ({detail}); check "
                                      "the address and that hubble-relay runs", retry_after_s=5.0)
    return errors.ToolError(f"Hubble Relay at {address}: {what} failed ({code}: {detail})")


def _timestamp(dt: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(dt.astimezone(UTC))
    return ts


class HubbleTool:
    """A Hubble Relay client (see the module docstring); one channel, reused, closed by `close()`."""

    def __init__(self, address: str = DEFAULT_ADDRESS, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 stream_timeout_s: float = STREAM_TIMEOUT_S, max_flows: int = MAX_FLOWS,
                 budget: bud.Budget | None = None, now: Callable[[], datetime] | None = None) -> None:
        self.tls = address.startswith("tls://")
        self.address = address.removeprefix("tls://")
        self.timeout_s = timeout_s
        self.stream_timeout_s = stream_timeout_s
        self.max_flows = max_flows
        self.budget = budget or bud.Budget()
        self.now = now or (lambda: datetime.now(UTC))
        self._channel: grpc.Channel | None = None

    # -- plumbing ------------------------------------------------------------------------------------------
    def _stub(self) -> observer_pb2_grpc.ObserverStub:
        if self._channel is None:
            self._channel = (grpc.secure_channel(self.address, grpc.ssl_channel_credentials()) if self.tls
                             else grpc.insecure_channel(self.address))
        return observer_pb2_grpc.ObserverStub(self._channel)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def __enter__(self) -> HubbleTool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, spec: FlowFilterSpec | None = None, *, last: int | None = None, first: int | None = None,
                since: datetime | float | None = None, until: datetime | float | None = None,
                follow: bool = False) -> observer_pb2.GetFlowsRequest:
        """The GetFlowsRequest the CLI would send; `since`/`until` may be seconds before `now()`."""
        if (last or first) and (since is not None or until is not None):
            raise errors.InvalidQuery("last/first N cannot be combined with since/until (Hubble rejects it)")
        if first and follow:
            raise errors.InvalidQuery("first N cannot be combined with follow")
        try:
            whitelist = (spec or FlowFilterSpec()).whitelist()
        except ValueError as e:  # an unknown verdict or drop reason name
            raise errors.InvalidQuery(f"bad flow filter: {e}") from e
        req = observer_pb2.GetFlowsRequest(number=last or first or 0, first=bool(first), follow=follow,
                                           whitelist=whitelist)
        for name, value in (("since", since), ("until", until)):
            if value is not None:
                at = self.now() - timedelta(seconds=value) if isinstance(value, int | float) else value
                getattr(req, name).CopyFrom(_timestamp(at))
        return req

    # -- raw API -------------------------------------------------------------------------------------------
    def status(self) -> HubbleStatus:
        """ServerStatus of the relay; raises `ToolUnavailable` when it cannot be reached."""
        try:
            r = self._stub().ServerStatus(observer_pb2.ServerStatusRequest(), timeout=self.timeout_s)
        except grpc.RpcError as e:
            raise _translate(e, self.address, "ServerStatus") from e
        uptime = r.uptime_ns / 1e9
        rate = r.flows_rate or (r.seen_flows / uptime if uptime > 0 else 0.0)
        return HubbleStatus(
            num_flows=r.num_flows, max_flows=r.max_flows, seen_flows=r.seen_flows, uptime_s=uptime, flows_per_s=rate,
            connected_nodes=r.num_connected_nodes.value if r.HasField("num_connected_nodes") else None,
            unavailable_nodes=r.num_unavailable_nodes.value if r.HasField("num_unavailable_nodes") else None,
            unavailable=tuple(r.unavailable_nodes), version=r.version)

    def responses(self, spec: FlowFilterSpec | None = None, *, last: int | None = None, first: int | None = None,
                  since: datetime | float | None = None,
                  until: datetime | float | None = None) -> Iterator[observer_pb2.GetFlowsResponse]:
        """The raw GetFlows stream (flows, node status and lost events), as `hubble observe` gets it."""
        req = self.request(spec, last=last, first=first, since=since, until=until)
        call = self._stub().GetFlows(req, timeout=self.stream_timeout_s)
        try:
            yield from call
        except grpc.RpcError as e:
            raise _translate(e, self.address, "GetFlows") from e
        finally:
            call.cancel()

    def flows(self, spec: FlowFilterSpec | None = None, *, last: int | None = None, first: int | None = None,
              since: datetime | float | None = None, until: datetime | float | None = None) -> FlowBatch:
        """Matching flows, oldest first, at most `max_flows` (the batch says when it was cut short)."""
        out: list[FlowView] = []
        lost = 0
        for resp in self.responses(spec, last=last, first=first, since=since, until=until):
            if resp.HasField("flow"):
                out.append(view(resp.flow))
                if len(out) >= self.max_flows:
                    return FlowBatch(out, truncated=True, lost=lost)
            elif resp.HasField("lost_events"):
                lost += resp.lost_events.num_events_lost
        return FlowBatch(out, lost=lost)

    def save_file(self, path: str | Path, spec: FlowFilterSpec | None = None, *, last: int | None = None,
                  since: datetime | float | None = None) -> int:
        """Write matching flows as `hubble observe -o jsonpb` lines (evidence to keep); returns the count."""
        with Path(path).expanduser().open("w") as fp:
            return hubble_jsonpb.write_responses(
                (r for r in self.responses(spec, last=last, since=since) if r.HasField("flow")), fp)

    async def follow(self, spec: FlowFilterSpec | None = None, *, max_flows: int = 100, duration_s: float = 30.0,
                     since: datetime | float | None = None) -> AsyncIterator[FlowView]:
        """New matching flows as they arrive (after the history since `since`, if given), until
        `max_flows` flows or `duration_s` seconds - whichever comes first; never unbounded."""
        req = self.request(spec, since=since, follow=True)
        target = self.address
        creds = grpc.ssl_channel_credentials() if self.tls else None
        async with (grpc.aio.secure_channel(target, creds) if creds else grpc.aio.insecure_channel(target)) as ch:
            call = observer_pb2_grpc.ObserverStub(ch).GetFlows(req, timeout=duration_s)
            seen = 0
            try:
                async for resp in call:
                    if resp.HasField("flow"):
                        yield view(resp.flow)
                        seen += 1
                        if seen >= max_flows:
                            return
            except grpc.aio.AioRpcError as e:
                if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED and ch.get_state() == grpc.ChannelConnectivity.READY:
                    return  # the duration ran out on a live stream: the normal end of a bounded follow
                raise _translate(e, self.address, "GetFlows (follow)") from e
            finally:
                call.cancel()

    def read_file(self, path: str | Path) -> FlowBatch:
        """Flows of a saved `hubble observe -o jsonpb` / `-o json` / exporter file (at most `max_flows`)."""
        out: list[FlowView] = []
        try:
            for f in hubble_jsonpb.read_flows(path):
                out.append(view(f))
                if len(out) >= self.max_flows:
                    return FlowBatch(out, truncated=True)
        except FileNotFoundError as e:
            raise errors.NotFound(f"no such flow file: {path}") from e
        except ValueError as e:
            raise errors.InvalidQuery(str(e)) from e
        out.sort(key=lambda f: f.time)
        return FlowBatch(out)

    def service_map(self, window_s: float = 60.0, spec: FlowFilterSpec | None = None) -> servicemap.ServiceMap:
        """Who talks to whom over the last `window_s`, with rates, error, drop and DNS-error figures."""
        batch = self.flows(spec, since=window_s)
        return servicemap.build(batch.flows, window_s=window_s, truncated=batch.truncated)

    # -- tools (envelopes) -----------------------------------------------------------------------------------
    def observe_tool(self, spec: FlowFilterSpec | None = None, *, last: int = 20,
                     since_s: float | None = None) -> Result:
        """`hubble observe`: the last matching flows (or those of the last `since_s`), one line each."""
        params = {"spec": _spec_params(spec), "last": None if since_s else last, "since_s": since_s}

        def run() -> Result:
            batch = self.flows(spec, last=None if since_s else last, since=since_s)
            lines = [f.line() for f in batch.flows]
            if not lines:
                return envelope.ok("hubble_observe", params, text="no matching flows", data=[], no_data=True)
            head = [f"{len(lines)} flows" + (" (more exist)" if batch.truncated else "")]
            n = bud.fit_rows(head, lines, self.budget)
            omitted = (f"{len(lines) - n} older flows; add filters (namespace, pod, verdict, protocol) or a "
                       f"smaller last" if n < len(lines) else "")
            return envelope.ok("hubble_observe", params, text="\n".join(head + lines[len(lines) - n:]),
                               data=[f.line() for f in batch.flows[len(lines) - n:]], omitted=omitted)
        return bud.enforce(envelope.run_tool("hubble_observe", params, run), self.budget)

    def status_tool(self) -> Result:
        """`hubble status`: ring fill, flow rate, connected nodes."""
        def run() -> Result:
            st = self.status()
            return envelope.ok("hubble_status", {}, text=f"Healthcheck (via {self.address}): Ok\n{st.text()}", data=st)
        return envelope.run_tool("hubble_status", {}, run)

    def service_map_tool(self, window_s: float = 60.0, spec: FlowFilterSpec | None = None) -> Result:
        params = {"window_s": window_s, "spec": _spec_params(spec)}

        def run() -> Result:
            smap = self.service_map(window_s, spec)
            text, omitted = smap.render(self.budget)
            return envelope.ok("hubble_service_map", params, text=text, data=smap, omitted=omitted,
                               no_data=not smap.edges)
        return bud.enforce(envelope.run_tool("hubble_service_map", params, run), self.budget)


def _spec_params(spec: FlowFilterSpec | None) -> dict[str, Any]:
    if spec is None:
        return {}
    return {k: list(v) for k, v in vars(spec).items() if v}


__all__ = ["DEFAULT_ADDRESS", "MAX_FLOWS", "FlowBatch", "HubbleStatus", "HubbleTool"]
