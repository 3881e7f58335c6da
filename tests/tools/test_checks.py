"""`tools.checks.evaluate`: every check form, true and false, against a real simulated cluster.

One `SimCluster` (speed 50) runs `evals/scenarios/backend-memory-leak.yaml` (the backend's v2.3 leaks
memory and is OOMKilled soon after the 30 s rollout) plus a namespace `extra` with objects in known
states: a StatefulSet that runs and one whose pods cannot be placed, a DaemonSet with a good and one
with a missing image, a Deployment that cannot be placed, a Service selecting nothing, claims that bind
and one whose StorageClass does not exist. Metric checks run against a real Prometheus scraping the
sim's `/metrics` (`prometheus_factory`, skipped without the Debian binary). A small fleet (mgmt, aws,
gcp) covers `CLUSTER:` prefixes and the `object` form with a kubectl JSONPath filter. API errors
(Forbidden, an unknown cluster, a missing object) give `ok=False` with the error in the detail.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from prophet_sre.config import KubeSettings
from prophet_sre.domain import Check
from prophet_sre.errors import InvalidInput
from prophet_sre.graphs.state import CheckResult
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.sim.fleet import SimFleet
from prophet_sre.sim.scenario import apply as scenario_apply
from prophet_sre.sim.scenario import load_scenario
from prophet_sre.tools.checks import CheckContext, capture_baseline, check_from_scenario, evaluate, snapshot
from prophet_sre.tools.kube import KubeClient, KubeClients, Op
from prophet_sre.tools.prometheus import PrometheusTool

pytestmark = pytest.mark.timeout(180)
SCENARIOS = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
LEAK = SCENARIOS / "backend-memory-leak.yaml"


def create(kube: KubeClient, obj: dict[str, Any]) -> dict[str, Any]:
    api = obj["apiVersion"]
    rk = kube.resolve(f"{obj['kind']}.{api.rpartition('/')[0]}" if "/" in api else obj["kind"])
    ns = obj["metadata"].get("namespace") if rk.namespaced else None
    resp = kube.request("POST", rk.path(ns), op=Op("create", rk.resource, rk.group, ns or ""), body=obj)
    return dict(orjson.loads(resp.body))


def patch(kube: KubeClient, kind: str, ns: str, name: str, body: Any, content_type: str) -> None:
    rk = kube.resolve(kind)
    kube.request("PATCH", rk.path(ns, name), op=Op("patch", rk.resource, rk.group, ns, name), body=body,
                 headers={"Content-Type": content_type})


def template(name: str, image: str = "nginx:1.27", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "main", "image": image}], **spec}}


def workload(kind: str, name: str, ns: str, image: str = "nginx:1.27", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}, "template": template(name, image, **spec)}
    if kind != "DaemonSet":
        body["replicas"] = 1
    if kind == "StatefulSet":
        body["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": body}


def claim(name: str, ns: str, storage_class: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": ns},
            "spec": {"storageClassName": storage_class, "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}}


def eventually(check: Check, ctx: CheckContext, ok: bool, timeout_s: float = 30.0) -> CheckResult:
    """Evaluate until the result is `ok` (states take a few sim seconds to settle); the last result."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = evaluate(check, ctx)
        if result.ok is ok or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


