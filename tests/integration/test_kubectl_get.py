"""Real kubectl against the simulator: `get` / `describe` and the output formats (wide, json, yaml,
jsonpath, name, custom-columns, sort-by, chunking) on pods, deployments, nodes, services and events."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubectl_support import apply, deployment, namespace, table, wait_ready, wait_rolled_out

NS = "kt-get"
SERVICE = f"""\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {NS}
spec:
  selector: {{app: web}}
  ports:
  - name: http
    port: 80
    targetPort: 80
"""


@pytest.fixture(scope="module")
def ns(kubectl: Any) -> Iterator[str]:
    with namespace(kubectl, NS) as name:
        apply(kubectl, deployment("web", NS, image="nginx:1.27", replicas=2) + "---\n" + SERVICE)
        wait_rolled_out(kubectl, NS, "web")
        wait_ready(kubectl, NS, "app=web", 2)
        yield name


@pytest.fixture(scope="module")
def web_pods(kubectl: Any, ns: str) -> list[dict[str, Any]]:
    return wait_ready(kubectl, ns, "app=web", 2)


# --- pods ----------------------------------------------------------------------------------------------
def test_get_pods_default_columns(kubectl: Any, ns: str, web_pods: list[dict[str, Any]]) -> None:
    header, rows = table(kubectl("get", "pods", "-n", ns))
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert sorted(r[0] for r in rows) == sorted(p["metadata"]["name"] for p in web_pods)
    for r in rows:
        assert r[1:4] == ["1/1", "Running", "0"]
        assert re.fullmatch(r"\d+[smhd](\d+[smh])?", r[4]), r


def test_get_pods_wide(kubectl: Any, ns: str, web_pods: list[dict[str, Any]]) -> None:
    header, rows = table(kubectl("get", "pods", "-n", ns, "-o", "wide"))
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
                      "READINESS GATES"]
    by_name = {p["metadata"]["name"]: p for p in web_pods}
    for r in rows:
        pod = by_name[r[0]]
        assert r[5] == pod["status"]["podIP"]
        assert r[6] == pod["spec"]["nodeName"]
        assert r[6] in {"worker-1", "worker-2"}  # the control plane is tainted
        assert r[7:] == ["<none>", "<none>"]


def test_get_pod_json_and_yaml(kubectl: Any, ns: str, web_pods: list[dict[str, Any]]) -> None:
    name = web_pods[0]["metadata"]["name"]
    as_json = json.loads(kubectl("get", "pod", name, "-n", ns, "-o", "json"))
    as_yaml = yaml.safe_load(kubectl("get", "pod", name, "-n", ns, "-o", "yaml"))
    assert as_json == as_yaml
    assert as_json["kind"] == "Pod" and as_json["apiVersion"] == "v1"
    meta = as_json["metadata"]
    assert meta["labels"]["app"] == "web" and "pod-template-hash" in meta["labels"]
    owner = meta["ownerReferences"][0]
    assert owner["kind"] == "ReplicaSet" and owner["controller"] is True and owner["name"].startswith("web-")
    assert as_json["status"]["phase"] == "Running"
    assert as_json["status"]["containerStatuses"][0]["ready"] is True
    assert as_json["spec"]["containers"][0]["image"] == "nginx:1.27"
    lst = json.loads(kubectl("get", "pods", "-n", ns, "-o", "json"))
    assert lst["kind"] == "List" and len(lst["items"]) == 2


def test_get_pods_jsonpath(kubectl: Any, ns: str, web_pods: list[dict[str, Any]]) -> None:
    names = kubectl("get", "pods", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}").split()
    assert sorted(names) == sorted(p["metadata"]["name"] for p in web_pods)
    out = kubectl("get", "pods", "-n", ns, "-l", "app=web",
                  "-o", r'jsonpath={range .items[*]}{.metadata.name}={.status.podIP}{"\n"}{end}')
    got = dict(line.split("=") for line in out.splitlines())
    assert got == {p["metadata"]["name"]: p["status"]["podIP"] for p in web_pods}
    one = web_pods[0]["metadata"]["name"]
    assert kubectl("get", "pod", one, "-n", ns, "-o",
                   'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == "True"


def test_get_pods_name_custom_columns_sort_labels(kubectl: Any, ns: str, web_pods: list[dict[str, Any]]) -> None:
    names = sorted(p["metadata"]["name"] for p in web_pods)
    assert kubectl("get", "pods", "-n", ns, "-o", "name").split() == [f"pod/{n}" for n in names]
    header, rows = table(kubectl("get", "pods", "-n", ns, "--sort-by=.metadata.name",
                                 "-o", "custom-columns=NAME:.metadata.name,NODE:.spec.nodeName,IMG:.spec.containers[0].image"))
    assert header == ["NAME", "NODE", "IMG"]
    assert [r[0] for r in rows] == names
    assert {r[2] for r in rows} == {"nginx:1.27"}
    header, rows = table(kubectl("get", "pods", "-n", ns, "--show-labels"))
    assert header[-1] == "LABELS"
    assert all("app=web" in r[-1] and "pod-template-hash=" in r[-1] for r in rows)
    assert kubectl("get", "pods", "-n", ns, "-l", "app=nothing", check=True).strip() == ""
    assert "No resources found in kt-get namespace." in kubectl.run("get", "pods", "-n", ns, "-l", "app=nothing").stderr


def test_get_pods_chunked_and_field_selector(kubectl: Any, ns: str, web_pods: list[dict[str, Any]]) -> None:
    _, rows = table(kubectl("get", "pods", "-n", ns, "--chunk-size=1"))
    assert sorted(r[0] for r in rows) == sorted(p["metadata"]["name"] for p in web_pods)
    node = web_pods[0]["spec"]["nodeName"]
    on_node = [p["metadata"]["name"] for p in web_pods if p["spec"]["nodeName"] == node]
    out = kubectl("get", "pods", "-n", ns, "--field-selector", f"spec.nodeName={node},status.phase=Running", "-o", "name")
    assert sorted(out.split()) == sorted(f"pod/{n}" for n in on_node)


def test_describe_pod(kubectl: Any, ns: str, web_pods: list[dict[str, Any]]) -> None:
    pod = web_pods[0]
    name, node = pod["metadata"]["name"], pod["spec"]["nodeName"]
    out = kubectl("describe", "pod", name, "-n", ns)
    assert re.search(rf"^Name:\s+{name}$", out, re.M)
    assert re.search(rf"^Namespace:\s+{ns}$", out, re.M)
    assert re.search(rf"^Node:\s+{node}/\d+\.\d+\.\d+\.\d+$", out, re.M)
    assert re.search(r"^Status:\s+Running$", out, re.M)
    assert re.search(rf"^Controlled By:\s+ReplicaSet/{pod['metadata']['ownerReferences'][0]['name']}$", out, re.M)
    assert re.search(r"^\s+Image:\s+nginx:1.27$", out, re.M)
    assert re.search(r"^\s+Ready\s+True\s*$", out, re.M)
    assert f"Successfully assigned {ns}/{name} to {node}" in out
    # a cold node pulls; a warm one (IfNotPresent) reuses the image
    assert ('Pulling image "nginx:1.27"' in out
            or 'Container image "nginx:1.27" already present on machine' in out), out
    assert "Started container web" in out


# --- deployments ---------------------------------------------------------------------------------------
def test_get_deployment_wide_and_jsonpath(kubectl: Any, ns: str) -> None:
    header, rows = table(kubectl("get", "deploy", "-n", ns, "-o", "wide"))
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert len(rows) == 1
    r = rows[0]
    assert r[:4] == ["web", "2/2", "2", "2"] and r[5:] == ["web", "nginx:1.27", "app=web"]
    assert kubectl("get", "deploy", "web", "-n", ns, "-o", "jsonpath={.status.readyReplicas}/{.spec.replicas}") == "2/2"
    conds = kubectl("get", "deploy", "web", "-n", ns, "-o",
                    r'jsonpath={range .status.conditions[*]}{.type}={.status}:{.reason}{"\n"}{end}').split()
    assert "Available=True:MinimumReplicasAvailable" in conds
    assert "Progressing=True:NewReplicaSetAvailable" in conds
    d = yaml.safe_load(kubectl("get", "deploy", "web", "-n", ns, "-o", "yaml"))
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert d["spec"]["strategy"] == {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}


def test_get_replicasets(kubectl: Any, ns: str) -> None:
    header, rows = table(kubectl("get", "rs", "-n", ns, "-o", "wide"))
    assert header == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert len(rows) == 1
    name, *_ = rows[0]
    pth = name.removeprefix("web-")
    assert rows[0][1:4] == ["2", "2", "2"] and rows[0][-1] == f"app=web,pod-template-hash={pth}"


def test_describe_deployment(kubectl: Any, ns: str) -> None:
    out = kubectl("describe", "deployment", "web", "-n", ns)
    assert re.search(r"^Replicas:\s+2 desired \| 2 updated \| 2 total \| 2 available \| 0 unavailable$", out, re.M)
    assert re.search(r"^StrategyType:\s+RollingUpdate$", out, re.M)
    assert re.search(r"^NewReplicaSet:\s+web-[a-z0-9]+ \(2/2 replicas created\)$", out, re.M)
    assert re.search(r"ScalingReplicaSet\s+.*deployment-controller\s+Scaled up replica set web-[a-z0-9]+ from 0 to 2",
                     out)


# --- nodes ---------------------------------------------------------------------------------------------
def test_get_nodes_wide_and_jsonpath(kubectl: Any) -> None:
    header, rows = table(kubectl("get", "nodes", "-o", "wide"))
    assert header[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert header[5:] == ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    by_name = {r[0]: r for r in rows}
    assert {"control-plane", "worker-1", "worker-2"} <= set(by_name)
    assert by_name["control-plane"][2] == "control-plane"
    assert by_name["worker-1"][1] == "Ready" and by_name["worker-1"][2] == "<none>"
    assert by_name["worker-1"][-1].startswith("containerd://")
    ready = kubectl("get", "nodes", "-o",
                    r'jsonpath={range .items[*]}{.metadata.name}:{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
    assert {"worker-1:True", "worker-2:True", "control-plane:True"} <= set(ready.split())
    taints = json.loads(kubectl("get", "node", "control-plane", "-o", "jsonpath={.spec.taints}"))
    assert {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"} in taints


def test_describe_node_lists_its_pods(kubectl: Any, ns: str, web_pods: list[dict[str, Any]]) -> None:
    pod = web_pods[0]
    out = kubectl("describe", "node", pod["spec"]["nodeName"])
    assert re.search(rf"^Name:\s+{pod['spec']['nodeName']}$", out, re.M)
    assert re.search(r"^\s+Ready\s+True\s+.*KubeletReady\s+kubelet is posting ready status", out, re.M)
    assert re.search(r"^Non-terminated Pods:\s+\(\d+ in total\)$", out, re.M)
    assert re.search(rf"^\s+{ns}\s+{pod['metadata']['name']}\s", out, re.M)
    assert "Allocated resources:" in out


# --- services and endpoints ----------------------------------------------------------------------------
def test_get_and_describe_service(kubectl: Any, ns: str, web_pods: list[dict[str, Any]]) -> None:
    header, rows = table(kubectl("get", "svc", "-n", ns, "-o", "wide"))
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    (row,) = rows
    cluster_ip = kubectl("get", "svc", "web", "-n", ns, "-o", "jsonpath={.spec.clusterIP}")
    assert row[:5] == ["web", "ClusterIP", cluster_ip, "<none>", "80/TCP"] and row[-1] == "app=web"
    assert re.fullmatch(r"10\.\d+\.\d+\.\d+", cluster_ip)
    ips = sorted(p["status"]["podIP"] for p in web_pods)
    out = kubectl("describe", "svc", "web", "-n", ns)
    assert re.search(rf"^IP:\s+{re.escape(cluster_ip)}$", out, re.M)
    m = re.search(r"^Endpoints:\s+(\S+)$", out, re.M)
    assert m and sorted(e.split(":")[0] for e in m.group(1).split(",")) == ips
    eps = json.loads(kubectl("get", "endpoints", "web", "-n", ns, "-o", "json"))
    (subset,) = eps["subsets"]
    assert sorted(a["ip"] for a in subset["addresses"]) == ips
    assert subset["ports"] == [{"name": "http", "port": 80, "protocol": "TCP"}]
    slices = json.loads(kubectl("get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=web", "-o", "json"))
    addrs = sorted(a for ep in slices["items"][0]["endpoints"] for a in ep["addresses"])
    assert addrs == ips


# --- events --------------------------------------------------------------------------------------------
def test_get_events(kubectl: Any, ns: str, web_pods: list[dict[str, Any]]) -> None:
    header, rows = table(kubectl("get", "events", "-n", ns))
    assert header == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    reasons = {(r[2], r[3].split("/")[0]) for r in rows}
    assert {("Scheduled", "pod"), ("Pulled", "pod"), ("Started", "pod"), ("SuccessfulCreate", "replicaset"),
            ("ScalingReplicaSet", "deployment")} <= reasons
    sched = json.loads(kubectl("get", "events", "-n", ns, "--field-selector",
                               "reason=Scheduled,involvedObject.kind=Pod", "-o", "json"))["items"]
    assert sorted(e["involvedObject"]["name"] for e in sched) == sorted(p["metadata"]["name"] for p in web_pods)
    for e in sched:
        assert e["type"] == "Normal"
        assert "default-scheduler" in (e.get("reportingComponent"), (e.get("source") or {}).get("component"))
    header, rows = table(kubectl("get", "events", "-n", ns, "-o", "wide", "--field-selector", "reason=Started"))
    assert header[:7] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE"]
    assert all(r[4] == "spec.containers{web}" and r[5].startswith("kubelet, worker-") for r in rows)
    msgs = kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.kind=Deployment",
                   "-o", r'jsonpath={range .items[*]}{.message}{"\n"}{end}')
    assert re.search(r"^Scaled up replica set web-[a-z0-9]+ from 0 to 2$", msgs, re.M)


def test_get_all_and_multiple_types(kubectl: Any, ns: str) -> None:
    out = kubectl("get", "deploy,rs,svc", "-n", ns, "-o", "name")
    lines = out.split()
    assert "deployment.apps/web" in lines and "service/web" in lines
    assert any(line.startswith("replicaset.apps/web-") for line in lines)
    out = kubectl("get", "all", "-n", ns)
    assert "deployment.apps/web" in out and "service/web" in out and "pod/web-" in out
