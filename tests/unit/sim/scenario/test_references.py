"""References and setup manifests: every name in a scenario must resolve, every document must be admissible.

Covers: targets, check subjects, traffic ends, root causes and action targets that setup does not
create (the message lists what would be valid); built-in objects (nodes, CoreDNS, system namespaces)
are fine; kinds resolved like kubectl (`deploy`), scope mismatches, unknown clusters; images unknown to
the catalog; setup problems with the document index (bad YAML, unknown kind, admission refusal,
strict unknown fields, missing namespace, duplicates, unreadable file); CRDs in setup make their
kinds usable; refs and durations in their string forms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from prophet_sre.sim.scenario import validate_file
from prophet_sre.sim.scenario.refs import ApiPath, Namespace, NsName, Ref, format_duration, parse_duration

Doc = dict[str, Any]


def _problems(write: Callable[..., Any], doc: Doc, **kw: Any) -> dict[str, str]:
    return {p.path: str(p) for p in validate_file(write(doc, **kw))}


def test_base_document_is_valid(write: Callable[..., Any], doc: Doc) -> None:
    assert validate_file(write(doc)) == []


@pytest.mark.parametrize(("field", "value", "path", "words"), [
    ("fault target", ("faults", [{"at": 0, "rollout": {"target": "shop/deployment/backnd", "image": "nginx:1.27"}}]),
     "faults[0].rollout.target", ["Deployment shop/backnd", "not created by setup",
                                  "known deployments: kube-system/coredns, shop/backend, shop/frontend"]),
    ("node", ("faults", [{"at": 0, "node_down": {"node": "worker-7"}}]), "faults[0].node_down.node",
     ["Node worker-7", "known nodes: control-plane, worker-1, worker-2"]),
    ("unknown kind", ("faults", [{"at": 0, "delete": {"target": "shop/deploymnet/backend"}}]),
     "faults[0].delete.target", ["unknown kind 'deploymnet'"]),
    ("namespaced without namespace", ("faults", [{"at": 0, "delete": {"target": "/configmap/settings"}}]),
     "faults[0].delete.target", ["ConfigMap is namespaced", "NS/configmap/settings"]),
    ("cluster-scoped with namespace", ("faults", [{"at": 0, "delete": {"target": "shop/node/worker-1"}}]),
     "faults[0].delete.target", ["Node is cluster-scoped", "/node/worker-1"]),
    ("unknown cluster", ("faults", [{"at": 0, "delete": {"target": "aws:shop/configmap/settings"}}]),
     "faults[0].delete.target", ["cluster 'aws'", "allowed: main"]),
    ("fault cluster field", ("faults", [{"at": 0, "cluster": "gcp", "latency": {"target": "shop/deploy/backend",
                                                                                  "ms": 5}}]),
     "faults[0].cluster", ["cluster 'gcp'", "allowed: main"]),
    ("cluster_degraded", ("faults", [{"at": 0, "cluster_degraded": {"cluster": "aws"}}]),
     "faults[0].cluster_degraded.cluster", ["cluster 'aws'"]),
    ("secret", ("faults", [{"at": 0, "secret_remove": {"target": "shop/secret/cred"}}]),
     "faults[0].secret_remove.target", ["Secret shop/cred", "known secrets: shop/creds"]),
    ("image not in catalog", ("faults", [{"at": 0, "rollout": {"target": "shop/deployment/backend",
                                                               "image": "shop/backend:9.9"}}]),
     "faults[0].rollout.image", ["shop/backend:9.9", "neither in the built-in catalog nor in this scenario's images",
                                 "shop/backend:2.3"]),
    ("image_missing unknown image", ("faults", [{"at": 0, "image_missing": {"image": "ngnix:1.27"}}]),
     "faults[0].image_missing.image", ["ngnix:1.27"]),
    ("traffic end", ("traffic", [{"from": "shop/frontend", "to": "shop/db", "rps": 1}]), "traffic[0].to",
     ["no Service or workload shop/db"]),
    ("traffic end of a kind", ("traffic", [{"from": "shop/frontend", "to": "shop/service/frontend", "rps": 1}]),
     "traffic[0].to", ["no service shop/frontend"]),
])
def test_a_reference_to_something_that_will_not_exist_is_an_error(write: Callable[..., Any], doc: Doc, field: str,
                                                                   value: tuple[str, Any], path: str,
                                                                   words: list[str]) -> None:
    doc[value[0]] = value[1]
    problems = _problems(write, doc)
    assert path in problems, problems
    for w in words:
        assert w in problems[path], problems[path]


@pytest.mark.parametrize(("check", "path", "words"), [
    ({"deployment": "shop/backnd"}, "expect.recovered[0].deployment", ["Deployment shop/backnd", "shop/backend"]),
    ({"statefulset": "shop/db", "ready": True}, "expect.recovered[0].statefulset",
     ["StatefulSet shop/db", "neither setup nor the cluster has any statefulsets"]),
    ({"pod": "shop/backend-0"}, "expect.recovered[0].pod", ["Pod shop/backend-0"]),
    ({"service": "shop/frontend", "has_endpoints": True}, "expect.recovered[0].service",
     ["Service shop/frontend", "known services", "shop/backend"]),
    ({"pvc": "shop/data", "phase": "Bound"}, "expect.recovered[0].pvc", ["PersistentVolumeClaim shop/data"]),
    ({"pods": "shopp", "selector": "app=x", "ready": 1}, "expect.recovered[0].pods",
     ["namespace 'shopp'", "known namespaces", "shop"]),
    ({"no_pod_reason": "OOMKilled", "namespace": "prod"}, "expect.recovered[0].namespace", ["namespace 'prod'"]),
    ({"object": "apps/v1/deployments/shop/db", "jsonpath": "{.spec.replicas}", "equals": 1},
     "expect.recovered[0].object", ["Deployment shop/db"]),
    ({"unchanged": "apps/v1/deploymentz/shop/backend"}, "expect.recovered[0].unchanged",
     ["no resource apps/v1/deploymentz"]),
    ({"unchanged": "/v1/nodes/shop/worker-1"}, "expect.recovered[0].unchanged", ["cluster-scoped"]),
    ({"deployment": "gcp:shop/backend"}, "expect.recovered[0].deployment", ["cluster 'gcp'"]),
])
def test_check_subjects_must_exist(write: Callable[..., Any], doc: Doc, check: Doc, path: str,
                                   words: list[str]) -> None:
    doc["expect"]["recovered"] = [check]
    problems = _problems(write, doc)
    assert path in problems, problems
    for w in words:
        assert w in problems[path], problems[path]


def test_root_cause_and_action_targets_must_exist(write: Callable[..., Any], doc: Doc) -> None:
    doc["expect"]["diagnosis"]["root_cause"] = "shop/deployment/db"
    doc["expect"]["actions"]["any_of"] = [{"type": "rollback", "target": "shop/deployment/backed"}]
    problems = _problems(write, doc)
    assert "Deployment shop/db" in problems["expect.diagnosis.root_cause"]
    assert "Deployment shop/backed" in problems["expect.actions.any_of[0].target"]


def test_built_in_objects_are_valid_targets(write: Callable[..., Any], doc: Doc) -> None:
    doc["faults"] = [
        {"at": 0, "node_down": {"node": "worker-2"}, "duration": "1m"},
        {"at": 0, "node_pressure": {"node": "/node/control-plane", "type": "disk"}},
        {"at": "1m", "dns_failure": {"target": "kube-system/deploy/coredns", "rcode": "NXDOMAIN"}},
        {"at": "2m", "delete": {"target": "kube-system/service/kube-dns"}},
        {"at": "2m", "image_missing": {"image": "nginx:1.27"}},
    ]
    doc["expect"]["recovered"] = [{"unchanged": "/v1/nodes/worker-1"}, {"pods": "kube-system",
                                                                        "selector": "k8s-app=kube-dns", "ready": 2}]
    assert validate_file(write(doc)) == []


SETUP_CASES = [
    ("not YAML", "a: [", ["manifests/bad.yaml is not valid YAML"]),
    ("not a mapping", "- 1\n", ["document 0: expected a Kubernetes object"]),
    ("no kind", "apiVersion: v1\nmetadata: {name: x}\n", ["document 0: apiVersion and kind are required"]),
    ("unknown kind", "apiVersion: v1\nkind: Widget\nmetadata: {name: x, namespace: shop}\n",
     ["document 0", "no kind 'Widget' in version 'v1'"]),
    ("admission refuses", "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, namespace: shop}\n---\n"
     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
     "spec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: other}}\n"
     "    spec: {containers: [{name: web, image: nginx}]}\n",
     ["document 1 (Deployment shop/web)", "`selector` does not match template `labels`"]),
    ("strict unknown field", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: shop}\ndat: {a: b}\n",
     ["document 0 (ConfigMap shop/x)", 'unknown field "dat"']),
    ("namespace missing", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: prod}\n",
     ["namespace 'prod' is neither created by setup nor present"]),
    ("defined twice", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: shop}\n",
     ["ConfigMap shop/settings", "defined twice"]),
    ("already built in", "apiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n",
     ["Namespace kube-system", "already exists in cluster 'main'"]),
]


@pytest.mark.parametrize(("text", "words"), [c[1:] for c in SETUP_CASES], ids=[c[0] for c in SETUP_CASES])
def test_setup_manifest_problems_name_the_document(write: Callable[..., Any], doc: Doc, text: str,
                                                   words: list[str]) -> None:
    doc["setup"].append({"file": "manifests/bad.yaml"})
    problems = _problems(write, doc, manifests={"bad.yaml": text})
    assert "setup[1].file" in problems, problems
    for w in words:
        assert w in problems["setup[1].file"], problems["setup[1].file"]


def test_unreadable_manifest_and_inline_documents(write: Callable[..., Any], doc: Doc) -> None:
    doc["setup"] += [{"file": "manifests/missing.yaml"},
                     {"inline": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: nope}\n"}]
    problems = _problems(write, doc)
    assert "cannot read manifests/missing.yaml" in problems["setup[1].file"]
    assert "inline document 0 (ConfigMap nope/x)" in problems["setup[2].inline"]


def test_crds_in_setup_make_their_kinds_available(write: Callable[..., Any], doc: Doc) -> None:
    crd = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
    widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: shop}\nspec: {size: 3}\n"
    doc["setup"] = [{"inline": widget}, {"file": "manifests/shop.yaml"}, {"inline": crd}]
    doc["faults"].append({"at": "1m", "patch": {"target": "shop/wd/w1", "patch": {"spec": {"size": 0}},
                                                "type": "merge"}})
    doc["expect"]["recovered"].append({"object": "example.com/v1/widgets/shop/w1", "jsonpath": "{.spec.size}",
                                       "equals": 3})
    assert validate_file(write(doc)) == []


def test_setup_clusters_must_be_scenario_clusters(write: Callable[..., Any], doc: Doc) -> None:
    doc["setup"][0]["clusters"] = ["aws"]
    problems = _problems(write, doc)
    assert "cluster 'aws' is not in clusters; allowed: main" in problems["setup[0].clusters"]


def test_references_across_a_fleet(write: Callable[..., Any], doc: Doc) -> None:
    doc["clusters"] = ["mgmt", "aws"]
    doc["setup"][0]["clusters"] = ["aws"]
    doc["traffic"] = [{"from": "aws:shop/frontend", "to": "aws:shop/backend", "rps": 5}]
    doc["faults"] = [{"at": "10s", "cluster_degraded": {"cluster": "aws"}},
                     {"at": "20s", "latency": {"target": "aws:shop/deployment/backend", "ms": 100}}]
    doc["expect"]["diagnosis"]["root_cause"] = "mgmt:fleet/cluster/aws"
    doc["expect"]["actions"]["any_of"] = [{"type": "failover", "target": "mgmt:fleet/httproute/global-shop"}]
    doc["expect"]["recovered"] = [{"deployment": "aws:shop/backend"}]
    assert validate_file(write(doc)) == []
    doc["expect"]["recovered"] = [{"deployment": "shop/backend"}]  # the default cluster is mgmt
    problems = _problems(write, doc)
    assert "does not exist in cluster 'mgmt'" in problems["expect.recovered[0].deployment"]


def test_ref_forms() -> None:
    assert Ref.parse("shop/deployment/web") == Ref("", "shop", "deployment", "web")
    assert Ref.parse("aws:shop/Deployment/web") == Ref("aws", "shop", "deployment", "web")
    assert Ref.parse("/node/worker-2") == Ref("", "", "node", "worker-2") and Ref.parse("/node/worker-2").cluster_scoped
    assert str(Ref.parse("aws:/node/worker-2")) == "aws:/node/worker-2"
    assert Ref.parse("mgmt:fleet/clusters.cluster.x-k8s.io/aws").kind == "clusters.cluster.x-k8s.io"
    for bad in ("shop/web", "a/b/c/d", "shop/deployment/Web", "Shop/deployment/web", "bad_cluster:a/b/c"):
        with pytest.raises(ValueError):
            Ref.parse(bad)
    assert NsName.parse("gcp:shop/web") == NsName("gcp", "shop", "web")
    assert Namespace.parse("shop") == Namespace("", "shop")
    assert ApiPath.parse("/v1/pods/shop/web") == ApiPath("", "", "v1", "pods", "shop", "web")
    assert ApiPath.parse("/v1/nodes/worker-1").namespace == ""
    assert str(ApiPath.parse("mgmt:cluster.x-k8s.io/v1beta2/clusters/fleet/aws")) == \
        "mgmt:cluster.x-k8s.io/v1beta2/clusters/fleet/aws"
    with pytest.raises(ValueError):
        ApiPath.parse("apps/deployments/shop/web")


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("2m", 120), ("1m30s", 90), ("500ms", 0.5),
                                               ("1h", 3600), (45, 45), (1.5, 1.5), ("0s", 0)])
def test_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["30", "30 s", "-1s", "s", "", True, -3, [1]])
def test_bad_durations(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 0.5, 30, 90, 120)] == ["0s", "500ms", "30s", "1m30s", "2m"]
