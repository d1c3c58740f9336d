"""Retention with webhooks: the event log keeps what an enabled webhook still has to
deliver; old attempts go, a batch at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select, update

from tidings.db.engine import Database
from tidings.db.schema import deliveries, delivery_attempts, events, webhooks
from tidings.events import log as event_log
from tidings.webhooks import history, store

OLD = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _events(db: Database, count: int) -> None:
    with db.write() as conn:
        conn.execute(
            insert(events),
            [
                {
                    "id": f"evt_{n}",
                    "type": "customer.created",
                    "created_at": OLD,
                    "entity_type": "customer",
                    "entity_id": n,
                    "payload": "{}",
                }
                for n in range(1, count + 1)
            ],
        )


def _webhook(db: Database, enabled: bool) -> int:
    with db.write() as conn:
        return int(
            conn.execute(
                insert(webhooks)
                .values(
                    url="https://93.184.216.34/x",
                    events=["*"],
                    mailboxes=[],
                    secret="whsec_a2s=",
                    enabled=enabled,
                    format="freescout",
                    ordered=False,
                    max_concurrency=10,
                    cursor=0,
                    next_sequence=1,
                    consecutive_failures=0,
                    created_at=OLD,
                    updated_at=OLD,
                )
                .returning(webhooks.c.id)
            ).scalar_one()
        )


def _left(db: Database) -> list[int]:
    with db.read() as conn:
        return list(conn.execute(select(events.c.seq).order_by(events.c.seq)).scalars())


def test_pending_deliveries_keep_their_events(db: Database) -> None:
    _events(db, 10)
    hook = _webhook(db, enabled=True)
    with db.write() as conn:
        store.fan_out(conn, NOW)  # ten deliveries, all pending
        delivered = select(deliveries.c.id).where(deliveries.c.event_seq <= 6)
        conn.execute(
            update(deliveries).where(deliveries.c.id.in_(delivered)).values(status="delivered")
        )
        assert event_log.prune(conn, NOW) == 6  # up to the oldest pending one, 7
    assert _left(db) == [7, 8, 9, 10]
    with db.write() as conn:
        conn.execute(update(webhooks).where(webhooks.c.id == hook).values(enabled=False))
        # Disabled: its deliveries protect nothing; the newest event always stays.
        assert event_log.prune(conn, NOW) == 3
    assert _left(db) == [10]


def test_events_not_yet_turned_into_deliveries_are_kept(db: Database) -> None:
    _events(db, 5)
    _webhook(db, enabled=True)  # cursor 0: it has seen nothing yet
    with db.write() as conn:
        assert event_log.prune(conn, NOW) == 0
    assert _left(db) == [1, 2, 3, 4, 5]


def test_old_attempts_are_pruned_in_batches(db: Database) -> None:
    _events(db, 1)
    _webhook(db, enabled=True)
    with db.write() as conn:
        store.fan_out(conn, NOW)
        delivery = conn.execute(select(deliveries.c.id)).scalar_one()
        conn.execute(
            insert(delivery_attempts),
            [
                {
                    "delivery_id": delivery,
                    "number": n,
                    "started_at": NOW - timedelta(days=40 - n),
                    "latency_ms": 1,
                }
                for n in range(1, 21)
            ],
        )
    cutoff = NOW - timedelta(days=30)
    removed = []
    while True:
        with db.write() as conn:
            count = history.prune_attempts(conn, cutoff, batch=4)
        removed.append(count)
        if count < 4:
            break
    assert removed == [4, 4, 1]  # attempts 1..9 started more than 30 days ago
    with db.read() as conn:
        left = conn.execute(select(func.min(delivery_attempts.c.number))).scalar_one()
    assert left == 10


def test_deliveries_that_ended_long_ago_are_pruned_with_their_attempts(db: Database) -> None:
    """Delivered and failed ones finished before the cutoff, and skipped ones made before
    it, go in batches; pending ones stay however old, and so do recent ones."""
    _events(db, 6)
    _webhook(db, enabled=True)
    with db.write() as conn:
        store.fan_out(conn, OLD)
        rows = list(conn.execute(select(deliveries.c.id).order_by(deliveries.c.sequence)).scalars())
        ended = {
            rows[0]: ("delivered", OLD),
            rows[1]: ("failed", OLD),
            rows[2]: ("skipped", None),
            rows[3]: ("delivered", NOW),  # recent
            # rows[4], rows[5]: pending since OLD
        }
        for delivery_id, (status, finished) in ended.items():
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(status=status, finished_at=finished)
            )
        conn.execute(
            insert(delivery_attempts),
            [{"delivery_id": d, "number": 1, "started_at": NOW, "latency_ms": 1} for d in rows],
        )
    cutoff = NOW - timedelta(days=30)
    removed = []
    while True:
        with db.write() as conn:
            count = history.prune_deliveries(conn, cutoff, batch=2)
        removed.append(count)
        if count < 2:
            break
    assert removed == [2, 1]
    with db.read() as conn:
        left = list(conn.execute(select(deliveries.c.id).order_by(deliveries.c.sequence)).scalars())
        attempts = set(conn.execute(select(delivery_attempts.c.delivery_id)).scalars())
    assert left == rows[3:]
    assert attempts == set(rows[3:])


def test_a_replay_reaching_past_the_log_skips_what_was_pruned(db: Database) -> None:
    """A delivery whose event is gone from the log cannot be sent: a replay leaves it out,
    and one found pending anyway fails at its claim instead of being claimed forever."""
    _events(db, 3)
    hook = _webhook(db, enabled=True)
    with db.write() as conn:
        store.fan_out(conn, OLD)
        conn.execute(update(deliveries).values(status="skipped"))
        conn.execute(delete(events).where(events.c.seq == 1))
        assert history.requeue(conn, hook, [1, 2, 3], ["skipped"], NOW) == [2, 3]
        conn.execute(update(deliveries).where(deliveries.c.sequence == 1).values(status="pending"))
        claimed = store.claim(conn, "me", NOW, timedelta(seconds=30), 10)
        found = conn.execute(select(deliveries.c.sequence, deliveries.c.status))
        states = {sequence: status for sequence, status in found}
    assert [d.sequence for d in claimed] == [2, 3]
    assert states == {1: "failed", 2: "pending", 3: "pending"}
