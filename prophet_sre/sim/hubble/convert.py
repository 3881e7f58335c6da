"""FlowRecord <-> Hubble `flow.Flow`: how a simulated flow looks on the wire.

The traffic model writes protocol-neutral `FlowRecord`s; this module decides every Hubble-specific
detail derived from them (node name `<cluster>/<node>`, endpoint IDs and identities, event types,
observation points, the deprecated `Summary` text), in one place, so that the gRPC answers and the
filters that select them agree. `FlowConverter.to_bytes` caches the serialised `GetFlowsResponse`
per record (records are immutable, and every `hubble observe` streams the ring again) and the
Endpoint messages per endpoint (they repeat across thousands of flows).
`record_from_flow` goes the other way, for flows read from a real cluster's jsonpb output.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

from prophet_sre.protos.flow import flow_pb2
from prophet_sre.protos.observer import observer_pb2
from prophet_sre.sim.flows import FlowEndpoint, FlowL7, FlowRecord, PolicyRef

HUBBLE_VERSION = "1.19.4"
"""The Cilium/Hubble release the simulated relay and agents claim to be (no leading "v")."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Monitor message types (pkg/monitor/api) behind `event_type.type`.
EVENT_DROP, EVENT_TRACE, EVENT_POLICY_VERDICT, EVENT_L7 = 1, 4, 5, 129
TRACE_TO_ENDPOINT, TRACE_FROM_ENDPOINT = 0, 5  # trace sub-types

RESERVED_IDENTITIES = {"host": 1, "world": 2, "unmanaged": 3, "health": 4, "init": 5, "remote-node": 6,
                       "kube-apiserver": 7, "ingress": 8}
_TCP_FLAGS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS")
_L7_TYPES = {"REQUEST": flow_pb2.REQUEST, "RESPONSE": flow_pb2.RESPONSE, "SAMPLE": flow_pb2.SAMPLE}
_VERDICTS = {v.name: v.number for v in flow_pb2.Verdict.DESCRIPTOR.values}
_DROP_REASONS = {v.name: v.number for v in flow_pb2.DropReason.DESCRIPTOR.values}
_DIRECTIONS = {v.name: v.number for v in flow_pb2.TrafficDirection.DESCRIPTOR.values}
_EMITTER = flow_pb2.Emitter(name="Hubble", version=HUBBLE_VERSION)


def enum_value(enum: object, name: str, default: int = 0) -> int:
    """Value of an enum name (e.g. DropReason "POLICY_DENY" -> 181); `default` when unknown."""
    values = enum.DESCRIPTOR.values_by_name  # type: ignore[attr-defined]
    v = values.get(name)
    return v.number if v is not None else default


def enum_name(enum: object, number: int) -> str:
    """Name of an enum value; the number as text for values newer than our .proto (enums are open)."""
    v = enum.DESCRIPTOR.values_by_number.get(number)  # type: ignore[attr-defined]
    return v.name if v is not None else str(number)


def to_datetime(seconds: int, nanos: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)


def reserved_labels(ep: FlowEndpoint) -> list[str]:
    return [label[9:] for label in ep.labels if label.startswith("reserved:")]


def identity_of(ep: FlowEndpoint) -> int:
    """The numeric security identity: given by the traffic model, else reserved or derived from labels."""
    if ep.identity:
        return ep.identity
    for name in reserved_labels(ep):
        if name in RESERVED_IDENTITIES:
            return RESERVED_IDENTITIES[name]
    if not ep.namespace:
        return RESERVED_IDENTITIES["world"]
    return 256 + zlib.crc32("\n".join(ep.labels).encode()) % 65_000


def endpoint_id(ep: FlowEndpoint) -> int:
    """Cilium's per-node endpoint ID: stable per pod, 0 for world and host."""
    if not ep.pod_name:
        return 0
    return 1 + zlib.crc32(f"{ep.namespace}/{ep.pod_name}".encode()) % 4095


