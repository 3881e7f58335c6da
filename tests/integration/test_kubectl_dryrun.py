"""Real kubectl against the simulator: `--dry-run=server` on create, apply, patch, label, scale, set image
and delete - the server runs admission and answers, and nothing is stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubectl_support import apply, deployment, get_json, namespace, wait_rolled_out

NS = "kt-dryrun"


@pytest.fixture(scope="module")
def ns(kubectl: Any) -> Iterator[str]:
    with namespace(kubectl, NS) as name:
        apply(kubectl, deployment("live", NS, replicas=1, image="nginx:1.27"))
        wait_rolled_out(kubectl, NS, "live")
        yield name


def snapshot(kubectl: Any, ns: str) -> dict[str, Any]:
    """resourceVersions of everything the tests could touch (an unchanged rv means nothing was written)."""
    items = get_json(kubectl, "deploy,rs,pods,configmaps,services", "-n", ns)["items"]
    return {f"{o['kind']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in items}


def not_found(kubectl: Any, *args: str) -> bool:
    proc = kubectl.run("get", *args, check=False)
    return proc.returncode == 1 and "NotFound" in proc.stderr


def test_create_dry_run(kubectl: Any, ns: str) -> None:
    before = snapshot(kubectl, ns)
    proc = kubectl.run("create", "-f", "-", "--dry-run=server", "-o", "json", check=False,
                       input=deployment("ghost", ns, replicas=3))
    assert proc.returncode == 0, proc.stderr
    made = json.loads(proc.stdout)
    # the server's answer is fully defaulted and validated...
    assert made["metadata"]["uid"] and made["metadata"]["creationTimestamp"] and made["metadata"]["generation"] == 1
    assert made["spec"]["strategy"]["type"] == "RollingUpdate" and made["spec"]["revisionHistoryLimit"] == 10
    assert made["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert "resourceVersion" not in made["metadata"] or made["metadata"]["resourceVersion"] == ""
    # ...but nothing was stored, and no controller reacted
    assert not_found(kubectl, "deploy", "ghost", "-n", ns)
    assert snapshot(kubectl, ns) == before
    out = kubectl("apply", "-f", "-", "--dry-run=server", input=deployment("ghost", ns))
    assert out.strip() == "deployment.apps/ghost created (server dry run)"
    assert not_found(kubectl, "deploy", "ghost", "-n", ns)
    # and a dry run still runs validation
    proc = kubectl.run("create", "-f", "-", "--dry-run=server", check=False,
                       input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: " + ns + "\n")
    assert proc.returncode == 1 and 'The ConfigMap "Bad_Name" is invalid' in proc.stderr


def test_create_subcommand_dry_run(kubectl: Any, ns: str) -> None:
    proc = kubectl.run("create", "configmap", "ghost-cm", "-n", ns, "--from-literal=k=v", "--dry-run=server",
                       check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "configmap/ghost-cm created (server dry run)"
    assert not_found(kubectl, "configmap", "ghost-cm", "-n", ns)


def test_apply_patch_label_scale_set_image_dry_run(kubectl: Any, ns: str) -> None:
    before = snapshot(kubectl, ns)
    out = apply(kubectl, deployment("live", ns, replicas=5, image="nginx:1.28"), "--dry-run=server")
    assert out.strip() == "deployment.apps/live configured (server dry run)"
    out = kubectl("patch", "deploy", "live", "-n", ns, "--type=merge", "-p", '{"spec":{"replicas":7}}',
                  "--dry-run=server", "-o", "jsonpath={.spec.replicas}")
    assert out == "7"  # the server's answer shows the patched object
    out = kubectl("label", "deploy", "live", "-n", ns, "dry=yes", "--dry-run=server")
    assert out.strip() == "deployment.apps/live labeled (server dry run)"
    out = kubectl("annotate", "deploy", "live", "-n", ns, "dry=yes", "--dry-run=server")
    assert out.strip() == "deployment.apps/live annotated (server dry run)"
    out = kubectl("scale", "deploy", "live", "-n", ns, "--replicas=4", "--dry-run=server")
    assert out.strip() == "deployment.apps/live scaled (server dry run)"
    out = kubectl("set", "image", "deploy/live", "-n", ns, "live=nginx:1.29", "--dry-run=server")
    assert out.strip() == "deployment.apps/live image updated (server dry run)"
    assert snapshot(kubectl, ns) == before
    d = get_json(kubectl, "deploy", "live", "-n", ns)
    assert d["spec"]["replicas"] == 1 and "dry" not in (d["metadata"].get("labels") or {})
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_delete_dry_run(kubectl: Any, ns: str) -> None:
    before = snapshot(kubectl, ns)
    out = kubectl("delete", "deploy", "live", "-n", ns, "--dry-run=server")
    assert out.strip() == f'deployment.apps "live" deleted from {ns} namespace (server dry run)'
    out = kubectl("delete", "pods", "--all", "-n", ns, "--dry-run=server")
    assert out.strip().endswith("(server dry run)")
    d = get_json(kubectl, "deploy", "live", "-n", ns)
    assert "deletionTimestamp" not in d["metadata"]
    assert snapshot(kubectl, ns) == before
    proc = kubectl.run("delete", "deploy", "nope", "-n", ns, "--dry-run=server", check=False)
    assert proc.stderr.strip() == 'Error from server (NotFound): deployments.apps "nope" not found'
