"""The suite runner and its reports: worker processes, invalid files, crashes, Pass@1 / Pass^k, the CLI.

Runs `prophet eval` on the harness's own scenarios (tests/evals/scenarios: one valid, one invalid) with
two worker processes, then checks the JSON result file, the Markdown and HTML reports and `compare`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prophet_sre.cli import app
from prophet_sre.errors import InvalidInput
from prophet_sre.evals.compare import compare
from prophet_sre.evals.parallel import Task, execute, parse_llm
from prophet_sre.evals.report_html import html_report
from prophet_sre.evals.report_md import markdown
from prophet_sre.evals.suite import SuiteResult, discover, load_result, pass_hat_k

HERE = Path(__file__).parent / "scenarios"


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    out = tmp_path_factory.mktemp("eval")
    result, report = out / "a.json", out / "report.html"
    res = CliRunner().invoke(app, ["eval", str(HERE), "--jobs", "2", "--repeat", "2", "-o", "md",
                                   "--json", str(result), "--report", str(report)])
    assert res.exit_code == 0, res.output
    return result, report, res.output


def test_the_suite_runs_each_valid_scenario_k_times_and_reports_the_invalid_one(suite_run: tuple[Path, Path, str]) -> None:
    result = load_result(suite_run[0])
    assert [(r.scenario, r.repeat) for r in result.runs] == [("harness-selector", 0), ("harness-selector", 1)]
    assert all(r.score.passed and r.score.safety == 1 for r in result.runs), [r.score.reasons for r in result.runs]
    assert result.totals.pass_at_1 == 1.0 and result.totals.pass_hat_k == 1.0 and result.totals.k == 2
    assert set(result.by_category) == {"service_selector"} and set(result.by_tag) == {"harness", "networking"}
    assert result.totals.mttr_median_s is not None and result.wall_s > 0
    [invalid] = result.invalid
    assert invalid.file.endswith("broken.yaml")
    assert {"field": "faults[0].rollout.imgae", "reason": "unknown field; known fields: container, image, target"} \
        in invalid.problems
    # each run carries the agent's reasoning and audit trail for the report
    ep = result.runs[0].episode
    assert ep.timeline and ep.audit and ep.diagnosis and ep.diagnosis["category"] == "service_selector"


def test_markdown_and_html_reports(suite_run: tuple[Path, Path, str]) -> None:
    _, report, md = suite_run
    assert "**Pass@1 100%**" in md and "| service_selector |" in md and "faults[0].rollout.imgae" in md
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no external assets
    assert "<script" not in html and "broken.yaml" in html


def test_html_report_shows_failures_with_reasoning_and_escapes_run_text(suite_run: tuple[Path, Path, str]) -> None:
    result = load_result(suite_run[0])
    run = result.runs[0]
    run.score.passed, run.score.safety = False, 0
    run.score.reasons = ["SAFETY: forbidden action ran: restart demo/deployment/web"]
    run.episode.evidence = ["log line: <script>alert(1)</script>"]
    html = html_report(result)
    assert "SAFETY VIOLATION" in html and "Audit trail" in html and "Agent steps" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_compare_finds_a_broken_scenario_and_a_new_safety_violation(suite_run: tuple[Path, Path, str],
                                                                    tmp_path: Path) -> None:
    a_path = suite_run[0]
    doc = json.loads(a_path.read_text())
    doc["runs"][1]["score"].update(passed=False, safety=0, violations=["forbidden action ran: restart x"],
                                   reasons=["SAFETY: forbidden action ran: restart x"])
    b_path = tmp_path / "b.json"
    b_path.write_text(json.dumps(doc))
    cmp = compare(load_result(a_path), load_result(b_path))
    assert [c.change for c in cmp.scenarios] == ["new_safety_violation", "broken"]
    assert cmp.regressed
    res = CliRunner().invoke(app, ["eval", "compare", str(a_path), str(b_path), "-o", "md"])
    assert res.exit_code == 1 and "new_safety_violation" in res.output
    same = CliRunner().invoke(app, ["eval", "compare", str(a_path), str(a_path), "-o", "json"])
    assert same.exit_code == 0 and json.loads(same.output)["scenarios"] == []


def test_a_run_that_cannot_start_is_a_failed_run_with_its_traceback() -> None:
    task = Task(path=str(HERE / "vanished.yaml"), scenario="vanished", speed=50)
    [result] = execute([task], jobs=1).values()  # in a real worker process
    assert "InvalidInput" in result["error"] and "Traceback" in result["error"]


def test_bad_input_is_reported_clearly(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such scenario file or directory"):
        discover([tmp_path / "nope"])
    with pytest.raises(InvalidInput, match="provider must be one of"):
        parse_llm("gpt4")
    with pytest.raises(InvalidInput, match="name the model"):
        parse_llm("ollama:")
    assert parse_llm("ollama:llama3.2") == {"provider": "ollama", "model": "llama3.2"}
    bad = tmp_path / "bad.json"
    for text in ("{}", "[]", "not json"):
        bad.write_text(text)
        with pytest.raises(InvalidInput, match="not an eval result file"):
            load_result(bad)
    res = CliRunner().invoke(app, ["eval", str(HERE), "--mode", "sideways"])
    assert res.exit_code != 0


def test_discovery_skips_kubernetes_manifests() -> None:
    assert sorted(p.name for p in discover([HERE])) == ["broken.yaml", "selector.yaml"]


def test_pass_hat_k_is_the_chance_that_k_runs_all_pass() -> None:
    assert pass_hat_k(4, 4, 4) == 1.0
    assert pass_hat_k(4, 3, 4) == 0.0
    assert pass_hat_k(4, 3, 1) == 0.75
    assert pass_hat_k(4, 2, 2) == pytest.approx(1 / 6)


def test_markdown_of_an_empty_suite_does_not_crash() -> None:
    assert "Pass@1" in markdown(SuiteResult())
