"""`PolicyLedger` on a real SQLite file: cooldowns that survive a restart, execution slots with leases.

Covers: an executed action seen by a new ledger instance on the same file (a restart), with
`same_object` matching (kind case, a ref without cluster) and the latest time kept; slots that are
idempotent per incident, refused when full, freed by release and by lease expiry; several processes
racing for the last free slot (exactly one wins, repeated over rounds); bad arguments and a file that
is not a database giving errors that say what to fix.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from prophet_sre.domain import ResourceRef
from prophet_sre.errors import ConfigError, InvalidInput
from prophet_sre.policy.rules import PolicyLedger

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
BACKEND = ResourceRef.parse("shop/deployment/backend")


def test_cooldown_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "policy.sqlite"
    PolicyLedger(path).record_action("inc-1", BACKEND, "rollback", T0)
    again = PolicyLedger(path)  # a new process would do exactly this
    assert again.last_action(BACKEND, "rollback") == T0
    assert again.last_action(BACKEND, "restart") is None
    assert again.last_action(ResourceRef.parse("shop/deployment/frontend"), "rollback") is None


def test_targets_match_like_same_object(tmp_path: Path) -> None:
    ledger = PolicyLedger(tmp_path / "policy.sqlite")
    ledger.record_action("inc-1", ResourceRef(kind="deployment", namespace="shop", name="backend"), "restart", T0)
    assert ledger.last_action(ResourceRef(kind="Deployment", namespace="shop", name="backend"), "restart") == T0
    assert ledger.last_action(ResourceRef.parse("eu:shop/deployment/backend"), "restart") == T0  # no cluster: any
    ledger.record_action("inc-2", ResourceRef.parse("us:shop/deployment/api"), "scale", T0)
    assert ledger.last_action(ResourceRef.parse("shop/deployment/api"), "scale") == T0
    assert ledger.last_action(ResourceRef.parse("us:shop/deployment/api"), "scale") == T0
    assert ledger.last_action(ResourceRef.parse("eu:shop/deployment/api"), "scale") is None
    assert ledger.last_action(ResourceRef.parse("prod/deployment/api"), "scale") is None


def test_the_latest_execution_is_kept(tmp_path: Path) -> None:
    ledger = PolicyLedger(tmp_path / "policy.sqlite")
    later = T0 + timedelta(minutes=5, microseconds=7)
    ledger.record_action("inc-2", BACKEND, "rollback", later)
    ledger.record_action("inc-1", BACKEND, "rollback", T0)  # recorded late, happened earlier
    assert ledger.last_action(BACKEND, "rollback") == later


def test_slots_acquire_release_and_idempotence(tmp_path: Path) -> None:
    ledger = PolicyLedger(tmp_path / "policy.sqlite")
    assert ledger.acquire("a", at=T0, max_concurrent=2)
    assert ledger.acquire("b", at=T0, max_concurrent=2)
    assert not ledger.acquire("c", at=T0, max_concurrent=2)
    assert ledger.acquire("a", at=T0 + timedelta(seconds=1), max_concurrent=2)  # already holds one
    assert ledger.active(T0) == ["a", "b"]
    ledger.release("a")
    ledger.release("nobody")  # harmless
    assert ledger.active(T0) == ["b"]
    assert ledger.acquire("c", at=T0, max_concurrent=2)
    assert sorted(ledger.active(T0)) == ["b", "c"]


def test_expired_leases_do_not_count(tmp_path: Path) -> None:
    ledger = PolicyLedger(tmp_path / "policy.sqlite")
    assert ledger.acquire("crashed", at=T0, max_concurrent=1, lease_s=60)
    assert not ledger.acquire("next", at=T0 + timedelta(seconds=59), max_concurrent=1)
    assert ledger.active(T0 + timedelta(seconds=60)) == []
    assert ledger.acquire("next", at=T0 + timedelta(seconds=60), max_concurrent=1)
    assert ledger.active(T0 + timedelta(seconds=61)) == ["next"]


def test_renewing_extends_the_lease(tmp_path: Path) -> None:
    ledger = PolicyLedger(tmp_path / "policy.sqlite")
    assert ledger.acquire("a", at=T0, max_concurrent=1, lease_s=60)
    assert ledger.acquire("a", at=T0 + timedelta(seconds=50), max_concurrent=1, lease_s=60)
    assert ledger.active(T0 + timedelta(seconds=100)) == ["a"]
    assert not ledger.acquire("b", at=T0 + timedelta(seconds=100), max_concurrent=1)


def _race(path: str, incident: str, at: datetime, barrier: Any, results: Any) -> None:
    ledger = PolicyLedger(Path(path))
    barrier.wait()
    results.put((incident, ledger.acquire(incident, at=at, max_concurrent=3)))


def test_processes_racing_for_the_last_slot_exactly_one_wins(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    racers, rounds = 8, 2
    for r in range(rounds):
        path = tmp_path / f"race-{r}.sqlite"
        ledger = PolicyLedger(path)
        assert ledger.acquire("held-1", at=T0, max_concurrent=3)
        assert ledger.acquire("held-2", at=T0, max_concurrent=3)  # one slot left
        barrier, results = ctx.Barrier(racers), ctx.Queue()
        procs = [ctx.Process(target=_race, args=(str(path), f"inc-{i}", T0, barrier, results)) for i in range(racers)]
        for p in procs:
            p.start()
        outcomes = dict(results.get(timeout=60) for _ in procs)
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        winners = [i for i, won in outcomes.items() if won]
        assert len(winners) == 1, outcomes
        assert sorted(ledger.active(T0)) == sorted(["held-1", "held-2", *winners])


def test_acquire_reads_under_the_write_lock(tmp_path: Path) -> None:
    """Another writer takes the last slot in an open transaction; an acquire started meanwhile must wait
    for it and then see that slot taken. (Reading before taking the lock would count a stale snapshot.)"""
    path = tmp_path / "policy.sqlite"
    ledger = PolicyLedger(path)
    assert ledger.acquire("held", at=T0, max_concurrent=2)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO leases VALUES ('other-process', 0, ?)", (2**62,))
        outcome: list[bool] = []
        racer = threading.Thread(target=lambda: outcome.append(ledger.acquire("late", at=T0, max_concurrent=2)))
        racer.start()
        racer.join(timeout=0.5)  # gives the racer time to reach the lock; correctness does not depend on it
        other.execute("COMMIT")
        racer.join(timeout=30)
    finally:
        other.close()
    assert outcome == [False]
    assert sorted(ledger.active(T0)) == ["held", "other-process"]


def test_bad_arguments_say_what_to_fix(tmp_path: Path) -> None:
    ledger = PolicyLedger(tmp_path / "policy.sqlite")
    naive = datetime(2026, 3, 1, 12, 0, 0)  # noqa: DTZ001
    with pytest.raises(InvalidInput, match="timezone-aware"):
        ledger.record_action("inc", BACKEND, "restart", naive)
    with pytest.raises(InvalidInput, match="timezone-aware"):
        ledger.active(naive)
    with pytest.raises(InvalidInput, match="max_concurrent"):
        ledger.acquire("inc", at=T0, max_concurrent=0)
    with pytest.raises(InvalidInput, match="unknown action type 'Rollback'"):
        ledger.record_action("inc", BACKEND, "Rollback", T0)
    with pytest.raises(InvalidInput, match="incident_id"):
        ledger.acquire("", at=T0, max_concurrent=1)


def test_a_file_that_is_not_a_ledger_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.sqlite"
    path.write_bytes(b"this is not a database, just some text that happens to be here" * 20)
    with pytest.raises(ConfigError, match="not a usable SQLite database"):
        PolicyLedger(path)
