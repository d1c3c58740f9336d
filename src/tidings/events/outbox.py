"""The transactional outbox.

Services record events into the ``Tx`` they were handed; the events are written to
the ``events`` table just before that same transaction commits. A rollback leaves no
event, a commit always leaves all of them (invariant 1).

Positions (``seq``) must be assigned in commit order, or a reader following
``WHERE seq > cursor`` could pass an event that commits late (PostgreSQL commits
concurrent transactions out of sequence order). So the append is the last thing a
transaction does, under a transaction-scoped advisory lock that is released only
after the commit is visible: positions are handed out in commit order (ADR 0003).
SQLite needs nothing extra: it has one writer at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from tidings.clock import Clock, system_clock
from tidings.db import raw, totals, wakeup
from tidings.db.engine import Database
from tidings.events import payloads
from tidings.ids import new_id, new_ids

# Any fixed 64-bit number; it names "the event log append lock".
_APPEND_LOCK = 7_146_231_004_417

# Run in this process after a transaction that appended events has committed: the webhook
# dispatcher wakes on it (other processes on PostgreSQL's NOTIFY, see ``append``).
_committed: list[Callable[[], None]] = []


def on_commit(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` after each commit that appended events; returns its remover."""
    _committed.append(callback)
    return lambda: _committed.remove(callback)


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~3x, once per event
class PendingEvent:
    id: str
    type: str
    created_at: datetime
    entity_type: str
    entity_id: int | None
    mailbox_id: int | None
    conversation_id: int | None
    operation_id: str | None
    payload: str | bytes  # as stored: see tidings.events.payloads


@dataclass
class Tx:
    """One change: a connection inside a write transaction, its clock, its events."""

    conn: Connection
    now: datetime
    operation_id: str | None = None
    pending: list[PendingEvent] = field(default_factory=list)

    def emit(
        self,
        type_: str,
        payload: dict[str, Any],
        *,
        entity_type: str,
        entity_id: int | None,
        mailbox_id: int | None = None,
        conversation_id: int | None = None,
    ) -> PendingEvent:
        # Serialised now: the payload is a snapshot of this moment in the transaction
        # (invariant 2), never re-read later.
        event = PendingEvent(
            id=new_id("evt"),
            type=type_,
            created_at=self.now,
            entity_type=entity_type,
            entity_id=entity_id,
            mailbox_id=mailbox_id,
            conversation_id=conversation_id,
            operation_id=self.operation_id,
            payload=payloads.stored(orjson.dumps(payload), self.conn.dialect.name),
        )
        self.pending.append(event)
        return event

    def emit_stored_many(
        self, type_: str, entity_type: str, items: Sequence[tuple[int, int | None, str | bytes]]
    ) -> None:
        """Many conversation events of one type at once, their payloads already in stored
        form (``payloads.stored``): ``items`` are (conversation id, mailbox id, payload)."""
        ids = new_ids("evt", len(items))
        self.pending.extend(
            PendingEvent(
                event_id, type_, self.now, entity_type, convo_id, mailbox_id, convo_id,
                self.operation_id, payload,
            )
            for event_id, (convo_id, mailbox_id, payload) in zip(ids, items, strict=True)
        )  # fmt: skip


def append(conn: Connection, pending: list[PendingEvent]) -> None:
    """Write the events and fold the list totals; call only as the last statement before
    commit."""
    if not pending:
        return
    if conn.dialect.name == "postgresql":
        # One round trip (no parameters: psycopg sends the three as one simple query): the
        # dispatchers' wake-up, delivered only if this commits; the lock that hands out
        # positions in commit order; under it, the list totals' fold (db/totals.py).
        conn.exec_driver_sql(
            f"NOTIFY {wakeup.EVENTS}; SELECT pg_advisory_xact_lock({_APPEND_LOCK});"
            f" {totals.FOLD_POSTGRESQL}"
        )
    else:
        totals.fold(conn)
    # The events of a transaction share a few timestamps (usually one): convert each once.
    stored = {t: raw.bind(t, conn.dialect.name) for t in {e.created_at for e in pending}}
    rows = [
        (
            e.id,
            e.type,
            stored[e.created_at],
            e.entity_type,
            e.entity_id,
            e.mailbox_id,
            e.conversation_id,
            e.operation_id,
            e.payload,
        )
        for e in pending
    ]
    if conn.dialect.name == "postgresql":
        raw.copy_rows(conn, "events", _COLUMNS, rows)
    else:
        raw.insert_many(conn, _INSERT, rows)


# The columns an append writes, with their PostgreSQL types (for its binary COPY).
_COLUMNS = (
    ("id", "varchar"),
    ("type", "varchar"),
    ("created_at", "timestamp"),
    ("entity_type", "varchar"),
    ("entity_id", "int8"),
    ("mailbox_id", "int8"),
    ("conversation_id", "int8"),
    ("operation_id", "varchar"),
    ("payload", "text"),
)
_INSERT = (
    f"INSERT INTO events ({', '.join(name for name, _ in _COLUMNS)})"
    f" VALUES ({', '.join('?' * len(_COLUMNS))})"
)


@contextmanager
def transaction(
    db: Database, clock: Clock = system_clock, operation_id: str | None = None
) -> Iterator[Tx]:
    """The one way to change data: the block's work and its events commit together."""
    with db.write() as conn:
        tx = Tx(conn=conn, now=clock(), operation_id=operation_id)
        yield tx
        append(conn, tx.pending)
    if tx.pending:
        for callback in list(_committed):
            try:
                callback()
            except Exception:  # committed already: a listener's failure changes nothing
                logging.getLogger("tidings.events").exception("an on_commit callback failed")