class World:
    def __init__(self, cluster: SimCluster, kubeconfig: Path) -> None:
        self.cluster = cluster
        self.kubeconfig = kubeconfig
        self.clients = KubeClients(KubeSettings(kubeconfig=kubeconfig))
        self.kube = self.clients.for_cluster("")

    def ctx(self, **kw: Any) -> CheckContext:
        return CheckContext(self.clients, **kw)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    cluster = SimCluster(ClusterOptions(speed=50.0))
    cluster.start()
    clients: KubeClients | None = None
    try:
        scenario_apply.load_file(cluster, LEAK)
        w = World(cluster, cluster.write_kubeconfig(tmp_path_factory.mktemp("checks") / "kubeconfig"))
        clients = w.clients
        k, ns = w.kube, "extra"
        create(k, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        create(k, {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "instant"},
                   "provisioner": "rancher.io/local-path", "volumeBindingMode": "Immediate"})
        create(k, workload("StatefulSet", "store", ns))
        create(k, workload("StatefulSet", "stuck-store", ns, nodeSelector={"disk": "none"}))
        create(k, workload("DaemonSet", "agent", ns))
        create(k, workload("DaemonSet", "bad-agent", ns, image="nginx:0.0.0-nope"))
        create(k, workload("Deployment", "stuck", ns, nodeSelector={"disk": "none"}))
        create(k, workload("Deployment", "steady", ns))
        create(k, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "orphan", "namespace": ns},
                   "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80}]}})
        create(k, claim("data", ns, "instant"))
        create(k, claim("fast", ns, "fast-ssd"))
        yield w
    finally:
        if clients is not None:
            clients.close()
        cluster.stop()


@pytest.mark.parametrize(("check", "ok", "words"), [
    (Check(kind="deployment", target="shop/frontend", expect={"available": True}), True, "2/2 ready, 2 updated"),
    (Check(kind="deployment", target="extra/stuck", expect={"available": True}), False, "0/1 ready"),
    (Check(kind="deployment", target="shop/frontend", expect={"available": False}), False, "expected not to be"),
    (Check(kind="statefulset", target="extra/store", expect={"ready": True}), True, "1/1 ready"),
    (Check(kind="statefulset", target="extra/stuck-store", expect={"ready": True}), False, "0/1 ready"),
    (Check(kind="daemonset", target="extra/agent", expect={"ready": True}), True, "scheduled pods ready"),
    (Check(kind="daemonset", target="extra/bad-agent", expect={"ready": True}), False, "0/"),
    (Check(kind="pods", target="shop", expect={"selector": "app=frontend", "ready": "all"}), True, "2/2 ready"),
    (Check(kind="pods", target="shop", expect={"selector": "app=frontend", "ready": 2}), True, "2 ready"),
    (Check(kind="pods", target="shop", expect={"selector": "app=frontend", "ready": 3}), False, "want 3"),
    (Check(kind="pods", target="extra", expect={"selector": "app=stuck", "ready": "all"}), False, "0/1 ready"),
    (Check(kind="pods", target="extra", expect={"selector": "app=nobody", "ready": "all"}), False, "no pods match"),
    (Check(kind="service", target="shop/frontend", expect={"has_endpoints": True}), True, "2 ready endpoints"),
    (Check(kind="service", target="extra/orphan", expect={"has_endpoints": True}), False, "0 ready endpoints"),
    (Check(kind="pvc", target="extra/data", expect={"phase": "Bound"}), True, "Bound"),
    (Check(kind="pvc", target="extra/fast", expect={"phase": "Bound"}), False, "Pending (want Bound)"),
    (Check(kind="pvc", target="extra/fast", expect={"phase": "Pending"}), True, "Pending"),
    (Check(kind="no_pod_reason", target="ImagePullBackOff", expect={"namespace": "shop"}), True, "no pod shows"),
    (Check(kind="no_pod_reason", target="ImagePullBackOff", expect={"namespace": "extra"}), False, "bad-agent-"),
], ids=lambda v: v.kind + ":" + v.target + ":" + ",".join(f"{k}={x}" for k, x in v.expect.items())
    if isinstance(v, Check) else None)
def test_each_form_true_and_false(world: World, check: Check, ok: bool, words: str) -> None:
    result = eventually(check, world.ctx(), ok)
    assert result.ok is ok, result.detail
    assert not result.skipped
    assert words in result.detail
    assert "\n" not in result.detail


