"""A service map from Hubble flows: who calls whom, how often, and how much of it fails.

Nodes are workloads (`ns/workload`), else pods, else the Service a flow was addressed to (a drop with
SERVICE_BACKEND_NOT_FOUND has no pod on the far side), else `world` / `host` / the IP. Every flow is
oriented client -> server before it is counted - a reply or an L7 RESPONSE travels server -> client but
belongs to the client's edge - so one edge carries:

- `requests`: L7 HTTP requests; `connections`: connection attempts that were forwarded (TCP SYN, or a
  first datagram); the edge's rate is HTTP requests/s when it has L7 visibility, else DNS queries/s,
  else connection attempts/s (forwarded or dropped);
- `errors` / `responses`: HTTP 5xx among the L7 responses (4xx are the client's mistakes, not the
  server's failure);
- `drops` by reason: dropped flows, and the drop ratio drops / (drops + forwarded connections);
- `dns_queries` / `dns_errors` by rcode (NXDOMAIN, SERVFAIL...) for edges to the DNS servers.

Counts are of the flows Hubble kept (the relay's ring, sampled by the simulator), so rates are
"observed flows per second" - exact for ratios, a lower bound for volumes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from prophet_sre.tools import budget as bud
from prophet_sre.tools.hubble_flows import FlowView, Peer


class Edge(BaseModel):
    """Traffic from one client node to one server node over the map's window."""

    source: str
    destination: str
    ports: list[str] = Field(default_factory=list)
    """Server ports as `port/PROTO`, e.g. `80/TCP`."""
    flows: int = 0
    connections: int = 0
    requests: int = 0
    responses: int = 0
    errors: int = 0
    drops: int = 0
    drop_reasons: dict[str, int] = Field(default_factory=dict)
    dns_queries: int = 0
    dns_errors: int = 0
    dns_rcodes: dict[str, int] = Field(default_factory=dict)
    latency_ms: float | None = None
    """Mean L7 latency of the responses."""
    request_rate: float = 0.0
    """HTTP requests/s; without them DNS queries/s; without those connection attempts/s."""
    error_ratio: float = 0.0
    drop_ratio: float = 0.0
    dns_error_ratio: float = 0.0

    @property
    def rate_unit(self) -> str:
        return "req/s" if self.requests else "dns/s" if self.dns_queries else "conn/s"

    @property
    def unhealthy(self) -> bool:
        return bool(self.errors or self.drops or self.dns_errors)

    def line(self) -> str:
        parts = [f"{self.source} -> {self.destination}", ",".join(self.ports[:4]) or "-",
                 f"{self.request_rate:.3g} {self.rate_unit}"]
        if self.responses:
            parts.append(f"err {self.error_ratio:.1%}")
        if self.latency_ms is not None:
            parts.append(f"lat {self.latency_ms:.0f}ms")
        if self.drops:
            top = ", ".join(f"{r} {n}" for r, n in sorted(self.drop_reasons.items(), key=lambda x: -x[1])[:2])
            parts.append(f"drop {self.drop_ratio:.1%} ({top})")
        if self.dns_queries or self.dns_errors:
            rc = ", ".join(f"{r} {n}" for r, n in sorted(self.dns_rcodes.items(), key=lambda x: -x[1])[:2])
            parts.append(f"dns-err {self.dns_errors}/{self.dns_queries}" + (f" ({rc})" if rc else ""))
        return "  ".join(parts)


class ServiceMap(BaseModel):
    window_s: float
    flows: int = 0
    truncated: bool = False
    """The flow source held more than was read (see `HubbleTool.max_flows`)."""
    edges: list[Edge] = Field(default_factory=list)
    """Unhealthy edges first, then by request rate."""

    def edge(self, source: str, destination: str) -> Edge | None:
        return next((e for e in self.edges if e.source == source and e.destination == destination), None)

    def render(self, budget: bud.Budget) -> tuple[str, str]:
        """(text within `budget`, what was omitted)."""
        head = [f"service map: {len(self.edges)} edges from {self.flows:,} flows over {self.window_s:g}s"
                + (" (flow limit reached: narrow with a namespace)" if self.truncated else "")]
        rows = [e.line() for e in self.edges]
        n = bud.fit_rows(head, rows, budget)
        omitted = (f"{len(rows) - n} quieter healthy edges; filter by namespace for the rest"
                   if n < len(rows) else "")
        return "\n".join(head + rows[:n] + ([f"... {omitted}"] if omitted else [])), omitted


