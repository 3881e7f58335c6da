"""The simulated cluster's network policy engine: is this connection allowed, and which policy says so?

The traffic model calls `PolicyEngine.evaluate(src, dst, port, protocol)` for every connection it
simulates and copies the `Verdict` into the `FlowRecord` it writes, so Hubble shows the same
verdicts, drop reasons and `*_denied_by` policies a Cilium cluster would. The engine is registered
as `controller_ctx.extras["policy"]`.

Semantics (Cilium's "default" enforcement mode, which also enforces Kubernetes NetworkPolicy):
- A pod selected, for a direction, by a NetworkPolicy whose `policyTypes` include it, or by a Cilium
  rule with an allow or deny section for it (or `enableDefaultDeny`), is default-deny in that
  direction; the union of all matching allow rules then lets traffic through.
- A matching Cilium deny rule (`ingressDeny`/`egressDeny`) beats every allow from any policy:
  the drop is `POLICY_DENY` (181) with the policy in `*_denied_by`. No allow at all is
  `POLICY_DENIED` (133), with no policy to name.
- Egress is checked at the source, then ingress at the destination; the first drop wins.
- World and host endpoints are never policy subjects (host firewall is not modelled). The host may
  always reach pods on ingress (kubelet probes; Cilium's allow-localhost) unless a deny rule says no.

Performance: policies are compiled into an index only when a NetworkPolicy, Cilium policy or
Namespace changes (store events mark it stale), and verdicts are memoised per (src, dst, port,
protocol) until the next change, so the steady state costs one dict look-up per connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prophet_sre.sim import netpolicy_rules as rules
from prophet_sre.sim.flows import FlowEndpoint, PolicyRef
from prophet_sre.sim.registry import Registry
from prophet_sre.sim.store import Store, WatchEvent

log = logging.getLogger(__name__)

NETWORK_POLICIES = ("networking.k8s.io", "networkpolicies")
CILIUM_POLICIES = ("cilium.io", "ciliumnetworkpolicies")
CILIUM_CLUSTER_POLICIES = ("cilium.io", "ciliumclusterwidenetworkpolicies")
NAMESPACES = ("", "namespaces")
PODS = ("", "pods")
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
_INDEX_KEYS = frozenset((NETWORK_POLICIES, CILIUM_POLICIES, CILIUM_CLUSTER_POLICIES, NAMESPACES))

POLICY_DENIED = "POLICY_DENIED"
"""Drop reason 133: the direction is default-deny and no rule allows the connection."""
POLICY_DENY = "POLICY_DENY"
"""Drop reason 181: an explicit Cilium deny rule matched."""

MAX_CACHED_VERDICTS = 200_000
"""Memoised verdicts kept before the cache is simply emptied (a sim has far fewer distinct pairs)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The engine's answer for one connection, in Hubble's vocabulary."""

    allowed: bool
    drop_reason: str = ""  # DropReason enum name, "" when allowed
    egress_denied_by: tuple[PolicyRef, ...] = ()
    ingress_denied_by: tuple[PolicyRef, ...] = ()
    egress_allowed_by: tuple[PolicyRef, ...] = ()
    ingress_allowed_by: tuple[PolicyRef, ...] = ()
    direction: str = ""
    """Where a drop happened: EGRESS (at the source) or INGRESS (at the destination); "" if allowed."""

    @property
    def verdict(self) -> str:
        """FORWARDED or DROPPED, as `FlowRecord.verdict` wants it."""
        return "FORWARDED" if self.allowed else "DROPPED"


ALLOWED = Verdict(allowed=True)


@dataclass(frozen=True, slots=True)
class _Side:
    allowed: bool
    reason: str = ""
    denied_by: tuple[PolicyRef, ...] = ()
    allowed_by: tuple[PolicyRef, ...] = ()


_UNENFORCED = _Side(True)


@dataclass
class _Index:
    """Compiled policies by the namespace of the pods they may select."""

    by_namespace: dict[str, list[rules.CompiledPolicy]] = field(default_factory=dict)
    cluster_wide: list[rules.CompiledPolicy] = field(default_factory=list)
    namespace_labels: dict[str, Mapping[str, str]] = field(default_factory=dict)
    named_ports: bool = False
    count: int = 0

    def candidates(self, namespace: str) -> list[rules.CompiledPolicy]:
        local = self.by_namespace.get(namespace)
        if not self.cluster_wide:
            return local or []
        return (local or []) + self.cluster_wide


class PolicyEngine:
    """Evaluates connections against the cluster's NetworkPolicies and Cilium policies."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.revision = 0
        """Bumped on every recompilation; reported as the `revision` of the policies in flows."""
        self._lock = threading.Lock()
        self._dirty = True
        self._index = _Index()
        self._cache: dict[tuple[FlowEndpoint, FlowEndpoint, int, str], Verdict] = {}
        self._views: dict[FlowEndpoint, rules.EndpointView] = {}
        self._ports: dict[tuple[str, str], dict[str, tuple[int, str]]] = {}
        store.subscribe(self._on_event)

    # -- invalidation -----------------------------------------------------------------------------------
    def _on_event(self, ev: WatchEvent) -> None:
        """Store listener: runs for every write in the cluster, so it only looks at the storage key."""
        key = ev.storage_key
        if key in _INDEX_KEYS or (key == CRDS and ev.obj.get("spec", {}).get("group") == "cilium.io"):
            self._dirty = True  # first, so an evaluate() that sees the new cache also rebuilds
            self._cache = {}
        elif key == PODS and ev.type != "MODIFIED":  # container ports are immutable; names are reused
            meta = ev.obj.get("metadata", {})
            self._ports.pop((meta.get("namespace", ""), meta.get("name", "")), None)
            if self._index.named_ports:
                self._cache = {}

    def invalidate(self) -> None:
        """Force a recompilation on the next evaluation (tests; objects changed behind the store)."""
        self._dirty = True
        self._cache = {}

    def _rebuild(self) -> _Index:
        with self._lock:
            if not self._dirty:
                return self._index
            self._dirty = False
            self.revision += 1
            index = _Index()
            ns_rt = self.registry.storage_type(*NAMESPACES)
            for ns in self.store.objects(ns_rt) if ns_rt else []:
                meta = ns.get("metadata", {})
                index.namespace_labels[meta.get("name", "")] = dict(meta.get("labels") or {})
            for compiled in self._compile_all():
                index.count += 1
                index.named_ports = index.named_ports or compiled.uses_named_ports
                if compiled.namespace is None:
                    index.cluster_wide.append(compiled)
                else:
                    index.by_namespace.setdefault(compiled.namespace, []).append(compiled)
            self._views = {}
            self._index = index
            return index

    def _compile_all(self) -> list[rules.CompiledPolicy]:
        out: list[rules.CompiledPolicy] = []
        sources: list[tuple[tuple[str, str], Any]] = [
            (NETWORK_POLICIES, rules.compile_network_policy),
            (CILIUM_POLICIES, rules.compile_cilium_policy),
            (CILIUM_CLUSTER_POLICIES, lambda o, r: rules.compile_cilium_policy(o, r, clusterwide=True)),
        ]
        for skey, compile_fn in sources:
            rt = self.registry.storage_type(*skey)
            if rt is None:
                continue
            for obj in self.store.objects(rt):
                try:
                    out.extend(compile_fn(obj, self.revision))
                except (ValueError, TypeError, AttributeError, KeyError) as e:
                    meta = obj.get("metadata", {})
                    log.warning("ignoring invalid %s %s/%s: %s", rt.kind, meta.get("namespace", ""),
                                meta.get("name", ""), e)
        return out

    # -- evaluation -------------------------------------------------------------------------------------
    def evaluate(self, src: FlowEndpoint, dst: FlowEndpoint, port: int, protocol: str) -> Verdict:
        """Decide one connection `src` -> `dst`:`port`/`protocol` (TCP, UDP, SCTP, ICMPv4, ...).

        `dst` should be the backend pod after service translation, as the datapath enforces policy
        on the real destination; a world or host endpoint is never subject to policy itself.
        """
        cache = self._cache
        index = self._rebuild() if self._dirty else self._index
        if index.count == 0:
            return ALLOWED
        key = (src, dst, port, protocol)
        cached = cache.get(key)
        if cached is not None:
            return cached
        verdict = self._decide(index, src, dst, port, protocol.upper())
        if len(cache) >= MAX_CACHED_VERDICTS:
            cache.clear()
        cache[key] = verdict
        return verdict

    def _decide(self, index: _Index, src: FlowEndpoint, dst: FlowEndpoint, port: int, proto: str) -> Verdict:
        sv, dv = self._view(index, src), self._view(index, dst)
        named_cache: list[Mapping[str, tuple[int, str]]] = []

        def named() -> Mapping[str, tuple[int, str]]:
            if not named_cache:
                named_cache.append(self._named_ports(dst))
            return named_cache[0]

        egress = self._side(index, sv, dv, port, proto, named, "egress")
        if not egress.allowed:
            return Verdict(False, egress.reason, egress_denied_by=egress.denied_by, direction="EGRESS")
        ingress = self._side(index, dv, sv, port, proto, named, "ingress")
        if not ingress.allowed:
            return Verdict(False, ingress.reason, ingress_denied_by=ingress.denied_by,
                           egress_allowed_by=egress.allowed_by, direction="INGRESS")
        if not (egress.allowed_by or ingress.allowed_by):
            return ALLOWED
        return Verdict(True, egress_allowed_by=egress.allowed_by, ingress_allowed_by=ingress.allowed_by)

    @staticmethod
    def _side(index: _Index, subject: rules.EndpointView, peer: rules.EndpointView, port: int, proto: str,
              named: rules.NamedPorts, direction: str) -> _Side:
        """Evaluate one direction for `subject` (the source on egress, the destination on ingress)."""
        if not subject.is_pod:
            return _UNENFORCED
        enforced = False
        denied: list[PolicyRef] = []
        allowed: list[PolicyRef] = []
        for policy in index.candidates(subject.namespace):
            section = policy.ingress if direction == "ingress" else policy.egress
            if section is None or not policy.selects(subject):
                continue
            enforced = enforced or section.default_deny
            if any(r.matches(peer, port, proto, named) for r in section.deny):
                denied.append(policy.ref)
            elif any(r.matches(peer, port, proto, named) for r in section.allow):
                allowed.append(policy.ref)
        if denied:
            return _Side(False, POLICY_DENY, denied_by=tuple(dict.fromkeys(denied)))
        if enforced and not allowed and not (direction == "ingress" and "host" in peer.entities):
            return _Side(False, POLICY_DENIED)
        return _Side(True, allowed_by=tuple(dict.fromkeys(allowed)))

    def _view(self, index: _Index, ep: FlowEndpoint) -> rules.EndpointView:
        view = self._views.get(ep)
        if view is None:
            view = rules.endpoint_view(ep, index.namespace_labels.get(ep.namespace, {}))
            if len(self._views) >= MAX_CACHED_VERDICTS:
                self._views = {}
            self._views[ep] = view
        return view

    def _named_ports(self, ep: FlowEndpoint) -> Mapping[str, tuple[int, str]]:
        """name -> (containerPort, protocol) of the pod behind `ep` (empty for non-pods)."""
        key = (ep.namespace, ep.pod_name)
        ports = self._ports.get(key)
        if ports is None:
            ports = {}
            rt = self.registry.storage_type(*PODS)
            pod = self.store.try_get(rt, ep.namespace, ep.pod_name) if rt and ep.pod_name else None
            spec = (pod or {}).get("spec") or {}
            for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                for p in c.get("ports") or []:
                    if p.get("name") and p.get("containerPort"):
                        ports.setdefault(p["name"], (int(p["containerPort"]), str(p.get("protocol") or "TCP")))
            self._ports[key] = ports
        return ports


def cilium_policy_crds() -> list[dict[str, Any]]:
    """The `cilium.io` policy CRDs (CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy), as a Cilium
    install creates them: short names `cnp`/`ciliumnp` and `ccnp`, a status subresource and the Valid
    printer column. The schema is left open (Cilium's own is thousands of lines); the engine ignores
    what it does not model.
    """
    def crd(kind: str, plural: str, scope: str, short: list[str]) -> dict[str, Any]:
        return {
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.cilium.io"},
            "spec": {
                "group": "cilium.io", "scope": scope,
                "names": {"kind": kind, "listKind": kind + "List", "plural": plural,
                          "singular": kind.lower(), "shortNames": short, "categories": ["cilium", "ciliumpolicy"]},
                "versions": [{
                    "name": "v2", "served": True, "storage": True, "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                        {"name": "Valid", "type": "string",
                         "jsonPath": ".status.conditions[?(@.type=='Valid')].status"}],
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }],
            },
        }
    return [crd("CiliumNetworkPolicy", "ciliumnetworkpolicies", "Namespaced", ["cnp", "ciliumnp"]),
            crd("CiliumClusterwideNetworkPolicy", "ciliumclusterwidenetworkpolicies", "Cluster",
                ["ccnp"])]
