"""Every manifest in `deploy/` and everything the Helm chart renders is accepted by the simulator's API
server with a server-side dry-run (`dryRun=All`: validated and admitted, never stored).

helm cannot be installed here without downloading a binary, so the chart is rendered by
`helm_render.py` (the subset of Go templates the chart uses, failing loudly on anything else) with its
default values and with every option switched on and off.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_render import render_chart
from operator_world import CRD, DEPLOY, JSON, create

from prophet_sre.errors import ProphetError
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.errors import Op

CHART = DEPLOY / "helm" / "prophet"
MANIFESTS = sorted(p for p in DEPLOY.rglob("*.yaml") if "helm" not in p.parts)


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    c = SimCluster(ClusterOptions(speed=50.0))
    c.start()
    try:
        yield c.write_kubeconfig(tmp_path_factory.mktemp("deploy") / "kubeconfig")
    finally:
        c.stop()


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeClient]:
    """A client per test: its discovery cache is fresh (the first test adds the CRD)."""
    client = KubeClient.from_kubeconfig(kubeconfig)
    try:
        yield client
    finally:
        client.close()


def dry_run(kube: KubeClient, obj: dict[str, Any]) -> dict[str, Any]:
    kind = obj["kind"]
    rk = kube.resolve(kind)
    ns = obj["metadata"].get("namespace") if rk.namespaced else None
    if rk.namespaced and not ns:
        raise AssertionError(f"{kind} {obj['metadata']['name']} names no namespace")
    try:
        resp = kube.request("POST", rk.path(ns), op=Op("create", rk.resource, rk.group, ns or ""), body=obj,
                            headers=JSON, query=[("dryRun", "All"), ("fieldValidation", "Strict")])
    except ProphetError as e:
        raise AssertionError(f"{kind} {obj['metadata']['name']}: {e}") from e
    return json.loads(resp.body)


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_every_manifest_is_accepted_by_server_side_dry_run(kube: KubeClient, kubeconfig: Path) -> None:
    fresh: KubeClient | None = None
    ordered = sorted(MANIFESTS, key=lambda p: (p.name != "namespace.yaml", "crds" not in p.parts, str(p)))
    seen: dict[str, int] = {}
    for path in ordered:
        for obj in _docs(path):
            out = dry_run(kube, obj)
            assert out["metadata"]["name"] == obj["metadata"]["name"]
            seen[obj["kind"]] = seen.get(obj["kind"], 0) + 1
        if path.name == "namespace.yaml":  # what follows lives in it
            for obj in _docs(path):
                create(kube, "/api/v1/namespaces", obj)
        if path == CRD:  # the examples are AutonomousActions
            create(kube, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", _docs(path)[0])
            _served(kube)
            kube = fresh = KubeClient.from_kubeconfig(kubeconfig)  # discovery that knows the new kind
    for kind in ("Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                 "Role", "RoleBinding", "Deployment", "PersistentVolumeClaim", "StatefulSet", "Service", "Secret",
                 "NetworkPolicy", "AutonomousAction"):
        assert seen.get(kind), f"no {kind} in deploy/"
    # nothing was stored by the dry runs, and a broken manifest is refused
    assert not [d for d in kube.list("deployments", "prophet-system")]
    broken = _docs(DEPLOY / "operator.yaml")[1]
    broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"] = {"drop": "ALL"}
    with pytest.raises(AssertionError, match="drop"):
        dry_run(kube, broken)
    if fresh is not None:
        fresh.close()


def _served(kube: KubeClient) -> None:
    import time

    for _ in range(100):
        try:
            kube.get_json("/apis/aiops.prophet.io/v1alpha1/autonomousactions", op=Op("list", "autonomousactions"))
            return
        except ProphetError:
            time.sleep(0.1)
    raise AssertionError("the CRD was never served")


VARIANTS = {
    "defaults": {},
    "everything": {"ollama": {"enabled": True}, "postgresql": {"enabled": True}, "rbac": {"infraActions": True}},
    "read-only": {"rbac": {"readOnly": True}, "networkPolicy": {"enabled": False}, "replicaCount": 1},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_helm_chart_renders_and_is_accepted(kube: KubeClient, variant: str) -> None:
    docs = render_chart(CHART, release="prophet", namespace="prophet-system", values=VARIANTS[variant])
    try:
        kube.get("namespaces", "prophet-system")
    except ProphetError:
        create(kube, "/api/v1/namespaces", _docs(DEPLOY / "namespace.yaml")[0])
    for obj in docs:
        if obj["kind"] == "CustomResourceDefinition":
            continue  # installed by the first test (helm installs crds/ before the templates, never dry-runs them)
        dry_run(kube, obj)
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    op = containers["operator"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert op["securityContext"]["readOnlyRootFilesystem"] is True
    assert op["livenessProbe"]["httpGet"]["path"] == "/healthz" and op["resources"]["limits"]["memory"] == "1Gi"
    env = {e["name"] for e in op["env"]}
    act = ("ClusterRole", "prophet-act-workloads") in kinds
    if variant == "read-only":
        assert not act and ("ClusterRole", "prophet-read") in kinds
        assert not any(k == "NetworkPolicy" for k, _ in kinds)
    else:
        assert act and any(k == "NetworkPolicy" for k, _ in kinds)
    assert (("ClusterRole", "prophet-act-infra") in kinds) == (variant == "everything")
    assert ("ollama" in containers) == (variant == "everything") == ("PROPHET_LLM__PROVIDER" in env)
    assert (("StatefulSet", "prophet-postgres") in kinds) == (variant == "everything") \
        == ("PROPHET_CHECKPOINT_URL" in env)


def test_chart_crd_is_the_deploy_crd() -> None:
    assert (CHART / "crds" / CRD.name).read_text() == CRD.read_text()
