"""Reading the event log in commit order, and pruning it.

``seq`` is assigned in commit order (see ``outbox``), so a cursor is simply the
last ``seq`` a reader has seen: ``seq > cursor`` can never skip an event that
committed late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Select, delete, func, select

from tidings.clock import isoformat
from tidings.db.schema import deliveries, events, webhooks
from tidings.events import payloads


@dataclass(frozen=True, slots=True)
class EventQuery:
    after: int = 0
    limit: int = 100
    types: tuple[str, ...] = ()
    mailbox_id: int | None = None
    conversation_id: int | None = None
    operation_id: str | None = None


def read(conn: Connection, q: EventQuery) -> tuple[list[dict[str, Any]], int, bool]:
    """Up to ``limit`` events after the cursor, the next cursor, and whether more wait."""
    # Everything at or below the newest visible position has committed (positions
    # follow commit order), so a filtered reader may jump its cursor to it instead of
    # rescanning the same non-matching range on every poll. Read the bound first:
    # under READ COMMITTED each statement sees a newer snapshot than the last.
    newest = conn.execute(select(func.max(events.c.seq))).scalar() or 0
    query = (
        select(events)
        .where(events.c.seq > q.after, events.c.seq <= newest)
        .order_by(events.c.seq)
        .limit(q.limit + 1)
    )
    rows = conn.execute(matching(query, q)).all()
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    cursor = rows[-1].seq if more else max(q.after, newest)
    return [event_json(r) for r in rows], cursor, more


def matching(query: Select[Any], q: EventQuery) -> Select[Any]:
    """``query`` over ``events`` narrowed to the query's types, mailbox, conversation and
    operation (its position bounds are the caller's)."""
    if q.types:
        query = query.where(events.c.type.in_(q.types))
    if q.mailbox_id is not None:
        query = query.where(events.c.mailbox_id == q.mailbox_id)
    if q.conversation_id is not None:
        query = query.where(events.c.conversation_id == q.conversation_id)
    if q.operation_id is not None:
        query = query.where(events.c.operation_id == q.operation_id)
    return query


def find(conn: Connection, event_id: str) -> dict[str, Any] | None:
    """One event as the log shows it, or None when there is no such event (or no longer)."""
    row = conn.execute(select(events).where(events.c.id == event_id)).first()
    return None if row is None else event_json(row)


def get(conn: Connection, event_id: str) -> dict[str, Any]:
    """One event that exists, as the log shows it."""
    found = find(conn, event_id)
    assert found is not None
    return found


def newest_position(conn: Connection) -> int:
    """The position of the newest event this connection sees (0: none yet)."""
    return int(conn.execute(select(func.max(events.c.seq))).scalar() or 0)


def others_appended(conn: Connection, after: int, operation_id: str) -> bool:
    """Whether an event after position ``after`` was appended by anything but the
    operation ``operation_id``: since every change to a conversation or a customer
    appends its event (invariant 1), False means nothing but that operation changed them."""
    found = conn.execute(
        select(events.c.seq)
        .where(
            events.c.seq > after,
            (events.c.operation_id.is_(None)) | (events.c.operation_id != operation_id),
        )
        # Ordered, so that PostgreSQL walks the primary key from ``after`` on rather than
        # scanning the whole log from its start for the first match.
        .order_by(events.c.seq)
        .limit(1)
    ).first()
    return found is not None


def event_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "seq": row.seq,
        "type": row.type,
        "createdAt": isoformat(row.created_at),
        "entity": {
            "type": row.entity_type,
            "id": row.operation_id if row.entity_type == "operation" else row.entity_id,
        },
        "mailboxId": row.mailbox_id,
        "operationId": row.operation_id,
        # The payload is stored as the exact JSON of the snapshot; embed, don't re-encode.
        "data": orjson.Fragment(payloads.json_of(row.payload)),
    }


def prune(conn: Connection, older_than: datetime) -> int:
    """Delete the events older than the cutoff, except the newest event of all and those
    an enabled webhook still has to deliver.

    SQLite numbers a new row ``max(seq) + 1``: on an emptied table positions would
    start again at 1, behind every reader's cursor, and those readers would skip the
    new events for good. Keeping the newest row keeps ``seq`` moving forward.
    """
    newest = conn.execute(select(func.max(events.c.seq))).scalar() or 0
    keep_from = min([newest, *_needed_by_webhooks(conn)])
    return conn.execute(
        delete(events).where(events.c.created_at < older_than, events.c.seq < keep_from)
    ).rowcount


def _needed_by_webhooks(conn: Connection) -> list[int]:
    """The oldest positions enabled webhooks still need: the oldest event of a pending
    delivery, and the first event not yet turned into deliveries."""
    enabled = webhooks.c.enabled.is_(True)
    # The cursors first: a fan-out committing between the two reads moves events from
    # "unseen" to "pending", and read in this order, one of the two still sees them.
    unseen = conn.execute(select(func.min(webhooks.c.cursor) + 1).where(enabled)).scalar()
    pending = conn.execute(
        select(func.min(deliveries.c.event_seq))
        .join(webhooks, webhooks.c.id == deliveries.c.webhook_id)
        .where(deliveries.c.status == "pending", enabled)
    ).scalar()
    return [int(p) for p in (pending, unseen) if p is not None]


def retention_cutoff(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)
