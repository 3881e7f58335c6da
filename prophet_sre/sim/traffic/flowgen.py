"""Build the `FlowRecord`s of one tick: what Hubble would have observed for a sampled request.

Per sampled outcome:
- served HTTP request: SYN (egress, at the client's node), SYN-ACK (reply), L7 REQUEST and RESPONSE
  (at the server's node: the L7 proxy sits on ingress, so `reporter="server"`) with code and latency;
- served TCP request (a database connection): SYN, SYN-ACK, then the query and its answer (ACK-PSH);
- refused (stale endpoint, nothing listening): SYN, then RST-ACK as the reply;
- dropped: one DROPPED SYN (or UDP datagram) with the drop reason, observed where it was dropped -
  egress policy and missing service backends at the client's node, ingress policy at the server's;
- DNS lookup: L7 DNS REQUEST and RESPONSE (query `<svc>.<ns>.svc.cluster.local.`, rcode, answers).

`node_name` is the Kubernetes node name of the observing node. UUIDs, ports and times come from the
model's seeded RNG, so a seeded run writes the same flows every time.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from prophet_sre.sim.flows import FlowEndpoint, FlowL7, FlowRecord

Service = tuple[str, str] | None
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID_SET = (0x4 << 76) | (0x2 << 62)  # version 4, RFC 4122 variant


class FlowWriter:
    """Collects one tick's records; `records` are sorted by time when the tick ends."""

    def __init__(self, rng: random.Random, start: datetime, dt: float) -> None:
        self.rng = rng
        self.start = start
        self.dt = dt
        self.records: list[FlowRecord] = []
        self._requests: dict[tuple[str, str], FlowL7] = {}

    def _t(self) -> float:
        return self.rng.random() * self.dt

    def _time(self, offset_s: float) -> datetime:
        return self.start + timedelta(seconds=offset_s)

    def _uuid(self) -> str:
        """A version-4 UUID from the seeded RNG (formatted by hand: this runs ~2,000 times a sim second)."""
        h = f"{(self.rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _ephemeral(self) -> int:
        return 32768 + int(self.rng.random() * 28232)  # Linux's default ephemeral range 32768-60999

    def _request(self, method: str, url: str) -> FlowL7:
        """L7 request records are immutable and identical per (method, url): shared, not rebuilt."""
        key = (method, url)
        l7 = self._requests.get(key)
        if l7 is None:
            l7 = self._requests[key] = FlowL7(type="REQUEST", http_method=method, http_url=url)
        return l7

    def _add(self, at: float, src: FlowEndpoint, dst: FlowEndpoint, **kw: Any) -> None:
        self.records.append(FlowRecord(time=self._time(at), source=src, destination=dst, uuid=self._uuid(), **kw))

    # -- HTTP over TCP --------------------------------------------------------------------------------------
    def http(self, src: FlowEndpoint, dst: FlowEndpoint, port: int, *, code: int, latency_s: float, method: str,
             url: str, service: Service, verdict: Any = None) -> None:
        t, sport = self._t(), self._ephemeral()
        src_node, dst_node = src.node_name or dst.node_name, dst.node_name
        allowed = {"egress_allowed_by": tuple(getattr(verdict, "egress_allowed_by", ()) or ()),
                   "ingress_allowed_by": tuple(getattr(verdict, "ingress_allowed_by", ()) or ())}
        self._add(t, src, dst, protocol="TCP", source_port=sport, destination_port=port, tcp_flags=("SYN",),
                  traffic_direction="EGRESS" if src.pod_name else "INGRESS", destination_service=service,
                  node_name=src_node if src.pod_name else dst_node, **allowed)
        self._add(t + 0.00005, dst, src, protocol="TCP", source_port=port, destination_port=sport,
                  tcp_flags=("SYN", "ACK"), is_reply=True, traffic_direction="EGRESS" if src.pod_name else "INGRESS",
                  source_service=service, node_name=src_node if src.pod_name else dst_node)
        self._add(t + 0.0001, src, dst, protocol="TCP", source_port=sport, destination_port=port,
                  traffic_direction="INGRESS", destination_service=service, node_name=dst_node,
                  l7=self._request(method, url))
        self._add(t + 0.0001 + latency_s, dst, src, protocol="TCP", source_port=port, destination_port=sport,
                  is_reply=True, traffic_direction="INGRESS", source_service=service, node_name=dst_node,
                  l7=FlowL7(type="RESPONSE", http_method=method, http_url=url, http_code=code,
                            latency_ns=int(latency_s * 1e9)))

    def tcp(self, src: FlowEndpoint, dst: FlowEndpoint, port: int, *, service: Service) -> None:
        """A request over plain TCP (no L7 visibility): handshake, then one segment each way."""
        t, sport = self._t(), self._ephemeral()
        node = src.node_name or dst.node_name
        for i, (a, b, flags, reply) in enumerate(((src, dst, ("SYN",), False), (dst, src, ("SYN", "ACK"), True),
                                                  (src, dst, ("ACK", "PSH"), False), (dst, src, ("ACK", "PSH"), True))):
            ports = {"source_port": port, "destination_port": sport} if reply else \
                {"source_port": sport, "destination_port": port}
            svc = {"source_service": service} if reply else {"destination_service": service}
            self._add(t + i * 0.00005, a, b, protocol="TCP", tcp_flags=flags, is_reply=reply, node_name=node,
                      **ports, **svc)

    def refused(self, src: FlowEndpoint, dst: FlowEndpoint, port: int, *, service: Service) -> None:
        t, sport = self._t(), self._ephemeral()
        node = src.node_name or dst.node_name
        self._add(t, src, dst, protocol="TCP", source_port=sport, destination_port=port, tcp_flags=("SYN",),
                  destination_service=service, node_name=node)
        self._add(t + 0.00005, dst, src, protocol="TCP", source_port=port, destination_port=sport,
                  tcp_flags=("RST", "ACK"), is_reply=True, source_service=service, node_name=node)

    def dropped(self, src: FlowEndpoint, dst: FlowEndpoint, port: int, *, reason: str, protocol: str = "TCP",
                ingress: bool = False, service: Service = None, verdict: Any = None) -> None:
        node = (dst.node_name or src.node_name) if ingress else (src.node_name or dst.node_name)
        self._add(self._t(), src, dst, verdict="DROPPED", drop_reason=reason, protocol=protocol,
                  source_port=self._ephemeral(), destination_port=port,
                  tcp_flags=("SYN",) if protocol == "TCP" else (), traffic_direction="INGRESS" if ingress else "EGRESS",
                  destination_service=service, node_name=node,
                  egress_denied_by=tuple(getattr(verdict, "egress_denied_by", ()) or ()),
                  ingress_denied_by=tuple(getattr(verdict, "ingress_denied_by", ()) or ()))

    def syn(self, src: FlowEndpoint, dst: FlowEndpoint, port: int, *, reply: tuple[str, ...]) -> None:
        """A connection attempt answered with `reply` flags (("SYN", "ACK") open, ("RST", "ACK") closed)."""
        t, sport = self._t(), self._ephemeral()
        node = src.node_name or dst.node_name
        self._add(t, src, dst, protocol="TCP", source_port=sport, destination_port=port, tcp_flags=("SYN",),
                  node_name=node)
        self._add(t + 0.00005, dst, src, protocol="TCP", source_port=port, destination_port=sport,
                  tcp_flags=reply, is_reply=True, node_name=node)

    # -- DNS over UDP ------------------------------------------------------------------------------------------
    def dns(self, src: FlowEndpoint, server: FlowEndpoint, query: str, *, rcode: int, ips: tuple[str, ...],
            service: Service) -> None:
        t, sport = self._t(), self._ephemeral()
        node = src.node_name or server.node_name
        self._add(t, src, server, protocol="UDP", source_port=sport, destination_port=53, node_name=node,
                  destination_service=service,
                  l7=FlowL7(type="REQUEST", dns_query=query, dns_qtypes=("A",)))
        self._add(t + 0.0008, server, src, protocol="UDP", source_port=53, destination_port=sport, is_reply=True,
                  node_name=node, source_service=service,
                  l7=FlowL7(type="RESPONSE", dns_query=query, dns_qtypes=("A",), dns_rcode=rcode,
                            dns_ips=ips if rcode == 0 else (), latency_ns=800_000))

    def finish(self, pending: list[FlowRecord]) -> tuple[list[FlowRecord], list[FlowRecord]]:
        """(flows observed by the end of the tick, in time order; flows still in the future).

        A response that arrives after the tick ends (a slow request) is held back for a later tick, so
        the flow log stays in time order like Hubble's ring buffer."""
        merged = sorted(pending + self.records, key=lambda r: r.time)
        end = self.start + timedelta(seconds=self.dt)
        cut = len(merged)
        while cut and merged[cut - 1].time > end:
            cut -= 1
        return merged[:cut], merged[cut:]


def vip(ip: str) -> FlowEndpoint:
    """A Service address without a backend (the destination of SERVICE_BACKEND_NOT_FOUND drops)."""
    return FlowEndpoint(ip=ip, labels=("reserved:world",), identity=2)
