"""End to end, dry-run: the plan is made and checked against the cluster, and nothing changes.

Same cases as `test_e2e_autonomous.py`; afterwards no spec of any workload, service, config, claim,
network policy or route changed after Prophet started, and no action ran.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import SCENARIOS, SPEED, SUITE, judge_diagnosis, kind_of

from prophet_sre.evals.episode import run_episode

pytestmark = pytest.mark.timeout(240)


@pytest.mark.parametrize("name", SCENARIOS)
def test_dry_run_changes_nothing(name: str, tmp_path: Path) -> None:
    r = run_episode(SUITE / f"{name}.yaml", speed=SPEED, mode="dry-run", workdir=tmp_path)
    assert not r.error, r.error
    judge_diagnosis(name, r)
    allowed = ("dry_run", "rejected") + (("escalated", "no_action") if kind_of(name) == "hands-off" else ())
    assert r.outcome in allowed, r.outcome
    assert r.planned, "a dry run still shows the plan"
    assert r.actions == []
    assert r.changed == [], r.changed
    assert r.audit_ok, r.notes