def test_pod_form(world: World) -> None:
    ctx = world.ctx()
    running = eventually(Check(kind="pods", target="extra", expect={"selector": "app=steady", "ready": "all"}), ctx, True)
    assert running.ok, running.detail
    steady = world.kube.list("pods", "extra", label_selector="app=steady")[0]["metadata"]["name"]
    stuck = world.kube.list("pods", "extra", label_selector="app=stuck")[0]["metadata"]["name"]
    yes = evaluate(Check(kind="pod", target=f"extra/{steady}", expect={"ready": True}), ctx)
    no = evaluate(Check(kind="pod", target=f"extra/{stuck}", expect={"ready": True}), ctx)
    assert yes.ok and "Running, ready" in yes.detail
    assert not no.ok and "Pending, not ready" in no.detail


def test_no_pod_reason_sees_the_leak_and_respects_since(world: World) -> None:
    check = Check(kind="no_pod_reason", target="OOMKilled", expect={"namespace": "shop", "since": "remediation"})
    seen = eventually(check, world.ctx(), False, timeout_s=60)
    assert not seen.ok and "OOMKilled" in seen.detail and "backend-" in seen.detail
    later = world.kube.cluster_now() + timedelta(hours=1)  # remediation "starts" after every kill so far
    after = evaluate(check, world.ctx(since=later))
    assert after.ok, after.detail
    assert "no pod shows OOMKilled since" in after.detail


def test_object_form_and_jsonpath(world: World) -> None:
    ctx = world.ctx()
    svc = "/v1/services/shop/frontend"
    assert evaluate(Check(kind="object", target=svc, expect={"jsonpath": "{.spec.selector.app}", "equals": "frontend"}),
                    ctx).ok
    wrong = evaluate(Check(kind="object", target=svc, expect={"jsonpath": "{.spec.selector.app}", "equals": "web"}), ctx)
    assert not wrong.ok and "= frontend (want web)" in wrong.detail
    avail = Check(kind="object", target="apps/v1/deployments/shop/frontend",
                  expect={"jsonpath": '{.status.conditions[?(@.type=="Available")].status}', "equals": "True"})
    assert eventually(avail, ctx, True).ok
    replicas = Check(kind="object", target="apps/v1/deployments/shop/frontend",
                     expect={"jsonpath": "{.spec.replicas}", "equals": 2})
    assert evaluate(replicas, ctx).ok
    node = evaluate(Check(kind="object", target="/v1/nodes/no-such-node",
                          expect={"jsonpath": "{.spec}", "equals": ""}), ctx)
    assert not node.ok and "NotFound" in node.detail
    bad = evaluate(Check(kind="object", target=svc, expect={"jsonpath": "{.spec[", "equals": 1}), ctx)
    assert not bad.ok and "JSONPath" in bad.detail


def test_unchanged(world: World) -> None:
    path = "apps/v1/deployments/extra/steady"
    check = Check(kind="unchanged", target=path)
    no_baseline = evaluate(check, world.ctx())
    assert no_baseline.skipped and not no_baseline.ok and "no baseline" in no_baseline.detail
    ctx = world.ctx()
    capture_baseline([check], ctx)
    assert ctx.baseline[path] == snapshot(path, ctx)
    assert evaluate(check, ctx).ok
    patch(world.kube, "deployments", "extra", "steady", {"spec": {"replicas": 2}}, "application/merge-patch+json")
    changed = evaluate(check, ctx)
    assert not changed.ok and ".replicas" in changed.detail


def test_metric_without_prometheus_is_skipped(world: World) -> None:
    result = evaluate(Check(kind="metric", target="up", expect={"below": 1}), world.ctx())
    assert result.skipped and not result.ok
    assert "no Prometheus" in result.detail


