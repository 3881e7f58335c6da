"""Real kubectl against the simulator: `apply` (multi-document, re-apply, pruning of removed fields),
`create`, `expose`, `patch` (json, merge, strategic), `label` and `annotate`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubectl_support import (
    apply,
    deployment,
    get_json,
    namespace,
    wait_for,
    wait_ready,
    wait_rolled_out,
)

NS = "kt-apply"
APP_NS = "kt-apply-app"  # created by the multi-document manifest itself


def app_manifest(*, replicas: int = 2, greeting: str = "hello", extra_data: str = "  extra: \"1\"\n",
                 image: str = "nginx:1.27") -> str:
    return f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: {APP_NS}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  namespace: {APP_NS}
data:
  greeting: {greeting}
{extra_data}---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: {APP_NS}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: app}}
  template:
    metadata:
      labels: {{app: app}}
    spec:
      containers:
      - name: app
        image: {image}
        envFrom:
        - configMapRef: {{name: app-config}}
---
apiVersion: v1
kind: Service
metadata:
  name: app
  namespace: {APP_NS}
spec:
  selector: {{app: app}}
  ports:
  - port: 80
    targetPort: 80
"""


@pytest.fixture(scope="module")
def ns(kubectl: Any) -> Iterator[str]:
    with namespace(kubectl, NS) as name:
        yield name
    kubectl.run("delete", "namespace", APP_NS, "--wait=false", "--ignore-not-found", check=False)


