"""The audit log: hash chain, head file, tamper detection, concurrent appends, and Events on objects.

Tampering tests edit the JSONL file the way an attacker (or a broken disk) would and check that
`verify` names the right line. Events are written to the shared simulated cluster (real HTTPS API) and
read back with real kubectl.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from prophet_sre.config import KubeSettings
from prophet_sre.domain import (
    AuditRecord,
    Category,
    Diagnosis,
    Plan,
    ResourceRef,
    RestartAction,
    RuleResult,
    ScaleAction,
    Verdict,
)
from prophet_sre.errors import InvalidInput
from prophet_sre.policy import audit
from prophet_sre.policy.audit import AuditLog, emit_events, record_event, verify
from prophet_sre.tools.kube.client import KubeClient

EVENTS = ("intent", "decision", "approval", "execution", "verification", "rollback", "report", "escalation")


def _record(i: int, incident: str = "") -> AuditRecord:
    """A varied record: some carry a diagnosis, a plan and a verdict, others a result or an approval."""
    event = EVENTS[i % len(EVENTS)]
    ref = ResourceRef(namespace="shop", kind="Deployment", name=f"web-{i % 7}")
    kw: dict = {"id": "", "event": event, "incident_id": incident or f"inc-{i // 10}"}
    if i % 3 == 0:
        kw["diagnosis"] = Diagnosis(category=Category.OOM, summary=f"container killed ({i})", root_cause=ref,
                                    confidence=0.75)
        kw["plan"] = Plan(actions=[ScaleAction(target=ref, replicas=i % 5 + 1)], rationale="more room")
        kw["verdict"] = Verdict(decision="approve", reasons=[RuleResult(rule="blast_radius", passed=True)])
    elif i % 3 == 1:
        kw["result"] = {"ok": True, "changed": {"replicas": i}, "note": "ünïcode ✓"}
    else:
        kw["approval"] = {"by": "alice", "at": "2030-01-01T00:00:00Z"}
        kw["trigger"] = {"type": "anomaly", "score": 0.91, "target": str(ref)}
    return AuditRecord(**kw)


@pytest.fixture(scope="module")
def chain200(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A log of 200 records and its head file, built once; tests tamper with copies."""
    path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    log = AuditLog(path)
    for i in range(200):
        log.append(_record(i))
    return path, log.head_path


@pytest.fixture
def copy200(chain200: tuple[Path, Path], tmp_path: Path) -> Path:
    src, head = chain200
    dst = tmp_path / "audit.jsonl"
    dst.write_bytes(src.read_bytes())
    (tmp_path / "audit.jsonl.head").write_bytes(head.read_bytes())
    return dst


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _write(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def _mentions(problems: list[str], line: int) -> bool:
    return any(f"line {line}" in p for p in problems)


def _flagged(problems: list[str]) -> set[int]:
    """The line numbers problems are reported on (`line N: ...`)."""
    return {int(p.split(":")[0].split()[1]) for p in problems if p.startswith("line ")}


# -- appending ------------------------------------------------------------------------------------------
def test_append_fills_id_time_actor_and_chains(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "sub" / "audit.jsonl", actor="operator")
    first = log.append(AuditRecord(id="", event="intent", incident_id="i1"))
    second = log.append(AuditRecord(id="given-id", event="execution", incident_id="i1", actor="alice",
                                    time=datetime(2030, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))))
    assert len(first.id) == 26 and first.id != second.id
    assert first.actor == "operator" and second.actor == "alice"
    assert first.prev_hash == "" and second.prev_hash == first.hash
    assert second.id == "given-id"
    assert second.time == datetime(2030, 5, 1, 10, 0, tzinfo=UTC)
    # the stored line is the returned record, its time in RFC 3339 UTC, its hash over the canonical JSON
    raw = _lines(log.path)
    doc = orjson.loads(raw[1])
    assert doc["time"] == "2030-05-01T10:00:00Z"
    body = {k: v for k, v in doc.items() if k != "hash"}
    assert doc["hash"] == hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    assert AuditRecord.model_validate(doc) == second
    head = json.loads(log.head_path.read_text())
    assert head["count"] == 2 and head["last_hash"] == second.hash


def test_ids_sort_in_creation_order(tmp_path: Path) -> None:
    ids = [audit.new_id() for _ in range(500)]
    assert ids == sorted(ids) and len(set(ids)) == 500


def test_unknown_event_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    with pytest.raises(InvalidInput, match="intent"):
        log.append(AuditRecord(id="", event="oops"))
    assert not log.path.exists()


