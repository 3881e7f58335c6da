"""The audit log: every decision Prophet makes, in an append-only, hash-chained JSONL file.

Why a hash chain: the log is the evidence of what an autonomous system did to a cluster, so it must show
when it was changed after the fact. Each line is one `AuditRecord` whose `hash` is the sha256 of its own
canonical JSON (orjson, sorted keys, every field but `hash`) and whose `prev_hash` is the previous line's
`hash`. Editing a record breaks its own hash; dropping, inserting or reordering records breaks the chain.
Dropping the *last* records leaves a valid chain, so a small head file next to the log (`<log>.head`:
record count and last hash, replaced atomically) records where the log ended. `verify` checks all of it.
This makes tampering evident, not impossible: whoever can rewrite the whole file and its head can forge
a consistent history (ship the log off the host for that).

Why fsync on every append: the graph writes an `intent` record *before* any write to the cluster, and
that record must survive a crash that happens during the write. Appends are serialised across processes
with an exclusive `fcntl.flock` on the log around read-last-hash + append + head update, so the operator
and a CLI `prophet approve` can share one log.

Records about an object also become Kubernetes Events on it: see `kube_events.py` (`record_event`).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson
from pydantic import BaseModel, Field, ValidationError

from prophet_sre.domain import AuditRecord, ResourceRef
from prophet_sre.errors import InvalidInput, ProphetError
from prophet_sre.policy.kube_events import record_event

if TYPE_CHECKING:
    from prophet_sre.tools.kube.client import KubeClient

log = logging.getLogger(__name__)

EVENTS: tuple[str, ...] = ("trigger", "diagnosis", "plan", "decision", "approval", "intent", "execution",
                           "verification", "rollback", "report", "escalation", "answer")
"""The kinds of record (`AuditRecord.event`), in the order an incident produces them: what started it, the
diagnosis, the plan, the critic's decision, a human's approval, the intent before each write, its
execution, verification, rollback, the final report; `escalation` hands over to a human; `answer` is the
query graph's reply to a question."""

HEAD_SUFFIX = ".head"
_TAIL_CHUNK = 64 * 1024
MAX_PROBLEMS = 1000
"""`verify` stops listing problems after this many (a rewritten log would otherwise list every line)."""


# -- canonical form and hashing --------------------------------------------------------------------------
def canonical(doc: dict[str, Any]) -> bytes:
    """The bytes that are hashed: the record's JSON object without `hash`, keys sorted, no whitespace."""
    return orjson.dumps({k: v for k, v in doc.items() if k != "hash"}, option=orjson.OPT_SORT_KEYS)


def record_hash(record: AuditRecord | dict[str, Any]) -> str:
    """sha256 hex of the canonical JSON of a record (a model, or the JSON object of one stored line)."""
    doc = record.model_dump(mode="json") if isinstance(record, AuditRecord) else record
    return hashlib.sha256(canonical(doc)).hexdigest()


def head_path(path: Path) -> Path:
    return path.with_name(path.name + HEAD_SUFFIX)


# -- ids -------------------------------------------------------------------------------------------------
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_id_lock = threading.Lock()
_id_last: list[int] = [0, 0]  # [millisecond, random part] of the latest id from this process


def new_id() -> str:
    """A ULID: 26 characters, sortable by creation time (milliseconds), unique without coordination.

    Ids minted in the same millisecond by one process increase (the random part is incremented), so a
    process's records sort in the order it created them.
    """
    ms = time.time_ns() // 1_000_000
    with _id_lock:
        if ms <= _id_last[0]:
            ms, rand = _id_last[0], (_id_last[1] + 1) & ((1 << 80) - 1)
        else:
            rand = secrets.randbits(80)
        _id_last[0], _id_last[1] = ms, rand
    value = (ms << 80) | rand
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