# --- apply -----------------------------------------------------------------------------------------------
def test_apply_multi_document_then_reapply(kubectl: Any, ns: str) -> None:
    out = apply(kubectl, app_manifest())
    assert out.splitlines() == [
        f"namespace/{APP_NS} created",
        "configmap/app-config created",
        "deployment.apps/app created",
        "service/app created",
    ]
    wait_rolled_out(kubectl, APP_NS, "app")
    wait_ready(kubectl, APP_NS, "app=app", 2)
    cm = get_json(kubectl, "configmap", "app-config", "-n", APP_NS)
    assert cm["data"] == {"greeting": "hello", "extra": "1"}
    last = json.loads(cm["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["data"] == {"greeting": "hello", "extra": "1"}
    svc = get_json(kubectl, "service", "app", "-n", APP_NS)
    assert svc["spec"]["clusterIP"] and svc["spec"]["ports"][0]["protocol"] == "TCP"

    # the same manifest again changes nothing
    rv_before = kubectl("get", "deploy", "app", "-n", APP_NS, "-o", "jsonpath={.metadata.resourceVersion}")
    out = apply(kubectl, app_manifest())
    assert out.splitlines() == [
        f"namespace/{APP_NS} unchanged",
        "configmap/app-config unchanged",
        "deployment.apps/app unchanged",
        "service/app unchanged",
    ]
    assert kubectl("get", "deploy", "app", "-n", APP_NS, "-o", "jsonpath={.metadata.resourceVersion}") == rv_before

    # a changed manifest: a new value, a dropped key (pruned via last-applied), more replicas
    out = apply(kubectl, app_manifest(replicas=3, greeting="bonjour", extra_data=""))
    assert out.splitlines() == [
        f"namespace/{APP_NS} unchanged",
        "configmap/app-config configured",
        "deployment.apps/app configured",
        "service/app unchanged",
    ]
    assert get_json(kubectl, "configmap", "app-config", "-n", APP_NS)["data"] == {"greeting": "bonjour"}
    wait_ready(kubectl, APP_NS, "app=app", 3)
    d = get_json(kubectl, "deploy", "app", "-n", APP_NS)
    assert d["spec"]["replicas"] == 3 and d["metadata"]["generation"] == 2
    # scaling is not a new revision
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"


def test_apply_keeps_fields_set_by_others(kubectl: Any, ns: str) -> None:
    """Three-way merge: a label added with `kubectl label` survives re-applying a manifest without it."""
    manifest = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: merge3\n  namespace: {ns}\ndata:\n  a: \"1\"\n"
    apply(kubectl, manifest)
    kubectl("label", "configmap", "merge3", "-n", ns, "owner=ops")
    assert apply(kubectl, manifest.replace('a: "1"', 'a: "2"')).strip() == "configmap/merge3 configured"
    cm = get_json(kubectl, "configmap", "merge3", "-n", ns)
    assert cm["metadata"]["labels"] == {"owner": "ops"} and cm["data"] == {"a": "2"}


def test_apply_server_side(kubectl: Any, ns: str) -> None:
    manifest = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: {ns}\ndata:\n  k: v\n"
    assert apply(kubectl, manifest, "--server-side").strip() == "configmap/ssa serverside-applied"
    cm = get_json(kubectl, "configmap", "ssa", "-n", ns)
    assert cm["data"] == {"k": "v"}
    assert "managedFields" not in cm["metadata"]  # kubectl hides them unless asked
    cm = get_json(kubectl, "configmap", "ssa", "-n", ns, "--show-managed-fields")
    managers = {(m["manager"], m["operation"]) for m in cm["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (cm["metadata"].get("annotations") or {})
    rv = cm["metadata"]["resourceVersion"]
    assert apply(kubectl, manifest, "--server-side").strip() == "configmap/ssa serverside-applied"
    assert kubectl("get", "cm", "ssa", "-n", ns, "-o", "jsonpath={.metadata.resourceVersion}") == rv  # a no-op


# --- create / expose -------------------------------------------------------------------------------------
def test_create_deployment(kubectl: Any, ns: str) -> None:
    proc = kubectl.run("create", "deployment", "made", "-n", ns, "--image=nginx:1.27", "--replicas=2", "--port=80",
                       check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "deployment.apps/made created"
    wait_ready(kubectl, ns, "app=made", 2)
    d = get_json(kubectl, "deploy", "made", "-n", ns)
    assert d["spec"]["selector"] == {"matchLabels": {"app": "made"}}
    assert d["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_expose_deployment(kubectl: Any, ns: str) -> None:
    apply(kubectl, deployment("exp", ns, replicas=2))
    pods = wait_ready(kubectl, ns, "app=exp", 2)
    out = kubectl("expose", "deployment", "exp", "-n", ns, "--port=8080", "--target-port=80", "--name=exp-svc")
    assert out.strip() == "service/exp-svc exposed"
    svc = get_json(kubectl, "svc", "exp-svc", "-n", ns)
    assert svc["spec"]["selector"] == {"app": "exp"}
    assert svc["spec"]["ports"] == [{"port": 8080, "protocol": "TCP", "targetPort": 80}]
    assert svc["spec"]["type"] == "ClusterIP"
    want = sorted(f"{p['status']['podIP']}:80" for p in pods)

    def endpoints() -> list[str]:
        out = kubectl("get", "endpoints", "exp-svc", "-n", ns, "-o",
                      r'jsonpath={range .subsets[*].addresses[*]}{.ip}:80{"\n"}{end}')
        return sorted(out.split())

    assert wait_for(lambda: endpoints() == want and want, what="endpoints of exp-svc")


# --- patch -----------------------------------------------------------------------------------------------
@pytest.fixture()
def patched(kubectl: Any, ns: str, request: pytest.FixtureRequest) -> str:
    name = "p-" + request.node.name.removeprefix("test_patch_").replace("_", "-")[:30]
    apply(kubectl, deployment(name, ns, replicas=1, image="nginx:1.27"))
    wait_rolled_out(kubectl, ns, name)
    return name


def test_patch_strategic_adds_sidecar(kubectl: Any, ns: str, patched: str) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}}}}
    out = kubectl("patch", "deployment", patched, "-n", ns, "--type=strategic", "-p", json.dumps(patch))
    assert out.strip() == f"deployment.apps/{patched} patched"
    d = get_json(kubectl, "deploy", patched, "-n", ns)
    containers = {c["name"]: c for c in d["spec"]["template"]["spec"]["containers"]}
    assert set(containers) == {patched, "sidecar"}  # merged by name, not replaced
    assert containers[patched]["image"] == "nginx:1.27" and containers[patched]["ports"][0]["containerPort"] == 80
    assert containers["sidecar"]["command"] == ["sleep", "3600"]
    # the rollout brings pods with both containers
    wait_rolled_out(kubectl, ns, patched)
    (pod,) = wait_ready(kubectl, ns, f"app={patched}", 1)
    assert sorted(c["name"] for c in pod["spec"]["containers"]) == sorted([patched, "sidecar"])
    assert sorted(s["name"] for s in pod["status"]["containerStatuses"] if s["ready"]) == sorted([patched, "sidecar"])

    # strategic patch of an existing element by its merge key changes only that element
    kubectl("patch", "deployment", patched, "-n", ns, "-p",
            json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox:1.37"}]}}}}))
    d = get_json(kubectl, "deploy", patched, "-n", ns)
    images = {c["name"]: c["image"] for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {patched: "nginx:1.27", "sidecar": "busybox:1.37"}
    # and $patch: delete removes it again
    kubectl("patch", "deployment", patched, "-n", ns, "--type=strategic", "-p", json.dumps(
        {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}))
    d = get_json(kubectl, "deploy", patched, "-n", ns)
    assert [c["name"] for c in d["spec"]["template"]["spec"]["containers"]] == [patched]


def test_patch_merge_replaces_lists_and_deletes_with_null(kubectl: Any, ns: str, patched: str) -> None:
    kubectl("patch", "deployment", patched, "-n", ns, "--type=merge", "-p",
            json.dumps({"metadata": {"labels": {"tier": "web", "team": "a"}}}))
    assert get_json(kubectl, "deploy", patched, "-n", ns)["metadata"]["labels"] == {
        "app": patched, "tier": "web", "team": "a"}
    kubectl("patch", "deployment", patched, "-n", ns, "--type=merge", "-p",
            json.dumps({"metadata": {"labels": {"team": None}}}))
    assert get_json(kubectl, "deploy", patched, "-n", ns)["metadata"]["labels"] == {"app": patched, "tier": "web"}
    # a JSON merge patch replaces a list wholesale
    kubectl("patch", "deployment", patched, "-n", ns, "--type=merge", "-p", json.dumps(
        {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "redis:7"}]}}}}))
    d = get_json(kubectl, "deploy", patched, "-n", ns)
    assert [(c["name"], c["image"]) for c in d["spec"]["template"]["spec"]["containers"]] == [("only", "redis:7")]
    assert "ports" not in d["spec"]["template"]["spec"]["containers"][0]


