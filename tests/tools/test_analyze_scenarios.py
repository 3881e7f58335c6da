"""`prophet analyze` on every classic fault scenario names the broken object and the cause in K8sGPT's words.

Each scenario of `evals/scenarios/` tagged `classic` is loaded into its own simulated cluster; once
its faults have fired, the real CLI (`prophet analyze -n demo -o json`, in-process through Typer's
runner, talking HTTPS to the simulator) must report the object the scenario names as root cause (or
one of its pods) with the text K8sGPT would print for that fault.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prophet_sre.cli import app
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.sim.scenario import apply as scenario_apply
from prophet_sre.tools.analyze import AnalyzerSource, Scope, analyze
from prophet_sre.tools.kube.client import KubeClient

SCENARIOS = Path(__file__).resolve().parents[2] / "evals" / "scenarios"

# scenario id -> (kind of the reported object, name prefix, a phrase of K8sGPT's text for the cause)
EXPECTED = {
    "bad-image-tag": ("Pod", "web-", "Back-off pulling image"),
    "crash-bad-command": ("Pod", "api-", "the last termination reason is"),
    "pvc-missing-storageclass": ("PersistentVolumeClaim", "data", 'storageclass.storage.k8s.io "fast-ssd" not found'),
    "wrong-probe-path": ("Pod", "web-", "Readiness probe failed: HTTP probe failed with statuscode: 404"),
    "service-selector-mismatch": ("Service", "web", "Service has no endpoints, expected label"),
    "unsatisfiable-node-selector": ("Pod", "web-", "didn't match Pod's node affinity/selector"),
    "missing-configmap-key": ("Pod", "", "couldn't find key"),
}


ALTERNATES = {"Back-off pulling image": "failed to pull and unpack image"}
"""The kubelet alternates a pull back-off with the pull error itself; either names the cause."""


def _matches(results: list[dict], kind: str, prefix: str, phrase: str) -> bool:
    phrases = [phrase] + ([ALTERNATES[phrase]] if phrase in ALTERNATES else [])
    for r in results:
        name = r["name"].split("/")[1] if "/" in r["name"] else r["name"]
        if r["kind"] == kind and name.startswith(prefix) and any(p in e["Text"] for e in r["error"] for p in phrases):
            return True
    return False


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_analyze_names_the_cause_of_each_classic_fault(scenario: str, tmp_path: Path) -> None:
    kind, prefix, phrase = EXPECTED[scenario]
    cluster = SimCluster(ClusterOptions(speed=50.0))
    cluster.start()
    try:
        scenario_apply.load_file(cluster, SCENARIOS / f"{scenario}.yaml")
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        client = KubeClient.from_kubeconfig(kubeconfig)
        deadline = time.monotonic() + 60
        seen: list[str] = []
        while time.monotonic() < deadline:  # wait until the fault has fired and shows
            report = analyze([AnalyzerSource(client)], Scope(namespace="demo"))
            seen = [f"{f.ref.kind}/{f.ref.name}: {e}" for f in report.findings for e in f.errors]
            if any(phrase in s for s in seen):
                break
            time.sleep(0.5)
        out = CliRunner().invoke(app, ["analyze", "-n", "demo", "--kubeconfig", str(kubeconfig), "-o", "json"])
        assert out.exit_code == 0, out.output
        doc = json.loads(out.stdout)
        assert doc["status"] == "ProblemDetected" and doc["problems"] >= 1
        assert _matches(doc["results"], kind, prefix, phrase), (phrase, seen)
    finally:
        cluster.stop()
