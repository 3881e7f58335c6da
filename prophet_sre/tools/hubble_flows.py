"""Hubble flows as small typed records, flow filters built the way the `hubble` CLI builds them.

`FlowView` is what the Hubble tool, the service map and the east-west detector read: the few fields of
a `flow.Flow` they need, flattened (verdict and drop reason as enum names, the L4 ports and flags, the
L7 HTTP/DNS record), with a stable `key` per endpoint (`ns/workload`, else `ns/pod`, else the Service,
`world`, `host` or the IP). Converting once keeps the analysis code free of protobuf details, and the
same record comes from the gRPC stream or from a saved `hubble observe -o jsonpb` file.

`FlowFilterSpec.whitelist()` reproduces the CLI's filter tracker: flags that name one side
(`--from-pod`, `--to-port`) and side-less ones (`--verdict`, `--protocol`) go into every filter, while
`--namespace`, `--pod`, `--label` and `--port` match either side and therefore produce TWO filters -
one on `source_*` and one on `destination_*` - that the server ORs. Identical filters collapse to one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prophet_sre.protos.flow import flow_pb2

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DNS_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
_TCP_FLAGS = ("SYN", "ACK", "FIN", "RST", "PSH", "URG", "ECE", "CWR", "NS")


def enum_name(enum: object, number: int) -> str:
    """Name of an enum value; the number as text for values newer than our .proto (enums are open)."""
    v = enum.DESCRIPTOR.values_by_number.get(number)  # type: ignore[attr-defined]
    return v.name if v is not None else str(number)


@dataclass(frozen=True, slots=True)
class Peer:
    """One side of a flow."""

    ip: str = ""
    namespace: str = ""
    pod: str = ""
    workload: str = ""
    workload_kind: str = ""
    labels: tuple[str, ...] = ()
    identity: int = 0

    @property
    def reserved(self) -> str:
        """`world`, `host`, `kube-apiserver`, ... for non-pod endpoints (from `reserved:` labels)."""
        return next((lbl[9:] for lbl in self.labels if lbl.startswith("reserved:")), "")

    def key(self, service: str = "") -> str:
        """The name a service map uses: `ns/workload`, `ns/pod`, the Service, `world`/`host`, or the IP."""
        if self.namespace and self.workload:
            return f"{self.namespace}/{self.workload}"
        if self.namespace and self.pod:
            return f"{self.namespace}/{self.pod}"
        if service:
            return f"{service} (service)"
        return self.reserved or self.ip or "unknown"

    @property
    def pod_ref(self) -> str:
        return f"{self.namespace}/{self.pod}" if self.pod else ""


@dataclass(frozen=True, slots=True)
class FlowView:
    """The fields of one flow that analysis uses (see the module docstring)."""

    time: datetime
    verdict: str
    source: Peer
    destination: Peer
    protocol: str = ""
    source_port: int = 0
    destination_port: int = 0
    flags: tuple[str, ...] = ()
    is_reply: bool | None = None
    drop_reason: str = ""
    direction: str = ""
    l7: str = ""
    """`http`, `dns` or "" (L3/L4)."""
    l7_type: str = ""
    """REQUEST | RESPONSE | SAMPLE."""
    http_code: int = 0
    http_method: str = ""
    http_url: str = ""
    latency_ns: int = 0
    dns_query: str = ""
    dns_rcode: int = 0
    source_service: str = ""
    destination_service: str = ""
    node: str = ""
    denied_by: tuple[str, ...] = field(default=())
    """`ns/name` of the policies that denied it (egress and ingress)."""

    @property
    def dropped(self) -> bool:
        return self.verdict == "DROPPED"

    @property
    def initiates(self) -> bool:
        """True for the first packet of a connection or datagram exchange (not a reply, not L7)."""
        if self.l7 or self.is_reply:
            return False
        if self.protocol == "TCP":
            return "SYN" in self.flags and "ACK" not in self.flags
        return self.is_reply is False or self.is_reply is None

    @property
    def dns_rcode_name(self) -> str:
        return DNS_RCODES.get(self.dns_rcode, str(self.dns_rcode))

    def line(self) -> str:
        """One line in the spirit of `hubble observe -o compact`."""
        t = self.time.strftime("%H:%M:%S.%f")[:-3]
        src = f"{self.source.pod_ref or self.source.key(self.source_service)}:{self.source_port}"
        dst = f"{self.destination.pod_ref or self.destination.key(self.destination_service)}:{self.destination_port}"
        if self.l7 == "http":
            what = (f"http-request {self.http_method} {self.http_url}" if self.l7_type == "REQUEST"
                    else f"http-response {self.http_code} {self.latency_ns // 1_000_000}ms")
        elif self.l7 == "dns":
            what = (f"dns-request {self.dns_query}" if self.l7_type == "REQUEST"
                    else f"dns-response {self.dns_query} {self.dns_rcode_name}")
        else:
            what = f"{self.protocol} {','.join(self.flags)}".rstrip()
        verdict = f"{self.verdict} ({self.drop_reason})" if self.drop_reason else self.verdict
        return f"{t} {src} -> {dst} {what} {verdict}"


def _peer(ep: flow_pb2.Endpoint, ip: str) -> Peer:
    w = ep.workloads[0] if ep.workloads else None
    return Peer(ip=ip, namespace=ep.namespace, pod=ep.pod_name, workload=w.name if w else "",
                workload_kind=w.kind if w else "", labels=tuple(ep.labels), identity=ep.identity)


def _service(svc: flow_pb2.Service) -> str:
    return f"{svc.namespace}/{svc.name}" if svc.name else ""


def view(f: flow_pb2.Flow) -> FlowView:
    """A `FlowView` of one Hubble flow."""
    which = f.l4.WhichOneof("protocol") or ""
    l4 = getattr(f.l4, which) if which else None
    flags = tuple(n for n in _TCP_FLAGS if which == "TCP" and getattr(f.l4.TCP.flags, n))
    kind = f.l7.WhichOneof("record") if f.HasField("l7") else None
    l7 = kind if kind in ("http", "dns") else ""
    return FlowView(
        time=EPOCH + timedelta(seconds=f.time.seconds, microseconds=f.time.nanos // 1000),
        verdict=enum_name(flow_pb2.Verdict, f.verdict), source=_peer(f.source, f.IP.source),
        destination=_peer(f.destination, f.IP.destination), protocol=which,
        source_port=getattr(l4, "source_port", 0), destination_port=getattr(l4, "destination_port", 0),
        flags=flags, is_reply=f.is_reply.value if f.HasField("is_reply") else None,
        drop_reason=enum_name(flow_pb2.DropReason, f.drop_reason_desc) if f.drop_reason_desc else "",
        direction=enum_name(flow_pb2.TrafficDirection, f.traffic_direction), l7=l7,
        l7_type=enum_name(flow_pb2.L7FlowType, f.l7.type) if l7 else "",
        http_code=f.l7.http.code if l7 == "http" else 0, http_method=f.l7.http.method if l7 == "http" else "",
        http_url=f.l7.http.url if l7 == "http" else "", latency_ns=f.l7.latency_ns if l7 else 0,
        dns_query=f.l7.dns.query if l7 == "dns" else "", dns_rcode=f.l7.dns.rcode if l7 == "dns" else 0,
        source_service=_service(f.source_service), destination_service=_service(f.destination_service),
        node=f.node_name,
        denied_by=tuple(f"{p.namespace}/{p.name}" for p in (*f.egress_denied_by, *f.ingress_denied_by)))


# -- filters -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlowFilterSpec:
    """The `hubble observe` filter flags we support; every field is a list of alternatives (OR).

    Either-side flags (two filters): `namespace`, `pod` (`ns/prefix`), `label` (a selector), `port`.
    One-side flags: `from_*` / `to_*`. Side-less: `verdict` (FORWARDED, DROPPED, ...), `protocol`
    (tcp, udp, http, dns, ...), `http_status` ("503", "5+"), `dns_query` (RE2), `drop_reason`
    (POLICY_DENIED, ...), `node` (glob)."""

    namespace: Sequence[str] = ()
    pod: Sequence[str] = ()
    label: Sequence[str] = ()
    port: Sequence[int | str] = ()
    from_namespace: Sequence[str] = ()
    to_namespace: Sequence[str] = ()
    from_pod: Sequence[str] = ()
    to_pod: Sequence[str] = ()
    from_label: Sequence[str] = ()
    to_label: Sequence[str] = ()
    from_port: Sequence[int | str] = ()
    to_port: Sequence[int | str] = ()
    verdict: Sequence[str] = ()
    protocol: Sequence[str] = ()
    http_status: Sequence[str] = ()
    dns_query: Sequence[str] = ()
    drop_reason: Sequence[str] = ()
    node: Sequence[str] = ()

    def whitelist(self) -> list[flow_pb2.FlowFilter]:
        """The whitelist `hubble observe` would send for these flags (empty: no filtering)."""
        left, right = flow_pb2.FlowFilter(), flow_pb2.FlowFilter()
        pods = [f"{ns}/" for ns in self.namespace] + list(self.pod)
        left.source_pod.extend(pods)
        right.destination_pod.extend(pods)
        left.source_label.extend(self.label)
        right.destination_label.extend(self.label)
        left.source_port.extend(str(p) for p in self.port)
        right.destination_port.extend(str(p) for p in self.port)
        for ff in (left, right):  # one-side and side-less flags apply to whichever filter(s) exist
            ff.source_pod.extend([f"{ns}/" for ns in self.from_namespace] + list(self.from_pod))
            ff.destination_pod.extend([f"{ns}/" for ns in self.to_namespace] + list(self.to_pod))
            ff.source_label.extend(self.from_label)
            ff.destination_label.extend(self.to_label)
            ff.source_port.extend(str(p) for p in self.from_port)
            ff.destination_port.extend(str(p) for p in self.to_port)
            ff.verdict.extend(flow_pb2.Verdict.Value(v.upper()) for v in self.verdict)
            ff.protocol.extend(p.lower() for p in self.protocol)
            ff.http_status_code.extend(self.http_status)
            ff.dns_query.extend(self.dns_query)
            ff.drop_reason_desc.extend(flow_pb2.DropReason.Value(r.upper()) for r in self.drop_reason)
            ff.node_name.extend(self.node)
        if left == right:
            return [left] if left.ListFields() else []
        return [left, right]


__all__ = ["DNS_RCODES", "FlowFilterSpec", "FlowView", "Peer", "enum_name", "view"]
