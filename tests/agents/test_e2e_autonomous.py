"""End to end, autonomous: the product use cases and the classic faults are fixed with no human.

Each case starts the scenario's world (a simulated cluster, or a four-cluster fleet; a real Prometheus
scraping it), waits for the scenario's own trigger, runs the remediation graph with no LLM, and judges
the cluster afterwards (`e2e_support.py`): the diagnosis is the scenario's, one of its `any_of` actions
ran, nothing `forbidden` ran, every `recovered` check holds, and the audit chain verifies.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import SCENARIOS, SPEED, SUITE, judge_diagnosis, judge_fixed, judge_hands_off, kind_of

from prophet_sre.evals.episode import run_episode

pytestmark = pytest.mark.timeout(240)


@pytest.mark.parametrize("name", SCENARIOS)
def test_autonomous_fixes_it(name: str, tmp_path: Path) -> None:
    kind = kind_of(name)
    r = run_episode(SUITE / f"{name}.yaml", speed=SPEED, mode="autonomous", workdir=tmp_path)
    if kind == "hands-off":
        judge_hands_off(name, r)
    elif kind == "approval":  # a high-risk step: even autonomous Prophet waits for a human, and writes nothing
        judge_diagnosis(name, r)
        assert r.outcome == "pending_approval", (r.outcome, r.notes)
        assert r.actions == [], r.actions
    else:
        judge_fixed(name, r)
