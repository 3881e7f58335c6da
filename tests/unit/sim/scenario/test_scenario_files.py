"""The public scenario suite (`evals/scenarios/*.yaml`) is valid and complete.

Every file passes `validate_file` (against a fresh cluster, or a fresh fleet), is named after its id,
and carries a full `expect` block: the category; a root cause unless the category is `unknown` (a
healthy cluster has none) or a cluster-wide `dns` failure; either at least one right action and what
must not be done, or `none: true` (doing nothing is the right answer); recovery checks and a deadline.
The five product use cases and the classic failures are all there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from prophet_sre.sim.scenario import load_scenario, validate_file

SUITE = Path(__file__).resolve().parents[4] / "evals" / "scenarios"
FILES = sorted(SUITE.glob("*.yaml"))
USE_CASES = {"backend-memory-leak", "east-west-scan", "fleet-cluster-degraded", "db-pool-exhaustion",
             "cascading-resource-exhaustion"}
CLASSICS = {"bad-image-tag", "crash-bad-command", "pvc-missing-storageclass", "wrong-probe-path",
            "service-selector-mismatch", "unsatisfiable-node-selector", "missing-configmap-key"}


def test_the_suite_has_the_use_cases_and_the_classics() -> None:
    assert {f.stem for f in FILES} >= USE_CASES | CLASSICS


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_scenario_file_is_valid_and_complete(path: Path) -> None:
    assert validate_file(path) == []
    sc = load_scenario(path)
    assert sc.id == path.stem
    exp = sc.expect
    assert exp.diagnosis is not None and exp.diagnosis.category == sc.category
    if sc.category.value not in ("unknown", "dns"):
        assert exp.diagnosis.root_cause is not None
    assert exp.actions is not None
    assert exp.actions.none or (exp.actions.any_of and exp.actions.forbidden)
    assert exp.recovered and exp.within is not None and sc.trigger is not None
    if sc.trigger.type == "question":
        assert exp.answer_mentions
