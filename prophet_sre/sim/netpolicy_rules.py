"""Compile NetworkPolicy and CiliumNetworkPolicy objects into plain predicates for the policy engine.

The traffic model asks `netpolicy.PolicyEngine.evaluate` about every connection, so everything that
can be worked out once per policy (label selectors, CIDRs, port ranges, which direction is
default-deny) is worked out here, when a policy changes, and not per connection.

Two policy languages, one compiled shape (`CompiledPolicy`):
- `networking.k8s.io/v1` NetworkPolicy: additive allows only. `policyTypes` decides which
  directions a selected pod is isolated in; peers are podSelector / namespaceSelector / both /
  ipBlock; ports are numbers, ranges (`endPort`) or named container ports.
- `cilium.io/v2` CiliumNetworkPolicy (and the cluster-scoped CiliumClusterwideNetworkPolicy):
  `spec` or `specs`, allow sections (`ingress`/`egress`) and deny sections (`ingressDeny`/
  `egressDeny`). Label keys carry a source prefix (`k8s:app`, `any:app`, `reserved:world`); an
  endpoint selector in a namespaced policy only sees the policy's namespace unless it names
  `io.kubernetes.pod.namespace` itself. Entities (`all`, `world`, `cluster`, `host`, ...) and CIDRs
  select peers outside the pod world.

Not modelled (the rule still compiles, the unsupported peer just matches nothing): `toFQDNs`,
`toServices`, `fromRequires`/`toRequires`, `fromGroups`/`toGroups`, `fromNodes`/`toNodes`, host
policies (`nodeSelector`) and L7 rules inside `toPorts` (the L4 part is enforced, as the datapath
does before the proxy sees anything).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prophet_sre.sim.flows import FlowEndpoint, PolicyRef
from prophet_sre.sim.selectors import LabelSelector, label_selector_from_dict

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

NS_LABEL = "io.kubernetes.pod.namespace"
"""The label Cilium gives every pod endpoint; selectors use it to cross namespaces."""
NS_LABELS_PREFIX = "io.cilium.k8s.namespace.labels."
"""Cilium copies the namespace's labels onto each endpoint under this prefix."""
_INTERNAL_PREFIXES = (NS_LABEL, "io.cilium.k8s.")

_RESERVED_ENTITIES = {
    "host": ("host", "cluster"), "remote-node": ("remote-node", "cluster"),
    "kube-apiserver": ("kube-apiserver", "cluster"), "health": ("health", "cluster"),
    "init": ("init",), "ingress": ("ingress", "cluster"), "unmanaged": ("unmanaged", "cluster"),
}


# -- endpoints ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EndpointView:
    """What matching needs to know about one `FlowEndpoint`, derived once and cached by the engine."""

    is_pod: bool
    namespace: str
    pod_name: str
    k8s_labels: Mapping[str, str]
    """Plain pod labels (`app`), what NetworkPolicy selectors see."""
    cilium_labels: Mapping[str, str]
    """Keys as `k8s.app`, `any.app` and `app` (plus namespace and reserved labels) for Cilium selectors."""
    ns_labels: Mapping[str, str]
    entities: frozenset[str]
    ip: IPAddress | None


def cilium_key(key: str) -> str:
    """Map a Cilium selector key (`k8s:app`, `any:app`, `app`) onto `EndpointView.cilium_labels` keys.

    Label selectors only accept DNS-style keys, so the source separator `:` becomes `.`; a key without a
    source (or with `any:`) matches a label from any source.
    """
    source, sep, rest = key.partition(":")
    if not sep:
        return key
    return rest if source == "any" else f"{source}.{rest}"


def endpoint_view(ep: FlowEndpoint, ns_labels: Mapping[str, str]) -> EndpointView:
    """Derive the matching view of a flow endpoint; `ns_labels` are the labels of its Namespace."""
    plain: dict[str, str] = {}
    cil: dict[str, str] = {}
    reserved: list[str] = []
    for label in ep.labels:
        source, sep, kv = label.partition(":")
        if not sep:
            source, kv = "k8s", label
        key, _, value = kv.partition("=")
        if source == "reserved":
            reserved.append(key)
        elif source == "k8s" and not key.startswith(_INTERNAL_PREFIXES):
            plain[key] = value
        cil[f"{source}.{key}"] = value
        cil[key] = value
    is_pod = not reserved and bool(ep.namespace)
    if is_pod:
        for key, value in [(NS_LABEL, ep.namespace)] + [(NS_LABELS_PREFIX + k, v) for k, v in ns_labels.items()]:
            cil.setdefault(f"k8s.{key}", value)
            cil.setdefault(key, value)
    try:
        ip: IPAddress | None = ipaddress.ip_address(ep.ip) if ep.ip else None
    except ValueError:
        ip = None
    return EndpointView(is_pod=is_pod, namespace=ep.namespace if is_pod else "", pod_name=ep.pod_name,
                        k8s_labels=plain, cilium_labels=cil, ns_labels=ns_labels if is_pod else {},
                        entities=_entities(is_pod, reserved, ip), ip=ip)