def test_metric_with_a_real_prometheus(world: World, prometheus_factory: Callable[[list[str]], str]) -> None:
    prom = PrometheusTool(prometheus_factory([world.cluster.metrics_url]), timeout_s=5.0)
    ctx = world.ctx(prometheus=prom)
    traffic = 'sum(rate(http_requests_total{namespace="shop",service="frontend"}[1m]))'
    flowing = eventually(Check(kind="metric", target=traffic, expect={"above": 0}), ctx, True, timeout_s=60)
    assert flowing.ok, flowing.detail
    low = evaluate(Check(kind="metric", target=traffic, expect={"below": 0}), ctx)
    assert not low.ok and "want < 0" in low.detail
    nothing = evaluate(Check(kind="metric", target='sum(rate(http_requests_total{service="nope"}[1m]))',
                             expect={"below": 0.5}), ctx)
    assert nothing.ok and "no data" in nothing.detail
    broken = evaluate(Check(kind="metric", target="sum(rate(", expect={"below": 1}), ctx)
    assert not broken.ok and not broken.skipped and "InvalidQuery" in broken.detail


def test_api_errors_are_results_not_exceptions(world: World, tmp_path: Path) -> None:
    world.cluster.add_user("nobody-token-0123456789", "nobody")
    config = tmp_path / "nobody.config"
    config.write_text(yaml.safe_dump(world.cluster.kubeconfig(token="nobody-token-0123456789", user="nobody")))
    nobody = KubeClients(KubeSettings(kubeconfig=config))
    try:
        forbidden = evaluate(Check(kind="deployment", target="shop/frontend"), CheckContext(nobody))
    finally:
        nobody.close()
    assert not forbidden.ok and "Forbidden" in forbidden.detail
    missing = evaluate(Check(kind="deployment", target="shop/nope"), world.ctx())
    assert not missing.ok and "NotFound" in missing.detail and "nope" in missing.detail
    elsewhere = evaluate(Check(kind="deployment", target="mars:shop/frontend"), world.ctx())
    assert not elsewhere.ok and "no kubeconfig context for cluster 'mars'" in elsewhere.detail


def test_malformed_checks_say_what_to_fix(world: World) -> None:
    ctx = world.ctx()
    no_selector = evaluate(Check(kind="pods", target="shop", expect={"ready": "all"}), ctx)
    assert not no_selector.ok and "needs 'selector'" in no_selector.detail
    unknown = evaluate(Check(kind="vibes", target="shop"), ctx)
    assert not unknown.ok and "allowed: deployment" in unknown.detail
    bad_target = evaluate(Check(kind="deployment", target="frontend"), ctx)
    assert not bad_target.ok and "NS/NAME" in bad_target.detail
    no_bound = evaluate(Check(kind="metric", target="up", expect={}),
                        world.ctx(prometheus=PrometheusTool("http://127.0.0.1:9")))
    assert not no_bound.ok and "below: X or above: X" in no_bound.detail


def test_check_from_scenario(world: World) -> None:
    scenario = load_scenario(LEAK)
    checks = [check_from_scenario(c) for c in scenario.expect.recovered]
    assert [c.kind for c in checks] == ["deployment", "deployment", "no_pod_reason", "metric"]
    assert checks[0].target == "shop/backend" and checks[0].expect == {"available": True}
    assert checks[2].target == "OOMKilled" and checks[2].expect["namespace"] == "shop"
    assert checks[3].expect["below"] == 0.5 and checks[3].target.startswith("sum(rate(http_requests_total")
    assert eventually(checks[1], world.ctx(), True).ok  # the frontend one, evaluated as converted
    raw = check_from_scenario({"object": "mgmt:gateway.networking.k8s.io/v1/httproutes/fleet/global-shop",
                               "jsonpath": "{.spec}", "equals": 0})
    assert raw.kind == "object" and raw.target.startswith("mgmt:") and raw.expect == {"jsonpath": "{.spec}", "equals": 0}
    with pytest.raises(InvalidInput, match="exactly one form key"):
        check_from_scenario({"deployment": "a/b", "pvc": "a/b"})