def test_records_filter_and_tail(chain200: tuple[Path, Path]) -> None:
    log = AuditLog(chain200[0])
    mine = list(log.records("inc-3"))
    assert [r.incident_id for r in mine] == ["inc-3"] * 10
    assert [r.result["changed"]["replicas"] for r in mine if r.result] == [31, 34, 37]
    tail = log.tail(5)
    assert len(tail) == 5 and tail[-1].hash == json.loads(log.head_path.read_text())["last_hash"]
    assert [r.id for r in tail] == [r.id for r in list(log.records())[-5:]]
    assert log.tail(0) == [] and AuditLog(chain200[0].parent / "none.jsonl").tail() == []


def test_append_after_a_torn_last_line_keeps_the_new_record_whole(copy200: Path) -> None:
    lines = _lines(copy200)
    _write(copy200, [*lines[:-1], lines[-1][:40]])  # a crash mid-write
    log = AuditLog(copy200)
    new = log.append(AuditRecord(id="", event="report"))
    assert new.prev_hash == orjson.loads(lines[-2])["hash"]  # chained to the last valid record
    assert list(log.records())[-1] == new
    report = verify(copy200)
    assert not report.ok and _mentions(report.problems, 200)
    assert len(report.problems) == 1, report.problems  # the head was rewritten to the new end


# -- verification ---------------------------------------------------------------------------------------
def test_chain_of_200_verifies(chain200: tuple[Path, Path]) -> None:
    report = verify(chain200[0])
    assert report.ok, report.problems
    assert report.records == 200 and report.problems == []


def test_empty_or_missing_log_verifies(tmp_path: Path) -> None:
    assert verify(tmp_path / "missing.jsonl").model_dump(include={"ok", "records"}) == {"ok": True, "records": 0}
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert verify(tmp_path / "empty.jsonl").ok


def test_edited_field_is_reported_on_its_line(copy200: Path) -> None:
    lines = _lines(copy200)
    doc = orjson.loads(lines[41])
    doc["actor"] = "prophes"  # one byte of one field, the line re-serialised
    lines[41] = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) + b"\n"
    _write(copy200, lines)
    report = verify(copy200)
    assert not report.ok and report.records == 200
    assert len(report.problems) == 1 and "line 42" in report.problems[0] and "edited" in report.problems[0]


def test_edited_nested_value_is_reported(copy200: Path) -> None:
    lines = _lines(copy200)
    text = lines[99]
    assert b'"replicas":' in text
    lines[99] = text.replace(b'"decision":"approve"', b'"decision":"reject"', 1) if b"approve" in text else \
        text.replace(b'"ok":true', b'"ok":false', 1)
    assert lines[99] != text
    _write(copy200, lines)
    report = verify(copy200)
    assert [p for p in report.problems if "line 100" in p and "edited" in p]


def test_deleted_middle_line_is_reported(copy200: Path) -> None:
    lines = _lines(copy200)
    del lines[119]
    _write(copy200, lines)
    report = verify(copy200)
    assert not report.ok and report.records == 199
    assert _flagged(report.problems) == {120}
    assert any("line 120:" in p and "dropped" in p for p in report.problems)
    assert any("199 records but head file says 200" in p for p in report.problems)


def test_swapped_lines_are_reported(copy200: Path) -> None:
    lines = _lines(copy200)
    lines[60], lines[61] = lines[61], lines[60]
    _write(copy200, lines)
    report = verify(copy200)
    # 61 and 62 no longer follow their predecessors, and 63 no longer follows what is now line 62
    assert not report.ok and _flagged(report.problems) == {61, 62, 63}
    assert not any("edited" in p for p in report.problems)


def test_deleted_first_line_is_reported(copy200: Path) -> None:
    _write(copy200, _lines(copy200)[1:])
    report = verify(copy200)
    assert _mentions(report.problems, 1) and any("first record" in p for p in report.problems)


def test_deleted_last_line_is_caught_by_the_head(copy200: Path) -> None:
    _write(copy200, _lines(copy200)[:-1])
    report = verify(copy200)
    assert not report.ok and report.records == 199
    assert any("199 records but head file says 200" in p for p in report.problems)
    assert _mentions(report.problems, 199)


def test_truncated_mid_line_is_reported(copy200: Path) -> None:
    data = copy200.read_bytes()
    copy200.write_bytes(data[:-57])
    report = verify(copy200)
    assert not report.ok
    assert any("line 200" in p and "not valid JSON" in p for p in report.problems)