def _entities(is_pod: bool, reserved: list[str], ip: IPAddress | None) -> frozenset[str]:
    if is_pod:
        return frozenset(("all", "cluster"))
    out = {"all"}
    for name in reserved:
        out.update(_RESERVED_ENTITIES.get(name, ()))
    if not (out - {"all"}) or "world" in reserved:
        out.add("world")
        if ip is not None:
            out.add("world-ipv4" if ip.version == 4 else "world-ipv6")
    return frozenset(out)


# -- rules ----------------------------------------------------------------------------------------------
Peer = Callable[[EndpointView], bool]
NamedPorts = Callable[[], Mapping[str, tuple[int, str]]]
"""Lazily resolves the destination pod's named container ports: name -> (port, protocol)."""


@dataclass(frozen=True, slots=True)
class PortSpec:
    """One allowed/denied port or range. `protocol` "" means any; "ICMP" matches ICMPv4 and ICMPv6."""

    protocol: str = ""
    port: int = 0  # 0 = every port
    end_port: int = 0
    name: str = ""  # a named container port of the destination pod

    def matches(self, port: int, protocol: str, named: NamedPorts) -> bool:
        if self.protocol and self.protocol != protocol:
            if not (self.protocol == "ICMP" and protocol.startswith("ICMP")):
                return False
        if self.name:
            resolved = named().get(self.name)
            return resolved is not None and resolved[0] == port and resolved[1] == protocol
        if self.protocol == "ICMP":
            return True
        return self.port == 0 or self.port <= port <= self.end_port


@dataclass(frozen=True, slots=True)
class PeerRule:
    """One rule of a direction: any of `peers` (None = every peer) on any of `ports` (empty = all)."""

    peers: tuple[Peer, ...] | None
    ports: tuple[PortSpec, ...] = ()

    def matches(self, peer: EndpointView, port: int, protocol: str, named: NamedPorts) -> bool:
        if self.peers is not None and not any(p(peer) for p in self.peers):
            return False
        return not self.ports or any(ps.matches(port, protocol, named) for ps in self.ports)

    @property
    def uses_named_ports(self) -> bool:
        return any(ps.name for ps in self.ports)


@dataclass(frozen=True, slots=True)
class DirectionRules:
    default_deny: bool
    allow: tuple[PeerRule, ...] = ()
    deny: tuple[PeerRule, ...] = ()


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """One NetworkPolicy, or one rule of a Cilium policy (a `specs` list gives several, same `ref`)."""

    ref: PolicyRef
    namespace: str | None  # None: cluster-wide
    selects: Callable[[EndpointView], bool]
    ingress: DirectionRules | None
    egress: DirectionRules | None

    @property
    def uses_named_ports(self) -> bool:
        return any(r.uses_named_ports for d in (self.ingress, self.egress) if d is not None
                   for r in d.allow + d.deny)


# -- shared helpers -------------------------------------------------------------------------------------
def _port_number(value: Any) -> tuple[int, str]:
    """(number, "") for 80 / "80", (0, name) for a named port."""
    if isinstance(value, int):
        return value, ""
    text = str(value).strip()
    return (int(text), "") if text.isdigit() else (0, text)


def _cidr_peer(cidr: str, excepts: list[str]) -> Peer:
    """Cilium never applies CIDR rules to cluster endpoints (pods, nodes): only to world peers."""
    net = ipaddress.ip_network(cidr, strict=False)
    holes = tuple(ipaddress.ip_network(e, strict=False) for e in excepts)

    def match(v: EndpointView) -> bool:
        ip = v.ip
        return ("world" in v.entities and ip is not None and ip.version == net.version and ip in net
                and not any(ip.version == h.version and ip in h for h in holes))
    return match