class FlowConverter:
    """Converts records of one cluster; keeps bounded caches of endpoints and serialised responses."""

    def __init__(self, cluster_name: str, *, max_cached: int = 70_000) -> None:
        self.cluster_name = cluster_name
        self.max_cached = max_cached
        self._bytes: OrderedDict[str, bytes] = OrderedDict()
        self._endpoints: dict[FlowEndpoint, flow_pb2.Endpoint] = {}

    # -- derived fields (the filters use these too) --------------------------------------------------------
    def node_name(self, rec: FlowRecord) -> str:
        """`<cluster>/<node>` of the node that observed the flow (the source's on egress)."""
        node = rec.node_name
        if not node:
            first, second = ((rec.destination, rec.source) if rec.traffic_direction == "INGRESS"
                             else (rec.source, rec.destination))
            node = first.node_name or second.node_name
        if not node or "/" in node:
            return node
        return f"{self.cluster_name}/{node}"

    def cluster_of(self, ep: FlowEndpoint) -> str:
        return ep.cluster_name or (self.cluster_name if ep.namespace and not reserved_labels(ep) else "")

    @staticmethod
    def event_type(rec: FlowRecord) -> tuple[int, int]:
        """(type, sub_type) of the monitor event a real datapath would have emitted for `rec`."""
        if rec.l7 is not None:
            return EVENT_L7, 0
        if rec.verdict == "DROPPED":
            if rec.drop_reason == "POLICY_DENY" and (rec.egress_denied_by or rec.ingress_denied_by):
                return EVENT_POLICY_VERDICT, 0
            return EVENT_DROP, enum_value(flow_pb2.DropReason, rec.drop_reason)
        return EVENT_TRACE, TRACE_TO_ENDPOINT if rec.traffic_direction == "INGRESS" else TRACE_FROM_ENDPOINT

    # -- conversion ------------------------------------------------------------------------------------------
    def to_bytes(self, rec: FlowRecord) -> bytes:
        """The serialised GetFlowsResponse for `rec` (cached by uuid; records never change)."""
        cache = self._bytes
        data = cache.get(rec.uuid)
        if data is None:
            data = self.to_response(rec).SerializeToString()
            cache[rec.uuid] = data
            if len(cache) > self.max_cached:
                cache.popitem(last=False)
        return data

    def to_response(self, rec: FlowRecord) -> observer_pb2.GetFlowsResponse:
        resp = observer_pb2.GetFlowsResponse()
        f = resp.flow
        d = (rec.time if rec.time.tzinfo is not None else rec.time.replace(tzinfo=UTC)) - EPOCH
        f.time.seconds = d.days * 86_400 + d.seconds
        f.time.nanos = d.microseconds * 1000
        f.uuid = rec.uuid
        f.emitter.CopyFrom(_EMITTER)
        f.verdict = _VERDICTS.get(rec.verdict, 0)
        if rec.drop_reason:
            f.drop_reason = f.drop_reason_desc = _DROP_REASONS.get(rec.drop_reason, 0)
        src, dst = rec.source, rec.destination
        f.IP.source = src.ip
        f.IP.destination = dst.ip
        f.IP.ipVersion = flow_pb2.IPv6 if ":" in src.ip else flow_pb2.IPv4
        _l4(f.l4, rec)
        f.source.CopyFrom(self._endpoint(src))
        f.destination.CopyFrom(self._endpoint(dst))
        f.Type = flow_pb2.L7 if rec.l7 is not None else flow_pb2.L3_L4
        node = self.node_name(rec)
        f.node_name = node
        if rec.l7 is not None:
            _l7(f.l7, rec.l7)
        if rec.is_reply is not None:
            f.is_reply.value = rec.is_reply
            f.reply = rec.is_reply
        etype, sub = self.event_type(rec)
        f.event_type.type = etype
        f.event_type.sub_type = sub
        if etype == EVENT_TRACE:
            f.trace_observation_point = flow_pb2.TO_ENDPOINT if sub == TRACE_TO_ENDPOINT else flow_pb2.FROM_ENDPOINT
        elif etype == EVENT_POLICY_VERDICT:
            f.policy_match_type = 1
        if rec.source_service:
            f.source_service.name, f.source_service.namespace = rec.source_service
        if rec.destination_service:
            f.destination_service.name, f.destination_service.namespace = rec.destination_service
        f.traffic_direction = _DIRECTIONS.get(rec.traffic_direction, 0)
        for refs, field in ((rec.egress_allowed_by, f.egress_allowed_by), (rec.ingress_allowed_by, f.ingress_allowed_by),
                            (rec.egress_denied_by, f.egress_denied_by), (rec.ingress_denied_by, f.ingress_denied_by)):
            for ref in refs:
                field.add(name=ref.name, namespace=ref.namespace, labels=ref.labels, revision=ref.revision,
                          kind=ref.kind)
        f.Summary = summary(rec)
        resp.node_name = node
        resp.time.CopyFrom(f.time)
        return resp

    def _endpoint(self, ep: FlowEndpoint) -> flow_pb2.Endpoint:
        """The Endpoint message of a flow endpoint, built once (endpoints repeat across many flows)."""
        msg = self._endpoints.get(ep)
        if msg is None:
            msg = flow_pb2.Endpoint(ID=endpoint_id(ep), identity=identity_of(ep), cluster_name=self.cluster_of(ep),
                                    namespace=ep.namespace, labels=ep.labels, pod_name=ep.pod_name)
            if ep.workload_name:
                msg.workloads.add(name=ep.workload_name, kind=ep.workload_kind)
            if len(self._endpoints) >= self.max_cached:
                self._endpoints.clear()
            self._endpoints[ep] = msg
        return msg


