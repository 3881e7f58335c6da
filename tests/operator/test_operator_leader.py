"""Leader election with two real `prophet operator` processes against one simulated cluster.

Both processes share one data directory (the audit log, the policy ledger) and one checkpointer - the
SQLite file in it, or a real PostgreSQL server through `PROPHET_CHECKPOINT_URL` (started by the test) -
as two replicas share a volume and a database. The first to take the Lease leads and opens the
incident (human-in-loop, so it waits for approval); the follower must do nothing. The leader is killed
with SIGKILL while the incident waits; the approval annotation is set; the follower takes the Lease
after its duration, finds the pending incident in the checkpointer (listed in the object's status),
resumes it: exactly one remediation, the fault fixed, the audit chain intact.

Also, in-process: two `LeaseElector`s racing for one Lease never both lead, and a released Lease is
taken over at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from contextlib import nullcontext
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
    sim_world,
    wait_for,
)

from prophet_sre.operator.controller import APPROVE_ANNOTATION
from prophet_sre.operator.leader import LeaseConfig, LeaseElector
from prophet_sre.policy.audit import verify
from tests.agents.pg_support import postgres

pytestmark = pytest.mark.timeout(240)
PROPHET = [sys.executable, "-m", "prophet_sre"]


def _operator(env: dict[str, str], identity: str, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen([*PROPHET, "operator", "--identity", identity, "--interval", "0.5",
                             "--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "0.5",
                             "--health-port", "0", "--no-runbooks"], env=env, stdout=out, stderr=out)


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_kill_the_leader_while_an_approval_waits(store: str, tmp_path: Path) -> None:
    with sim_world(tmp_path) as (_, kubeconfig, kube), postgres() if store == "postgres" else nullcontext(None) as url:
        create_aa(kube, "hil", {"trigger": {"type": "k8sgpt", "namespaces": ["demo"]},
                                "approvalMode": "human-in-loop",
                                "constraints": {"allowedActions": ["rollback", "patch", "escalate"]}})
        data = tmp_path / "data"
        env = {**os.environ, "PROPHET_DATA_DIR": str(data), "PROPHET_KUBE__KUBECONFIG": str(kubeconfig),
               "HOME": str(tmp_path), "PROPHET_LOG_LEVEL": "INFO", "PROPHET_AGENTS__VERIFY_HOLD_S": "10",
               "PROPHET_AGENTS__VERIFY_POLL_S": "0.2"}
        if url:
            env["PROPHET_CHECKPOINT_URL"] = url
        elector = LeaseElector(kube, "observer", LeaseConfig(namespace="prophet-system"))
        first = _operator(env, "op-a", tmp_path / "a.log")
        second = None
        try:
            wait_for("op-a to lead", lambda: elector.holder() == "op-a", timeout=60)
            second = _operator(env, "op-b", tmp_path / "b.log")
            pending = wait_for("a pending approval",
                               lambda: (get_aa(kube, "hil").get("status") or {}).get("pendingApprovals"))
            incident = pending[0]["incidentId"]
            assert get_aa(kube, "hil")["status"]["leader"] == "op-a"
            assert elector.holder() == "op-a", "the follower must not take the lease from a live leader"
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
            assert image(kube) == "nginx:1.277" and not [r for r in audit_records(data) if r["event"] == "execution"]
            annotate(kube, "hil", {APPROVE_ANNOTATION: incident})
            wait_for("op-b to take over", lambda: elector.holder() == "op-b", timeout=60)
            wait_for("the fault fixed by op-b", lambda: image(kube) == "nginx:1.27" and available(kube), timeout=90)
            status = wait_for("the incident resolved", lambda: (s := get_aa(kube, "hil").get("status") or {})
                              .get("lastIncident", {}).get("outcome") == "resolved" and s)
            assert status["lastIncident"]["id"] == incident and status["leader"] == "op-b"
            assert status["pendingApprovals"] == []
            assert second.poll() is None, "the new leader keeps running"
        finally:
            for p in (first, second):
                if p is not None and p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        p.kill()
        records = audit_records(data)
        executed = [r for r in records if r["event"] == "execution"]
        assert {r["incident_id"] for r in executed} == {incident}, "exactly one remediation"
        phases = [r["result"].get("action_index") for r in executed if r["result"].get("phase") == "execute"]
        assert phases and len(phases) == len(set(phases)), "no action ran twice"
        assert all(r["actor"] == "op-b" for r in executed)
        assert any(r["event"] == "decision" and r["actor"] == "op-a" for r in records)
        assert "Approved" in {e["reason"] for e in events_on(kube, "hil")}
        assert verify(data / "audit.jsonl").ok
        assert elector.holder() in ("", "op-b")  # released on SIGTERM (or still op-b's until it expires)


def test_two_electors_never_lead_together(tmp_path: Path) -> None:
    with sim_world(tmp_path, scenario=None) as (_, _kc, kube):
        config = LeaseConfig(name="race", namespace="prophet-system", lease_duration_s=3.0, renew_deadline_s=2.0,
                             retry_period_s=0.2)
        a, b = LeaseElector(kube, "a", config), LeaseElector(kube, "b", config)
        results: dict[str, bool] = {}
        threads = [threading.Thread(target=lambda e=e: results.__setitem__(e.identity, e.try_acquire_or_renew()))
                   for e in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results.values()) == [False, True], results
        leader, follower = (a, b) if results["a"] else (b, a)
        for _ in range(5):  # a live leader keeps it, whatever the follower tries
            assert leader.try_acquire_or_renew() and not follower.try_acquire_or_renew()
        leader.release()
        assert follower.try_acquire_or_renew(), "a released lease is taken at once"
        assert follower.holder() == follower.identity