def _policy_ref(obj: Mapping[str, Any], kind: str, revision: int) -> PolicyRef:
    meta = obj.get("metadata") or {}
    name, ns = meta.get("name", ""), meta.get("namespace", "") or ""
    labels = [f"k8s:io.cilium.k8s.policy.derived-from={kind}", f"k8s:io.cilium.k8s.policy.name={name}"]
    if ns:
        labels.append(f"k8s:io.cilium.k8s.policy.namespace={ns}")
    if meta.get("uid"):
        labels.append(f"k8s:io.cilium.k8s.policy.uid={meta['uid']}")
    return PolicyRef(name=name, namespace=ns, kind=kind, labels=tuple(sorted(labels)), revision=revision)


# -- NetworkPolicy --------------------------------------------------------------------------------------
def compile_network_policy(obj: Mapping[str, Any], revision: int) -> list[CompiledPolicy]:
    """Compile a `networking.k8s.io/v1` NetworkPolicy (raises SelectorError/ValueError when malformed)."""
    spec = obj.get("spec") or {}
    ns = (obj.get("metadata") or {}).get("namespace", "") or "default"
    selector = label_selector_from_dict(spec.get("podSelector"))
    types = spec.get("policyTypes") or (["Ingress", "Egress"] if spec.get("egress") else ["Ingress"])

    def direction(key: str, peer_key: str) -> DirectionRules:
        rules = tuple(_np_rule(r or {}, ns, peer_key) for r in spec.get(key) or [])
        return DirectionRules(default_deny=True, allow=rules)

    def selects(v: EndpointView) -> bool:
        return v.is_pod and v.namespace == ns and selector.matches(v.k8s_labels)

    return [CompiledPolicy(
        ref=_policy_ref(obj, "NetworkPolicy", revision), namespace=ns, selects=selects,
        ingress=direction("ingress", "from") if "Ingress" in types else None,
        egress=direction("egress", "to") if "Egress" in types else None)]


def _np_rule(rule: Mapping[str, Any], ns: str, peer_key: str) -> PeerRule:
    raw_peers = rule.get(peer_key) or []
    peers = tuple(_np_peer(p or {}, ns) for p in raw_peers) if raw_peers else None
    ports = []
    for p in rule.get("ports") or []:
        proto = str(p.get("protocol") or "TCP").upper()
        if p.get("port") is None:
            ports.append(PortSpec(proto, 0, 0))
            continue
        number, name = _port_number(p["port"])
        ports.append(PortSpec(proto, number, int(p.get("endPort") or number), name))
    return PeerRule(peers, tuple(ports))


def _np_peer(peer: Mapping[str, Any], ns: str) -> Peer:
    block = peer.get("ipBlock")
    if block:
        return _cidr_peer(block.get("cidr", ""), list(block.get("except") or []))
    if "podSelector" not in peer and "namespaceSelector" not in peer:
        return lambda v: False
    pods = label_selector_from_dict(peer["podSelector"]) if "podSelector" in peer else None
    namespaces = label_selector_from_dict(peer["namespaceSelector"]) if "namespaceSelector" in peer else None

    def match(v: EndpointView) -> bool:
        if not v.is_pod:
            return False
        if namespaces is None:
            if v.namespace != ns:
                return False
        elif not namespaces.matches(v.ns_labels):
            return False
        return pods is None or pods.matches(v.k8s_labels)
    return match


# -- CiliumNetworkPolicy --------------------------------------------------------------------------------
_PEER_KEYS = {
    "ingress": ("fromEndpoints", "fromEntities", "fromCIDR", "fromCIDRSet", "fromGroups", "fromNodes"),
    "egress": ("toEndpoints", "toEntities", "toCIDR", "toCIDRSet", "toFQDNs", "toServices", "toGroups",
               "toNodes"),
}


def cilium_selector(sel: Mapping[str, Any] | None) -> LabelSelector:
    """A Cilium EndpointSelector as a LabelSelector over `EndpointView.cilium_labels`."""
    sel = sel or {}
    return label_selector_from_dict({
        "matchLabels": {cilium_key(k): v for k, v in (sel.get("matchLabels") or {}).items()},
        "matchExpressions": [dict(e, key=cilium_key(e.get("key", ""))) for e in sel.get("matchExpressions") or []],
    })