@dataclass
class _Acc:
    ports: set[str] = field(default_factory=set)
    drop_reasons: Counter[str] = field(default_factory=Counter)
    dns_rcodes: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    latency_ns: int = 0


def orient(f: FlowView) -> tuple[Peer, str, Peer, str, int]:
    """(client, client's Service, server, server's Service, server port) of a flow in either direction."""
    backwards = bool(f.is_reply) or f.l7_type == "RESPONSE"
    if backwards:
        return f.destination, f.destination_service, f.source, f.source_service, f.source_port
    return f.source, f.source_service, f.destination, f.destination_service, f.destination_port


def endpoints(f: FlowView) -> tuple[str, str]:
    """(client node, server node) of a flow, as the map names them."""
    client, _, server, server_svc, _ = orient(f)
    return client.key(), server.key(server_svc)


def build(flows: Iterable[FlowView], *, window_s: float | None = None, truncated: bool = False) -> ServiceMap:
    """A service map of `flows`; `window_s` defaults to the span of their timestamps (a saved file)."""
    acc: dict[tuple[str, str], _Acc] = {}
    total, first, last = 0, None, None
    for f in flows:
        total += 1
        first = f.time if first is None or f.time < first else first
        last = f.time if last is None or f.time > last else last
        client, _, server, server_svc, port = orient(f)
        a = acc.setdefault((client.key(), server.key(server_svc)), _Acc())
        c = a.counts
        c["flows"] += 1
        if f.dropped:
            c["drops"] += 1
            a.drop_reasons[f.drop_reason or "UNKNOWN"] += 1
        elif f.l7 == "http":
            if f.l7_type == "REQUEST":
                c["requests"] += 1
            elif f.l7_type == "RESPONSE":
                c["responses"] += 1
                c["errors"] += f.http_code >= 500
                a.latency_ns += f.latency_ns
        elif f.l7 == "dns":
            if f.l7_type == "REQUEST":
                c["dns_queries"] += 1
            elif f.dns_rcode:
                c["dns_errors"] += 1
                a.dns_rcodes[f.dns_rcode_name] += 1
        elif f.initiates:
            c["connections"] += 1
        if (f.initiates or f.l7_type == "REQUEST") and port:
            a.ports.add(f"{port}/{f.protocol or '?'}")
    span = (last - first).total_seconds() if first is not None and last is not None else 0.0
    window = window_s if window_s is not None else max(span, 1.0)
    edges = [_edge(src, dst, a, window) for (src, dst), a in acc.items()]
    edges.sort(key=lambda e: (not e.unhealthy, -e.request_rate, e.source, e.destination))
    return ServiceMap(window_s=window, flows=total, truncated=truncated, edges=edges)


def _edge(src: str, dst: str, a: _Acc, window: float) -> Edge:
    c = a.counts
    attempts = c["drops"] + c["connections"]
    return Edge(source=src, destination=dst, ports=sorted(a.ports, key=_port_order), flows=c["flows"],
                connections=c["connections"], requests=c["requests"], responses=c["responses"], errors=c["errors"],
                drops=c["drops"], drop_reasons=dict(a.drop_reasons), dns_queries=c["dns_queries"],
                dns_errors=c["dns_errors"], dns_rcodes=dict(a.dns_rcodes),
                latency_ms=a.latency_ns / c["responses"] / 1e6 if c["responses"] else None,
                request_rate=(c["requests"] or c["dns_queries"] or attempts) / window,
                error_ratio=c["errors"] / c["responses"] if c["responses"] else 0.0,
                drop_ratio=c["drops"] / attempts if attempts else 0.0,
                dns_error_ratio=c["dns_errors"] / c["dns_queries"] if c["dns_queries"] else 0.0)


def _port_order(p: str) -> tuple[int, str]:
    num, _, proto = p.partition("/")
    return (int(num) if num.isdigit() else 0, proto)


__all__ = ["Edge", "ServiceMap", "build", "endpoints", "orient"]
