"""The network policy engine (`prophet_sre.sim.netpolicy`) against a store with real admission.

Covers: no policy = allow; NetworkPolicy default-deny per direction, podSelector / namespaceSelector
/ both / ipBlock peers, numeric, ranged (`endPort`) and named ports, the leaky label quarantine (another
policy's allow still applies); Cilium allow and deny sections with deny winning over every allow,
default-deny from `ingress: [{}]` and from `enableDefaultDeny`, `fromEndpoints` namespace scoping,
entities, CIDRs, `toPorts`, `specs` lists, the clusterwide kind; host probes; cache invalidation
when policies or namespace labels change.
Deliberately not covered: toFQDNs/toServices/L7 rules (not modelled, see netpolicy_rules).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from prophet_sre.sim.clock import SimClock
from prophet_sre.sim.cluster import admit_defaults_and_validation
from prophet_sre.sim.flows import FlowEndpoint
from prophet_sre.sim.netpolicy import ALLOWED, PolicyEngine, cilium_policy_crds
from prophet_sre.sim.registry import Registry
from prophet_sre.sim.store import Store, WatchEvent

WORLD = FlowEndpoint(ip="8.8.8.8", labels=("reserved:world",))
HOST = FlowEndpoint(ip="172.18.0.3", labels=("reserved:host",))


@dataclass
class Env:
    store: Store
    registry: Registry
    engine: PolicyEngine

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        rt = self.registry.by_kind(obj["apiVersion"], obj["kind"])
        assert rt is not None, obj["kind"]
        return self.store.create(rt, obj)

    def delete(self, api_version: str, kind: str, ns: str, name: str) -> None:
        rt = self.registry.by_kind(api_version, kind)
        assert rt is not None
        self.store.delete(rt, ns, name)

    def namespace(self, name: str, **labels: str) -> None:
        self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})

    def np(self, name: str, ns: str, spec: dict[str, Any]) -> None:
        self.create({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": name, "namespace": ns}, "spec": spec})

    def cnp(self, name: str, ns: str, spec: dict[str, Any] | None = None, **extra: Any) -> None:
        obj: dict[str, Any] = {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy",
                               "metadata": {"name": name, "namespace": ns}, **extra}
        if spec is not None:
            obj["spec"] = spec
        self.create(obj)

    def check(self, src: FlowEndpoint, dst: FlowEndpoint, port: int = 80, proto: str = "TCP") -> Any:
        return self.engine.evaluate(src, dst, port, proto)


@pytest.fixture
def env() -> Iterator[Env]:
    registry = Registry()
    store = Store(registry, SimClock())
    store.add_admission(admit_defaults_and_validation)

    def crds(ev: WatchEvent) -> None:  # what SimCluster does for every stored CRD
        if ev.storage_key == ("apiextensions.k8s.io", "customresourcedefinitions") and ev.type != "DELETED":
            registry.add_crd(ev.obj)

    store.subscribe(crds)
    e = Env(store, registry, PolicyEngine(store, registry))
    for crd in cilium_policy_crds():
        e.create(copy.deepcopy(crd))
    for ns, labels in (("default", {}), ("shop", {"team": "shop"}), ("other", {}), ("kube-system", {})):
        e.namespace(ns, **labels)
    yield e


def pod(ns: str, name: str, ip: str = "10.244.1.10", **labels: str) -> FlowEndpoint:
    lbls = [f"k8s:{k}={v}" for k, v in labels.items()] + [f"k8s:io.kubernetes.pod.namespace={ns}"]
    return FlowEndpoint(ip=ip, namespace=ns, pod_name=name, labels=tuple(sorted(lbls)))


WEB = pod("shop", "web-1", "10.244.1.11", app="web")
API = pod("shop", "api-1", "10.244.1.12", app="api")
CLIENT = pod("shop", "client-1", "10.244.1.13", app="client")
FOREIGN_CLIENT = pod("other", "client-2", "10.244.2.13", app="client")
JAILED = pod("shop", "web-2", "10.244.1.14", app="web", quarantine="true")
DNS = pod("kube-system", "coredns-1", "10.244.0.2", **{"k8s-app": "kube-dns"})


def dropped(v: Any, reason: str, direction: str) -> bool:
    return (not v.allowed) and v.drop_reason == reason and v.direction == direction and v.verdict == "DROPPED"


# -- NetworkPolicy ----------------------------------------------------------------------------------------
def test_no_policy_allows_everything(env: Env) -> None:
    assert env.check(CLIENT, WEB) is ALLOWED
    assert env.check(WORLD, WEB).allowed and env.check(WEB, WORLD, 443).verdict == "FORWARDED"


def test_np_default_deny_ingress_only_affects_selected_direction_and_namespace(env: Env) -> None:
    env.np("deny-in", "shop", {"podSelector": {}, "policyTypes": ["Ingress"]})
    v = env.check(CLIENT, WEB)
    assert dropped(v, "POLICY_DENIED", "INGRESS") and v.ingress_denied_by == ()
    assert env.check(WEB, DNS, 53, "UDP").allowed  # egress is not isolated
    assert env.check(WEB, FOREIGN_CLIENT).allowed  # other namespace has no policy


def test_np_pod_selector_and_ports(env: Env) -> None:
    env.np("web-from-client", "shop", {"podSelector": {"matchLabels": {"app": "web"}},
                                       "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                                                    "ports": [{"port": 80}]}]})
    v = env.check(CLIENT, WEB, 80)
    assert v.allowed and [p.name for p in v.ingress_allowed_by] == ["web-from-client"]
    assert v.ingress_allowed_by[0].kind == "NetworkPolicy"
    assert dropped(env.check(CLIENT, WEB, 81), "POLICY_DENIED", "INGRESS")
    assert dropped(env.check(CLIENT, WEB, 80, "UDP"), "POLICY_DENIED", "INGRESS")
    assert dropped(env.check(FOREIGN_CLIENT, WEB, 80), "POLICY_DENIED", "INGRESS")  # podSelector = own namespace
    assert env.check(CLIENT, API, 81).allowed  # api is not selected


def test_np_namespace_selector_alone_and_combined(env: Env) -> None:
    env.namespace("partner", team="shop")
    partner_client = pod("partner", "client-3", "10.244.2.20", app="client")
    partner_other = pod("partner", "batch-1", "10.244.2.21", app="batch")
    env.np("from-team", "shop", {"podSelector": {"matchLabels": {"app": "web"}},
                                 "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "shop"}}}]}]})
    env.np("api-from-client-in-team", "shop", {
        "podSelector": {"matchLabels": {"app": "api"}},
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "shop"}},
                               "podSelector": {"matchLabels": {"app": "client"}}}]}]})
    assert env.check(partner_other, WEB).allowed and env.check(CLIENT, WEB).allowed
    assert dropped(env.check(FOREIGN_CLIENT, WEB), "POLICY_DENIED", "INGRESS")
    assert env.check(partner_client, API).allowed
    assert dropped(env.check(partner_other, API), "POLICY_DENIED", "INGRESS")  # both must match (AND)
    assert dropped(env.check(FOREIGN_CLIENT, API), "POLICY_DENIED", "INGRESS")


def test_np_ip_block_applies_to_world_not_pods(env: Env) -> None:
    env.np("from-10", "shop", {"podSelector": {}, "ingress": [{"from": [
        {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}]})
    assert env.check(FlowEndpoint(ip="10.2.3.4", labels=("reserved:world",)), WEB).allowed
    assert not env.check(FlowEndpoint(ip="10.1.2.3", labels=("reserved:world",)), WEB).allowed
    assert not env.check(WORLD, WEB).allowed
    assert not env.check(CLIENT, WEB).allowed  # Cilium never applies CIDR rules to cluster endpoints


def test_np_named_port_and_port_range(env: Env) -> None:
    env.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop",
                                                                "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                         "ports": [{"name": "http", "containerPort": 8080}]}]}})
    env.np("named", "shop", {"podSelector": {"matchLabels": {"app": "web"}},
                             "ingress": [{"ports": [{"port": "http"}, {"port": 9000, "endPort": 9100}]}]})
    assert env.check(CLIENT, WEB, 8080).allowed
    assert not env.check(CLIENT, WEB, 80).allowed
    assert env.check(CLIENT, WEB, 9050).allowed and env.check(CLIENT, WEB, 9100).allowed
    assert not env.check(CLIENT, WEB, 9101).allowed
    # the pod behind the name goes away: the named port no longer resolves
    env.delete("v1", "Pod", "shop", "web-1")
    assert not env.check(CLIENT, WEB, 8080).allowed


def test_np_egress_isolation_with_dns_allow(env: Env) -> None:
    env.np("egress-dns-only", "shop", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]})
    assert env.check(WEB, DNS, 53, "UDP").allowed
    v = env.check(WEB, API, 80)
    assert dropped(v, "POLICY_DENIED", "EGRESS") and v.egress_denied_by == ()
    assert dropped(env.check(WEB, WORLD, 443), "POLICY_DENIED", "EGRESS")
    assert env.check(WORLD, WEB).allowed  # ingress not isolated


def test_np_label_quarantine_leaks_through_another_allow(env: Env) -> None:
    env.np("quarantine", "shop", {"podSelector": {"matchLabels": {"quarantine": "true"}},
                                  "policyTypes": ["Ingress", "Egress"]})
    env.np("web-open", "shop", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}]})
    v = env.check(CLIENT, JAILED)
    assert v.allowed and [p.name for p in v.ingress_allowed_by] == ["web-open"]  # the leak
    assert dropped(env.check(JAILED, API), "POLICY_DENIED", "EGRESS")  # no egress allow anywhere


# -- CiliumNetworkPolicy ----------------------------------------------------------------------------------
QUARANTINE_DENY = {"endpointSelector": {"matchLabels": {"quarantine": "true"}},
                   "ingressDeny": [{"fromEntities": ["all"]}], "egressDeny": [{"toEntities": ["all"]}]}


def test_cilium_deny_quarantine_wins_over_every_allow(env: Env) -> None:
    env.cnp("quarantine", "shop", QUARANTINE_DENY)
    env.np("web-open", "shop", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{}]})
    env.cnp("allow-all", "shop", {"endpointSelector": {}, "ingress": [{"fromEntities": ["all"]}],
                                  "egress": [{"toEntities": ["all"]}]})
    out = env.check(JAILED, API)
    assert dropped(out, "POLICY_DENY", "EGRESS")
    ref = out.egress_denied_by[0]
    assert (ref.name, ref.namespace, ref.kind) == ("quarantine", "shop", "CiliumNetworkPolicy")
    assert "k8s:io.cilium.k8s.policy.name=quarantine" in ref.labels and ref.revision >= 1
    inbound = env.check(CLIENT, JAILED)
    assert dropped(inbound, "POLICY_DENY", "INGRESS") and inbound.ingress_denied_by[0].name == "quarantine"
    assert dropped(env.check(HOST, JAILED, 8080), "POLICY_DENY", "INGRESS")  # even kubelet probes
    assert env.check(CLIENT, WEB).allowed  # the label decides


def test_cilium_default_deny_without_allow_and_its_leak(env: Env) -> None:
    env.cnp("quarantine", "shop", {"endpointSelector": {"matchLabels": {"k8s:quarantine": "true"}},
                                   "ingress": [{}], "egress": [{}]})
    assert dropped(env.check(CLIENT, JAILED), "POLICY_DENIED", "INGRESS")
    assert dropped(env.check(JAILED, DNS, 53, "UDP"), "POLICY_DENIED", "EGRESS")
    env.cnp("web-from-client", "shop", {"endpointSelector": {"matchLabels": {"app": "web"}},
                                        "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "client"}}]}]})
    v = env.check(CLIENT, JAILED)
    assert v.allowed and v.ingress_allowed_by[0].name == "web-from-client"


def test_cilium_enable_default_deny(env: Env) -> None:
    env.cnp("additive", "shop", {"endpointSelector": {"matchLabels": {"app": "web"}},
                                 "enableDefaultDeny": {"ingress": False},
                                 "ingress": [{"fromEndpoints": [{"matchLabels": {"app": "client"}}]}]})
    assert env.check(API, WEB).allowed  # the rule adds an allow but does not isolate
    assert env.check(CLIENT, WEB).ingress_allowed_by[0].name == "additive"
    env.cnp("lockdown", "shop", {"endpointSelector": {"matchLabels": {"app": "api"}},
                                 "enableDefaultDeny": {"ingress": True, "egress": True}})
    assert dropped(env.check(CLIENT, API), "POLICY_DENIED", "INGRESS")
    assert dropped(env.check(API, WORLD), "POLICY_DENIED", "EGRESS")


def test_cilium_from_endpoints_namespace_scoping(env: Env) -> None:
    env.cnp("web-ingress", "shop", {"endpointSelector": {"matchLabels": {"app": "web"}}, "ingress": [
        {"fromEndpoints": [{"matchLabels": {"app": "client"}}]},
        {"fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system"}}]},
        {"fromEndpoints": [{"matchLabels": {"k8s:io.cilium.k8s.namespace.labels.team": "red"}}]},
        {"fromEndpoints": [{"matchExpressions": [
            {"key": "k8s:io.cilium.k8s.namespace.labels.team", "operator": "In", "values": ["blue"]},
            {"key": "k8s:io.kubernetes.pod.namespace", "operator": "Exists"}]}]}]})
    assert env.check(CLIENT, WEB).allowed
    assert dropped(env.check(FOREIGN_CLIENT, WEB), "POLICY_DENIED", "INGRESS")  # implicit own namespace
    assert env.check(DNS, WEB).allowed
    env.namespace("red", team="red")
    env.namespace("blue", team="blue")
    # namespace labels alone do not leave the policy's namespace; naming the namespace key does
    assert not env.check(pod("red", "x-1", "10.244.3.1", app="x"), WEB).allowed
    assert env.check(pod("blue", "x-2", "10.244.3.2", app="x"), WEB).allowed
    assert dropped(env.check(WORLD, WEB), "POLICY_DENIED", "INGRESS")


def test_cilium_entities_cidr_and_ports(env: Env) -> None:
    env.cnp("web", "shop", {"endpointSelector": {"matchLabels": {"app": "web"}},
                            "ingress": [{"fromEntities": ["world"],
                                         "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]},
                                        {"fromEntities": ["cluster"],
                                         "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}],
                            "egress": [{"toCIDRSet": [{"cidr": "203.0.113.0/24", "except": ["203.0.113.128/25"]}]},
                                       {"toPorts": [{"ports": [{"port": "53", "protocol": "UDP"}]}]}]})
    assert env.check(WORLD, WEB, 443).allowed and not env.check(WORLD, WEB, 80).allowed
    assert env.check(CLIENT, WEB, 80).allowed and not env.check(CLIENT, WEB, 443).allowed
    assert not env.check(CLIENT, WEB, 80, "UDP").allowed
    assert env.check(HOST, WEB, 80).allowed
    assert env.check(WEB, FlowEndpoint(ip="203.0.113.7", labels=("reserved:world",)), 443).allowed
    assert not env.check(WEB, FlowEndpoint(ip="203.0.113.200", labels=("reserved:world",)), 443).allowed
    assert env.check(WEB, DNS, 53, "UDP").allowed  # an L4-only rule applies to every peer
    assert dropped(env.check(WEB, API, 80), "POLICY_DENIED", "EGRESS")


def test_cilium_specs_list_and_clusterwide_policy(env: Env) -> None:
    env.cnp("two-rules", "shop", specs=[
        {"endpointSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"fromEntities": ["cluster"]}]},
        {"endpointSelector": {"matchLabels": {"app": "api"}}, "ingressDeny": [{"fromEntities": ["world"]}]}])
    assert env.check(CLIENT, WEB).allowed and not env.check(WORLD, WEB).allowed
    assert dropped(env.check(WORLD, API), "POLICY_DENY", "INGRESS")
    assert dropped(env.check(CLIENT, API), "POLICY_DENIED", "INGRESS")  # a deny section isolates too
    env.create({"apiVersion": "cilium.io/v2", "kind": "CiliumClusterwideNetworkPolicy",
                "metadata": {"name": "no-metadata-server"},
                "spec": {"endpointSelector": {}, "egressDeny": [{"toCIDR": ["169.254.169.254/32"]}]}})
    v = env.check(FOREIGN_CLIENT, FlowEndpoint(ip="169.254.169.254", labels=("reserved:world",)))
    assert dropped(v, "POLICY_DENY", "EGRESS")
    assert v.egress_denied_by[0].kind == "CiliumClusterwideNetworkPolicy"
    assert not env.check(FOREIGN_CLIENT, WORLD).allowed  # the deny section isolated egress cluster-wide


def test_host_may_probe_isolated_pods(env: Env) -> None:
    env.np("deny-in", "shop", {"podSelector": {}, "policyTypes": ["Ingress"]})
    assert env.check(HOST, WEB, 8080).allowed
    assert not env.check(WORLD, WEB, 8080).allowed


def test_changes_invalidate_the_compiled_index(env: Env) -> None:
    env.np("team-only", "shop", {"podSelector": {"matchLabels": {"app": "web"}},
                                 "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "shop"}}}]}]})
    assert not env.check(FOREIGN_CLIENT, WEB).allowed
    ns_rt = env.registry.storage_type("", "namespaces")
    assert ns_rt is not None
    other = copy.deepcopy(env.store.get(ns_rt, "", "other"))
    other["metadata"]["labels"]["team"] = "shop"
    env.store.update(ns_rt, other)
    assert env.check(FOREIGN_CLIENT, WEB).allowed  # namespace labels are re-read
    env.cnp("deny-foreign", "shop", {"endpointSelector": {},
                                     "ingressDeny": [{"fromEndpoints": [{"matchLabels": {
                                         "k8s:io.kubernetes.pod.namespace": "other"}}]}]})
    assert dropped(env.check(FOREIGN_CLIENT, WEB), "POLICY_DENY", "INGRESS")
    env.delete("cilium.io/v2", "CiliumNetworkPolicy", "shop", "deny-foreign")
    env.delete("networking.k8s.io/v1", "NetworkPolicy", "shop", "team-only")
    assert env.check(FOREIGN_CLIENT, WEB) is ALLOWED


def test_invalid_policy_is_ignored_not_fatal(env: Env) -> None:
    env.cnp("bad", "shop", {"endpointSelector": {"matchExpressions": [{"key": "app", "operator": "Near"}]},
                            "ingressDeny": [{"fromEntities": ["all"]}]})
    env.cnp("good", "shop", {"endpointSelector": {"matchLabels": {"app": "api"}}, "ingress": [{}]})
    assert env.check(CLIENT, WEB).allowed
    assert not env.check(CLIENT, API).allowed
