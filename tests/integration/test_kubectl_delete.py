"""Real kubectl against the simulator: `delete` with `--cascade=background|foreground|orphan`, finalizers,
and deleting a namespace with content."""

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
    pods,
    wait_for,
    wait_ready,
    wait_rolled_out,
)

NS = "kt-delete"
HOLD = "example.com/hold"


@pytest.fixture(scope="module")
def ns(kubectl: Any) -> Iterator[str]:
    with namespace(kubectl, NS) as name:
        yield name


def replicasets(kubectl: Any, ns: str, app: str) -> list[dict[str, Any]]:
    return get_json(kubectl, "rs", "-n", ns, "-l", f"app={app}")["items"]


def exists(kubectl: Any, *args: str) -> bool:
    proc = kubectl.run("get", *args, "-o", "name", check=False)
    if proc.returncode != 0:
        assert "NotFound" in proc.stderr, proc.stderr
        return False
    return True


def test_delete_background(kubectl: Any, ns: str) -> None:
    apply(kubectl, deployment("bg", ns, replicas=2))
    wait_ready(kubectl, ns, "app=bg", 2)
    out = kubectl("delete", "deployment", "bg", "-n", ns, "--cascade=background")
    assert out.strip() == f'deployment.apps "bg" deleted from {ns} namespace'
    assert not exists(kubectl, "deployment", "bg", "-n", ns)
    # the garbage collector removes the dependents afterwards
    wait_for(lambda: not replicasets(kubectl, ns, "bg") and not pods(kubectl, ns, "app=bg"), what="bg dependents gone")


def test_delete_foreground_waits_for_dependents(kubectl: Any, ns: str) -> None:
    """Foreground: the owner stays (with `foregroundDeletion`) until its blocking dependents are gone -
    here held back by a finalizer on the pods."""
    apply(kubectl, deployment("fg", ns, replicas=2, extra_template_meta=f"\n      finalizers: [{HOLD}]"))
    held = wait_ready(kubectl, ns, "app=fg", 2)
    assert all(p["metadata"]["finalizers"] == [HOLD] for p in held)
    out = kubectl("delete", "deployment", "fg", "-n", ns, "--cascade=foreground", "--wait=false")
    assert out.strip() == f'deployment.apps "fg" deleted from {ns} namespace'

    def terminating() -> bool:
        items = pods(kubectl, ns, "app=fg")
        return len(items) == 2 and all(p["metadata"].get("deletionGracePeriodSeconds") == 0 for p in items)

    wait_for(terminating, what="pods killed but held by their finalizer")
    d = get_json(kubectl, "deployment", "fg", "-n", ns)
    assert d["metadata"]["deletionTimestamp"] and d["metadata"]["finalizers"] == ["foregroundDeletion"]
    (rs,) = replicasets(kubectl, ns, "fg")
    assert rs["metadata"]["deletionTimestamp"] and rs["metadata"]["finalizers"] == ["foregroundDeletion"]
    rows = kubectl("get", "pods", "-n", ns, "-l", "app=fg", "--no-headers").splitlines()
    assert len(rows) == 2 and all(r.split()[2] == "Terminating" for r in rows)

    # releasing the pods lets the whole chain go: pods, then the ReplicaSet, then the Deployment
    for p in held:
        kubectl("patch", "pod", p["metadata"]["name"], "-n", ns, "--type=json",
                "-p", json.dumps([{"op": "remove", "path": "/metadata/finalizers"}]))
    kubectl("wait", "--for=delete", "deployment/fg", "-n", ns, "--timeout=20s")
    assert not replicasets(kubectl, ns, "fg") and not pods(kubectl, ns, "app=fg")


def test_delete_foreground_blocking(kubectl: Any, ns: str) -> None:
    """Without --wait=false kubectl returns once the owner is gone - and then so are its dependents."""
    apply(kubectl, deployment("fgw", ns, replicas=2))
    wait_ready(kubectl, ns, "app=fgw", 2)
    kubectl("delete", "deployment", "fgw", "-n", ns, "--cascade=foreground", "--timeout=30s")
    assert not replicasets(kubectl, ns, "fgw")
    assert not pods(kubectl, ns, "app=fgw")