# -- the log ---------------------------------------------------------------------------------------------
class AuditLog:
    """One append-only, hash-chained JSONL file (and its head file)."""

    def __init__(self, path: Path, *, actor: str = "prophet") -> None:
        self.path = Path(path).expanduser()
        self.actor = actor
        self._lock = threading.Lock()  # flock serialises processes; this serialises threads sharing us

    @property
    def head_path(self) -> Path:
        return head_path(self.path)

    def append(self, record: AuditRecord) -> AuditRecord:
        """Chain `record` to the log and write it durably; returns the record as stored.

        Fills `id` (when empty), `time` (when not set explicitly; always stored in UTC), `actor` (when not
        set explicitly: this log's actor), `prev_hash` and `hash`. Returns only once the line is on disk.
        """
        if record.event not in EVENTS:
            raise InvalidInput(f"audit record event must be one of {', '.join(EVENTS)}, not {record.event!r}")
        fields = record.model_fields_set
        updates: dict[str, Any] = {}
        if not record.id:
            updates["id"] = new_id()
        updates["time"] = _utc(record.time) if "time" in fields else datetime.now(UTC)
        if "actor" not in fields or not record.actor:
            updates["actor"] = self.actor
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                count, last = self._state(f)
                stored = record.model_copy(update={**updates, "prev_hash": last, "hash": ""})
                doc = stored.model_dump(mode="json")
                digest = record_hash(doc)
                doc["hash"] = digest
                prefix = b"" if self._ends_with_newline(f) else b"\n"  # a torn last line stays on its own
                f.write(prefix + orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) + b"\n")
                f.flush()
                os.fsync(f.fileno())
                self._write_head(count + 1, digest)
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return stored.model_copy(update={"hash": digest})

    def records(self, incident_id: str | None = None) -> Iterator[AuditRecord]:
        """Every readable record in file order (only those of `incident_id` when given).

        Lines that are not records (a torn write, an edit) are skipped with a warning: reading is for
        display; `verify` is what judges the log.
        """
        for lineno, raw in _lines(self.path):
            rec = _parse(raw)
            if not isinstance(rec, AuditRecord):
                log.warning("audit log %s line %d skipped: %s", self.path, lineno, rec)
                continue
            if incident_id is None or rec.incident_id == incident_id:
                yield rec

    def tail(self, n: int = 20) -> list[AuditRecord]:
        """The last `n` readable records, oldest first."""
        if n <= 0:
            return []
        return list(collections.deque(self.records(), maxlen=n))

    # -- internals (called with the flock held) -------------------------------------------------------
    def _state(self, f: BinaryIO) -> tuple[int, str]:
        """(record count, hash of the last record) of the log as it is on disk now.

        The last line is read from the end of the file; the count comes from the head file when the head
        agrees with that last line, else (a crash between the two writes, or an old log) from a scan.
        """
        last_line = _last_line(f)
        last = _hash_of(last_line) if last_line else ""
        if last_line and last is None:  # a torn or edited last line: chain to the last good record
            log.warning("audit log %s: the last line is not a record; chaining to the last valid one", self.path)
            last = ""
            for _, raw in _lines(self.path):
                last = _hash_of(raw) or last
        head = _read_head(self.head_path)
        if head is not None and head.last_hash == last and (head.count > 0) == bool(last):
            return head.count, last or ""
        return sum(1 for _ in _lines(self.path)), last or ""

    @staticmethod
    def _ends_with_newline(f: BinaryIO) -> bool:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return True
        f.seek(size - 1)
        ends = f.read(1) == b"\n"
        f.seek(0, os.SEEK_END)
        return ends

    def _write_head(self, count: int, last_hash: str) -> None:
        tmp = self.head_path.with_name(self.head_path.name + f".tmp{os.getpid()}")
        data = orjson.dumps({"count": count, "last_hash": last_hash, "updated": datetime.now(UTC)},
                            option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z)
        with open(tmp, "wb") as h:
            h.write(data + b"\n")
            h.flush()
            os.fsync(h.fileno())
        os.replace(tmp, self.head_path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class Head(BaseModel):
    """The head file: how many records the log holds and the hash of the last one."""

    count: int = Field(ge=0)
    last_hash: str = ""


def _read_head(path: Path) -> Head | None:
    try:
        return Head.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as e:
        log.warning("audit head file %s is unreadable: %s", path, e)
        return None


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line without its newline) of every non-empty line; nothing if missing."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.rstrip(b"\r\n")
            if line.strip():
                yield lineno, line