def test_forged_line_with_recomputed_hash_is_caught(copy200: Path) -> None:
    lines = _lines(copy200)
    prev = orjson.loads(lines[29])
    forged = _record(999).model_copy(update={"id": "FORGED", "time": datetime(2030, 1, 1, tzinfo=UTC),
                                             "actor": "prophet", "prev_hash": prev["hash"]})
    doc = forged.model_dump(mode="json")
    doc["hash"] = audit.record_hash(doc)
    lines.insert(30, orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) + b"\n")
    _write(copy200, lines)
    report = verify(copy200)
    assert not report.ok and report.records == 201
    # its own hash is right and it links to line 30, so the break shows on the line after it
    assert not any("line 31:" in p for p in report.problems)
    assert any(p.startswith("line 32:") and "line 31" in p for p in report.problems)
    assert any("201 records but head file says 200" in p for p in report.problems)


def test_forged_record_appended_at_the_end_is_caught_by_the_head(copy200: Path) -> None:
    lines = _lines(copy200)
    last = orjson.loads(lines[-1])
    doc = _record(5).model_copy(update={"id": "X", "prev_hash": last["hash"]}).model_dump(mode="json")
    doc["hash"] = audit.record_hash(doc)
    _write(copy200, [*lines, orjson.dumps(doc) + b"\n"])
    report = verify(copy200)
    assert not report.ok
    assert any("line 201" in p and "head" in p for p in report.problems)


def test_edited_record_with_recomputed_hash_breaks_the_chain_after_it(copy200: Path) -> None:
    lines = _lines(copy200)
    doc = orjson.loads(lines[9])
    doc["actor"] = "mallory"
    doc["hash"] = audit.record_hash(doc)
    lines[9] = orjson.dumps(doc) + b"\n"
    _write(copy200, lines)
    report = verify(copy200)
    assert [p[:8] for p in report.problems] == ["line 11:"]


def test_line_that_is_not_a_record_is_reported(copy200: Path) -> None:
    lines = _lines(copy200)
    lines[4] = b'{"hello": "world"}\n'
    lines[5] = b"[1, 2]\n"
    _write(copy200, lines)
    report = verify(copy200)
    assert any(p.startswith("line 5: not an audit record") for p in report.problems)
    assert any(p.startswith("line 6: not a JSON object") for p in report.problems)


def test_missing_or_bad_head_file_is_a_problem(copy200: Path) -> None:
    head = copy200.with_name(copy200.name + ".head")
    head.unlink()
    assert any("head file" in p and "missing" in p for p in verify(copy200).problems)
    head.write_text("{}")
    assert any("head file" in p for p in verify(copy200).problems)


def test_emptied_log_is_caught_by_the_head(copy200: Path) -> None:
    copy200.write_bytes(b"")
    report = verify(copy200)
    assert not report.ok and report.records == 0


# -- concurrency ----------------------------------------------------------------------------------------
def _append_many(path: str, worker: int, n: int) -> None:
    log = AuditLog(Path(path), actor=f"worker-{worker}")
    for i in range(n):
        log.append(AuditRecord(id="", event="decision", incident_id=f"w{worker}", result={"i": i}))


def test_two_processes_append_concurrently(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(path), w, 200)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    report = verify(path)
    assert report.ok, report.problems[:5]
    assert report.records == 400
    log = AuditLog(path)
    for w in (1, 2):  # each process's records are all there, in its own order
        assert [r.result["i"] for r in log.records(f"w{w}")] == list(range(200))


# -- what a record is about -------------------------------------------------------------------------------
def test_summary_and_targets() -> None:
    a = ResourceRef.parse("shop/deployment/web")
    b = ResourceRef.parse("shop/deployment/api")
    rec = AuditRecord(id="1", event="decision",
                      diagnosis=Diagnosis(category=Category.OOM, summary="web is OOMKilled", root_cause=a),
                      plan=Plan(actions=[RestartAction(target=a), ScaleAction(target=b, replicas=3),
                                         RestartAction(target=a)]),
                      verdict=Verdict(decision="reject", reasons=[RuleResult(rule="cooldown", passed=False)]))
    assert audit.targets(rec) == [a, b]
    text = audit.summary(rec)
    assert "oom: web is OOMKilled" in text and "restart shop/deployment/web" in text and "(cooldown)" in text
    assert len(audit.summary(rec, 40)) == 40
    trig = AuditRecord(id="2", event="intent", trigger={"target": "/node/n1"})
    assert audit.targets(trig) == [ResourceRef(kind="Node", name="n1")]
    assert audit.event_reason("intent") == "ProphetIntent"


