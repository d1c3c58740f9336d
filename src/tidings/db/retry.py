"""When a failed transaction is tried again, and after how long (pure policy).

A chunk of a bulk operation, or a batch of delivery attempts, is one transaction, so a
failure rolls it back whole and trying it again is always safe. Some failures say
nothing about the work, only about the moment:
PostgreSQL chose this transaction as a deadlock victim (40P01), could not serialise it
(40001), gave up waiting for a lock (55P03, ``lock_timeout``) or lost the connection
(class 08); SQLite stayed busy or locked past its busy timeout. Those are tried again
after a growing, jittered pause, up to ``ATTEMPTS`` times; any other error, or one that
persists, fails the operation.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# Tries of one chunk in all, the first included.
ATTEMPTS = 8
FIRST_DELAY_SECONDS = 0.05
MAX_DELAY_SECONDS = 5.0

# PostgreSQL SQLSTATEs of errors that a later try of the same transaction can escape.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001", "55P03", "57P01", "57P03"})
CONNECTION_CLASS = "08"

# SQLite's primary result codes for "another connection is in the way".
SQLITE_BUSY, SQLITE_LOCKED = 5, 6


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (as SQLAlchemy raises it, or the driver's own) is of the moment."""
    if getattr(exc, "connection_invalidated", False):  # SQLAlchemy: the connection was lost
        return True
    cause = getattr(exc, "orig", None) or exc
    sqlstate = getattr(cause, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate in TRANSIENT_SQLSTATES or sqlstate.startswith(CONNECTION_CLASS)
    code = getattr(cause, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
    return False


def delay(
    attempt: int, exc: BaseException, jitter: Callable[[], float] = random.random
) -> float | None:
    """Seconds to wait before try ``attempt + 1`` after try ``attempt`` (1-based) failed
    with ``exc``; None: do not try again.

    Exponential from ``FIRST_DELAY_SECONDS``, capped at ``MAX_DELAY_SECONDS``, with "full
    jitter" in its upper half, so workers that collided do not collide again in step.
    The pauses of all tries add up to at most ~6.4 s, well within a worker's lease.
    """
    if attempt >= ATTEMPTS or not is_transient(exc):
        return None
    ceiling: float = min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2.0 ** (attempt - 1))
    return float(ceiling * (0.5 + jitter() / 2))