def _last_line(f: BinaryIO) -> bytes:
    """The last non-empty line of an open file, read backwards from its end in chunks."""
    end = f.seek(0, os.SEEK_END)
    buf = b""
    pos = end
    while pos > 0:
        step = min(_TAIL_CHUNK, pos)
        pos -= step
        f.seek(pos)
        buf = f.read(step) + buf
        stripped = buf.rstrip(b"\r\n \t")
        cut = stripped.rfind(b"\n")
        if cut >= 0:
            return stripped[cut + 1:]
    f.seek(0, os.SEEK_END)
    return buf.strip()


def _hash_of(line: bytes) -> str | None:
    """The stored `hash` of a line, or None when the line is not a JSON object with one."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    value = doc.get("hash") if isinstance(doc, dict) else None
    return value if isinstance(value, str) and value else None


def _parse(line: bytes) -> AuditRecord | str:
    """A record, or the reason the line is not one."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        return f"not valid JSON ({e}); a torn write or an edit"
    if not isinstance(doc, dict):
        return "not a JSON object"
    try:
        return AuditRecord.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "(record)"
        return f"not an audit record: {where}: {first['msg']}"


# -- verification ----------------------------------------------------------------------------------------
class VerifyReport(BaseModel):
    """What `verify` found: `ok` when the chain and the head file agree; each problem names its line."""

    ok: bool
    records: int
    problems: list[str] = Field(default_factory=list)
    path: str = ""
    last_hash: str = ""


