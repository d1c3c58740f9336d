"""The delivery loop's SQL: fan-out, claims under leases, attempts, health, lag. A
webhook's history (listing, redelivery, pruning) is in ``history``.

Deliveries are made from the event log (``fan_out``): each webhook keeps a cursor, the
position of the last event it has considered, and the events after it that match its
types and mailboxes become one ``deliveries`` row each, numbered by the webhook's own
sequence, in the same transaction that moves the cursor. Positions follow commit order
(ADR 0003), so a cursor never passes an event that commits late. The payload is never
copied: a delivery names its event, whose stored payload is the body.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, exists, insert, or_, select, update
from sqlalchemy.orm import aliased

from tidings.db.schema import deliveries, delivery_attempts, events, webhooks
from tidings.events import payloads
from tidings.events.outbox import Tx
from tidings.ids import new_ids
from tidings.webhooks.matching import matches
from tidings.webhooks.signing import live_secrets
from tidings.webhooks.subscriptions import FAILING_AFTER, announce

PENDING, DELIVERED, FAILED, SKIPPED = "pending", "delivered", "failed", "skipped"
STATUSES = (PENDING, DELIVERED, FAILED, SKIPPED)
FAN_OUT_BATCH = 1000


def fan_out(conn: Connection, now: datetime, limit: int = FAN_OUT_BATCH) -> int:
    """Turn the events after each webhook's cursor into deliveries (``skipped`` ones for a
    disabled webhook, kept for a replay); how many were made."""
    query = select(webhooks).order_by(webhooks.c.id)
    if conn.dialect.name == "postgresql":
        # Two workers never number the same webhook's deliveries at once.
        query = query.with_for_update(skip_locked=True)
    made = 0
    for hook in conn.execute(query).all():
        found = conn.execute(
            select(
                events.c.seq,
                events.c.type,
                events.c.entity_type,
                events.c.entity_id,
                events.c.mailbox_id,
                events.c.conversation_id,
            )
            .where(events.c.seq > hook.cursor)
            .order_by(events.c.seq)
            .limit(limit)
        ).all()
        if not found:
            continue
        wanted = [
            e
            for e in found
            if matches(
                hook.events,
                hook.mailboxes,
                e.type,
                e.entity_type,
                e.mailbox_id,
                webhook_id=hook.id,
                entity_id=e.entity_id,
            )
        ]
        status = PENDING if hook.enabled else SKIPPED
        rows = [
            {
                "id": message_id,
                "webhook_id": hook.id,
                "event_seq": e.seq,
                "sequence": hook.next_sequence + n,
                "conversation_id": e.conversation_id,
                "status": status,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for n, (message_id, e) in enumerate(
                zip(new_ids("msg", len(wanted)), wanted, strict=True)
            )
        ]
        if rows:
            conn.execute(insert(deliveries), rows)
        conn.execute(
            update(webhooks)
            .where(webhooks.c.id == hook.id)
            .values(cursor=found[-1].seq, next_sequence=hook.next_sequence + len(rows))
        )
        made += len(rows)
    return made


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed delivery with everything needed to send it."""

    id: str
    webhook_id: int
    url: str
    format: str
    sequence: int
    attempts: int  # made before this one
    event_id: str
    event_seq: int
    event_type: str
    event_created_at: datetime
    payload: bytes  # the event's JSON, as stored
    secrets: tuple[str, ...]


def any_enabled(conn: Connection) -> bool:
    """Whether any webhook is enabled: with none, a dispatcher's turn has nothing to do."""
    return (
        conn.execute(select(webhooks.c.id).where(webhooks.c.enabled.is_(True)).limit(1)).first()
        is not None
    )


def concurrency_caps(conn: Connection) -> dict[int, int]:
    """Each enabled webhook's ``maxConcurrency``."""
    rows = conn.execute(
        select(webhooks.c.id, webhooks.c.max_concurrency).where(webhooks.c.enabled.is_(True))
    )
    return {int(i): int(n) for i, n in rows}


def release(conn: Connection, ids: Sequence[str]) -> None:
    """Give claimed deliveries back, to be claimed again at once."""
    if ids:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(ids))
            .values(lease_owner=None, lease_until=None)
        )


