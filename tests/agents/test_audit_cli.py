"""`prophet audit verify|show`, run in-process through Typer's runner on real log files."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from prophet_sre.cli import app
from prophet_sre.domain import AuditRecord, Category, Diagnosis, Plan, ResourceRef, RestartAction
from prophet_sre.policy.audit import AuditLog

runner = CliRunner()


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl")
    web = ResourceRef.parse("shop/deployment/web")
    for i in range(30):
        inc = "inc-a" if i % 2 else "inc-b"
        if i % 3 == 0:
            rec = AuditRecord(id="", event="decision", incident_id=inc,
                              diagnosis=Diagnosis(category=Category.CRASHLOOP, summary=f"web crashes {i}",
                                                  root_cause=web),
                              plan=Plan(actions=[RestartAction(target=web)]))
        else:
            rec = AuditRecord(id="", event="execution", incident_id=inc, result={"ok": True, "n": i})
        log.append(rec)
    return log


def test_verify_ok(log: AuditLog) -> None:
    res = runner.invoke(app, ["audit", "verify", "--file", str(log.path)])
    assert res.exit_code == 0, res.output
    assert "audit chain OK: 30 records" in res.output


def test_verify_tampered_names_the_line(log: AuditLog) -> None:
    lines = log.path.read_bytes().splitlines(keepends=True)
    doc = orjson.loads(lines[6])
    doc["incident_id"] = "inc-z"
    lines[6] = orjson.dumps(doc) + b"\n"
    log.path.write_bytes(b"".join(lines))
    res = runner.invoke(app, ["audit", "verify", "--file", str(log.path)])
    assert res.exit_code == 1
    assert "BROKEN" in res.output and "line 7: hash does not match" in res.output


def test_verify_json(log: AuditLog) -> None:
    res = runner.invoke(app, ["audit", "verify", "-f", str(log.path), "-o", "json"])
    assert res.exit_code == 0
    doc = json.loads(res.output)
    assert doc["ok"] is True and doc["records"] == 30 and doc["problems"] == []
    lines = log.path.read_bytes().splitlines(keepends=True)
    log.path.write_bytes(b"".join(lines[:10] + lines[11:]))
    res = runner.invoke(app, ["audit", "verify", "-f", str(log.path), "-o", "json"])
    assert res.exit_code == 1
    doc = json.loads(res.output)
    assert doc["ok"] is False and doc["records"] == 29
    assert any(p.startswith("line 11:") for p in doc["problems"])


def test_verify_unreadable_file_exits_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["audit", "verify", "--file", str(tmp_path)])  # a directory
    assert res.exit_code == 2
    assert "cannot read audit log" in res.output


def test_verify_defaults_to_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROPHET_DATA_DIR", str(tmp_path / "data"))
    res = runner.invoke(app, ["audit", "verify"])
    assert res.exit_code == 0 and "0 records" in res.output
    AuditLog(tmp_path / "data" / "audit.jsonl").append(AuditRecord(id="", event="report"))
    res = runner.invoke(app, ["audit", "verify"])
    assert res.exit_code == 0 and "1 records" in res.output


def test_show_table(log: AuditLog) -> None:
    res = runner.invoke(app, ["audit", "show", "--file", str(log.path), "--last", "6"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "6 audit records" in res.output
    assert "crashloop: web crashes 27" in res.output and "execution" in res.output
    assert "web crashes 21" not in res.output  # older than the last 6


def test_show_json_lines_filtered_by_incident(log: AuditLog) -> None:
    res = runner.invoke(app, ["audit", "show", "-f", str(log.path), "--incident", "inc-a", "-n", "100",
                              "-o", "json"])
    assert res.exit_code == 0
    recs = [AuditRecord.model_validate_json(line) for line in res.output.splitlines()]
    assert len(recs) == 15 and {r.incident_id for r in recs} == {"inc-a"}
    assert recs == list(log.records("inc-a"))


def test_show_empty(tmp_path: Path) -> None:
    res = runner.invoke(app, ["audit", "show", "--file", str(tmp_path / "none.jsonl")])
    assert res.exit_code == 0 and "no audit records" in res.output


def test_bad_output_format_exits_2(log: AuditLog) -> None:
    res = runner.invoke(app, ["audit", "verify", "--file", str(log.path), "-o", "yaml"])
    assert res.exit_code == 2