def test_fleet_prefix_and_jsonpath_filter(tmp_path: Path) -> None:
    fleet = SimFleet(("mgmt", "aws", "gcp"), speed=50.0, workers=1).setup().start()
    clients = KubeClients(KubeSettings(kubeconfig=fleet.write_kubeconfig(tmp_path / "config")))
    try:
        ctx = CheckContext(clients)
        route = "mgmt:gateway.networking.k8s.io/v1/httproutes/fleet/global-shop"
        aws_weight = Check(kind="object", target=route, expect={
            "jsonpath": '{.spec.rules[0].backendRefs[?(@.name=="shop-aws")].weight}', "equals": 0})
        before = evaluate(aws_weight, ctx)
        assert not before.ok and "= 1 (want 0)" in before.detail
        mgmt = clients.for_cluster("mgmt")
        rules = mgmt.get("httproutes.gateway.networking.k8s.io", "global-shop", "fleet")["spec"]["rules"]
        rules[0]["backendRefs"][0]["weight"] = 0
        assert rules[0]["backendRefs"][0]["name"] == "shop-aws"
        patch(mgmt, "httproutes.gateway.networking.k8s.io", "fleet", "global-shop", {"spec": {"rules": rules}},
              "application/merge-patch+json")
        after = evaluate(aws_weight, ctx)
        assert after.ok, after.detail
        gcp_only = Check(kind="object", target=route, expect={
            "jsonpath": '{.spec.rules[0].backendRefs[?(@.weight>0)].name}', "equals": "shop-gcp"})
        assert evaluate(gcp_only, ctx).ok
        # the prefix picks the cluster: the global route lives on mgmt only
        on_aws = evaluate(Check(kind="object", target=route.replace("mgmt:", "aws:"), expect={
            "jsonpath": "{.metadata.name}", "equals": "global-shop"}), ctx)
        assert not on_aws.ok and "NotFound" in on_aws.detail
        aws_ns = evaluate(Check(kind="object", target="aws:/v1/namespaces/kube-system",
                                expect={"jsonpath": "{.metadata.name}", "equals": "kube-system"}), ctx)
        assert aws_ns.ok, aws_ns.detail  # cluster-scoped path (4 segments)
        no_shop_on_mgmt = evaluate(Check(kind="service", target="mgmt:shop/frontend"), ctx)
        assert not no_shop_on_mgmt.ok and "NotFound" in no_shop_on_mgmt.detail
    finally:
        clients.close()
        fleet.stop()


ROUTE = {"spec": {"rules": [{"backendRefs": [{"name": "shop-aws", "weight": 0}, {"name": "shop-gcp", "weight": 50}]}]},
         "metadata": {"labels": {"app.kubernetes.io/name": "shop"}},
         "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Progressing", "status": "False"}]}}


@pytest.mark.parametrize(("expr", "values"), [
    ('{.spec.rules[0].backendRefs[?(@.name=="shop-aws")].weight}', [0]),
    ("{.spec.rules[0].backendRefs[?(@.weight>10)].name}", ["shop-gcp"]),
    ("{.spec.rules[0].backendRefs[?(@.weight)].name}", ["shop-aws", "shop-gcp"]),
    ("{.metadata.labels['app.kubernetes.io/name']}", ["shop"]),
    ("{.metadata.labels.app\\.kubernetes\\.io/name}", ["shop"]),
    ("{.spec.rules[*].backendRefs[-1].name}", ["shop-gcp"]),
    ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
    ("{.status.conditions[0:1].type}", ["Ready"]),
    ("{..weight}", [0, 50]),
    ("{.spec.missing.field}", []),
    ("{.spec.rules[5]}", []),
])
def test_jsonpath_subset(expr: str, values: list[Any]) -> None:
    from prophet_sre.tools import jsonpath

    assert jsonpath.find(expr, ROUTE) == values


@pytest.mark.parametrize("expr", ["{.spec[}", "spec.rules", "{.a[?(@.x=foo)]}", "{.a[?(x==1)]}", "", "{.a[abc]}"])
def test_jsonpath_errors_say_where(expr: str) -> None:
    from prophet_sre.tools import jsonpath

    with pytest.raises(InvalidInput, match="JSONPath"):
        jsonpath.find(expr, ROUTE)
