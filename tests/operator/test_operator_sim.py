"""`prophet operator` on the simulator: an AutonomousAction's policy decides what happens to a real fault.

The scenario is `bad-image-tag` (a typo in an image tag stalls `demo/web` in ImagePullBackOff). The
operator (kopf, leader election, the remediation graph; no LLM, no runbook index) runs in a thread of
the test against the simulator's real API server:
- autonomous: the rollback happens, the status and Events say so, the audit chain verifies;
- human-in-loop: nothing changes until the approve annotation, then the rollback; the annotation is
  removed and the approval recorded;
- dry-run: the incident is reported, the Deployment is untouched;
- a policy that does not allow the needed action escalates instead of acting;
- an invalid object is refused (Ready=False with a message naming the field, a Warning Event).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from operator_world import (
    annotate,
    audit_records,
    available,
    create_aa,
    events_on,
    get_aa,
    image,
    operator_thread,
    settings_for,
    sim_world,
    wait_for,
)

from prophet_sre.operator.controller import APPROVE_ANNOTATION
from prophet_sre.policy.audit import verify
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.errors import Op

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

pytestmark = pytest.mark.timeout(180)
TRIGGER = {"type": "k8sgpt", "namespaces": ["demo"]}
GOOD, BAD = "nginx:1.27", "nginx:1.277"


def _condition(obj: dict, type_: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), {})


def _counter(kube, name: str, key: str) -> int:  # noqa: ANN001
    return int(((get_aa(kube, name).get("status") or {}).get("counters") or {}).get(key) or 0)


def _last(kube, name: str) -> dict:  # noqa: ANN001
    return (get_aa(kube, name).get("status") or {}).get("lastIncident") or {}


def test_autonomous_remediates_and_reports(tmp_path: Path) -> None:
    with sim_world(tmp_path) as (_, kubeconfig, kube):
        create_aa(kube, "auto", {"trigger": TRIGGER, "approvalMode": "autonomous",
                                 "constraints": {"allowedActions": ["restart", "scale", "rollback", "escalate"]}})
        data = tmp_path / "data"
        with operator_thread(settings_for(kubeconfig, data)):
            wait_for("a resolved incident", lambda: _counter(kube, "auto", "resolved") >= 1)
        resolved = [e for e in events_on(kube, "auto") if e["reason"] == "IncidentResolved"]
        assert len(resolved) == 1, "one fault, one remediation"
        assert "demo/deployment/web" in resolved[0]["message"] and "rollback" in resolved[0]["message"]
        assert image(kube) == GOOD and available(kube)
        obj = get_aa(kube, "auto")
        assert _condition(obj, "Ready")["status"] == "True"
        assert obj["status"]["counters"]["incidents"] >= 1 and obj["status"]["counters"]["resolved"] >= 1
        assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
        reasons = {e["reason"] for e in events_on(kube, "auto")}
        assert {"Watching", "IncidentOpened", "IncidentResolved"} <= reasons, reasons
        records = audit_records(data)
        executed = [r for r in records if r["event"] == "execution"]
        assert executed and all(r["actor"] == "prophet-test" for r in executed)
        assert len({r["incident_id"] for r in executed}) == 1
        assert verify(data / "audit.jsonl").ok


def test_human_in_loop_waits_for_the_annotation(tmp_path: Path) -> None:
    with sim_world(tmp_path) as (_, kubeconfig, kube):
        create_aa(kube, "hil", {"trigger": TRIGGER, "approvalMode": "human-in-loop",
                                "constraints": {"allowedActions": ["rollback", "patch", "escalate"]}})
        data = tmp_path / "data"
        with operator_thread(settings_for(kubeconfig, data)):
            pending = wait_for("a pending approval",
                               lambda: (get_aa(kube, "hil").get("status") or {}).get("pendingApprovals"))
            incident = pending[0]["incidentId"]
            assert pending[0]["target"] == "demo/deployment/web"
            assert image(kube) == BAD, "nothing may change before the approval"
            assert not [r for r in audit_records(data) if r["event"] == "execution"]
            assert "ApprovalRequired" in {e["reason"] for e in events_on(kube, "hil")}
            annotate(kube, "hil", {APPROVE_ANNOTATION: incident})
            done = wait_for("the approved incident to finish",
                            lambda: _last(kube, "hil").get("outcome") == "resolved" and _last(kube, "hil"))
            assert done["id"] == incident
            obj = wait_for("the annotation removed", lambda: (o := get_aa(kube, "hil"))
                           and APPROVE_ANNOTATION not in (o["metadata"].get("annotations") or {}) and o)
        assert obj["status"]["pendingApprovals"] == []
        assert obj["status"]["counters"]["approvals"] == 1
        assert image(kube) == GOOD
        approvals = [r for r in audit_records(data) if r["event"] == "approval" and r["incident_id"] == incident]
        assert approvals and "annotation" in str(approvals[-1])
        assert {"Approved", "IncidentResolved"} <= {e["reason"] for e in events_on(kube, "hil")}
        assert verify(data / "audit.jsonl").ok


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    with sim_world(tmp_path) as (_, kubeconfig, kube):
        create_aa(kube, "dry", {"trigger": TRIGGER, "approvalMode": "dry-run"})
        data = tmp_path / "data"
        with operator_thread(settings_for(kubeconfig, data)):
            done = wait_for("a dry-run report", lambda: _last(kube, "dry").get("outcome") == "dry_run" and _last(kube, "dry"))
        assert "rollback" in done["summary"] or "patch" in done["summary"]
        assert image(kube) == BAD
        assert not [r for r in audit_records(data) if r["event"] in ("execution", "intent")]
        assert verify(data / "audit.jsonl").ok


def _loosen_crd(kube: KubeClient) -> None:
    """Make the installed CRD stop checking `spec` (as an older or hand-edited CRD might): the simulated API
    server validates custom resources against the schema, so only then can an invalid spec be stored and
    reach the operator, whose own check is what the test is about."""
    kube.request("PATCH", f"{CRD_PATH}/autonomousactions.aiops.prophet.io",
                 op=Op("patch", "customresourcedefinitions", "apiextensions.k8s.io"),
                 body=[{"op": "replace", "path": "/spec/versions/0/schema/openAPIV3Schema/properties/spec",
                        "value": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}],
                 headers={"Content-Type": "application/json-patch+json"})


def test_forbidden_action_escalates_and_invalid_object_is_refused(tmp_path: Path) -> None:
    with sim_world(tmp_path) as (_, kubeconfig, kube):
        create_aa(kube, "narrow", {"trigger": TRIGGER, "approvalMode": "autonomous",
                                   "constraints": {"allowedActions": ["scale", "escalate"]}})
        _loosen_crd(kube)
        create_aa(kube, "broken", {"trigger": {"type": "anomaly", "anomalyScoreThreshold": 1.5},
                                   "approvalMode": "yolo"})
        data = tmp_path / "data"
        with operator_thread(settings_for(kubeconfig, data)):
            done = wait_for("an escalation", lambda: _last(kube, "narrow").get("outcome") == "escalated"
                            and _last(kube, "narrow"))
            broken = wait_for("the invalid object refused", lambda: _condition(get_aa(kube, "broken"), "Ready")
                              .get("status") == "False" and get_aa(kube, "broken"))
        assert image(kube) == BAD, "no action may be taken"
        assert "escalate" in done["summary"] and "rollback" not in done["summary"]
        message = _condition(broken, "Ready")["message"]
        assert "approvalMode" in message and "anomalyScoreThreshold" in message, message
        assert _condition(broken, "Degraded")["status"] == "True"
        warnings = [e for e in events_on(kube, "broken") if e["reason"] == "InvalidSpec"]
        assert warnings and warnings[0]["type"] == "Warning"
        writes = [r for r in audit_records(data) if r["event"] == "execution"
                  and (r.get("plan") or r.get("result") or {}) and "rollback" in str(r)]
        assert not writes
