"""An incident whose process died before its approval request was checkpointed can still be approved.

The critique audits its decision inside its step and the step's checkpoint is written after it, so a
kill in between leaves the audit log saying "waiting for approval" while the checkpoint stops before
the critique (seen in CI with PostgreSQL checkpoints). Here the graph is stopped at that very point
(`interrupt_before=["critique"]`, on a real simulated cluster with a broken rollout and real SQLite
checkpoints); `resume` must run it up to the approval request again, then act on the decision once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from prophet_sre.config import AgentSettings, KubeSettings, Settings
from prophet_sre.domain import ResourceRef
from prophet_sre.errors import InvalidInput
from prophet_sre.graphs.runner import open_runner
from prophet_sre.graphs.state import IncidentState, Outcome, Trigger
from prophet_sre.policy.spec import AutonomousActionSpec
from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.tools.kube.client import KubeClient

SUITE = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
POLICY = AutonomousActionSpec.model_validate({"approvalMode": "human-in-loop",
                                              "constraints": {"allowedActions": ["rollback", "patch", "escalate"]}})
pytestmark = pytest.mark.timeout(180)


def _image(kube: KubeClient) -> str:
    return kube.get("deployments", "web", "demo")["spec"]["template"]["spec"]["containers"][0]["image"]


def test_approving_an_incident_stopped_before_its_request(tmp_path: Path) -> None:
    c = SimCluster(ClusterOptions(speed=50.0, scenarios=[SUITE / "bad-image-tag.yaml"]))
    c.start()
    try:
        kubeconfig = c.write_kubeconfig(tmp_path / "kubeconfig")
        kube = KubeClient.from_kubeconfig(kubeconfig)
        deadline = time.monotonic() + 60
        while _image(kube) != "nginx:1.277" and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # 50 sim s: the new pod fails its pulls
        settings = Settings(data_dir=tmp_path / "data", kube=KubeSettings(kubeconfig=kubeconfig),
                            agents=AgentSettings(verify_hold_s=10.0, verify_poll_s=0.2))
        web = ResourceRef(kind="Deployment", namespace="demo", name="web")
        with open_runner(settings, POLICY, knowledge=False) as r:
            iid = "inc-interrupted"
            initial = IncidentState(incident_id=iid, mode="human-in-loop", policy=POLICY.model_dump(
                mode="json", by_alias=True), trigger=Trigger(type="k8sgpt", reason="web stalls", namespace="demo",
                                                             target=web))
            r.remediation.invoke(initial, r._config(iid), context=r.deps, interrupt_before=["critique"])
            stopped = r.get(iid)
            assert stopped.outcome is None and stopped.plan is not None and r.pending_request(iid) is None
            done = r.resume(iid, approved=True, by="test", reason="approved after a crash")
            assert done.outcome == Outcome.RESOLVED, (done.outcome, done.verdict)
            assert [e.action.type for e in done.executions] == ["rollback"]
            with pytest.raises(InvalidInput, match="not waiting for approval"):
                r.resume(iid, approved=True, by="test")
        assert _image(kube) == "nginx:1.27"
        kube.close()
    finally:
        c.stop()
