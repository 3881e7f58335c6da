"""`quarantine` against the simulator, judged by its network policy engine (Cilium's semantics).

Covers, without the Cilium CRD: a NetworkPolicy selecting the quarantine label (Ingress+Egress, no
rules), the render and the result saying why that is weaker, and the engine proving it - the pod's
egress is dropped (POLICY_DENIED) but another policy's allow still lets ingress in; `mode=cilium`
failing with NotFound. With the CRD installed (discovered at call time): a CiliumNetworkPolicy with
`ingressDeny`/`egressDeny` on `all`, and the engine dropping the pod's traffic both ways with
POLICY_DENY naming the policy, whatever the allow policy says. Both inverses (release) remove the label
and the policy and restore the traffic. Dry-runs create nothing and label nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import actions_world as aw
import pytest

from prophet_sre.domain import QuarantineAction, ResourceRef
from prophet_sre.sim.flows import FlowEndpoint
from prophet_sre.sim.netpolicy import POLICY_DENIED, POLICY_DENY, cilium_policy_crds
from prophet_sre.tools.actions import prepare
from prophet_sre.tools.kube import Op

NS = "act-network"
LABEL = "prophet.io/quarantine"
POLICY = "prophet-io-quarantine"


@pytest.fixture(scope="module")
def world() -> Iterator[aw.World]:
    w = aw.shared()
    aw.namespace(w.kube, NS)
    aw.create(w.kube, aw.deployment("suspect", NS, replicas=2))
    aw.create(w.kube, aw.deployment("client", NS, replicas=1))
    aw.create(w.kube, {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                       "metadata": {"name": "allow-suspect", "namespace": NS},
                       "spec": {"podSelector": {"matchLabels": {"app": "suspect"}}, "policyTypes": ["Ingress"],
                                "ingress": [{}]}})
    for name in ("suspect", "client"):
        aw.wait_for(lambda n=name: aw.rolled_out(w.kube, NS, n) and all(
            p["status"].get("podIP") for p in aw.running_pods(w.kube, NS, f"app={n}")), f"{name} running")
    yield w


def endpoint(pod: dict[str, Any]) -> FlowEndpoint:
    labels = tuple(sorted(f"k8s:{k}={v}" for k, v in pod["metadata"]["labels"].items()))
    return FlowEndpoint(ip=pod["status"]["podIP"], namespace=NS, pod_name=pod["metadata"]["name"], labels=labels)


def verdicts(world: aw.World, pod_name: str) -> tuple[Any, Any]:
    """(client -> pod, pod -> client) as the engine decides them now."""
    engine = world.cluster.controller_ctx.extras["policy"]
    pod = endpoint(world.kube.get("pods", pod_name, NS))
    client = endpoint(aw.running_pods(world.kube, NS, "app=client")[0])
    return engine.evaluate(client, pod, 80, "TCP"), engine.evaluate(pod, client, 80, "TCP")


def labelled(world: aw.World) -> list[str]:
    return sorted(p["metadata"]["name"] for p in world.kube.list("pods", NS, label_selector=f"{LABEL}=true"))


def test_networkpolicy_fallback_and_why_it_is_weaker(world: aw.World) -> None:
    kube = world.kube
    target = ResourceRef(kind="Deployment", namespace=NS, name="suspect")
    pods = sorted(p["metadata"]["name"] for p in aw.running_pods(kube, NS, "app=suspect"))
    p = prepare(QuarantineAction(target=target), kube)
    text = p.render()
    assert f"POST /apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies" in text
    assert "NetworkPolicies are additive allows" in text and "still applies" in text
    versions = {p: kube.get("pods", p, NS)["metadata"]["resourceVersion"] for p in pods}
    dry = p.dry_run()
    assert dry.ok, dry.error
    assert f"+++ NetworkPolicy {NS}/{POLICY} (created)" in dry.diff
    assert f'metadata.labels["{LABEL}"]\n+ \'true\'' in dry.diff
    assert aw.gone(kube, "networkpolicies", POLICY, NS) and labelled(world) == []
    assert {p: kube.get("pods", p, NS)["metadata"]["resourceVersion"] for p in pods} == versions
    result = p.execute()
    assert result.ok, result.error
    policy = kube.get("networkpolicies", POLICY, NS)["spec"]
    assert policy["podSelector"] == {"matchLabels": {LABEL: "true"}}
    assert policy["policyTypes"] == ["Ingress", "Egress"] and not policy.get("ingress") and not policy.get("egress")
    assert labelled(world) == pods and sorted(result.before["pods"]) == pods
    assert any("additive allows" in n for n in result.notes)
    assert any("still allow traffic to or from the pods: allow-suspect" in n for n in result.notes)
    inbound, outbound = verdicts(world, pods[0])
    assert (outbound.allowed, outbound.drop_reason) == (False, POLICY_DENIED)
    assert inbound.allowed  # the weakness: allow-suspect still lets traffic in
    inverse = p.inverse(result.before)
    assert inverse == QuarantineAction(target=target, mode="networkpolicy", release=True, reason="undo quarantine")
    undo = prepare(inverse, kube).execute()
    assert undo.ok, undo.error
    assert labelled(world) == [] and aw.gone(kube, "networkpolicies", POLICY, NS)
    assert all(v.allowed for v in verdicts(world, pods[0]))


def test_cilium_mode_needs_the_crd(world: aw.World) -> None:
    target = ResourceRef(kind="Deployment", namespace=NS, name="suspect")
    dry = prepare(QuarantineAction(target=target, mode="cilium"), world.kube).dry_run()
    assert dry.error_type == "NotFound" and "ciliumnetworkpolicies.cilium.io" in dry.error


@pytest.fixture
def cilium(world: aw.World) -> Iterator[None]:
    for crd in cilium_policy_crds():
        aw.create(world.kube, crd)
    aw.wait_for(lambda: not aw.gone(world.kube, "customresourcedefinitions", "ciliumnetworkpolicies.cilium.io"),
                "the CRD")
    yield
    for crd in cilium_policy_crds():
        world.kube.request("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}",
                           op=Op("delete", "customresourcedefinitions", "apiextensions.k8s.io"))


def test_cilium_deny_policy_drops_the_pods_traffic(world: aw.World, cilium: None) -> None:
    kube = world.kube
    pod = sorted(p["metadata"]["name"] for p in aw.running_pods(kube, NS, "app=suspect"))[0]
    target = ResourceRef(kind="Pod", namespace=NS, name=pod)
    p = prepare(QuarantineAction(target=target), kube)
    assert "CiliumNetworkPolicy" in p.render() and "additive" not in p.render()
    dry = p.dry_run()
    assert dry.ok and f"+++ CiliumNetworkPolicy {NS}/{POLICY} (created)" in dry.diff and "ingressDeny" in dry.diff
    result = p.execute()
    assert result.ok, result.error
    assert result.before["mode"] == "cilium" and result.before["pods"] == [pod] and result.notes == []
    spec = kube.request("GET", f"/apis/cilium.io/v2/namespaces/{NS}/ciliumnetworkpolicies/{POLICY}",
                        op=Op("get", "ciliumnetworkpolicies", "cilium.io")).body
    assert b'"ingressDeny":[{"fromEntities":["all"]}]' in spec and b'"egressDeny":[{"toEntities":["all"]}]' in spec
    inbound, outbound = verdicts(world, pod)
    for v in (inbound, outbound):
        assert (v.allowed, v.drop_reason) == (False, POLICY_DENY)
    assert [ref.name for ref in inbound.ingress_denied_by] == [POLICY]
    assert [ref.name for ref in outbound.egress_denied_by] == [POLICY]
    undo = prepare(p.inverse(result.before), kube).execute()  # type: ignore[arg-type]
    assert undo.ok and undo.changed[f"CiliumNetworkPolicy {NS}/{POLICY}"] == "deleted"
    assert labelled(world) == [] and all(v.allowed for v in verdicts(world, pod))
