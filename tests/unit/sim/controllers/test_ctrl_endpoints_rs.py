"""Endpoints/EndpointSlices from pods, ReplicaSet pod management and failure reporting, bootstrap objects."""

from __future__ import annotations

from typing import Any

from prophet_sre.sim import status as st
from prophet_sre.sim.bootstrap import bootstrap_objects, default_nodes
from prophet_sre.sim.discovery import KUBE_VERSION


def _slices(h: Any, svc: str, ns: str = "default") -> list[dict[str, Any]]:
    return [s for s in h.list("EndpointSlice", ns) if s["metadata"]["labels"].get("kubernetes.io/service-name") == svc]


def test_endpoints_track_readiness_and_named_ports(cluster: Any) -> None:
    h = cluster
    svc = h.service("web")
    h.create(svc)
    h.manager.drain()
    ep = h.get("Endpoints", "default", "web")
    assert ep is not None and "subsets" not in ep  # a service without backends still has its Endpoints
    [placeholder] = _slices(h, "web")
    assert not placeholder["endpoints"]
    pod = h.pod("web-a", labels={"app": "web"}, image="shop/frontend:1.0")  # listens on 8080 (behaviour model)
    pod["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    pod["spec"]["containers"][0]["readinessProbe"] = {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 5,
                                                      "periodSeconds": 10, "timeoutSeconds": 1,
                                                      "successThreshold": 1, "failureThreshold": 3}
    h.create(pod)
    h.run_for(3)
    [subset] = h.get("Endpoints", "default", "web")["subsets"]
    assert "addresses" not in subset and len(subset["notReadyAddresses"]) == 1
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    [sl] = _slices(h, "web")
    assert sl["endpoints"][0]["conditions"] == {"ready": False, "serving": False, "terminating": False}
    h.run_for(5)
    [subset] = h.get("Endpoints", "default", "web")["subsets"]
    addr = subset["addresses"][0]
    p = h.get("Pod", "default", "web-a")
    assert addr == {"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
                    "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-a",
                                  "uid": p["metadata"]["uid"]}}
    [sl] = _slices(h, "web")
    assert sl["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert sl["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    assert sl["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert sl["metadata"]["generateName"] == "web-" and sl["addressType"] == "IPv4"
    assert sl["endpoints"][0]["zone"].startswith("us-east-1")

    # terminating pods leave Endpoints but stay in the slice as terminating
    h.delete("Pod", "default", "web-a")
    h.manager.drain()
    assert "subsets" not in h.get("Endpoints", "default", "web")
    [sl] = _slices(h, "web")
    assert sl["endpoints"][0]["conditions"] == {"ready": False, "serving": True, "terminating": True}


def test_no_write_storm_from_pod_status_churn(cluster: Any) -> None:
    h = cluster
    h.create(h.deployment("web", replicas=2))
    h.create(h.service("web"))
    h.run_for(5)
    writes: list[Any] = []
    h.store.subscribe(lambda ev: writes.append(ev) if ev.storage_key in (
        ("", "endpoints"), ("discovery.k8s.io", "endpointslices")) else None)
    h.run_for(60)  # heartbeats and timers only: nothing endpoints care about
    assert writes == []


def test_services_without_selector_are_left_alone(cluster: Any) -> None:
    h = cluster
    h.create({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ext", "namespace": "default"},
              "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 5432, "protocol": "TCP"}]}]})
    h.create(h.service("ext", selector={}))
    h.run_for(2)
    assert h.get("Endpoints", "default", "ext")["subsets"][0]["addresses"] == [{"ip": "192.0.2.10"}]
    assert _slices(h, "ext") == []


def test_many_pods_are_split_into_slices_of_100(cluster_factory: Any) -> None:
    h = cluster_factory(n_workers=3)
    d = h.deployment("big", replicas=150)
    d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] = {"cpu": "10m", "memory": "8Mi"}
    h.create(d)
    h.create(h.service("big"))
    assert h.settle(lambda: sum(1 for s in _slices(h, "big") for e in s["endpoints"] or []
                                if e["conditions"]["ready"]) == 150, max_s=60)
    assert sorted(len(s["endpoints"]) for s in _slices(h, "big")) == [50, 100]
    assert len(h.get("Endpoints", "default", "big")["subsets"][0]["addresses"]) == 150


# -- replica sets ----------------------------------------------------------------------------------------
def _rs(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                          "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
                         "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
                         "schedulerName": "default-scheduler"}}}}


