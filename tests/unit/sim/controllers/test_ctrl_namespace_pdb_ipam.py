"""Namespace lifecycle, PodDisruptionBudget status and Service IP/NodePort allocation."""

from __future__ import annotations

from typing import Any

import pytest

from prophet_sre.sim import status as st


# -- namespaces -------------------------------------------------------------------------------------------
def test_new_namespace_gets_default_sa_and_root_ca(cluster: Any) -> None:
    h = cluster
    h.create(h.namespace("shop"))
    h.manager.drain()
    assert h.get("ServiceAccount", "shop", "default") is not None
    cm = h.get("ConfigMap", "shop", "kube-root-ca.crt")
    assert cm["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----\n")
    assert cm["data"]["ca.crt"].endswith("-----END CERTIFICATE-----\n")
    assert "kubernetes.io/description" in cm["metadata"]["annotations"]
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert h.get("ServiceAccount", ns, "default") is not None
    # both come back when deleted
    h.delete("ServiceAccount", "shop", "default")
    h.delete("ConfigMap", "shop", "kube-root-ca.crt")
    h.manager.drain()
    assert h.get("ServiceAccount", "shop", "default") is not None
    assert h.get("ConfigMap", "shop", "kube-root-ca.crt") is not None


def test_namespace_deletion_empties_then_removes_it(cluster: Any) -> None:
    h = cluster
    h.create(h.namespace("shop"))
    h.manager.drain()
    h.create(h.deployment("web", "shop", replicas=2))
    h.create(h.service("web", "shop"))
    h.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "shop"},
              "data": {"a": "b"}})
    assert h.settle(lambda: len([p for p in h.list("Pod", "shop") if p["status"].get("phase") == "Running"]) == 2,
                    max_s=30)
    h.delete("Namespace", "", "shop")
    h.manager.drain()
    ns = h.get("Namespace", "", "shop")
    assert ns["status"]["phase"] == "Terminating"
    conds = {c["type"]: c for c in ns["status"]["conditions"]}
    assert conds["NamespaceContentRemaining"]["status"] == "True"
    assert conds["NamespaceContentRemaining"]["reason"] == "SomeResourcesRemain"
    assert "pods. has 2 resource instances" in conds["NamespaceContentRemaining"]["message"]
    assert conds["NamespaceDeletionContentFailure"]["status"] == "False"
    with pytest.raises(st.ApiError) as e:
        h.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late", "namespace": "shop"}})
    assert e.value.code == 403
    assert h.settle(lambda: h.get("Namespace", "", "shop") is None, max_s=30)
    for kind in ("Pod", "ReplicaSet", "Deployment", "Service", "Endpoints", "ConfigMap", "ServiceAccount",
                 "EndpointSlice", "Event"):
        assert h.list(kind, "shop") == [], kind


def test_namespace_with_finalizer_held_content_reports_it(cluster: Any) -> None:
    h = cluster
    h.create(h.namespace("stuck"))
    h.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "namespace": "stuck",
                                                                   "finalizers": ["example.com/keep"]}})
    h.manager.drain()
    h.delete("Namespace", "", "stuck")
    h.run_for(3)
    ns = h.get("Namespace", "", "stuck")
    conds = {c["type"]: c for c in ns["status"]["conditions"]}
    assert conds["NamespaceFinalizersRemaining"]["message"] == (
        "Some content in the namespace has finalizers remaining: example.com/keep in 1 resource instances")
    h.patch("ConfigMap", "stuck", "held", lambda o: o["metadata"].pop("finalizers"))
    assert h.settle(lambda: h.get("Namespace", "", "stuck") is None, max_s=10)