def test_patch_json(kubectl: Any, ns: str, patched: str) -> None:
    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/annotations/example.com~1owner", "value": "team-b"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.28"},
    ]
    out = kubectl("patch", "deployment", patched, "-n", ns, "--type=json", "-p", json.dumps(ops))
    assert out.strip() == f"deployment.apps/{patched} patched"
    d = get_json(kubectl, "deploy", patched, "-n", ns)
    assert d["spec"]["replicas"] == 3
    assert d["metadata"]["annotations"]["example.com/owner"] == "team-b"
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    wait_rolled_out(kubectl, ns, patched)
    pods = wait_ready(kubectl, ns, f"app={patched}", 3)
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.28"}
    # a test op that fails rejects the whole patch
    proc = kubectl.run("patch", "deployment", patched, "-n", ns, "--type=json", "-p",
                       json.dumps([{"op": "test", "path": "/spec/replicas", "value": 9},
                                   {"op": "replace", "path": "/spec/replicas", "value": 1}]), check=False)
    assert proc.returncode != 0
    assert get_json(kubectl, "deploy", patched, "-n", ns)["spec"]["replicas"] == 3


def test_patch_no_change(kubectl: Any, ns: str, patched: str) -> None:
    """A patch that changes nothing is not written: same resourceVersion, and kubectl says so."""
    rv = kubectl("get", "deploy", patched, "-n", ns, "-o", "jsonpath={.metadata.resourceVersion}")
    out = kubectl("patch", "deployment", patched, "-n", ns, "--type=merge", "-p", '{"spec":{"replicas":1}}')
    assert out.strip() == f"deployment.apps/{patched} patched (no change)"
    assert kubectl("get", "deploy", patched, "-n", ns, "-o", "jsonpath={.metadata.resourceVersion}") == rv