def claim(
    conn: Connection,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    exclude: Sequence[int] = (),
) -> list[Due]:
    """Take up to ``limit`` due deliveries of enabled webhooks under a lease. For a webhook
    with ordered delivery, a delivery waits while an earlier one about the same
    conversation is pending, and one batch holds at most one per conversation."""
    earlier = aliased(deliveries)
    blocked = exists().where(
        earlier.c.webhook_id == deliveries.c.webhook_id,
        earlier.c.conversation_id == deliveries.c.conversation_id,
        earlier.c.sequence < deliveries.c.sequence,
        earlier.c.status == PENDING,
    )
    query = (
        select(
            deliveries.c.id,
            deliveries.c.webhook_id,
            deliveries.c.conversation_id,
            webhooks.c.ordered,
        )
        .join(webhooks, webhooks.c.id == deliveries.c.webhook_id)
        .where(
            deliveries.c.status == PENDING,
            deliveries.c.next_attempt_at <= now,
            or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
            webhooks.c.enabled.is_(True),
            deliveries.c.webhook_id.not_in(exclude),
            or_(
                webhooks.c.ordered.is_(False),
                deliveries.c.conversation_id.is_(None),
                ~blocked,
            ),
        )
        # The index's order (``ix_deliveries_due``), so that LIMIT stops early instead of
        # sorting every due delivery on each claim.
        .order_by(deliveries.c.next_attempt_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=deliveries, skip_locked=True)
    taken: list[str] = []
    seen: set[tuple[int, int]] = set()
    for row in conn.execute(query):
        if row.ordered and row.conversation_id is not None:
            key = (row.webhook_id, row.conversation_id)
            if key in seen:
                continue
            seen.add(key)
        taken.append(row.id)
    if not taken:
        return []
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(taken))
        .values(lease_owner=owner, lease_until=now + lease)
    )
    rows = conn.execute(
        select(
            deliveries.c.id,
            deliveries.c.webhook_id,
            deliveries.c.sequence,
            deliveries.c.attempts,
            webhooks.c.url,
            webhooks.c.format,
            webhooks.c.secret,
            webhooks.c.previous_secret,
            webhooks.c.previous_secret_until,
            events.c.id.label("event_id"),
            events.c.seq,
            events.c.type,
            events.c.created_at,
            events.c.payload,
        )
        .join(webhooks, webhooks.c.id == deliveries.c.webhook_id)
        .join(events, events.c.seq == deliveries.c.event_seq)
        .where(deliveries.c.id.in_(taken))
        .order_by(deliveries.c.sequence)
    ).all()
    if gone := set(taken) - {r.id for r in rows}:
        # Their events were pruned from the log (a replay reaching past the retention):
        # nothing left to send, and never to be claimed again.
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(gone))
            .values(
                status=FAILED,
                lease_owner=None,
                lease_until=None,
                last_error="the event is no longer in the log",
                finished_at=now,
            )
        )
    return [_due(r, now) for r in rows]


def _due(r: Any, now: datetime) -> Due:
    stored = payloads.json_of(r.payload)
    return Due(
        id=r.id,
        webhook_id=r.webhook_id,
        url=r.url,
        format=r.format,
        sequence=r.sequence,
        attempts=r.attempts,
        event_id=r.event_id,
        event_seq=r.seq,
        event_type=r.type,
        event_created_at=r.created_at,
        payload=stored.encode() if isinstance(stored, str) else stored,
        secrets=tuple(live_secrets(r, now)),
    )


@dataclass(frozen=True, slots=True)
class Result:
    """One attempt's record and what follows it, decided by the dispatcher's policy."""

    delivery_id: str
    webhook_id: int
    number: int
    started_at: datetime
    status_code: int | None
    latency_ms: int
    response_body: str | None
    error_class: str | None
    error: str | None
    next_attempt_at: datetime | None  # None: no further attempt
    delivered: bool
    gone: bool  # 410: disable the webhook


def record(tx: Tx, results: Sequence[Result], owner: str) -> None:
    """Store the attempts, move each delivery on, and keep each webhook's health, announcing
    its changes (``webhook.failing``, ``webhook.recovered``, ``webhook.disabled``) in the
    same transaction. Only deliveries this dispatcher still holds count: one whose webhook
    was deleted meanwhile is gone, and one skipped meanwhile (its webhook disabled) stays
    skipped."""
    conn, now = tx.conn, tx.now
    # By id alone, checked here: with the status in the WHERE, SQLite walks every pending
    # delivery through ``ix_deliveries_due`` instead (50 us a delivery at 20,000 pending).
    found = conn.execute(
        select(deliveries.c.id, deliveries.c.status, deliveries.c.lease_owner).where(
            deliveries.c.id.in_([r.delivery_id for r in results])
        )
    )
    held = {d.id for d in found if d.status == PENDING and d.lease_owner == owner}
    results = [r for r in results if r.delivery_id in held]
    if not results:
        return
    conn.execute(
        insert(delivery_attempts),
        [
            {
                "delivery_id": r.delivery_id,
                "number": r.number,
                "started_at": r.started_at,
                "status_code": r.status_code,
                "latency_ms": r.latency_ms,
                "response_body": r.response_body,
                "error_class": r.error_class,
                "error": r.error,
            }
            for r in results
        ],
    )
    # Delivered ones share their new values but the status code: one statement per code.
    delivered: dict[int | None, list[str]] = {}
    for r in results:
        if r.delivered:
            delivered.setdefault(r.status_code, []).append(r.delivery_id)
            continue
        status = PENDING if r.next_attempt_at else FAILED
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == r.delivery_id)
            .values(
                status=status,
                attempts=r.number,
                next_attempt_at=r.next_attempt_at,
                lease_owner=None,
                lease_until=None,
                last_status=r.status_code,
                last_error=r.error,
                finished_at=None if status == PENDING else now,
            )
        )
    for code, ids in delivered.items():
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(ids))
            .values(
                status=DELIVERED,
                attempts=deliveries.c.attempts + 1,
                next_attempt_at=None,
                lease_owner=None,
                lease_until=None,
                last_status=code,
                last_error=None,
                finished_at=now,
            )
        )
    for webhook_id in sorted({r.webhook_id for r in results}):  # one order: no deadlock
        mine = [r for r in results if r.webhook_id == webhook_id]
        _health(tx, webhook_id, mine)