def compile_cilium_policy(obj: Mapping[str, Any], revision: int, *, clusterwide: bool = False) -> list[CompiledPolicy]:
    """Compile a CiliumNetworkPolicy (or, with `clusterwide`, a CiliumClusterwideNetworkPolicy)."""
    kind = "CiliumClusterwideNetworkPolicy" if clusterwide else "CiliumNetworkPolicy"
    ref = _policy_ref(obj, kind, revision)
    ns = None if clusterwide else ((obj.get("metadata") or {}).get("namespace", "") or "default")
    rules = [obj["spec"]] if obj.get("spec") else []
    rules += list(obj.get("specs") or [])
    return [c for r in rules if (c := _cilium_rule(r or {}, ref, ns)) is not None]


def _cilium_rule(rule: Mapping[str, Any], ref: PolicyRef, ns: str | None) -> CompiledPolicy | None:
    if "endpointSelector" not in rule:
        return None  # host policy (nodeSelector): not modelled
    selector = cilium_selector(rule.get("endpointSelector"))
    default_deny = rule.get("enableDefaultDeny") or {}

    def direction(name: str) -> DirectionRules | None:
        allow, deny = rule.get(name) or [], rule.get(name + "Deny") or []
        explicit = default_deny.get(name)
        enforce = bool(explicit) if explicit is not None else bool(allow or deny)
        if not (allow or deny or enforce):
            return None
        return DirectionRules(default_deny=enforce,
                              allow=tuple(_cilium_peer_rule(r or {}, name, ns) for r in allow),
                              deny=tuple(_cilium_peer_rule(r or {}, name, ns) for r in deny))

    def selects(v: EndpointView) -> bool:
        return v.is_pod and (ns is None or v.namespace == ns) and selector.matches(v.cilium_labels)

    return CompiledPolicy(ref=ref, namespace=ns, selects=selects, ingress=direction("ingress"),
                          egress=direction("egress"))


def _cilium_peer_rule(rule: Mapping[str, Any], direction: str, ns: str | None) -> PeerRule:
    prefix = "from" if direction == "ingress" else "to"
    peers: list[Peer] = []
    for sel in rule.get(prefix + "Endpoints") or []:
        peers.append(_endpoint_peer(sel or {}, ns))
    entities = frozenset(rule.get(prefix + "Entities") or ())
    if entities:
        peers.append(lambda v, names=entities: not v.entities.isdisjoint(names))
    for cidr in rule.get(prefix + "CIDR") or []:
        peers.append(_cidr_peer(cidr, []))
    for cset in rule.get(prefix + "CIDRSet") or []:
        if cset.get("cidr"):
            peers.append(_cidr_peer(cset["cidr"], list(cset.get("except") or [])))
    ports = _cilium_ports(rule)
    has_peer_keys = any(k in rule for k in _PEER_KEYS[direction])
    if not has_peer_keys:
        # An L4-only rule (just toPorts/icmps) applies to every peer; an empty rule `{}` to none.
        return PeerRule(None, ports) if ports else PeerRule((), ())
    return PeerRule(tuple(peers), ports)


def _endpoint_peer(sel: Mapping[str, Any], ns: str | None) -> Peer:
    selector = cilium_selector(sel)
    keys = [r.key for r in selector.requirements]
    names_ns = any(k == NS_LABEL or k.endswith("." + NS_LABEL) for k in keys)
    reserved = any(k.startswith("reserved.") for k in keys)
    restrict = ns if (ns is not None and not names_ns and not reserved) else None

    def match(v: EndpointView) -> bool:
        if not (v.is_pod or reserved):
            return False
        if restrict is not None and v.namespace != restrict:
            return False
        return selector.matches(v.cilium_labels)
    return match


def _cilium_ports(rule: Mapping[str, Any]) -> tuple[PortSpec, ...]:
    out: list[PortSpec] = []
    for tp in rule.get("toPorts") or []:
        entries = (tp or {}).get("ports") or []
        if not entries:
            out.append(PortSpec())
        for p in entries:
            proto = str(p.get("protocol") or "ANY").upper()
            number, name = _port_number(p.get("port", 0) or 0)
            end = int(p.get("endPort") or number)
            out.append(PortSpec("" if proto == "ANY" else proto, number, end, name))
    if rule.get("icmps"):
        out.append(PortSpec("ICMP"))
    return tuple(out)
