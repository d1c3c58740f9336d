"""The console's own reads: what its pages show that no API route reads (pure SQL builders
and their one-statement readers; the console writes nothing directly, it calls services).

Each read is bounded: a time window on an indexed column, or a LIMIT, so a page costs
the same on a log of a thousand events as on one of ten million.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, and_, cast, func, select

from tidings.db.schema import (
    conversations,
    deliveries,
    delivery_attempts,
    events,
    folders,
    mailboxes,
    users,
)
from tidings.desk.enums import State
from tidings.events import log

LATENCY_SAMPLE = 20_000


def events_per_minute(conn: Connection, since: datetime) -> dict[str, int]:
    """Events committed since ``since``, per minute (``YYYY-MM-DD HH:MM``, UTC). Both
    databases print a timestamp as ``YYYY-MM-DD HH:MM:SS...``, so its first 16
    characters name the minute; ``ix_events_created_at`` bounds the scan to the hour."""
    minute = func.substr(cast(events.c.created_at, String), 1, 16)
    rows = conn.execute(
        select(minute, func.count()).where(events.c.created_at >= since).group_by(minute)
    )
    return {str(m): int(n) for m, n in rows}


def delivery_latencies(conn: Connection, since: datetime) -> list[tuple[datetime, float]]:
    """For each successful attempt since ``since`` (the newest ``LATENCY_SAMPLE``), when
    it was answered and the seconds from its event's commit to that answer, as the
    ``tidings_delivery_latency_seconds`` histogram measures it."""
    a, d = delivery_attempts.c, deliveries.c
    rows = conn.execute(
        select(a.started_at, a.latency_ms, events.c.created_at)
        .select_from(
            delivery_attempts.join(deliveries, d.id == a.delivery_id).join(
                events, events.c.seq == d.event_seq
            )
        )
        .where(a.started_at >= since, a.status_code >= 200, a.status_code < 300)
        .order_by(a.started_at.desc())
        .limit(LATENCY_SAMPLE)
    )
    found = []
    for started, latency_ms, committed in rows:
        answered = started.timestamp() + latency_ms / 1000
        found.append((started, max(0.0, answered - committed.timestamp())))
    return found


@dataclass(frozen=True, slots=True)
class Undelivered:
    webhook_id: int
    event_id: str
    event_seq: int
    event_type: str
    created_at: datetime
    attempts: int
    last_error: str | None


def oldest_undelivered(conn: Connection) -> Undelivered | None:
    """The pending delivery of the oldest event, of any webhook (``ix_deliveries_due``
    leads to the pending ones)."""
    d = deliveries.c
    row = conn.execute(
        select(
            d.webhook_id,
            events.c.id,
            d.event_seq,
            events.c.type,
            events.c.created_at,
            d.attempts,
            d.last_error,
        )
        .select_from(deliveries.join(events, events.c.seq == d.event_seq))
        .where(d.status == "pending")
        .order_by(d.event_seq)
        .limit(1)
    ).first()
    return None if row is None else Undelivered(*row)


def mailbox_choices(conn: Connection) -> list[tuple[int, str]]:
    rows = conn.execute(select(mailboxes.c.id, mailboxes.c.name).order_by(mailboxes.c.id))
    return [(int(i), str(n)) for i, n in rows]


def folder_choices(conn: Connection) -> list[tuple[int, int, int]]:
    """Every folder: its id, its mailbox and its type (``desk.enums.FolderType``)."""
    f = folders.c
    rows = conn.execute(
        select(f.id, f.mailbox_id, f.type).where(f.user_id.is_(None)).order_by(f.mailbox_id, f.id)
    )
    return [(int(i), int(m), int(t)) for i, m, t in rows]


def user_choices(conn: Connection) -> list[tuple[int, str]]:
    u = users.c
    rows = conn.execute(select(u.id, u.first_name, u.last_name, u.email).order_by(u.id).limit(500))
    return [(int(i), f"{first} {last}".strip() or str(email)) for i, first, last, email in rows]


def trashed(conn: Connection, mailbox_id: int, limit: int, offset: int) -> tuple[list[Any], int]:
    """A page of a mailbox's trash, most recently changed first, and how many it holds."""
    c = conversations.c
    where = and_(c.mailbox_id == mailbox_id, c.state == State.DELETED)
    rows = conn.execute(
        select(c.id, c.number, c.subject, c.customer_email, c.status, c.updated_at)
        .where(where)
        .order_by(c.updated_at.desc(), c.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    total = conn.execute(select(func.count()).select_from(conversations).where(where))
    return list(rows), int(total.scalar_one())


def latest_events(conn: Connection, q: log.EventQuery, before: int | None, limit: int) -> list[Any]:
    """The newest events matching ``q`` (below position ``before``), newest first, as the
    log shows them: the page the live tail then grows from the top."""
    query = select(events).order_by(events.c.seq.desc()).limit(limit)
    if before is not None:
        query = query.where(events.c.seq < before)
    return [log.event_json(row) for row in conn.execute(log.matching(query, q))]