def _health(tx: Tx, webhook_id: int, results: list[Result]) -> None:
    before = tx.conn.execute(
        select(webhooks.c.consecutive_failures).where(webhooks.c.id == webhook_id)
    ).scalar()
    if before is None:
        return  # deleted meanwhile
    last = results[-1]
    error = None if last.delivered else (last.error or f"HTTP {last.status_code}")
    values: dict[str, Any] = {"last_run_time": last.started_at, "last_run_error": error}
    # The failures since the last success in this batch.
    streak = len(results) - max((n + 1 for n, r in enumerate(results) if r.delivered), default=0)
    after = streak if any(r.delivered for r in results) else before + streak
    values["consecutive_failures"] = after
    if any(r.delivered for r in results):
        values["last_success_at"] = tx.now
    if last.delivered:
        values["failing_since"] = None
    tx.conn.execute(update(webhooks).where(webhooks.c.id == webhook_id).values(**values))
    if not last.delivered:
        tx.conn.execute(
            update(webhooks)
            .where(webhooks.c.id == webhook_id, webhooks.c.failing_since.is_(None))
            .values(failing_since=tx.now)
        )
    if before < FAILING_AFTER <= after:
        announce(tx, "webhook.failing", webhook_id)
    elif before >= FAILING_AFTER > after:
        announce(tx, "webhook.recovered", webhook_id)
    if last.gone:
        disable(tx, webhook_id, "the receiver answered 410 Gone")


def disable(tx: Tx, webhook_id: int, reason: str) -> None:
    """Stop delivering, and announce it; what is pending is kept (skipped) for a replay."""
    stopped = tx.conn.execute(
        update(webhooks)
        .where(webhooks.c.id == webhook_id, webhooks.c.enabled.is_(True))
        .values(enabled=False, disabled_at=tx.now, disabled_reason=reason, updated_at=tx.now)
    ).rowcount
    tx.conn.execute(
        update(deliveries)
        .where(deliveries.c.webhook_id == webhook_id, deliveries.c.status == PENDING)
        .values(status=SKIPPED, lease_owner=None, lease_until=None)
    )
    if stopped:
        announce(tx, "webhook.disabled", webhook_id)


def check_lag(tx: Tx, threshold: timedelta) -> None:
    """Mark the enabled webhooks whose oldest undelivered event committed more than
    ``threshold`` ago, announcing ``webhook.lagging`` once when one starts to lag; and
    unmark those that caught up."""
    hooks = tx.conn.execute(
        select(webhooks.c.id, webhooks.c.lagging_since).where(webhooks.c.enabled.is_(True))
    ).all()
    for hook in hooks:
        oldest = tx.conn.execute(
            select(events.c.created_at)
            .select_from(deliveries.join(events, events.c.seq == deliveries.c.event_seq))
            .where(deliveries.c.webhook_id == hook.id, deliveries.c.status == PENDING)
            .order_by(deliveries.c.created_at)
            .limit(1)
        ).scalar()
        lagging = oldest is not None and oldest < tx.now - threshold
        if lagging == (hook.lagging_since is not None):
            continue
        since = tx.now if lagging else None
        tx.conn.execute(
            update(webhooks).where(webhooks.c.id == hook.id).values(lagging_since=since)
        )
        if lagging:
            announce(tx, "webhook.lagging", hook.id)


def failing_too_long(conn: Connection, now: datetime, window: timedelta) -> list[int]:
    """Enabled webhooks with no success for ``window`` while failing."""
    found = conn.execute(
        select(webhooks.c.id).where(
            webhooks.c.enabled.is_(True),
            and_(webhooks.c.failing_since.is_not(None), webhooks.c.failing_since < now - window),
        )
    ).scalars()
    return list(found)