# -- Kubernetes Events ------------------------------------------------------------------------------------
NS = "audit-events"


@pytest.fixture(scope="module")
def kube(sim_kubeconfig: Path, kubectl) -> Iterator[KubeClient]:
    kubectl("create", "namespace", NS)
    kubectl("create", "deployment", "web", "--image=registry.local/web:1", "--replicas=0", "-n", NS)  # no pods: the cluster is shared
    client = KubeClient.from_kubeconfig(sim_kubeconfig)
    yield client
    client.close()


def _events(kubectl, namespace: str, name: str) -> list[dict]:
    return kubectl.json("get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")["items"]


def test_event_on_a_live_deployment(kube: KubeClient, kubectl) -> None:
    target = ResourceRef.parse(f"{NS}/deploy/web")
    assert record_event(kube, target, reason="ProphetIntent", message="Prophet will restart web",
                        incident_id="inc-42")
    uid = kubectl.json("get", "deployment", "web", "-n", NS)["metadata"]["uid"]
    evs = [e for e in _events(kubectl, NS, "web") if e["reason"] == "ProphetIntent"]
    assert len(evs) == 1
    ev = evs[0]
    assert ev["involvedObject"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                    "namespace": NS, "uid": uid,
                                    "resourceVersion": ev["involvedObject"]["resourceVersion"]}
    assert ev["type"] == "Normal" and ev["source"]["component"] == "prophet"
    assert ev["reportingComponent"] == "prophet"
    assert ev["message"] == "Prophet will restart web (incident inc-42)"
    assert ev["metadata"]["annotations"]["prophet.io/incident"] == "inc-42"


def test_event_on_a_node_goes_to_default(kube: KubeClient, kubectl) -> None:
    node = kubectl.json("get", "nodes")["items"][-1]
    name = node["metadata"]["name"]
    assert record_event(kube, ResourceRef.parse(f"/node/{name}"), reason="ProphetExecution",
                        message="cordoned", type="Warning")
    evs = [e for e in _events(kubectl, "default", name) if e["reason"] == "ProphetExecution"]
    assert len(evs) == 1
    assert evs[0]["involvedObject"]["kind"] == "Node"
    assert evs[0]["involvedObject"]["uid"] == node["metadata"]["uid"]
    assert "namespace" not in evs[0]["involvedObject"] and evs[0]["type"] == "Warning"


def test_event_on_a_missing_object_has_no_uid(kube: KubeClient, kubectl) -> None:
    assert record_event(kube, ResourceRef.parse(f"{NS}/deployment/ghost"), reason="ProphetReport",
                        message="x" * 5000)
    evs = _events(kubectl, NS, "ghost")
    assert len(evs) == 1
    assert "uid" not in evs[0]["involvedObject"]
    assert len(evs[0]["message"]) <= 1024 and evs[0]["message"].endswith("...")


def test_event_failures_return_false(kube: KubeClient, sim_kubeconfig: Path, tmp_path: Path,
                                     caplog: pytest.LogCaptureFixture) -> None:
    # a namespace that does not exist: the API server refuses the Event (NotFound)
    assert record_event(kube, ResourceRef.parse("no-such-ns/deployment/web"), reason="ProphetIntent",
                        message="m") is False
    assert "could not record" in caplog.text
    # an API server that is not there at all
    cfg = sim_kubeconfig.read_text()
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(re.sub(r"server: https://127\.0\.0\.1:\d+", "server: https://127.0.0.1:9", cfg))
    client = KubeClient.from_kubeconfig(dead, settings=KubeSettings(retries=0, request_timeout_s=2))
    try:
        assert record_event(client, ResourceRef.parse(f"{NS}/deployment/web"), reason="ProphetIntent",
                            message="m") is False
    finally:
        client.close()


def test_emit_events_writes_one_per_target(kube: KubeClient, kubectl) -> None:
    web = ResourceRef.parse(f"{NS}/deployment/web")
    rec = AuditRecord(id="r1", event="rollback", incident_id="inc-7",
                      plan=Plan(actions=[RestartAction(target=web), ScaleAction(target=web, replicas=2)]))
    assert emit_events(rec, lambda cluster: kube) == 1
    evs = [e for e in _events(kubectl, NS, "web") if e["reason"] == "ProphetRollback"]
    assert len(evs) == 1 and evs[0]["type"] == "Warning"
    assert evs[0]["message"].startswith("Prophet rollback: plan: restart") and "inc-7" in evs[0]["message"]
