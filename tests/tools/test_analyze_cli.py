"""`prophet analyze` end to end against the simulator, and the finding-source aggregator's degradation.

Covers: `-o json` names each broken object of `kube_world` with K8sGPT's words and K8sGPT's JSON shape
(`provider`, `errors`, `status`, `problems`, `results[].error[].Text`, `parentObject`) plus `findings`;
the text table; `--filter` (repeatable and comma-separated); a user allowed to read pods but not
endpoints gets the Pod findings and a note naming the missing permission; an unreachable cluster is
exit 1 with the reason; `--list-filters`; and `analyze()` over fake sources: unavailable, raising and
duplicate-reporting sources never hide the others' findings. Not covered: each analyzer's texts in
detail (test_analyzers).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from kube_world import World, eventually, world
from kubernetes import client as kclient
from kubernetes import config as kconfig
from typer.testing import CliRunner

from prophet_sre.cli import app
from prophet_sre.domain import Finding, FindingSource, ResourceRef
from prophet_sre.errors import ToolUnavailable
from prophet_sre.tools import analyze as agg

NS = "tools-world"
runner = CliRunner()


@pytest.fixture(scope="module")
def w(sim_kubeconfig: Path) -> World:
    return world(sim_kubeconfig)


def run_json(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["analyze", *args, "-o", "json"])
    return result.exit_code, json.loads(result.stdout)


def by_name(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["kind"], r["name"]): r for r in doc["results"]}


def test_json_names_every_broken_object_in_k8sgpts_words(w: World) -> None:
    badimg, crash = w.pod("badimg"), w.pod("crash")

    def analyzed() -> dict[str, Any]:
        code, doc = run_json("--kubeconfig", str(w.kubeconfig), "-n", NS)
        assert code == 0 and doc["provider"] == "prophet" and doc["status"] == "ProblemDetected"
        results = by_name(doc)
        pull = results[("Pod", f"{NS}/{badimg}")]["error"][0]["Text"]  # the kubelet alternates the two
        assert pull.startswith('Back-off pulling image "nginx:nope"') or pull.startswith(
            'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/nginx:nope"')
        crash_texts = [e["Text"] for e in results[("Pod", f"{NS}/{crash}")]["error"]]
        assert crash_texts[0].startswith("back-off ")
        assert f"restarting failed container=main pod={crash}_{NS}" in crash_texts[0]
        assert crash_texts[1] == f"the last termination reason is Error container=main pod={crash}"
        return doc

    doc = eventually(analyzed)
    results = by_name(doc)
    assert results[("Pod", f"{NS}/{badimg}")]["parentObject"] == "Deployment/badimg"
    assert results[("Pod", f"{NS}/stuck")]["error"][0]["Text"].startswith("0/3 nodes are available:")
    assert results[("Pod", f"{NS}/stuck")]["parentObject"] == ""
    assert results[("Service", f"{NS}/orphan")]["error"] == [
        {"Text": "Service has no endpoints, expected label app=nothing", "KubernetesDoc": "", "Sensitive": []}]
    assert [e["Text"] for e in results[("PersistentVolumeClaim", f"{NS}/data")]["error"]] == [
        'storageclass.storage.k8s.io "fast" not found']
    deploy_texts = [e["Text"] for e in results[("Deployment", f"{NS}/badimg")]["error"]]
    assert deploy_texts[0] == f"Deployment {NS}/badimg has 1 replicas but 0 are available with status running"
    # on a busy machine the shared world can run past the rollout's progress deadline (600 sim s) first
    assert all("ProgressDeadlineExceeded" in t for t in deploy_texts[1:]), deploy_texts
    assert not any("web" in name for _, name in results)  # the healthy workload is not reported
    assert doc["problems"] == sum(len(r["error"]) for r in doc["results"])
    assert len(doc["findings"]) == len(doc["results"]) and doc["sources"]["analyzer"] == "ok"
    # with no k8sgpt server, no Result CRD and no Cluster API, those sources are reported unavailable
    assert doc["sources"]["k8sgpt"] == "unavailable" and doc["sources"]["capi"] == "unavailable"
    f = Finding.model_validate(next(x for x in doc["findings"] if x["ref"]["name"] == badimg))
    assert f.analyzer == "Pod" and f.parent == ResourceRef(kind="Deployment", namespace=NS, name="badimg")


def test_text_output_is_a_table_with_k8sgpt_wording(w: World) -> None:
    result = runner.invoke(app, ["analyze", "--kubeconfig", str(w.kubeconfig), "-n", NS, "--filter", "Service"])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.replace("│", " ").split())  # undo the table's wrapping
    assert "- Error: Service has no endpoints, expected label app=nothing" in flat
    assert "1 problems in 1 objects" in flat and "orphan" in flat and "Pod" not in flat


def test_filters_repeatable_and_comma_separated(w: World) -> None:
    _, doc = run_json("--kubeconfig", str(w.kubeconfig), "-n", NS, "--filter", "Deployment,PersistentVolumeClaim",
                      "--filter", "Bogus")
    assert {r["kind"] for r in doc["results"]} == {"Deployment", "PersistentVolumeClaim"}
    assert doc["errors"][0] == 'analyzer: "Bogus" filter does not exist. Please run prophet analyze --list-filters.'
    assert all(e.endswith("not available") for e in doc["errors"][1:])  # optional sources not installed


def test_a_user_without_endpoints_access_gets_pod_findings_and_a_note(sim_cluster: Any, w: World,
                                                                       tmp_path: Path) -> None:
    api = kconfig.new_client_from_config(config_file=str(w.kubeconfig))
    rbac = kclient.RbacAuthorizationV1Api(api)
    rbac.create_namespaced_role(NS, {"metadata": {"name": "pod-reader"}, "rules": [
        {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["get", "list"]},
        {"apiGroups": ["apps"], "resources": ["replicasets", "deployments"], "verbs": ["get", "list"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list"]}]})
    rbac.create_namespaced_role_binding(NS, {"metadata": {"name": "carol-reads-pods"},
                                             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                         "name": "pod-reader"},
                                             "subjects": [{"kind": "User", "name": "carol"}]})
    api.close()
    sim_cluster.add_user("carol-token-456", "carol")
    path = tmp_path / "carol.yaml"
    path.write_text(yaml.safe_dump(sim_cluster.kubeconfig(token="carol-token-456", user="carol")))
    code, doc = run_json("--kubeconfig", str(path), "-n", NS, "--filter", "Pod,Service")
    assert code == 0 and doc["sources"]["analyzer"] == "degraded"
    assert ("Pod", f"{NS}/stuck") in by_name(doc)
    assert doc["errors"][:1] == ["analyzer: Service analyzer skipped: cannot list endpoints in namespace tools-world "
                             '(verb=list, resource=endpoints) (user "carol")']


def test_unreachable_cluster_is_exit_1_with_the_reason(sim_cluster: Any, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = sim_cluster.kubeconfig()
    cfg["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path = tmp_path / "dead.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = runner.invoke(app, ["analyze", "--kubeconfig", str(path), "-o", "json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "OK" and doc["results"] == [] and doc["sources"]["analyzer"] == "failed"
    assert doc["errors"][0].startswith("analyzer: cannot reach the API server")


def test_list_filters() -> None:
    result = runner.invoke(app, ["analyze", "--list-filters", "-o", "json"])
    doc = json.loads(result.stdout)
    assert "Pod" in doc["core"] and "Log" in doc["optional"]


# -- aggregation over finding sources --------------------------------------------------------------------
def _finding(name: str, text: str, source: FindingSource = FindingSource.ANALYZER) -> Finding:
    return Finding(source=source, ref=ResourceRef(kind="Pod", namespace="shop", name=name), errors=[text])


class Source:
    def __init__(self, name: str, *, available: bool = True, raises: Exception | None = None,
                 findings: list[Finding] | None = None) -> None:
        self.name, self._available, self._raises, self._findings = name, available, raises, findings or []

    def available(self) -> bool:
        return self._available

    def findings(self, scope: agg.Scope) -> agg.SourceResult:
        if self._raises is not None:
            raise self._raises
        return agg.SourceResult(list(self._findings), notes=["partial"] if self.name == "k8sgpt" else [])


def test_unreachable_and_broken_sources_become_notes_and_duplicates_are_kept_once() -> None:
    mine = [_finding("a", "boom"), _finding("b", "bang")]
    theirs = [_finding("a", "boom", FindingSource.K8SGPT), _finding("c", "crash", FindingSource.K8SGPT)]
    sources: list[agg.FindingSource] = [
        Source("analyzer", findings=mine), Source("k8sgpt", findings=theirs),
        Source("hubble", available=False), Source("prometheus", raises=ToolUnavailable("connection refused")),
        Source("capi", raises=RuntimeError("bug"))]
    assert all(isinstance(s, agg.FindingSource) for s in sources)
    report = agg.analyze(sources, agg.Scope(namespace="shop"))
    assert [(f.ref.name, f.source.value) for f in report.findings] == [
        ("a", "analyzer"), ("b", "analyzer"), ("c", "k8sgpt")]
    assert report.sources == {"analyzer": "ok", "k8sgpt": "ok", "hubble": "unavailable", "prometheus": "failed",
                              "capi": "failed"}
    assert report.notes == ["k8sgpt: partial", "hubble: not available", "prometheus: connection refused",
                            "capi: failed (RuntimeError: bug)"]
    doc = agg.to_json(report)
    assert doc["problems"] == 3 and doc["results"][2]["source"] == "k8sgpt" and report.usable
