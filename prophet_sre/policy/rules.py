"""`PolicyLedger`: the cooldown and concurrency state the safety critic checks, kept in one SQLite file.

Why a file and not memory: a cooldown must survive a restart (an operator pod that crash-loops must not
restart the same Deployment every time it comes back), and the concurrency limit must hold across every
process that shares the data directory (the operator, `prophet run` in a terminal, the MCP server).
SQLite gives both without a server: every write runs in a `BEGIN IMMEDIATE` transaction, which takes the
database's write lock before reading, so two processes counting the free slots can never both see the
last one; a busy timeout makes the loser wait for the lock instead of failing.

Two tables:
- `actions`: per target (cluster, namespace, lower-cased kind, name) and action type, when an action
  was last executed and by which incident. One row per key, so the file stays as small as the set of
  objects Prophet ever touched.
- `leases`: execution slots, one per incident, each with an expiry. A holder that crashes without
  releasing stops counting once its lease expires, so a dead process cannot block remediation forever.

Targets compare like `ResourceRef.same_object`: the kind case-insensitively, and a reference without a
cluster matches the same object on any cluster (and the other way round).

All times are timezone-aware and come from the caller, normally the cluster's clock
(`KubeClient.cluster_now()`): the ledger never reads the local clock.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prophet_sre.domain import ACTION_TYPES, ResourceRef
from prophet_sre.errors import ConfigError, InvalidInput, ToolUnavailable

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0
"""How long a writer waits for another process's transaction. Ledger transactions last milliseconds,
so thirty seconds only runs out when a process holds the lock while hung - then it is worth an error."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    cluster     TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    action_type TEXT NOT NULL,
    at_us       INTEGER NOT NULL,
    incident_id TEXT NOT NULL,
    PRIMARY KEY (cluster, namespace, kind, name, action_type)
);
CREATE TABLE IF NOT EXISTS leases (
    incident_id TEXT PRIMARY KEY,
    acquired_us INTEGER NOT NULL,
    expires_us  INTEGER NOT NULL
);
"""


def _micros(at: datetime, what: str) -> int:
    """Microseconds since the epoch, exactly (no float rounding); naive datetimes are refused."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(f"{what} must be timezone-aware (use the cluster's clock, KubeClient.cluster_now()); "
                           f"got naive {at.isoformat()}")
    return (at - _EPOCH) // _US


def _action_type(action_type: str) -> str:
    if action_type not in ACTION_TYPES:
        raise InvalidInput(f"unknown action type {action_type!r}; expected one of {', '.join(ACTION_TYPES)}")
    return action_type


def _rollback(db: sqlite3.Connection) -> None:
    with suppress(sqlite3.Error):
        if db.in_transaction:
            db.execute("ROLLBACK")