def _l4(l4: flow_pb2.Layer4, rec: FlowRecord) -> None:
    """Fill the TCP/UDP/SCTP/ICMP member of Layer4's oneof."""
    proto = rec.protocol.upper()
    if proto in ("TCP", "UDP", "SCTP"):
        msg = getattr(l4, proto)
        msg.source_port = rec.source_port
        msg.destination_port = rec.destination_port
        if proto == "TCP":
            msg.SetInParent()
            for name in rec.tcp_flags:
                if name in _TCP_FLAGS:
                    setattr(msg.flags, name, True)
    elif proto in ("ICMPV4", "ICMP"):
        l4.ICMPv4.type = 0 if rec.is_reply else 8  # echo reply / request
    elif proto == "ICMPV6":
        l4.ICMPv6.type = 129 if rec.is_reply else 128


def _l7(msg: flow_pb2.Layer7, l7: FlowL7) -> None:
    msg.type = _L7_TYPES.get(l7.type, flow_pb2.UNKNOWN_L7_TYPE)
    msg.latency_ns = l7.latency_ns
    if l7.dns_query:
        msg.dns.query = l7.dns_query
        msg.dns.ips.extend(l7.dns_ips)
        msg.dns.rcode = l7.dns_rcode
        msg.dns.qtypes.extend(l7.dns_qtypes)
        msg.dns.observation_source = "proxy"
    else:
        msg.http.code = l7.http_code
        msg.http.method = l7.http_method
        msg.http.url = l7.http_url
        msg.http.protocol = l7.http_protocol


_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}


