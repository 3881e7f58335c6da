"""Which policy an approval is checked under (no cluster needed: nothing here reaches one).

An incident records the `AutonomousAction` spec it was opened under. Whoever resumes it - `prophet
approve` in another process, the MCP server, an operator replica - re-checks the plan under that
policy, made stricter by its own when it was given one, and never under a looser or a defaulted one.
The end-to-end case (a 12-pod rollback the built-in policy would refuse, approved from a new process)
is in test_approval_restart.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver

from prophet_sre.config import Settings
from prophet_sre.graphs.context import build_deps
from prophet_sre.graphs.runner import IncidentRunner
from prophet_sre.graphs.state import IncidentState
from prophet_sre.policy.spec import AutonomousActionSpec

OPENED_UNDER = AutonomousActionSpec.model_validate({
    "approvalMode": "human-in-loop",
    "constraints": {"allowedActions": ["rollback", "scale", "escalate"], "maxBlastRadius": {"pods": 40},
                    "cooldownSeconds": 60}})


@contextmanager
def runner(tmp_path: Path, policy: AutonomousActionSpec | None) -> Iterator[IncidentRunner]:
    deps = build_deps(Settings(data_dir=tmp_path), policy, knowledge=False)
    try:
        yield IncidentRunner(deps, InMemorySaver())
    finally:
        deps.clients.close()


def waiting(policy: AutonomousActionSpec | None) -> IncidentState:
    dumped = policy.model_dump(mode="json", by_alias=True) if policy else None
    return IncidentState(incident_id="inc-1", mode="human-in-loop", policy=dumped)


def test_a_process_without_a_policy_resumes_under_the_incidents_own(tmp_path: Path) -> None:
    with runner(tmp_path, None) as r:
        assert not r.deps.policy_given
        used = r._resuming(waiting(OPENED_UNDER)).policy
    assert used == OPENED_UNDER
    assert used.constraints.max_blast_radius.pods == 40  # the built-in default would have said 10
    assert used.constraints.allowed_actions == ["rollback", "scale", "escalate"]


def test_a_given_policy_only_makes_the_check_stricter(tmp_path: Path) -> None:
    own = AutonomousActionSpec.model_validate({
        "approvalMode": "autonomous",
        "constraints": {"allowedActions": ["rollback", "restart"], "maxBlastRadius": {"pods": 100},
                        "cooldownSeconds": 600, "forbiddenNamespaces": ["vault"]}})
    with runner(tmp_path, own) as r:
        assert r.deps.policy_given
        used = r._resuming(waiting(OPENED_UNDER)).policy
    c = used.constraints
    assert c.allowed_actions == ["rollback"]  # allowed by both
    assert c.max_blast_radius.pods == 40 and c.cooldown_seconds == 600
    assert {"vault", "kube-system"} <= set(c.forbidden_namespaces)  # the union
    assert used.approval_mode == "human-in-loop"


def test_an_incident_from_before_policies_were_recorded_resumes_under_the_process_policy(tmp_path: Path) -> None:
    with runner(tmp_path, OPENED_UNDER) as r:
        assert r._resuming(waiting(None)) is r.deps
