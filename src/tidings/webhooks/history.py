"""A webhook's delivery history: listing its deliveries and their attempts, requeueing
them (a redelivery), and pruning what ended long ago. The delivery loop itself (fan-out,
claims, attempts, health) is in ``store``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, or_, select, update

from tidings.clock import isoformat
from tidings.db import raw
from tidings.db.raw import Statement
from tidings.db.schema import deliveries, delivery_attempts, events
from tidings.webhooks.store import DELIVERED, FAILED, PENDING, SKIPPED

REDELIVERABLE = (FAILED, SKIPPED, DELIVERED)


def redeliverable(
    webhook_id: int,
    statuses: Sequence[str],
    since: datetime,
    until: datetime | None,
    limit: int,
    dialect: str,
) -> Statement:
    """The sequences of a webhook's deliveries in ``statuses`` made in [since, until),
    ascending: a redelivery operation's selection (``SELECT id ...``)."""
    sql = (
        "SELECT sequence AS id FROM deliveries WHERE webhook_id = ?"
        f" AND status IN ({', '.join('?' * len(statuses))}) AND created_at >= ?"
        # Only those whose event is still in the log: there is nothing else to send.
        " AND EXISTS (SELECT 1 FROM events WHERE events.seq = deliveries.event_seq)"
    )
    params: list[Any] = [webhook_id, *statuses, raw.bind(since, dialect)]
    if until is not None:
        sql += " AND created_at < ?"
        params.append(raw.bind(until, dialect))
    return Statement(f"{sql} ORDER BY sequence LIMIT {int(limit)}", tuple(params))


def lock_sequences(conn: Connection, webhook_id: int, sequences: Sequence[int]) -> list[int]:
    """Of a webhook's delivery sequences, those that still exist, locked."""
    query = select(deliveries.c.sequence).where(
        deliveries.c.webhook_id == webhook_id, deliveries.c.sequence.in_(sequences)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return [int(n) for n in conn.execute(query.order_by(deliveries.c.sequence)).scalars()]


def requeue(
    conn: Connection,
    webhook_id: int,
    sequences: Sequence[int],
    statuses: Sequence[str],
    now: datetime,
) -> list[int]:
    """Make a webhook's deliveries in ``statuses`` due again now, with the whole retry
    schedule ahead of them and the same ``webhook-id``; the sequences that were."""
    found = [
        int(n)
        for n in conn.execute(
            select(deliveries.c.sequence).where(
                deliveries.c.webhook_id == webhook_id,
                deliveries.c.sequence.in_(sequences),
                deliveries.c.status.in_(statuses),
                exists().where(events.c.seq == deliveries.c.event_seq),
            )
        ).scalars()
    ]
    if found:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.webhook_id == webhook_id, deliveries.c.sequence.in_(found))
            .values(
                status=PENDING,
                attempts=0,
                next_attempt_at=now,
                lease_owner=None,
                lease_until=None,
                finished_at=None,
            )
        )
    return found


def get_delivery(conn: Connection, webhook_id: int, delivery_id: str) -> dict[str, Any] | None:
    """One delivery as the listing shows it."""
    items = _deliveries_json(
        conn, [deliveries.c.webhook_id == webhook_id, deliveries.c.id == delivery_id], 1, 0
    )
    return items[0] if items else None


def prune_attempts(conn: Connection, older_than: datetime, batch: int) -> int:
    """Delete up to ``batch`` attempts started before ``older_than``; how many. Called in
    a loop, one short transaction a batch, so that pruning never holds up delivery."""
    oldest = (
        select(delivery_attempts.c.id)
        .where(delivery_attempts.c.started_at < older_than)
        .order_by(delivery_attempts.c.id)
        .limit(batch)
    )
    ids = list(conn.execute(oldest).scalars())
    if not ids:
        return 0
    return conn.execute(delete(delivery_attempts).where(delivery_attempts.c.id.in_(ids))).rowcount


def prune_deliveries(conn: Connection, older_than: datetime, batch: int) -> int:
    """Delete up to ``batch`` deliveries that ended (delivered, failed) or were skipped
    before ``older_than``, with their attempts; how many. Pending ones always stay."""
    ended = or_(
        and_(deliveries.c.status.in_([DELIVERED, FAILED]), deliveries.c.finished_at < older_than),
        and_(deliveries.c.status == SKIPPED, deliveries.c.created_at < older_than),
    )
    ids = list(conn.execute(select(deliveries.c.id).where(ended).limit(batch)).scalars())
    if not ids:
        return 0
    return conn.execute(delete(deliveries).where(deliveries.c.id.in_(ids))).rowcount


@dataclass(frozen=True, slots=True)
class DeliveryQuery:
    webhook_id: int
    status: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_deliveries(
    conn: Connection, q: DeliveryQuery, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A webhook's deliveries, newest first, each with its attempts; and how many match."""
    where = [deliveries.c.webhook_id == q.webhook_id]
    if q.status:
        where.append(deliveries.c.status == q.status)
    if q.event_type:
        where.append(events.c.type == q.event_type)
    if q.since:
        where.append(deliveries.c.created_at >= q.since)
    if q.until:
        where.append(deliveries.c.created_at < q.until)
    total = conn.execute(
        select(func.count())
        .select_from(deliveries.join(events, events.c.seq == deliveries.c.event_seq, isouter=True))
        .where(*where)
    ).scalar_one()
    return _deliveries_json(conn, where, limit, offset), int(total)


def _deliveries_json(
    conn: Connection, where: list[Any], limit: int, offset: int
) -> list[dict[str, Any]]:
    base = select(deliveries, events.c.id.label("event_id"), events.c.type.label("event_type"))
    base = base.join(events, events.c.seq == deliveries.c.event_seq, isouter=True).where(*where)
    rows = conn.execute(
        base.order_by(deliveries.c.sequence.desc()).limit(limit).offset(offset)
    ).all()
    attempts: dict[str, list[dict[str, Any]]] = {r.id: [] for r in rows}
    if rows:
        for a in conn.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id.in_(list(attempts)))
            .order_by(delivery_attempts.c.id)  # a redelivery numbers its attempts anew
        ):
            attempts[a.delivery_id].append(
                {
                    "number": a.number,
                    "startedAt": isoformat(a.started_at),
                    "statusCode": a.status_code,
                    "latencyMs": a.latency_ms,
                    "responseBody": a.response_body,
                    "errorClass": a.error_class,
                    "error": a.error,
                }
            )
    return [_delivery_json(r, attempts[r.id]) for r in rows]


def _delivery_json(r: Any, attempts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": r.id,
        "sequence": r.sequence,
        "status": r.status,
        "event": {"id": r.event_id, "seq": r.event_seq, "type": r.event_type},
        "attempts": attempts,
        "nextAttemptAt": isoformat(r.next_attempt_at) if r.status == PENDING else None,
        "createdAt": isoformat(r.created_at),
        "finishedAt": isoformat(r.finished_at),
    }