def test_replicaset_create_failure_is_reported(cluster: Any) -> None:
    h = cluster
    quota_msg = ('pods "rs-x" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2')
    budget = {"n": 2}

    def quota(rt: Any, obj: Any, old: Any, op: str) -> None:
        if rt.kind == "Pod" and op == "CREATE" and obj["metadata"].get("namespace") == "default":
            if budget["n"] <= 0:
                raise st.forbidden(quota_msg)
            budget["n"] -= 1

    h.store.add_admission(quota)
    h.create(_rs("rs", 3))
    h.run_for(3)
    rs = h.get("ReplicaSet", "default", "rs")
    assert rs["status"]["replicas"] == 2
    [cond] = rs["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["reason"], cond["message"]) == (
        "ReplicaFailure", "True", "FailedCreate", quota_msg)
    [ev] = h.events_for("rs", "FailedCreate")
    assert ev["type"] == "Warning" and ev["message"] == f"Error creating: {quota_msg}"
    assert ev["source"] == {"component": "replicaset-controller"}
    budget["n"] = 10
    assert h.settle(lambda: h.get("ReplicaSet", "default", "rs")["status"].get("readyReplicas") == 3, max_s=90)
    assert "conditions" not in h.get("ReplicaSet", "default", "rs")["status"]


def test_replicaset_scale_down_prefers_unscheduled_then_not_ready(cluster: Any) -> None:
    h = cluster
    h.create(_rs("rs", 2))
    assert h.settle(lambda: h.get("ReplicaSet", "default", "rs")["status"].get("readyReplicas") == 2, max_s=30)
    ready = {p["metadata"]["name"] for p in h.list("Pod", "default", {"app": "rs"})}
    h.patch("ReplicaSet", "default", "rs", lambda r: r["spec"].update(replicas=3))
    h.manager.drain()  # the new pod is bound but not running yet
    h.patch("ReplicaSet", "default", "rs", lambda r: r["spec"].update(replicas=2))
    h.manager.drain()
    live = {p["metadata"]["name"] for p in h.list("Pod", "default", {"app": "rs"})
            if not p["metadata"].get("deletionTimestamp")}
    assert live == ready
    [ev] = h.events_for("rs", "SuccessfulDelete")
    assert ev["message"].startswith("Deleted pod: rs-")
    s = h.get("ReplicaSet", "default", "rs")["status"]
    assert (s["replicas"], s["fullyLabeledReplicas"], s["readyReplicas"], s["availableReplicas"]) == (2, 2, 2, 2)


def test_replicaset_adopts_matching_orphans(cluster: Any) -> None:
    h = cluster
    h.create(h.pod("stray", labels={"app": "rs"}))
    h.create(_rs("rs", 2))
    h.manager.drain()
    stray = h.get("Pod", "default", "stray")
    assert stray["metadata"]["ownerReferences"][0]["name"] == "rs"
    assert len(h.list("Pod", "default", {"app": "rs"})) == 2


# -- bootstrap -----------------------------------------------------------------------------------------------
def test_bootstrap_objects_look_like_a_kubeadm_cluster() -> None:
    objs = bootstrap_objects(cluster_name="c", nodes=default_nodes(2), api_host="127.0.0.1", api_port=6443)
    kinds = [o["kind"] for o in objs]
    assert kinds[:4] == ["Namespace"] * 4
    nodes = [o for o in objs if o["kind"] == "Node"]
    assert [n["metadata"]["name"] for n in nodes] == ["control-plane", "worker-1", "worker-2"]
    cp = nodes[0]
    assert cp["spec"]["taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    assert cp["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == ""
    w = nodes[1]
    assert "taints" not in w["spec"] and w["metadata"]["labels"]["kubernetes.io/hostname"] == "worker-1"
    assert w["status"]["nodeInfo"]["kubeletVersion"] == KUBE_VERSION["gitVersion"]
    assert w["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://2.")
    cap, alloc = w["status"]["capacity"], w["status"]["allocatable"]
    assert cap["cpu"] == "4" and int(alloc["memory"][:-2]) < int(cap["memory"][:-2])
    ready = next(c for c in w["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("True", "KubeletReady",
                                                                     "kubelet is posting ready status")
    assert w["spec"]["podCIDR"] == "10.244.1.0/24"
    sc = next(o for o in objs if o["kind"] == "StorageClass")
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert {o["metadata"]["name"] for o in objs if o["kind"] == "PriorityClass"} == {
        "system-cluster-critical", "system-node-critical"}
    ep = next(o for o in objs if o["kind"] == "Endpoints")
    assert ep["subsets"][0]["addresses"] == [{"ip": "127.0.0.1"}] and ep["subsets"][0]["ports"][0]["port"] == 6443


def test_bootstrapped_cluster_runs_coredns(cluster: Any) -> None:
    h = cluster
    pods = h.list("Pod", "kube-system", {"k8s-app": "kube-dns"})
    assert len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods)
    ep = h.get("Endpoints", "kube-system", "kube-dns")
    ports = {(p["name"], p["port"], p["protocol"]) for p in ep["subsets"][0]["ports"]}
    assert ports == {("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")}
    assert h.manager.errors == 0