# -- pod disruption budgets ----------------------------------------------------------------------------------
def _pdb(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


def test_pdb_status_numbers(cluster: Any) -> None:
    h = cluster
    h.create(h.deployment("web", replicas=3))
    h.create(_pdb("min2", minAvailable=2))
    h.create(_pdb("max1", maxUnavailable=1))
    h.create(_pdb("pct", minAvailable="50%"))
    assert h.settle(lambda: (h.get("PodDisruptionBudget", "default", "min2").get("status") or {}).get(
        "currentHealthy") == 3, max_s=30)
    s = h.get("PodDisruptionBudget", "default", "min2")["status"]
    assert (s["expectedPods"], s["currentHealthy"], s["desiredHealthy"], s["disruptionsAllowed"]) == (3, 3, 2, 1)
    assert s["observedGeneration"] == 1
    [c] = s["conditions"]
    assert (c["type"], c["status"], c["reason"]) == ("DisruptionAllowed", "True", "SufficientPods")
    s = h.get("PodDisruptionBudget", "default", "max1")["status"]
    assert (s["expectedPods"], s["currentHealthy"], s["desiredHealthy"], s["disruptionsAllowed"]) == (3, 3, 2, 1)
    s = h.get("PodDisruptionBudget", "default", "pct")["status"]
    assert (s["expectedPods"], s["desiredHealthy"], s["disruptionsAllowed"]) == (3, 2, 1)

    # one pod going away: no disruption allowed for minAvailable 2 until it is replaced
    victim = h.list("Pod", "default", {"app": "web"})[0]["metadata"]["name"]
    h.delete("Pod", "default", victim)
    h.manager.drain()
    s = h.get("PodDisruptionBudget", "default", "min2")["status"]
    assert (s["currentHealthy"], s["disruptionsAllowed"]) == (2, 0)
    c = s["conditions"][0]
    assert (c["status"], c["reason"]) == ("False", "InsufficientPods")
    assert h.settle(lambda: h.get("PodDisruptionBudget", "default", "min2")["status"]["disruptionsAllowed"] == 1,
                    max_s=30)


def test_pdb_with_no_matching_pods(cluster: Any) -> None:
    h = cluster
    h.create(_pdb("none", minAvailable=1))
    h.manager.drain()
    s = h.get("PodDisruptionBudget", "default", "none")["status"]
    assert (s["expectedPods"], s["currentHealthy"], s["desiredHealthy"], s["disruptionsAllowed"]) == (0, 0, 1, 0)


# -- service IPs -------------------------------------------------------------------------------------------------
def test_service_ips_and_duplicate_error(cluster: Any) -> None:
    h = cluster
    assert h.get("Service", "default", "kubernetes")["spec"]["clusterIP"] == "10.96.0.1"
    assert h.get("Service", "kube-system", "kube-dns")["spec"]["clusterIP"] == "10.96.0.10"
    a = h.create(h.service("a"))
    ip = a["spec"]["clusterIP"]
    assert ip.startswith("10.") and a["spec"]["clusterIPs"] == [ip] and ip not in ("10.96.0.1", "10.96.0.10")
    assert a["spec"]["ipFamilies"] == ["IPv4"] and a["spec"]["ipFamilyPolicy"] == "SingleStack"
    with pytest.raises(st.ApiError) as e:
        h.create(h.service("b", clusterIP=ip))
    assert e.value.code == 422 and e.value.reason == "Invalid"
    assert e.value.message == (f'Service "b" is invalid: spec.clusterIPs: Invalid value: []string{{"{ip}"}}: '
                               f"failed to allocate IP {ip}: provided IP is already allocated")
    with pytest.raises(st.ApiError) as e:
        h.create(h.service("c", clusterIP="10.96.0.10"))
    assert "provided IP is already allocated" in e.value.message
    with pytest.raises(st.ApiError) as e:
        h.create(h.service("d", clusterIP="192.168.1.1"))
    assert "is not in the valid range. The range of valid IPs is 10.96.0.0/12" in e.value.message
    fixed = h.create(h.service("e", clusterIP="10.96.100.100"))
    assert fixed["spec"]["clusterIPs"] == ["10.96.100.100"]
    # stable across updates, freed on delete
    upd = h.patch("Service", "default", "a", lambda s: (s["spec"].pop("clusterIP"), s["spec"].pop("clusterIPs")))
    assert upd["spec"]["clusterIP"] == ip
    h.delete("Service", "default", "a")
    assert h.create(h.service("b", clusterIP=ip))["spec"]["clusterIP"] == ip


def test_headless_external_name_and_node_ports(cluster: Any) -> None:
    h = cluster
    hl = h.create(h.service("hl", clusterIP="None"))
    assert hl["spec"]["clusterIPs"] == ["None"]
    ext = h.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext", "namespace": "default"},
                    "spec": {"type": "ExternalName", "externalName": "example.com"}})
    assert "clusterIP" not in ext["spec"]
    np = h.create(h.service("np", type="NodePort"))
    port = np["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    again = h.patch("Service", "default", "np", lambda s: s["spec"]["ports"][0].pop("nodePort"))
    assert again["spec"]["ports"][0]["nodePort"] == port
    with pytest.raises(st.ApiError) as e:
        svc = h.service("np2", type="NodePort")
        svc["spec"]["ports"][0]["nodePort"] = port
        h.create(svc)
    assert e.value.message == (f'Service "np2" is invalid: spec.ports[0].nodePort: Invalid value: {port}: '
                               "provided port is already allocated")
    with pytest.raises(st.ApiError) as e:
        svc = h.service("np3", type="NodePort")
        svc["spec"]["ports"][0]["nodePort"] = 80
        h.create(svc)
    assert "provided port is not in the valid range. The range of valid ports is 30000-32767" in e.value.message
