"""The runbook format: the shipped runbooks are clean and complete; lint catches each kind of mistake.

Lint reports every problem with file:line and what to do; `prophet runbooks lint` exits 1 on errors.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from knowledge_support import RUNBOOKS
from typer.testing import CliRunner

from prophet_sre.cli import app
from prophet_sre.domain import Category
from prophet_sre.knowledge import templates
from prophet_sre.knowledge.runbooks import load_dir, parse_text

GOOD = """---
id: sample-runbook
title: Sample
categories: [oom]
symptoms: [OOMKilled, '/exit code 137/']
risk: low
actions:
  - type: rollback
    target: "{{ target }}"
    when: "kind == 'Deployment'"
  - type: set_resources
    target: "{{ target }}"
    limits: {memory: "{{ double(memory_limit) }}"}
  - type: scale
    target: "{{ target }}"
    replicas: "{{ replicas + 1 }}"
verification:
  - {deployment: "{{ namespace }}/{{ name }}", available: true}
---
## What you see
x
## Why
x
## Fix
x
## Verify
x
## Roll back
x
"""


def problems_of(text: str) -> list[str]:
    rb, problems = parse_text(text, "rb.md")
    return [f"{p.line}: {p.message}" for p in problems if p.severity == "error"]


def test_the_shipped_runbooks_lint_clean_and_cover_every_category() -> None:
    books, problems = load_dir(RUNBOOKS)
    assert problems == []
    assert len(books) >= 30
    covered = {c for b in books for c in b.categories}
    assert covered == set(Category), set(Category) - covered
    assert len({b.id for b in books}) == len(books)


@pytest.mark.parametrize(("runbook", "action"), [
    ("oom-memory-leak-after-release", "rollback"),         # rollback after a leaking release
    ("network-east-west-scan", "quarantine"),              # quarantine of a scanning pod
    ("fleet-cluster-degraded-failover", "failover"),       # fleet failover
    ("db-pool-exhaustion", "scale"),                       # DB pool exhaustion
    ("resource-exhaustion-cascading", "scale"),            # cascading resource exhaustion
])
def test_the_product_use_cases_have_a_runbook_with_their_action(runbook: str, action: str) -> None:
    books = {b.id: b for b in load_dir(RUNBOOKS)[0]}
    assert action in [a["type"] for a in books[runbook].actions]


def test_a_good_runbook_parses_and_renders() -> None:
    rb, problems = parse_text(GOOD, "sample-runbook.md")
    assert problems == [] and rb is not None
    ctx = templates.sample_context()
    actions, checks = rb.render(ctx)
    assert [a.type for a in actions] == ["rollback", "set_resources", "scale"]
    assert actions[1].limits == {"memory": "512Mi"} and actions[2].replicas == 4
    assert checks[0].kind == "deployment" and checks[0].target == "shop/backend"
    # no replicas in the evidence: the scale action is skipped, not an error; `when` false: rollback skipped
    actions, _ = rb.render({**ctx, "replicas": None, "kind": "StatefulSet"})
    assert [a.type for a in actions] == ["set_resources"]


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("type: rollback", "type: rollbak", "8: unknown action type 'rollbak'"),
    ('replicas: "{{ replicas + 1 }}"', 'replicas: "{{ replicaz + 1 }}"', "16: unknown variable 'replicaz'"),
    ('replicas: "{{ replicas + 1 }}"', 'replicas: "{{ replicas + }}"', "16: not a valid expression"),
    ('replicas: "{{ replicas + 1 }}"', 'replicas: "{{ __import__(1) }}"', "16: unknown function '__import__'"),
    ('replicas: "{{ replicas + 1 }}"', 'replicas: "lots"', "16: does not render to a valid scale action"),
    ("when: \"kind == 'Deployment'\"", "when: \"kind.lower() == 'x'\"", "10: unknown function 'kind.lower'"),
    ("categories: [oom]", "categories: [oom, memory]", "4: unknown category 'memory'"),
    ("'/exit code 137/'", "'/exit code (137/'", "5: bad regex"),
    ("symptoms: [OOMKilled, '/exit code 137/']", "symptoms:\n  - Failed: x", "6: YAML read this symptom as a mapping"),
    ("{deployment: \"{{ namespace }}/{{ name }}\", available: true}", "{deploy: x}", "18: a check has exactly one of"),
    ("## Fix\n", "## Fixes\n", "missing section '## Fix'"),
    ("risk: low", "risk: extreme", "6: risk must be low, medium or high"),
])
def test_lint_names_the_line_and_what_to_do(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    found = problems_of(GOOD.replace(old, new))
    assert any(expected in p for p in found), found


def test_lint_rejects_a_file_without_front_matter() -> None:
    assert problems_of("# just markdown\n") == [
        "1: no front matter: the file must start with a line '---', then YAML, then '---'"]


def test_cli_lint_exits_1_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "sample-runbook.md").write_text(GOOD)
    (tmp_path / "broken.md").write_text(GOOD.replace("id: sample-runbook", "id: broken")
                                        .replace("type: rollback", "type: reboot"))
    ok = CliRunner().invoke(app, ["runbooks", "lint", str(tmp_path / "sample-runbook.md")])
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(app, ["runbooks", "lint", str(tmp_path)])
    assert bad.exit_code == 1
    assert f"{tmp_path / 'broken.md'}:8: error: unknown action type 'reboot'" in " ".join(bad.output.split())
    assert "1 runbooks ok, 1 errors" in bad.output
