"""Kill Prophet while a plan waits for approval, start again, approve: the plan executes exactly once.

Real processes, real checkpoints: `prophet run` (human-in-loop policy) runs as a subprocess against a
simulated cluster with a broken image rollout; once the audit log shows the incident waiting for a
human, the process is killed with SIGKILL. A new process lists the incident as pending, `prophet
approve` resumes it from the checkpoint (SQLite by default; a real PostgreSQL server through
`PROPHET_CHECKPOINT_URL` in the second case), the deployment recovers, the audit log has one execution
per action, a second approval is refused, and `prophet audit verify` passes. The approval is checked
under the policy the incident was opened under (which allows the 12-pod rollback), not the built-in
default the approving process would otherwise have.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
from pg_support import postgres

from prophet_sre.sim.cluster import ClusterOptions, SimCluster
from prophet_sre.tools.kube.client import KubeClient
from prophet_sre.tools.kube.errors import Op

SUITE = Path(__file__).resolve().parents[2] / "evals" / "scenarios"
PROPHET = [sys.executable, "-m", "prophet_sre"]
POLICY = """\
apiVersion: aiops.prophet.io/v1alpha1
kind: AutonomousAction
metadata: {name: demo}
spec:
  trigger: {type: k8sgpt, namespaces: [demo]}
  approvalMode: human-in-loop
  constraints:
    allowedActions: [rollback, patch, restart, escalate]
    maxBlastRadius: {pods: 40, replicas: 40}
"""
REPLICAS = 12
"""More pods than the built-in policy's blast radius (10) allows: `prophet approve` runs without
`--policy`, so only an approval checked under the incident's own policy (above) can execute the plan."""

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[SimCluster, Path]]:
    c = SimCluster(ClusterOptions(speed=50.0, scenarios=[SUITE / "bad-image-tag.yaml"]))
    c.start()
    try:
        kubeconfig = c.write_kubeconfig(tmp_path / "kubeconfig")
        kube = KubeClient.from_kubeconfig(kubeconfig)
        try:
            kube.request("PATCH", "/apis/apps/v1/namespaces/demo/deployments/web/scale",
                         op=Op("patch", "deployments/scale", "apps", "demo"),
                         body={"spec": {"replicas": REPLICAS}}, headers={"Content-Type": "application/merge-patch+json"})
        finally:
            kube.close()
        yield c, kubeconfig
    finally:
        c.stop()


def _records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def _waiting(audit: Path) -> str | None:
    for r in _records(audit):
        if r.get("event") == "decision" and (r.get("result") or {}).get("next") == "approval":
            return r["incident_id"]
    return None


def _prophet(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*PROPHET, *args], env=env, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"prophet {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}\n{proc.stdout}")
    return proc


def _available(kubeconfig: Path) -> bool:
    client = KubeClient.from_kubeconfig(kubeconfig)
    try:
        d = client.get_json("/apis/apps/v1/namespaces/demo/deployments/web", op=Op("get", "deployments", "apps"))
    finally:
        client.close()
    st = d.get("status") or {}
    want = (d.get("spec") or {}).get("replicas", 1)
    return st.get("updatedReplicas") == want and st.get("availableReplicas") == want \
        and st.get("observedGeneration", 0) >= d["metadata"]["generation"]


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_kill_while_waiting_then_approve_executes_once(store: str, cluster: tuple[SimCluster, Path],
                                                       tmp_path: Path) -> None:
    _, kubeconfig = cluster
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    data = tmp_path / "data"
    audit = data / "audit.jsonl"
    with postgres() if store == "postgres" else nullcontext(None) as url:
        env = {**os.environ, "PROPHET_DATA_DIR": str(data), "PROPHET_KUBE__KUBECONFIG": str(kubeconfig),
               "HOME": str(tmp_path), "PROPHET_LOG_LEVEL": "WARNING"}
        if url:
            env["PROPHET_CHECKPOINT_URL"] = url
        first = subprocess.Popen([*PROPHET, "run", "--policy", str(policy), "--interval", "0.5"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            incident = None
            while time.monotonic() < deadline and incident is None and first.poll() is None:
                time.sleep(0.3)
                incident = _waiting(audit)
            assert incident, f"no incident waiting for approval; prophet run said:\n{first.stderr.read() if first.poll() is not None else ''}"
        finally:
            first.kill()
            first.wait(timeout=30)
        assert not any(r["event"] == "execution" for r in _records(audit)), "nothing may run before approval"

        listed = json.loads(_prophet(env, "incidents", "-o", "json").stdout)
        assert any(i["id"] == incident and i["outcome"] == "pending_approval" for i in listed), listed

        approved = json.loads(_prophet(env, "approve", incident, "--reason", "looks right", "-o", "json").stdout)
        assert approved[0]["outcome"] == "resolved", approved[0]
        assert approved[0]["approval"]["approved"] is True

        again = _prophet(env, "approve", incident, check=False)
        assert again.returncode != 0 and "not waiting for approval" in again.stderr

        executed = [r for r in _records(audit) if r["event"] == "execution" and r["incident_id"] == incident]
        indices = [r["result"]["action_index"] for r in executed if r["result"].get("phase") == "execute"]
        assert indices and len(indices) == len(set(indices)), indices
        intents = [r for r in _records(audit) if r["event"] == "intent" and r["incident_id"] == incident]
        assert len(intents) >= len(indices)
        assert _available(kubeconfig)
        verify = _prophet(env, "audit", "verify", "--file", str(audit))
        assert "OK" in verify.stdout or "ok" in verify.stdout.lower()