def summary(rec: FlowRecord) -> str:
    """The deprecated one-line `Summary`, in the shape Hubble's parsers write it."""
    l7 = rec.l7
    if l7 is not None:
        if l7.dns_query:
            q = f"{l7.dns_query} {','.join(l7.dns_qtypes)}".rstrip()
            if l7.type == "REQUEST":
                return f"DNS Query {q}"
            if l7.dns_rcode:
                return f"DNS Answer RCode: {_RCODES.get(l7.dns_rcode, l7.dns_rcode)} (Proxy {q})"
            return f'DNS Answer "{",".join(l7.dns_ips)}" (Proxy {q})'
        if l7.type == "REQUEST":
            return f"{l7.http_protocol} {l7.http_method} {l7.http_url}"
        return f"{l7.http_protocol} {l7.http_code} {l7.latency_ns // 1_000_000}ms ({l7.http_method} {l7.http_url})"
    proto = rec.protocol.upper()
    if proto == "TCP":
        return "TCP Flags: " + ", ".join(rec.tcp_flags) if rec.tcp_flags else "TCP"
    if proto.startswith("ICMP"):
        return f"ICMP{'v6' if proto == 'ICMPV6' else 'v4'} {'EchoReply' if rec.is_reply else 'EchoRequest'}"
    return proto


# -- the other way round -----------------------------------------------------------------------------------
def record_from_flow(f: flow_pb2.Flow) -> FlowRecord:
    """A `FlowRecord` from a Hubble flow (e.g. one line of a real cluster's `hubble observe -o jsonpb`)."""
    def endpoint(e: flow_pb2.Endpoint, ip: str) -> FlowEndpoint:
        w = e.workloads[0] if e.workloads else None
        return FlowEndpoint(ip=ip, namespace=e.namespace, pod_name=e.pod_name, labels=tuple(e.labels),
                            workload_name=w.name if w else "", workload_kind=w.kind if w else "",
                            identity=e.identity, cluster_name=e.cluster_name)

    def refs(policies: object) -> tuple[PolicyRef, ...]:
        return tuple(PolicyRef(name=p.name, namespace=p.namespace, kind=p.kind, labels=tuple(p.labels),
                               revision=p.revision) for p in policies)  # type: ignore[attr-defined]

    which = f.l4.WhichOneof("protocol") or ""
    l4 = getattr(f.l4, which) if which else None
    l7 = None
    if f.HasField("l7"):
        kind = f.l7.WhichOneof("record")
        l7 = FlowL7(type=enum_name(flow_pb2.L7FlowType, f.l7.type), latency_ns=f.l7.latency_ns,
                    http_code=f.l7.http.code, http_method=f.l7.http.method, http_url=f.l7.http.url,
                    http_protocol=f.l7.http.protocol or "HTTP/1.1") if kind != "dns" else FlowL7(
            type=enum_name(flow_pb2.L7FlowType, f.l7.type), latency_ns=f.l7.latency_ns, dns_query=f.l7.dns.query,
            dns_rcode=f.l7.dns.rcode, dns_ips=tuple(f.l7.dns.ips), dns_qtypes=tuple(f.l7.dns.qtypes))
    flags = tuple(n for n in _TCP_FLAGS if which == "TCP" and getattr(f.l4.TCP.flags, n))
    return FlowRecord(
        time=to_datetime(f.time.seconds, f.time.nanos), uuid=f.uuid,
        source=endpoint(f.source, f.IP.source), destination=endpoint(f.destination, f.IP.destination),
        verdict=enum_name(flow_pb2.Verdict, f.verdict),
        drop_reason=enum_name(flow_pb2.DropReason, f.drop_reason_desc) if f.drop_reason_desc else "",
        protocol=which or "TCP", source_port=getattr(l4, "source_port", 0),
        destination_port=getattr(l4, "destination_port", 0), tcp_flags=flags,
        is_reply=f.is_reply.value if f.HasField("is_reply") else None,
        traffic_direction=enum_name(flow_pb2.TrafficDirection, f.traffic_direction), l7=l7,
        source_service=(f.source_service.name, f.source_service.namespace) if f.HasField("source_service") else None,
        destination_service=((f.destination_service.name, f.destination_service.namespace)
                             if f.HasField("destination_service") else None),
        node_name=f.node_name, egress_denied_by=refs(f.egress_denied_by), ingress_denied_by=refs(f.ingress_denied_by),
        egress_allowed_by=refs(f.egress_allowed_by), ingress_allowed_by=refs(f.ingress_allowed_by))
