"""Invariant 1: a change that fails before it commits leaves no event and no change.

The failures are real database errors, planted as triggers in the test's own database:
one that refuses to append a given event to the outbox (so the change itself already
ran in the transaction), one that refuses a row change half-way through a delete, and,
on PostgreSQL, a deferred constraint trigger that fails at COMMIT itself.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.integration.test_events_kit import (
    Desk,
    assert_failed,
    count_events,
    desk_app,
    drop_trigger,
    fail_at_commit,
    fail_on_delete,
    fail_on_event,
    fail_on_thread_delete,
    fail_on_update,
)
from tidings.db.engine import Database
from tidings.db.schema import conversations, customers, mailboxes, threads


def thread_count(db: Database, convo_id: int) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(threads)
                .where(threads.c.conversation_id == convo_id)
            ).scalar_one()
        )


def seeded(desk: Desk) -> tuple[int, int, int]:
    agent = desk.user()
    box = desk.mailbox()
    cid = desk.conversation(box)
    desk.reply(cid, {"type": "message", "text": "answer", "user": agent})
    return agent, box, cid


def test_soft_delete_rolls_back_without_event(database_url: str, db: Database) -> None:
    with desk_app(database_url, raise_server_exceptions=False) as desk:
        agent, _, cid = seeded(desk)
        before, n_threads, n_events = desk.convo(cid), thread_count(db, cid), count_events(db)
        fail_on_event(db, "convo.deleted")

        assert_failed(desk.put(f"/conversations/{cid}", {"state": "deleted", "byUser": agent}))
        assert desk.convo(cid) == before
        assert thread_count(db, cid) == n_threads  # the "deleted" line item rolled back too
        assert count_events(db) == n_events

        # The failure left nothing behind: once the database accepts it, it works once.
        drop_trigger(db, "fail_event", "events")
        mark = desk.mark()
        desk.update(cid, {"state": "deleted", "byUser": agent})
        assert desk.types(mark) == ["convo.deleted"]


def test_delete_forever_rolls_back_without_event(database_url: str, db: Database) -> None:
    with desk_app(database_url, raise_server_exceptions=False) as desk:
        _, _, cid = seeded(desk)
        before, n_events = desk.convo(cid), count_events(db)

        # Fails after the snapshot was taken and every row was deleted: the outbox append.
        fail_on_event(db, "convo.deleted_forever")
        assert_failed(desk.delete(f"/conversations/{cid}"))
        assert desk.convo(cid) == before
        assert count_events(db) == n_events
        drop_trigger(db, "fail_event", "events")

        # Fails half-way. On PostgreSQL the threads are already deleted when the conversation
        # row refuses; on SQLite (one cascading DELETE) the conversation row is already gone
        # when a thread refuses. (FreeScout announced convo.deleted_forever and left the
        # conversation threadless.)
        for plant, name, table in (
            (fail_on_delete, "fail_delete", "conversations"),
            (fail_on_thread_delete, "fail_thread_delete", "threads"),
        ):
            plant(db, cid)
            assert_failed(desk.delete(f"/conversations/{cid}"))
            assert desk.convo(cid) == before
            assert thread_count(db, cid) == 2
            assert count_events(db) == n_events
            drop_trigger(db, name, table)

        mark = desk.mark()
        assert desk.delete(f"/conversations/{cid}").status_code == 204
        assert desk.types(mark) == ["convo.deleted_forever"]


def test_customer_update_rolls_back_without_event(database_url: str, db: Database) -> None:
    with desk_app(database_url, raise_server_exceptions=False) as desk:
        r = desk.post("/customers", {"firstName": "Eve", "email": "eve@example.com"})
        customer_id = r.json()["id"]
        before, n_events = desk.get(f"/customers/{customer_id}").json(), count_events(db)
        fail_on_event(db, "customer.updated")

        body = {"firstName": "Evelyn", "emails": ["evelyn@example.com"]}
        assert_failed(desk.put(f"/customers/{customer_id}", body))
        assert desk.get(f"/customers/{customer_id}").json() == before
        assert count_events(db) == n_events


def test_create_conversation_rolls_back_customer_and_events(
    database_url: str, db: Database
) -> None:
    with desk_app(database_url, raise_server_exceptions=False) as desk:
        box = desk.mailbox()
        n_events = count_events(db)
        fail_on_event(db, "convo.created")
        body = {
            "type": "email",
            "mailboxId": box,
            "subject": "S",
            "customer": {"email": "brand-new@example.com"},
            "threads": [{"type": "customer", "text": "hi"}],
        }
        assert_failed(desk.post("/conversations", body))
        with db.read() as conn:
            assert conn.execute(select(func.count()).select_from(conversations)).scalar() == 0
            assert conn.execute(select(func.count()).select_from(customers)).scalar() == 0
            assert conn.execute(select(mailboxes.c.last_number)).scalar() == 0
        # customer.created was appended in the same batch as convo.created: gone too.
        assert count_events(db) == n_events


def test_mailbox_deletion_is_all_or_nothing(database_url: str, db: Database) -> None:
    with desk_app(database_url, raise_server_exceptions=False) as desk:
        box = desk.mailbox()
        ids = [desk.conversation(box, text=f"t{i}") for i in range(3)]
        mark = desk.mark()
        fail_on_event(db, "convo.deleted_forever", conversation_id=ids[1])

        assert desk.delete_mailbox(box).status_code == 202
        desk.run_operations()
        # The chunk rolled back whole; the operation failed, and said so.
        assert desk.types(mark) == ["operation.started", "operation.failed"]
        for cid in ids:
            assert desk.convo(cid)["mailboxId"] == box
            assert thread_count(db, cid) == 1
        assert desk.get(f"/mailboxes/{box}/folders").status_code == 200


def test_merge_rolls_back_without_event(database_url: str, db: Database) -> None:
    with desk_app(database_url, raise_server_exceptions=False) as desk:
        agent, box, target = seeded(desk)
        source = desk.conversation(box, text="from source")
        before = {c: desk.convo(c) for c in (target, source)}
        n_events = count_events(db)
        fail_on_event(db, "convo.deleted", conversation_id=source)

        r = desk.post(f"/conversations/{target}/merge", {"conversationId": source, "byUser": agent})
        assert_failed(r)
        assert {c: desk.convo(c) for c in (target, source)} == before
        assert count_events(db) == n_events


def test_bulk_chunk_rolls_back_without_event(database_url: str, db: Database) -> None:
    with desk_app(database_url, raise_server_exceptions=False, operation_chunk_size=2) as desk:
        agent = desk.user()
        box = desk.mailbox()
        ids = [desk.conversation(box, text=f"t{i}") for i in range(5)]
        before = {c: desk.convo(c) for c in ids}
        # The second chunk (ids[2], ids[3]) fails while appending its events.
        fail_on_event(db, "convo.deleted", conversation_id=ids[3])
        mark = desk.mark()

        r = desk.post("/operations", {"action": "delete", "conversationIds": ids, "byUser": agent})
        assert r.status_code == 202, r.text
        op_id = r.json()["id"]
        desk.run_operations()

        op = desk.get(f"/operations/{op_id}").json()
        assert op["status"] == "failed"
        assert "boom fail_event" in op["error"]
        assert op["processed"] == 2
        after = desk.events(mark)
        assert [e["type"] for e in after] == [
            "operation.started",
            "convo.deleted",
            "convo.deleted",
            "operation.progress",
            "operation.failed",
        ]
        assert [e["entity"]["id"] for e in after[1:3]] == ids[:2]
        for cid in ids[2:]:
            assert desk.convo(cid) == before[cid]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_failure_at_commit_leaves_nothing(database_url: str, db: Database) -> None:
    """Every statement succeeds, the events are inserted, and COMMIT itself fails."""
    with desk_app(database_url, raise_server_exceptions=False) as desk:
        agent, _, cid = seeded(desk)
        before, n_events = desk.convo(cid), count_events(db)
        fail_at_commit(db, "convo.deleted")
        assert_failed(desk.put(f"/conversations/{cid}", {"state": "deleted", "byUser": agent}))
        assert desk.convo(cid) == before
        assert count_events(db) == n_events

        fail_at_commit(db, "convo.deleted_forever", name="fail_commit2")
        assert_failed(desk.delete(f"/conversations/{cid}"))
        assert desk.convo(cid) == before
        assert count_events(db) == n_events


def test_failed_update_of_one_row_rolls_back_the_whole_request(
    database_url: str, db: Database
) -> None:
    with desk_app(database_url, raise_server_exceptions=False) as desk:
        agent, _, cid = seeded(desk)
        before, n_events = desk.convo(cid), count_events(db)
        fail_on_update(db, cid)
        assert_failed(desk.put(f"/conversations/{cid}", {"subject": "x", "byUser": agent}))
        assert_failed(
            desk.post(f"/conversations/{cid}/threads", {"type": "customer", "text": "again"})
        )
        assert desk.convo(cid) == before
        assert count_events(db) == n_events
