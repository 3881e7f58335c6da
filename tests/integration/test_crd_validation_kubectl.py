"""Real kubectl against the simulator: custom resources are checked against their CRD's schema.

The AutonomousAction CRD from `deploy/crds/` is applied to the session cluster; then kubectl apply,
server-side dry runs, strict field validation and merge patches meet the same refusals (and the same
words) a real API server gives, and a valid object goes through with its unknown fields pruned.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubectl_support import apply, get_json, namespace, wait_for

CRD = Path(__file__).resolve().parents[2] / "deploy" / "crds" / "aiops.prophet.io_autonomousactions.yaml"


@pytest.fixture(scope="module")
def ns(kubectl: Any) -> Iterator[str]:
    kubectl("apply", "-f", str(CRD))
    wait_for(lambda: kubectl.run("get", "autonomousactions", "-A", check=False).returncode == 0,
             what="the AutonomousAction CRD to be served")
    with namespace(kubectl, "crd-validation") as name:
        yield name


def action(name: str, ns: str, spec: dict[str, Any]) -> str:
    return yaml.safe_dump({"apiVersion": "aiops.prophet.io/v1alpha1", "kind": "AutonomousAction",
                           "metadata": {"name": name, "namespace": ns}, "spec": spec})


INVALID = {"approvalMode": "yolo", "trigger": {"type": "anomaly", "anomalyScoreThreshold": 1.5}}
CAUSES = ('* spec.approvalMode: Unsupported value: "yolo": supported values: "autonomous", "human-in-loop", '
          '"dry-run"\n'
          "* spec.trigger.anomalyScoreThreshold: Invalid value: 1.5: spec.trigger.anomalyScoreThreshold in body "
          "should be less than or equal to 1")


def absent(kubectl: Any, name: str, ns: str) -> bool:
    proc = kubectl.run("get", "autonomousaction", name, "-n", ns, check=False)
    return proc.returncode != 0 and "NotFound" in proc.stderr


def test_apply_of_an_invalid_object_is_refused_with_the_apiservers_words(kubectl: Any, ns: str) -> None:
    proc = kubectl.run("apply", "-f", "-", check=False, input=action("demo", ns, INVALID))
    assert proc.returncode == 1
    assert 'The AutonomousAction "demo" is invalid: \n' + CAUSES in proc.stderr, proc.stderr
    assert absent(kubectl, "demo", ns)


def test_server_dry_run_validates_too(kubectl: Any, ns: str) -> None:
    proc = kubectl.run("apply", "-f", "-", "--dry-run=server", check=False, input=action("demo", ns, INVALID))
    assert proc.returncode == 1 and CAUSES in proc.stderr, proc.stderr
    ok = kubectl.run("apply", "-f", "-", "--dry-run=server", check=False,
                     input=action("dry", ns, {"approvalMode": "dry-run"}))
    assert ok.returncode == 0 and ok.stdout.strip() == "autonomousaction.aiops.prophet.io/dry created (server dry run)"
    assert absent(kubectl, "dry", ns)


def test_a_valid_object_passes_and_is_defaulted(kubectl: Any, ns: str) -> None:
    out = apply(kubectl, action("good", ns, {"approvalMode": "dry-run", "trigger": {"anomalyScoreThreshold": 0.8}}))
    assert out.strip() == "autonomousaction.aiops.prophet.io/good created"
    spec = get_json(kubectl, "autonomousaction", "good", "-n", ns)["spec"]
    assert spec == {"approvalMode": "dry-run", "trigger": {"anomalyScoreThreshold": 0.8, "type": "anomaly"}}


def test_unknown_fields_are_pruned_unless_validation_is_strict(kubectl: Any, ns: str) -> None:
    spec = {"approvalMode": "dry-run", "llm": {"provider": "none", "modle": "phi3"}, "colour": "blue"}
    proc = kubectl.run("apply", "-f", "-", "--validate=strict", check=False, input=action("loose", ns, spec))
    assert proc.returncode == 1
    assert ('AutonomousAction in version "v1alpha1" cannot be handled as a AutonomousAction: strict decoding error: '
            'unknown field "spec.colour", unknown field "spec.llm.modle"') in proc.stderr, proc.stderr
    assert absent(kubectl, "loose", ns)
    proc = kubectl.run("apply", "-f", "-", "--validate=warn", check=False, input=action("loose", ns, spec))
    assert proc.returncode == 0, proc.stderr
    assert 'Warning: unknown field "spec.colour"' in proc.stderr and 'unknown field "spec.llm.modle"' in proc.stderr
    stored = get_json(kubectl, "autonomousaction", "loose", "-n", ns)["spec"]
    assert stored == {"approvalMode": "dry-run", "llm": {"provider": "none"}}


def test_a_merge_patch_making_it_invalid_is_refused(kubectl: Any, ns: str) -> None:
    apply(kubectl, action("patched", ns, {"approvalMode": "dry-run"}))
    proc = kubectl.run("patch", "autonomousaction", "patched", "-n", ns, "--type=merge",
                       "-p", '{"spec":{"constraints":{"maxConcurrent":0}}}', check=False)
    assert proc.returncode == 1
    assert ('The AutonomousAction "patched" is invalid: spec.constraints.maxConcurrent: Invalid value: 0: '
            "spec.constraints.maxConcurrent in body should be greater than or equal to 1") in proc.stderr, proc.stderr
    assert "constraints" not in get_json(kubectl, "autonomousaction", "patched", "-n", ns)["spec"]
    out = kubectl("patch", "autonomousaction", "patched", "-n", ns, "--type=merge",
                  "-p", '{"spec":{"constraints":{"maxConcurrent":2}}}')
    assert "patched" in out
    assert get_json(kubectl, "autonomousaction", "patched", "-n", ns)["spec"]["constraints"] == {"maxConcurrent": 2}
