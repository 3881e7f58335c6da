"""Hubble `FlowFilter`s compiled into predicates over `FlowRecord`s.

A GetFlows request carries a whitelist and a blacklist of filters: a flow is sent when ANY whitelist
filter matches (or the whitelist is empty) and NO blacklist filter matches. Inside one filter every
set field must match (AND), and inside one repeated field any value may match (OR) - so the CLI's
`--namespace X` arrives as two whitelist filters, one on `source_pod: "X/"` and one on
`destination_pod: "X/"`.

Filters run against the records, not against converted protobufs (conversion is the expensive part,
and most flows are filtered out), using the `FlowConverter`'s derivations for node names, identities
and event types so they see exactly what the client would. Malformed values (a bad regex, port or
status pattern, an unknown protocol) raise `FilterError`, which the server turns into
INVALID_ARGUMENT as Hubble does.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit

from prophet_sre.protos.flow import flow_pb2
from prophet_sre.sim.flows import FlowEndpoint, FlowRecord
from prophet_sre.sim.hubble.convert import FlowConverter, enum_value, identity_of
from prophet_sre.sim.selectors import LabelSelector, SelectorError, parse_label_selector

Predicate = Callable[[FlowRecord], bool]
Side = Callable[[FlowRecord], FlowEndpoint]


class FilterError(ValueError):
    """A filter value Hubble would reject."""


def _src(r: FlowRecord) -> FlowEndpoint:
    return r.source


def _dst(r: FlowRecord) -> FlowEndpoint:
    return r.destination


def compile_filters(filters: Iterable[flow_pb2.FlowFilter], conv: FlowConverter) -> list[Predicate]:
    return [compile_filter(f, conv) for f in filters]


def compile_filter(ff: flow_pb2.FlowFilter, conv: FlowConverter) -> Predicate:
    """One FlowFilter -> one predicate (the AND of every field that is set)."""
    checks: list[Predicate] = []
    for field, value in ff.ListFields():
        build = _BUILDERS.get(field.name)
        if build is None:
            raise FilterError(f"filter field {field.name!r} is not supported by the simulated Hubble")
        checks.append(build(value, conv))
    if not checks:
        return lambda r: True
    if len(checks) == 1:
        return checks[0]
    return lambda r: all(c(r) for c in checks)


def request_predicate(whitelist: Sequence[Predicate], blacklist: Sequence[Predicate]) -> Predicate | None:
    """`whitelist - blacklist` as one predicate; None when the request filters nothing."""
    if not whitelist and not blacklist:
        return None
    if not blacklist:
        return whitelist[0] if len(whitelist) == 1 else (lambda r: any(w(r) for w in whitelist))
    if not whitelist:
        return lambda r: not any(b(r) for b in blacklist)
    return lambda r: any(w(r) for w in whitelist) and not any(b(r) for b in blacklist)


# -- field builders ---------------------------------------------------------------------------------------
def _ips(side: Side) -> Callable[[Sequence[str], FlowConverter], Predicate]:
    def build(values: Sequence[str], conv: FlowConverter) -> Predicate:
        exact: set[str] = set()
        nets = []
        for v in values:
            try:
                if "/" in v:
                    nets.append(ipaddress.ip_network(v, strict=False))
                else:
                    exact.add(str(ipaddress.ip_address(v)))
            except ValueError as e:
                raise FilterError(f"invalid IP address or CIDR {v!r} in filter") from e

        def match(r: FlowRecord) -> bool:
            ip = side(r).ip
            if ip in exact:
                return True
            if not nets or not ip:
                return False
            addr = ipaddress.ip_address(ip)
            return any(addr.version == n.version and addr in n for n in nets)
        return match
    return build


def _split_names(values: Sequence[str]) -> list[tuple[str, str]]:
    """`[namespace/][name-prefix]` pairs; a bare name means the `default` namespace, as in Hubble."""
    out: list[tuple[str, str]] = []
    for v in values:
        ns, sep, prefix = v.partition("/")
        if not sep:
            ns, prefix = ("default", v) if v else ("", "")
        if not ns and not prefix:
            raise FilterError(f"invalid filter, must be [namespace/][<name>], got {v!r}")
        out.append((ns, prefix))
    return out


def _pods(side: Side) -> Callable[[Sequence[str], FlowConverter], Predicate]:
    def build(values: Sequence[str], conv: FlowConverter) -> Predicate:
        names = _split_names(values)

        def match(r: FlowRecord) -> bool:
            ep = side(r)
            if not ep.namespace and not ep.pod_name:
                return False
            return any(ep.namespace == ns and ep.pod_name.startswith(p) for ns, p in names)
        return match
    return build


def _services(getter: Callable[[FlowRecord], tuple[str, str] | None]) -> Callable[..., Predicate]:
    def build(values: Sequence[str], conv: FlowConverter) -> Predicate:
        names = _split_names(values)

        def match(r: FlowRecord) -> bool:
            svc = getter(r)
            return svc is not None and any(svc[1] == ns and svc[0].startswith(p) for ns, p in names)
        return match
    return build


_SOURCE = re.compile(r"(?<![\w.\-/])([A-Za-z][\w-]*):(?=[\w])")


def label_selector(text: str) -> LabelSelector:
    """Parse a Hubble label filter: k8s selector syntax over Cilium labels (`k8s:app=web`, `app=web`)."""
    translated = _SOURCE.sub(lambda m: "" if m.group(1) == "any" else m.group(1) + ".", text)
    try:
        return parse_label_selector(translated)
    except SelectorError as e:
        raise FilterError(f"invalid label selector {text!r}: {e}") from e


def label_map(ep: FlowEndpoint) -> dict[str, str]:
    out: dict[str, str] = {}
    for label in ep.labels:
        source, sep, kv = label.partition(":")
        key, _, value = (kv if sep else label).partition("=")
        if sep:
            out[f"{source}.{key}"] = value
        out[key] = value
    return out


def _labels(side: Side) -> Callable[[Sequence[str], FlowConverter], Predicate]:
    def build(values: Sequence[str], conv: FlowConverter) -> Predicate:
        selectors = [label_selector(v) for v in values]
        cache: dict[tuple[str, ...], bool] = {}

        def match(r: FlowRecord) -> bool:
            labels = side(r).labels
            hit = cache.get(labels)
            if hit is None:
                m = label_map(side(r))
                hit = cache[labels] = any(s.matches(m) for s in selectors)
            return hit
        return match
    return build


def _workloads(side: Side) -> Callable[..., Predicate]:
    def build(values: Sequence[flow_pb2.Workload], conv: FlowConverter) -> Predicate:
        wanted = [(w.name, w.kind) for w in values]
        return lambda r: bool(side(r).workload_name) and any(
            (not n or n == side(r).workload_name) and (not k or k == side(r).workload_kind) for n, k in wanted)
    return build


def _enum_set(attr: str, enum: object) -> Callable[..., Predicate]:
    def build(values: Sequence[int], conv: FlowConverter) -> Predicate:
        wanted = set(values)
        return lambda r: enum_value(enum, getattr(r, attr)) in wanted
    return build


def _ports(attr: str) -> Callable[[Sequence[str], FlowConverter], Predicate]:
    def build(values: Sequence[str], conv: FlowConverter) -> Predicate:
        try:
            ports = {int(v) for v in values}
        except ValueError as e:
            raise FilterError(f"invalid port in filter: {list(values)!r}") from e
        return lambda r: r.protocol.upper() in ("TCP", "UDP", "SCTP") and getattr(r, attr) in ports
    return build


def _status_codes(values: Sequence[str], conv: FlowConverter) -> Predicate:
    exact, prefixes = set(), []
    for v in values:
        if re.fullmatch(r"[1-5][0-9]{2}", v):
            exact.add(int(v))
        elif re.fullmatch(r"[1-5][0-9]?\+", v):
            prefixes.append(v[:-1])
        else:
            raise FilterError(f"invalid status code prefix: {v!r}")

    def match(r: FlowRecord) -> bool:
        l7 = r.l7
        if l7 is None or not l7.http_code:
            return False
        return l7.http_code in exact or any(str(l7.http_code).startswith(p) for p in prefixes)
    return match


_L4_PROTOCOLS = {"tcp": ("TCP",), "udp": ("UDP",), "sctp": ("SCTP",), "icmp": ("ICMPV4", "ICMPV6", "ICMP"),
                 "icmpv4": ("ICMPV4", "ICMP"), "icmpv6": ("ICMPV6",)}


def _protocols(values: Sequence[str], conv: FlowConverter) -> Predicate:
    l4: set[str] = set()
    l7: set[str] = set()
    for v in values:
        name = v.lower()
        if name in _L4_PROTOCOLS:
            l4.update(_L4_PROTOCOLS[name])
        elif name in ("http", "dns", "kafka"):
            l7.add(name)
        else:
            raise FilterError(f"unknown protocol: {v!r}")

    def match(r: FlowRecord) -> bool:
        if r.protocol.upper() in l4:
            return True
        if r.l7 is None or not l7:
            return False
        return ("dns" if r.l7.dns_query else "http") in l7
    return match


def _regexes(values: Sequence[str]) -> list[re.Pattern[str]]:
    try:
        return [re.compile(v) for v in values]
    except re.error as e:
        raise FilterError(f"invalid regular expression in filter: {e}") from e


def _dns_query(values: Sequence[str], conv: FlowConverter) -> Predicate:
    pats = _regexes(values)
    return lambda r: r.l7 is not None and bool(r.l7.dns_query) and any(p.search(r.l7.dns_query) for p in pats)


def _http_method(values: Sequence[str], conv: FlowConverter) -> Predicate:
    wanted = {v.upper() for v in values}
    return lambda r: r.l7 is not None and r.l7.http_method.upper() in wanted


def _http_path(values: Sequence[str], conv: FlowConverter) -> Predicate:
    pats = _regexes(values)
    return lambda r: (r.l7 is not None and bool(r.l7.http_url)
                      and any(p.search(urlsplit(r.l7.http_url).path) for p in pats))


def _http_url(values: Sequence[str], conv: FlowConverter) -> Predicate:
    pats = _regexes(values)
    return lambda r: r.l7 is not None and bool(r.l7.http_url) and any(p.search(r.l7.http_url) for p in pats)


def _node_names(values: Sequence[str], conv: FlowConverter) -> Predicate:
    globs = []
    for v in values:
        if not v:
            raise FilterError("invalid empty node name filter")
        cluster, sep, node = v.rpartition("/")
        globs.append((cluster if sep else "*", node or "*"))

    def match(r: FlowRecord) -> bool:
        cluster, _, node = conv.node_name(r).rpartition("/")
        return any(fnmatch.fnmatchcase(cluster, c) and fnmatch.fnmatchcase(node, n) for c, n in globs)
    return match


def _event_types(values: Sequence[flow_pb2.EventTypeFilter], conv: FlowConverter) -> Predicate:
    wanted = [(e.type, e.match_sub_type, e.sub_type) for e in values]

    def match(r: FlowRecord) -> bool:
        t, sub = conv.event_type(r)
        return any(t == wt and (not ms or sub == ws) for wt, ms, ws in wanted)
    return match


def _tcp_flags(values: Sequence[flow_pb2.TCPFlags], conv: FlowConverter) -> Predicate:
    wanted = [frozenset(f.name for f, v in tf.ListFields() if v) for tf in values]
    return lambda r: r.protocol.upper() == "TCP" and any(w <= set(r.tcp_flags) for w in wanted)


def _identities(side: Side) -> Callable[..., Predicate]:
    def build(values: Sequence[int], conv: FlowConverter) -> Predicate:
        wanted = set(values)
        return lambda r: identity_of(side(r)) in wanted
    return build


def _clusters(side: Side) -> Callable[..., Predicate]:
    def build(values: Sequence[str], conv: FlowConverter) -> Predicate:
        wanted = set(values)
        return lambda r: conv.cluster_of(side(r)) in wanted
    return build


def _ip_versions(values: Sequence[int], conv: FlowConverter) -> Predicate:
    wanted = set(values)
    return lambda r: (flow_pb2.IPv6 if ":" in r.source.ip else flow_pb2.IPv4) in wanted


def _uuids(values: Sequence[str], conv: FlowConverter) -> Predicate:
    wanted = set(values)
    return lambda r: r.uuid in wanted


def _reply(values: Sequence[bool], conv: FlowConverter) -> Predicate:
    """Flows whose is_reply is unknown (None) match neither true nor false, as in Hubble."""
    wanted = set(values)
    return lambda r: r.is_reply is not None and r.is_reply in wanted


def _encrypted(values: Sequence[bool], conv: FlowConverter) -> Predicate:
    """Simulated traffic is never encrypted: `encrypted: [false]` matches everything, `[true]` nothing."""
    plain = False in values
    return lambda r: plain


def _never(values: object, conv: FlowConverter) -> Predicate:
    """Fields the simulated flows never carry (names, headers, interfaces, trace IDs): no flow matches."""
    return lambda r: False


def _experimental(value: flow_pb2.FlowFilter.Experimental, conv: FlowConverter) -> Predicate:
    raise FilterError("CEL expressions (experimental.cel_expression) are not supported by the simulated Hubble")


_BUILDERS: dict[str, Callable[..., Predicate]] = {
    "uuid": _uuids,
    "source_ip": _ips(_src), "destination_ip": _ips(_dst),
    "source_pod": _pods(_src), "destination_pod": _pods(_dst),
    "source_label": _labels(_src), "destination_label": _labels(_dst),
    "source_service": _services(lambda r: r.source_service),
    "destination_service": _services(lambda r: r.destination_service),
    "source_workload": _workloads(_src), "destination_workload": _workloads(_dst),
    "source_identity": _identities(_src), "destination_identity": _identities(_dst),
    "source_cluster_name": _clusters(_src), "destination_cluster_name": _clusters(_dst),
    "traffic_direction": _enum_set("traffic_direction", flow_pb2.TrafficDirection),
    "verdict": _enum_set("verdict", flow_pb2.Verdict),
    "drop_reason_desc": _enum_set("drop_reason", flow_pb2.DropReason),
    "event_type": _event_types, "http_status_code": _status_codes, "protocol": _protocols,
    "source_port": _ports("source_port"), "destination_port": _ports("destination_port"),
    "reply": _reply,
    "dns_query": _dns_query, "http_method": _http_method, "http_path": _http_path, "http_url": _http_url,
    "tcp_flags": _tcp_flags, "node_name": _node_names, "ip_version": _ip_versions,
    "encrypted": _encrypted,
    "source_fqdn": _never, "destination_fqdn": _never, "source_ip_xlated": _never, "http_header": _never,
    "interface": _never, "node_labels": _never, "trace_id": _never, "ip_trace_id": _never,
    "experimental": _experimental,
}