# --- label / annotate ------------------------------------------------------------------------------------
@pytest.fixture()
def cm(kubectl: Any, ns: str, request: pytest.FixtureRequest) -> str:
    name = "cm-" + request.node.name.removeprefix("test_").replace("_", "-")[:30]
    apply(kubectl, f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata: {{}}\n")
    return name


def meta_of(kubectl: Any, ns: str, name: str) -> dict[str, Any]:
    return get_json(kubectl, "configmap", name, "-n", ns)["metadata"]


def test_label_overwrite_and_remove(kubectl: Any, ns: str, cm: str) -> None:
    assert kubectl("label", "configmap", cm, "-n", ns, "tier=fe", "team=a").strip() == f"configmap/{cm} labeled"
    assert meta_of(kubectl, ns, cm)["labels"] == {"tier": "fe", "team": "a"}
    proc = kubectl.run("label", "configmap", cm, "-n", ns, "tier=be", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: 'tier' already has a value (fe), and --overwrite is false"
    kubectl("label", "configmap", cm, "-n", ns, "tier=be", "--overwrite")
    assert meta_of(kubectl, ns, cm)["labels"] == {"tier": "be", "team": "a"}
    assert kubectl("label", "configmap", cm, "-n", ns, "team-").strip() == f"configmap/{cm} unlabeled"
    assert meta_of(kubectl, ns, cm)["labels"] == {"tier": "be"}
    kubectl("label", "configmap", cm, "-n", ns, "tier-")
    assert "labels" not in meta_of(kubectl, ns, cm)  # an empty map is omitted, as from a real server
    assert kubectl("get", "configmap", "-n", ns, "-l", "tier", "-o", "name").strip() == ""


def test_label_many_by_selector(kubectl: Any, ns: str) -> None:
    for i in range(3):
        apply(kubectl, f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sel-{i}\n  namespace: {ns}\n"
                       f"  labels: {{group: g{i % 2}}}\n")
    out = kubectl("label", "configmap", "-n", ns, "-l", "group=g0", "picked=yes")
    assert sorted(out.splitlines()) == ["configmap/sel-0 labeled", "configmap/sel-2 labeled"]
    assert kubectl("get", "cm", "-n", ns, "-l", "picked=yes", "-o", "name").split() == [
        "configmap/sel-0", "configmap/sel-2"]


def test_annotate_overwrite_and_remove(kubectl: Any, ns: str, cm: str) -> None:
    out = kubectl("annotate", "configmap", cm, "-n", ns, "owner=team-a", "example.com/ticket=OPS-1")
    assert out.strip() == f"configmap/{cm} annotated"
    ann = meta_of(kubectl, ns, cm)["annotations"]
    assert ann["owner"] == "team-a" and ann["example.com/ticket"] == "OPS-1"
    proc = kubectl.run("annotate", "configmap", cm, "-n", ns, "owner=team-b", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("error: --overwrite is false but found the following declared annotation(s): "
                                   "'owner' already has a value (team-a)")
    kubectl("annotate", "configmap", cm, "-n", ns, "owner=team-b", "--overwrite")
    assert meta_of(kubectl, ns, cm)["annotations"]["owner"] == "team-b"
    kubectl("annotate", "configmap", cm, "-n", ns, "owner-", "example.com/ticket-")
    ann = meta_of(kubectl, ns, cm).get("annotations") or {}
    assert "owner" not in ann and "example.com/ticket" not in ann
    assert set(ann) <= {"kubectl.kubernetes.io/last-applied-configuration"}
