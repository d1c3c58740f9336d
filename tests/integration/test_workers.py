"""Several workers share operations through leases; a lost lease stops a worker cold."""

from __future__ import annotations

import pathlib
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tidings.config import Settings
from tidings.db.engine import Database
from tidings.db.schema import conversations, events
from tidings.desk import conversations as convos
from tidings.desk import lifecycle
from tidings.desk.mailboxes import create_mailbox
from tidings.desk.users import create_user
from tidings.events.outbox import transaction
from tidings.operations import planning, store
from tidings.operations.runner import LeaseLost, Runner


class Clock:
    """A controllable clock: the one thing tests may fake."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def seeded(db: Database, clock: Clock) -> list[int]:
    with transaction(db, clock) as tx:
        create_user(tx, {"firstName": "Ada", "lastName": "Admin", "email": "ada@example.com"})
        mailbox = create_mailbox(tx, {"name": "Support", "email": "support@example.com"})
        ids = [
            convos.create_conversation(
                tx,
                {
                    "type": "email",
                    "mailboxId": mailbox,
                    "subject": f"Question {i}",
                    "customer": {"email": f"c{i}@example.com"},
                    "threads": [{"type": "customer", "text": "Hello"}],
                },
            )["id"]
            for i in range(60)
        ]
    return ids


def _queue(db: Database, clock: Clock, body: dict[str, object]) -> str:
    with transaction(db, clock) as tx:
        return planning.queue(tx, planning.parse(tx.conn, body), "secret").id


def _settings(**overrides: object) -> Settings:
    return Settings(operation_chunk_size=7, worker_lease_seconds=30, **overrides)  # type: ignore[arg-type]


def _event_types(db: Database) -> list[tuple[str, int | None, str | None]]:
    with db.read() as conn:
        rows = conn.execute(
            select(events.c.type, events.c.conversation_id, events.c.operation_id).order_by(
                events.c.seq
            )
        )
        return [(r.type, r.conversation_id, r.operation_id) for r in rows]


def test_two_workers_share_operations_without_processing_anything_twice(
    db: Database, clock: Clock, seeded: list[int]
) -> None:
    ops = [
        _queue(db, clock, {"action": "delete", "conversationIds": seeded[:30], "byUser": 1}),
        _queue(db, clock, {"action": "delete", "conversationIds": seeded[30:], "byUser": 1}),
    ]
    runners = [Runner(db, clock, _settings()) for _ in range(2)]
    threads = [threading.Thread(target=r.run_once) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    logged = _event_types(db)
    deleted = [cid for type_, cid, _ in logged if type_ == "convo.deleted"]
    assert sorted(deleted) == sorted(seeded)
    per_op = Counter(op for type_, _, op in logged if type_ == "operation.completed")
    assert per_op == {ops[0]: 1, ops[1]: 1}
    started = Counter(op for type_, _, op in logged if type_ == "operation.started")
    assert started == {ops[0]: 1, ops[1]: 1}


def test_expired_lease_is_taken_over_and_the_old_worker_stops(
    db: Database, clock: Clock, seeded: list[int]
) -> None:
    op_id = _queue(db, clock, {"action": "delete", "conversationIds": seeded, "byUser": 1})
    first, second = Runner(db, clock, _settings()), Runner(db, clock, _settings())
    with db.write() as conn:
        assert store.claim(conn, first.owner, clock(), first.lease_until(clock())) == op_id
    first.start(op_id)
    assert first.run_chunk(op_id) is False  # one chunk of 7 done, then "crash"

    assert second.run_once() is False  # the lease is still held: nothing to take
    clock.advance(31)
    assert second.run_once() is True  # expired: taken over and finished

    with pytest.raises(LeaseLost):
        first.run_chunk(op_id)
    deleted = [cid for type_, cid, _ in _event_types(db) if type_ == "convo.deleted"]
    assert sorted(deleted) == sorted(seeded)
    with db.read() as conn:
        still_published = conn.execute(
            select(func.count()).select_from(conversations).where(conversations.c.state != 3)
        ).scalar_one()
    assert still_published == 0


def test_a_change_that_rolls_back_leaves_no_event(
    db: Database, clock: Clock, seeded: list[int]
) -> None:
    with db.read() as conn:
        before = conn.execute(select(func.count()).select_from(events)).scalar_one()

    class Boom(Exception):
        pass

    def change_then_fail() -> None:
        with transaction(db, clock) as tx:
            assert lifecycle.soft_delete(tx, seeded[:5], 1) == seeded[:5]
            assert tx.pending  # the events were recorded ...
            raise Boom  # ... and the transaction fails before commit

    with pytest.raises(Boom):
        change_then_fail()

    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == before
        states = conn.execute(
            select(conversations.c.state).where(conversations.c.id.in_(seeded[:5]))
        ).scalars()
        assert set(states) == {2}


def test_only_the_outbox_writes_the_event_table() -> None:
    root = pathlib.Path(__file__).parents[2] / "src" / "tidings"
    writers = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if "insert(events)" in p.read_text() or "INSERT INTO events" in p.read_text()
    ]
    assert writers == ["events/outbox.py"]