def test_delete_orphan(kubectl: Any, ns: str) -> None:
    apply(kubectl, deployment("orph", ns, replicas=2))
    wait_rolled_out(kubectl, ns, "orph")
    before = {p["metadata"]["name"] for p in wait_ready(kubectl, ns, "app=orph", 2)}
    kubectl("delete", "deployment", "orph", "-n", ns, "--cascade=orphan")
    assert not exists(kubectl, "deployment", "orph", "-n", ns)
    # the ReplicaSet stays, without its owner reference; the pods still belong to the ReplicaSet
    (rs,) = wait_for(lambda: [r for r in replicasets(kubectl, ns, "orph") if not r["metadata"].get("ownerReferences")],
                     what="orphaned ReplicaSet")
    assert "ownerReferences" not in rs["metadata"] and "finalizers" not in rs["metadata"]
    assert all(p["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]
               for p in pods(kubectl, ns, "app=orph"))

    # orphaning the ReplicaSet leaves bare pods: running, and with no ownerReferences at all
    kubectl("delete", "rs", rs["metadata"]["name"], "-n", ns, "--cascade=orphan")
    assert not replicasets(kubectl, ns, "orph")
    bare = wait_for(lambda: [p for p in pods(kubectl, ns, "app=orph") if "ownerReferences" not in p["metadata"]],
                    what="orphaned pods")
    assert len(bare) == 2 and {p["metadata"]["name"] for p in bare} == before
    assert all(p["status"]["phase"] == "Running" and not p["metadata"].get("deletionTimestamp") for p in bare)
    kubectl("delete", "pods", "-n", ns, "-l", "app=orph", "--wait=false")


def test_finalizer_holds_object(kubectl: Any, ns: str) -> None:
    apply(kubectl, f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: {ns}\n"
                   f"  finalizers: [{HOLD}]\ndata: {{k: v}}\n")
    out = kubectl("delete", "configmap", "held", "-n", ns, "--wait=false")
    assert out.strip() == f'configmap "held" deleted from {ns} namespace'
    cm = get_json(kubectl, "configmap", "held", "-n", ns)
    assert cm["metadata"]["deletionTimestamp"] and cm["metadata"]["deletionGracePeriodSeconds"] == 0
    assert cm["metadata"]["finalizers"] == [HOLD]
    # a terminating object cannot gain new finalizers, but other updates go through
    kubectl("label", "configmap", "held", "-n", ns, "still=here")
    assert get_json(kubectl, "configmap", "held", "-n", ns)["metadata"]["labels"] == {"still": "here"}
    # a second delete changes nothing
    kubectl("delete", "configmap", "held", "-n", ns, "--wait=false")
    assert exists(kubectl, "configmap", "held", "-n", ns)
    kubectl("patch", "configmap", "held", "-n", ns, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    assert not exists(kubectl, "configmap", "held", "-n", ns)


def test_delete_by_selector_and_all(kubectl: Any, ns: str) -> None:
    for i in range(3):
        apply(kubectl, f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sel-{i}\n  namespace: {ns}\n"
                       f"  labels: {{batch: {'a' if i < 2 else 'b'}}}\n")
    out = kubectl("delete", "configmap", "-n", ns, "-l", "batch=a")
    assert sorted(out.splitlines()) == [f'configmap "sel-0" deleted from {ns} namespace',
                                        f'configmap "sel-1" deleted from {ns} namespace']
    assert kubectl("get", "cm", "-n", ns, "-l", "batch", "-o", "name").split() == ["configmap/sel-2"]
    proc = kubectl.run("delete", "configmap", "nope", "-n", ns, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == 'Error from server (NotFound): configmaps "nope" not found'
    assert kubectl("delete", "configmap", "nope", "-n", ns, "--ignore-not-found").strip() == ""


def test_delete_namespace_with_content(kubectl: Any) -> None:
    gone = "kt-delete-ns"
    with namespace(kubectl, gone):
        apply(kubectl, deployment("app", gone, replicas=2) + f"""---
apiVersion: v1
kind: Service
metadata: {{name: app, namespace: {gone}}}
spec:
  selector: {{app: app}}
  ports: [{{port: 80}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: held, namespace: {gone}, finalizers: [{HOLD}]}}
""")
        wait_ready(kubectl, gone, "app=app", 2)
        out = kubectl("delete", "namespace", gone, "--wait=false")
        assert out.strip() == f'namespace "{gone}" deleted'

        # the finalizer keeps the namespace Terminating; the conditions say why
        def stuck() -> dict[str, Any] | None:
            nso = get_json(kubectl, "namespace", gone)
            conds = {c["type"]: c for c in nso.get("status", {}).get("conditions", [])}
            rest = kubectl("get", "all", "-n", gone, "-o", "name").split()
            remaining = conds.get("NamespaceContentRemaining", {}).get("message", "")
            return nso if not rest and remaining.endswith("configmaps. has 1 resource instances") else None

        nso = wait_for(stuck, what="namespace emptied except the held ConfigMap")
        assert nso["status"]["phase"] == "Terminating"
        conds = {c["type"]: c for c in nso["status"]["conditions"]}
        assert conds["NamespaceContentRemaining"]["message"] == (
            "Some resources are remaining: configmaps. has 1 resource instances")
        assert conds["NamespaceFinalizersRemaining"]["message"] == (
            f"Some content in the namespace has finalizers remaining: {HOLD} in 1 resource instances")
        assert kubectl("get", "ns", gone, "--no-headers").split()[:2] == [gone, "Terminating"]

        # nothing new may be created in it
        proc = kubectl.run("apply", "-f", "-", check=False, input=(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: late\n  namespace: {gone}\n"))
        assert proc.returncode == 1
        assert proc.stderr.strip() == (
            f'Error from server (Forbidden): error when creating "STDIN": configmaps "late" is forbidden: '
            f"unable to create new content in namespace {gone} because it is being terminated")

        kubectl("patch", "configmap", "held", "-n", gone, "--type=json",
                "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
        kubectl("wait", "--for=delete", f"namespace/{gone}", "--timeout=20s")
        proc = kubectl.run("get", "namespace", gone, check=False)
        assert proc.stderr.strip() == f'Error from server (NotFound): namespaces "{gone}" not found'
        left = get_json(kubectl, "pods,services,configmaps,replicasets,deployments", "-A",
                        "--field-selector", f"metadata.namespace={gone}")["items"]
        assert left == []


def test_delete_namespace_blocking(kubectl: Any) -> None:
    gone = "kt-delete-ns2"
    with namespace(kubectl, gone):
        apply(kubectl, deployment("app", gone, replicas=1))
        wait_ready(kubectl, gone, "app=app", 1)
        assert kubectl("delete", "namespace", gone, "--timeout=30s").strip() == f'namespace "{gone}" deleted'
        assert not exists(kubectl, "namespace", gone)