def verify(path: Path) -> VerifyReport:
    """Check every line's hash, the chain of `prev_hash`es and the head file.

    Raises OSError when the log exists but cannot be read (the CLI turns that into exit code 2).
    """
    path = Path(path).expanduser()
    problems: list[str] = []

    def problem(text: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(text)
        elif len(problems) == MAX_PROBLEMS:
            problems.append(f"... more problems not listed (stopped after {MAX_PROBLEMS})")

    if path.exists() and not path.is_file():
        raise IsADirectoryError(f"{path} is not a file")
    with _shared_lock(path):  # a consistent snapshot: no append is half-way (log written, head not yet)
        return _verify(path, problem, problems)


@contextlib.contextmanager
def _shared_lock(path: Path) -> Iterator[None]:
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        yield
        return
    with f:
        fcntl.flock(f.fileno(), fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _verify(path: Path, problem: Callable[[str], None], problems: list[str]) -> VerifyReport:
    records = 0
    prev: tuple[int, str] | None = (0, "")  # (line, hash) the next record must chain to; None: unknown
    last_line, last_hash = 0, ""
    for lineno, raw in _lines(path):
        records += 1
        last_line, last_hash = lineno, ""
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            problem(f"line {lineno}: not valid JSON (a torn write, a truncated log or an edit)")
            prev = None
            continue
        parsed = _parse(raw)
        if not isinstance(parsed, AuditRecord):
            problem(f"line {lineno}: {parsed}")
            prev = None
            continue
        rec = parsed
        last_hash = rec.hash
        if rec.hash != record_hash(doc):
            problem(f"line {lineno}: hash does not match the record's content (record {rec.id or '?'} was edited)")
        if prev is not None and rec.prev_hash != prev[1]:
            if prev[0] == 0:
                problem(f"line {lineno}: prev_hash should be empty on the first record (records before it were "
                        "dropped, or a record was inserted at the start)")
            else:
                problem(f"line {lineno}: prev_hash does not match the hash of line {prev[0]} (a record between "
                        f"lines {prev[0]} and {lineno} was dropped, inserted or reordered)")
        prev = (lineno, rec.hash)
    head = head_path(path)
    if records or head.exists():
        _check_head(head, records, last_line, last_hash, problem)
    return VerifyReport(ok=not problems, records=records, problems=problems, path=str(path), last_hash=last_hash)


def _check_head(head: Path, records: int, last_line: int, last_hash: str,
                problem: Callable[[str], None]) -> None:
    try:
        raw = head.read_bytes()
    except FileNotFoundError:
        problem(f"head file {head.name} is missing (it records where the log ends; records may have been "
                "dropped from the end)")
        return
    try:
        h = Head.model_validate_json(raw)
    except ValidationError:
        problem(f"head file {head.name} is not valid (expected {{count, last_hash}})")
        return
    if h.count != records:
        problem(f"log has {records} records but head file says {h.count} (records dropped from or added to the "
                f"end, or the log was truncated; last line {last_line})")
    if h.last_hash != last_hash:
        problem(f"line {last_line}: last record's hash does not match the head file's last_hash (the end of the "
                "log was dropped, replaced or truncated)" if last_line else
                "log is empty but the head file names a last record (the log was truncated)")


# -- what a record is about ------------------------------------------------------------------------------
_WARNING_EVENTS = frozenset({"rollback", "escalation"})
MAX_SUMMARY = 200


def summary(record: AuditRecord, max_chars: int = MAX_SUMMARY) -> str:
    """One line saying what the record is about (the `prophet audit show` column, the Event message)."""
    parts: list[str] = []
    if record.diagnosis is not None:
        parts.append(f"{record.diagnosis.category.value}: {record.diagnosis.summary}")
    if record.plan is not None:
        acts = ", ".join(f"{a.type} {a.target}" for a in record.plan.actions) or "no action"
        parts.append(f"plan: {acts}")
    if record.verdict is not None:
        failed = [r.rule for r in record.verdict.reasons if not r.passed]
        parts.append(f"verdict: {record.verdict.decision}" + (f" ({', '.join(failed)})" if failed else ""))
    for name, value in (("approval", record.approval), ("result", record.result)):
        if value:
            parts.append(f"{name}: " + ", ".join(f"{k}={_short(v)}" for k, v in list(value.items())[:4]))
    if not parts and record.trigger:
        parts.append("trigger: " + ", ".join(f"{k}={_short(v)}" for k, v in list(record.trigger.items())[:4]))
    text = "; ".join(parts) or record.event
    return text if len(text) <= max_chars else text[:max_chars - 3] + "..."


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= 60 else text[:57] + "..."


def targets(record: AuditRecord) -> list[ResourceRef]:
    """The objects a record is about: its plan's action targets, else the diagnosis's root cause, else a
    `target` named in the trigger (`NS/KIND/NAME`). Each object once."""
    found: list[ResourceRef] = []
    if record.plan is not None:
        found.extend(a.target for a in record.plan.actions)
    if not found and record.diagnosis is not None and record.diagnosis.root_cause is not None:
        found.append(record.diagnosis.root_cause)
    raw = record.trigger.get("target") if not found else None
    if isinstance(raw, str):
        try:
            found.append(ResourceRef.parse(raw))
        except ValueError:
            log.debug("trigger target %r is not a resource reference", raw)
    unique: list[ResourceRef] = []
    for ref in found:
        if not any(ref.same_object(u) for u in unique):
            unique.append(ref)
    return unique


def event_reason(event: str) -> str:
    """`intent` -> `ProphetIntent`: the Event reason of a kind of record."""
    return "Prophet" + event[:1].upper() + event[1:]


def emit_events(record: AuditRecord, kube_for: Callable[[str], KubeClient]) -> int:
    """Record a Kubernetes Event on every object the record is about; returns how many were written.

    `kube_for(cluster)` gives the client of `ResourceRef.cluster` (`KubeClients(settings).for_cluster`).
    Never raises: an Event is a breadcrumb; the audit log is the record.
    """
    written = 0
    kind = "Warning" if record.event in _WARNING_EVENTS else "Normal"
    for ref in targets(record):
        try:
            kube = kube_for(ref.cluster)
        except ProphetError as e:
            log.warning("no client for cluster %r to record an Event on %s: %s", ref.cluster, ref, e)
            continue
        message = f"Prophet {record.event}: {summary(record, 900)}"
        if record_event(kube, ref, reason=event_reason(record.event), message=message, type=kind,
                        incident_id=record.incident_id):
            written += 1
    return written


__all__ = ["EVENTS", "AuditLog", "Head", "VerifyReport", "canonical", "emit_events", "event_reason", "head_path",
           "new_id", "record_event", "record_hash", "summary", "targets", "verify"]
