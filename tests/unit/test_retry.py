"""tidings.db.retry: which errors a chunk outlives, and the pauses between tries."""

from __future__ import annotations

import sqlite3

import psycopg.errors
import pytest
from sqlalchemy import exc as sa

from tidings.db import retry


def _sqlite(message: str, code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code
    return error


def _wrapped(orig: BaseException) -> sa.OperationalError:
    """As SQLAlchemy raises a driver's error."""
    return sa.OperationalError("DELETE FROM conversations", {}, orig)


TRANSIENT = [
    psycopg.errors.DeadlockDetected("deadlock detected"),  # 40P01
    psycopg.errors.SerializationFailure("could not serialize access"),  # 40001
    psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),  # 55P03
    _sqlite("database is locked", 5),  # SQLITE_BUSY
    _sqlite("database is locked", 5 | (2 << 8)),  # SQLITE_BUSY_SNAPSHOT
    _sqlite("database table is locked", 6),  # SQLITE_LOCKED
]


@pytest.mark.parametrize("error", TRANSIENT, ids=repr)
def test_transient_errors_are_tried_again(error: BaseException) -> None:
    assert retry.is_transient(error)
    assert retry.is_transient(_wrapped(error))


def test_a_lost_connection_is_transient() -> None:
    lost = psycopg.errors.ConnectionFailure("server closed the connection")  # 08006
    assert lost.sqlstate == "08006"
    assert retry.is_transient(_wrapped(lost))
    assert retry.is_transient(psycopg.errors.AdminShutdown("terminating connection"))  # 57P01
    # Lost on the client's side, with no SQLSTATE: SQLAlchemy says the connection is gone.
    invalidated = sa.OperationalError("SELECT 1", {}, psycopg.OperationalError("closed"))
    invalidated.connection_invalidated = True
    assert retry.is_transient(invalidated)


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.UniqueViolation("duplicate key"),
        psycopg.errors.RaiseException("boom fail_event"),
        _sqlite("no such table: events", 1),
        sqlite3.IntegrityError("FOREIGN KEY constraint failed"),
        ValueError("a bug"),
        KeyError("mailboxId"),
    ],
    ids=repr,
)
def test_other_errors_fail_the_operation(error: BaseException) -> None:
    assert not retry.is_transient(error)
    assert not retry.is_transient(_wrapped(error))
    assert retry.delay(1, error) is None


def test_pauses_grow_to_a_cap_and_stop_after_the_last_try() -> None:
    busy = _sqlite("database is locked", 5)
    most = [retry.delay(attempt, busy, jitter=lambda: 1.0) for attempt in range(1, 9)]
    assert most == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, None]
    least = [retry.delay(attempt, busy, jitter=lambda: 0.0) for attempt in range(1, 8)]
    assert least == [pause / 2 for pause in most[:7]]  # jitter in the upper half
    assert sum(p for p in most if p) < 7  # all the tries fit well within a 30 s lease
    assert retry.delay(retry.ATTEMPTS, busy) is None


def test_the_cap_holds_however_many_tries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "ATTEMPTS", 50)
    busy = _sqlite("database is locked", 5)
    assert retry.delay(40, busy, jitter=lambda: 1.0) == retry.MAX_DELAY_SECONDS
