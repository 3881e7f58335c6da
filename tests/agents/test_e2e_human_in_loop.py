"""End to end, human-in-loop: the graph pauses for a human, the test approves, the cluster heals.

Same cases and judging as `test_e2e_autonomous.py`, with the plan waiting for approval first (the
episode approves it as the harness, through `IncidentRunner.resume`, from the checkpoint).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import SCENARIOS, SPEED, SUITE, judge_fixed, judge_hands_off, kind_of

from prophet_sre.evals.episode import run_episode

pytestmark = pytest.mark.timeout(240)


@pytest.mark.parametrize("name", SCENARIOS)
def test_human_in_loop_waits_then_fixes_it(name: str, tmp_path: Path) -> None:
    r = run_episode(SUITE / f"{name}.yaml", speed=SPEED, mode="human-in-loop", workdir=tmp_path)
    if kind_of(name) == "hands-off":
        judge_hands_off(name, r)
        return
    judge_fixed(name, r)
    assert r.decision in ("approve", "needs_approval")