def _from_micros(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


class PolicyLedger:
    """Cooldowns and execution slots shared by every process using the same SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"policy ledger: cannot create directory {self.path.parent}: {e}") from e
        with self._tx() as db:
            db.execute("PRAGMA journal_mode = WAL")  # persistent: readers never wait for the writer
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise ConfigError(f"policy ledger {self.path}: schema version {version} is newer than this Prophet "
                                  f"understands ({SCHEMA_VERSION}); upgrade Prophet or use another data directory")
            db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")

    # -- connection ----------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as e:
            raise ConfigError(f"policy ledger: cannot open {self.path}: {e}") from e
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        return db

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One connection per operation (safe across threads and forked processes); with `write`, the whole
        operation is one `BEGIN IMMEDIATE` transaction: the write lock is held from the first read."""
        db = self._connect()
        try:
            if write:
                db.execute("BEGIN IMMEDIATE")
            yield db
            if write:
                db.execute("COMMIT")
        except sqlite3.OperationalError as e:
            _rollback(db)
            raise ToolUnavailable(f"policy ledger {self.path}: {e} (another process holds it?)",
                                  retry_after_s=1.0) from e
        except sqlite3.DatabaseError as e:
            _rollback(db)
            raise ConfigError(f"policy ledger {self.path} is not a usable SQLite database ({e}); move it away "
                              "and Prophet starts a new one (cooldowns are then forgotten)") from e
        except BaseException:
            _rollback(db)
            raise
        finally:
            db.close()

    # -- cooldowns -----------------------------------------------------------------------------------------
    def last_action(self, target: ResourceRef, action_type: str) -> datetime | None:
        """When an action of `action_type` was last executed on `target` (any matching cluster), or None."""
        sql = ("SELECT MAX(at_us) FROM actions WHERE namespace = ? AND kind = ? AND name = ? AND action_type = ? "
               "AND (cluster = ? OR cluster = '' OR ? = '')")
        with self._tx() as db:
            row = db.execute(sql, (target.namespace, target.kind.lower(), target.name, _action_type(action_type),
                                   target.cluster, target.cluster)).fetchone()
        return _from_micros(row[0]) if row and row[0] is not None else None

    def record_action(self, incident_id: str, target: ResourceRef, action_type: str, at: datetime) -> None:
        """Note that `incident_id` executed `action_type` on `target` at `at` (keeps the latest time)."""
        us = _micros(at, "record_action(at=...)")
        sql = ("INSERT INTO actions (cluster, namespace, kind, name, action_type, at_us, incident_id) "
               "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cluster, namespace, kind, name, action_type) DO UPDATE "
               "SET incident_id = CASE WHEN excluded.at_us >= at_us THEN excluded.incident_id ELSE incident_id END, "
               "at_us = MAX(at_us, excluded.at_us)")
        with self._tx(write=True) as db:
            db.execute(sql, (target.cluster, target.namespace, target.kind.lower(), target.name,
                             _action_type(action_type), us,
                             incident_id))
        log.debug("ledger: %s %s %s at %s", incident_id, action_type, target, at.isoformat())

    # -- execution slots -----------------------------------------------------------------------------------
    def acquire(self, incident_id: str, *, at: datetime, max_concurrent: int, lease_s: float = 900) -> bool:
        """Take (or renew) an execution slot for `incident_id` until `at + lease_s`.

        True when the incident holds a slot afterwards: it already had one (the lease is renewed), or fewer
        than `max_concurrent` other incidents hold unexpired leases. Expired leases are removed here.
        """
        if not incident_id:
            raise InvalidInput("acquire: incident_id is empty; every execution slot belongs to an incident")
        if max_concurrent < 1:
            raise InvalidInput(f"acquire: max_concurrent must be at least 1, got {max_concurrent}")
        if lease_s <= 0:
            raise InvalidInput(f"acquire: lease_s must be positive, got {lease_s}")
        now = _micros(at, "acquire(at=...)")
        expires = now + int(lease_s * 1_000_000)
        with self._tx(write=True) as db:
            db.execute("DELETE FROM leases WHERE expires_us <= ?", (now,))
            mine = db.execute("SELECT 1 FROM leases WHERE incident_id = ?", (incident_id,)).fetchone()
            if mine is None:
                held = db.execute("SELECT COUNT(*) FROM leases").fetchone()[0]
                if held >= max_concurrent:
                    log.info("ledger: no slot for %s (%d of %d held)", incident_id, held, max_concurrent)
                    return False
                db.execute("INSERT INTO leases (incident_id, acquired_us, expires_us) VALUES (?, ?, ?)",
                           (incident_id, now, expires))
            else:
                db.execute("UPDATE leases SET expires_us = MAX(expires_us, ?) WHERE incident_id = ?",
                           (expires, incident_id))
        return True

    def release(self, incident_id: str) -> None:
        """Give the slot of `incident_id` back (nothing happens if it holds none)."""
        with self._tx(write=True) as db:
            db.execute("DELETE FROM leases WHERE incident_id = ?", (incident_id,))

    def active(self, at: datetime) -> list[str]:
        """Incidents holding an unexpired slot at `at`, oldest first."""
        now = _micros(at, "active(at=...)")
        with self._tx() as db:
            rows = db.execute("SELECT incident_id FROM leases WHERE expires_us > ? ORDER BY acquired_us, incident_id",
                              (now,)).fetchall()
        return [r[0] for r in rows]


__all__ = ["BUSY_TIMEOUT_S", "PolicyLedger"]
