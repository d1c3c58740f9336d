"""A 5,000-conversation operation meets a transient database error half-way: the chunk
rolled back whole and is tried again, and the operation completes with every
conversation and every event exactly once. Also: a mailbox of 5,000 conversations is
deleted in chunks, one ``convo.deleted_forever`` each.

The errors are real: on PostgreSQL a trigger raises SQLSTATE 40P01 (what a deadlock
victim gets) once; on SQLite another connection holds the write lock past the worker's
busy timeout.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from tests import helpers
from tests.integration.test_events_kit import Desk, FakeClock, desk_app, submit
from tidings.db.engine import Database
from tidings.db.schema import conversations

TOTAL = 5_000
CHUNK = 500


def _bulk_delete_forever(desk: Desk) -> str:
    body = {"action": "delete_forever", "filter": {"state": "published"}}
    plan = desk.post("/operations", {**body, "dryRun": True})
    assert plan.status_code == 200, plan.text
    assert plan.json()["total"] == TOTAL
    return submit(desk, {**body, "confirmToken": plan.json()["confirmToken"]})


def _assert_each_once(desk: Desk, db: Database, op_id: str, ids: list[int]) -> None:
    op = desk.get(f"/operations/{op_id}").json()
    assert (op["status"], op["processed"], op["succeeded"], op["failed"]) == (
        "completed",
        TOTAL,
        TOTAL,
        0,
    )
    logged = desk.events()
    types = Counter(e["type"] for e in logged)
    assert types["convo.deleted_forever"] == TOTAL
    assert (types["operation.started"], types["operation.completed"]) == (1, 1)
    assert types["operation.failed"] == 0
    deleted = [e["entity"]["id"] for e in logged if e["type"] == "convo.deleted_forever"]
    assert sorted(deleted) == ids  # each conversation once
    # Every snapshot carries its thread, whichever process read it.
    assert all(
        len(e["data"]["_embedded"]["threads"]) == 1
        for e in logged
        if e["entity"]["id"] in ids[::97]
    )
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(conversations)).scalar_one() == 0


def test_an_injected_deadlock_is_tried_again(
    database_url: str, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    if not db.is_postgresql:
        pytest.skip("a deadlock victim's error is PostgreSQL's")
    _, ids = helpers.seed(database_url, TOTAL)
    with db.write() as conn:
        # A sequence is not rolled back with the chunk: the fourth DELETE fails, once.
        conn.exec_driver_sql("CREATE SEQUENCE deletes_seen")
        conn.exec_driver_sql(
            "CREATE FUNCTION deadlock_once() RETURNS trigger AS $$ BEGIN"
            " IF nextval('deletes_seen') = 4 THEN"
            " RAISE EXCEPTION 'deadlock detected (injected)' USING ERRCODE = '40P01';"
            " END IF; RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER deadlock_once AFTER DELETE ON conversations"
            " FOR EACH STATEMENT EXECUTE FUNCTION deadlock_once()"
        )
    with desk_app(database_url, operation_chunk_size=CHUNK) as desk:
        op_id = _bulk_delete_forever(desk)
        with caplog.at_level(logging.WARNING, logger="tidings.operations"):
            desk.run_operations()
        _assert_each_once(desk, db, op_id, ids)
    assert any(
        ("transient error" in r.message and "40P01" not in r.message) or "deadlock" in r.message
        for r in caplog.records
    )
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT last_value FROM deletes_seen").scalar_one() > 4


def test_sqlite_busy_mid_operation_is_tried_again(
    database_url: str, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite's busy timeout")
    _, ids = helpers.seed(database_url, TOTAL)
    path = database_url.removeprefix("sqlite:///")
    held: list[int] = []
    begun = 0

    def take_the_lock_before_the_fourth_chunk(statement: str) -> None:
        """SQLite calls this as each statement of the worker starts. Just before the
        worker's sixth ``BEGIN IMMEDIATE`` (its fourth chunk: claim, start, three chunks
        before), another connection takes the write lock and keeps it for 0.6 s, six
        times the worker's busy timeout."""
        nonlocal begun
        if statement != "BEGIN IMMEDIATE":
            return
        begun += 1
        if begun != 6:
            return
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        (processed,) = holder.execute("SELECT processed FROM operations").fetchone()
        held.append(processed)
        threading.Timer(0.6, lambda: (holder.rollback(), holder.close())).start()

    def short_busy_timeout(driver: Any, _record: Any) -> None:
        driver.execute("PRAGMA busy_timeout=100")
        driver.set_trace_callback(take_the_lock_before_the_fourth_chunk)

    with desk_app(database_url, operation_chunk_size=CHUNK) as desk:
        op_id = _bulk_delete_forever(desk)
        # The worker's connections, opened anew, give up waiting for the lock after 0.1 s.
        # (Opened by the worker alone: its statements are the ones counted.)
        event.listen(desk.ctx.db.engine, "connect", short_busy_timeout)
        desk.ctx.db.engine.dispose()
        runner = desk.runner()
        try:
            with caplog.at_level(logging.WARNING, logger="tidings.operations"):
                while runner.run_once():
                    pass
        finally:
            event.remove(desk.ctx.db.engine, "connect", short_busy_timeout)
        _assert_each_once(desk, db, op_id, ids)
    # The lock was taken mid-operation, and the worker's chunk waited it out by trying again.
    assert held == [3 * CHUNK]
    retried = [r.getMessage() for r in caplog.records if "transient error" in r.getMessage()]
    assert retried
    assert all("database is locked" in m for m in retried)


def test_a_mailbox_of_5000_is_deleted_in_chunks(database_url: str, db: Database) -> None:
    box, ids = helpers.seed(database_url, TOTAL)
    # Each reading a second later: every chunk is allowed its progress event.
    clock = FakeClock(step=timedelta(seconds=1))
    with desk_app(database_url, clock, operation_chunk_size=CHUNK) as desk:
        mark = desk.mark()
        assert desk.delete_mailbox(box).status_code == 202
        desk.run_operations()
        types = desk.types(mark)
        per_chunk = ["convo.deleted_forever"] * CHUNK
        chunks = TOTAL // CHUNK
        assert types == [
            "operation.started",
            *[t for _ in range(chunks - 1) for t in [*per_chunk, "operation.progress"]],
            *per_chunk,
            "operation.completed",
        ]
        logged = desk.events(mark)
        assert (
            sorted(e["entity"]["id"] for e in logged[1:-1] if e["type"] != "operation.progress")
            == ids
        )
        assert logged[-1]["data"]["processed"] == TOTAL
        assert desk.get(f"/mailboxes/{box}/folders").status_code == 404


def test_a_worker_stopped_while_waiting_to_try_again_gives_the_lease_up(
    database_url: str, db: Database
) -> None:
    """Asked to stop during the pause before another try, the worker leaves the operation
    running and unowned, and the next worker finishes it: nothing twice, nothing lost."""
    if not db.is_sqlite:
        pytest.skip("SQLite's write lock is the transient error here")
    _, ids = helpers.seed(database_url, TOTAL)
    path = database_url.removeprefix("sqlite:///")
    begun = 0

    with desk_app(database_url, operation_chunk_size=CHUNK) as desk:
        op_id = _bulk_delete_forever(desk)
        runner = desk.runner()
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

        def release_and_stop() -> None:
            holder.rollback()
            runner.stopping.set()  # the worker is pausing before its next try

        def lock_and_stop(statement: str) -> None:
            """Before the worker's fourth chunk, hold the write lock; 0.3 s later let it
            go and ask the worker to stop, while it waits to try again."""
            nonlocal begun
            if statement == "BEGIN IMMEDIATE":
                begun += 1
                if begun == 6:
                    holder.execute("BEGIN IMMEDIATE")
                    threading.Timer(0.3, release_and_stop).start()

        def short_busy_timeout(driver: Any, _record: Any) -> None:
            driver.execute("PRAGMA busy_timeout=100")
            driver.set_trace_callback(lock_and_stop)

        event.listen(desk.ctx.db.engine, "connect", short_busy_timeout)
        desk.ctx.db.engine.dispose()
        try:
            assert runner.run_once() is True  # returns once asked to stop
        finally:
            event.remove(desk.ctx.db.engine, "connect", short_busy_timeout)
            holder.close()
        op = desk.get(f"/operations/{op_id}").json()
        assert op["status"] == "running"
        # Three chunks done; a fourth if a try got the lock just as it was let go.
        assert op["processed"] in (3 * CHUNK, 4 * CHUNK)
        with db.read() as conn:
            owner = conn.exec_driver_sql("SELECT lease_owner FROM operations").scalar_one()
        assert owner is None  # any worker may take it over at once
        desk.ctx.db.engine.dispose()  # connections without the hooks
        desk.run_operations()
        _assert_each_once(desk, db, op_id, ids)


def test_a_conversation_moved_out_of_a_mailbox_being_deleted_survives(
    database_url: str, db: Database
) -> None:
    """The selection is frozen when the deletion is queued; a conversation moved to another
    mailbox before its chunk runs is no longer the mailbox's, and is left alone."""
    box, ids = helpers.seed(database_url, 20)
    with desk_app(database_url, operation_chunk_size=5) as desk:
        other = desk.mailbox("Other")
        agent = desk.user()
        assert desk.delete_mailbox(box).status_code == 202
        desk.update(ids[12], {"mailboxId": other, "byUser": agent})  # chunk 3 of 4
        mark = desk.mark()
        desk.run_operations()
        deleted = [
            e["entity"]["id"] for e in desk.events(mark) if e["type"] == "convo.deleted_forever"
        ]
        op = desk.events(mark)[-1]["data"]
        assert desk.convo(ids[12])["mailboxId"] == other
    assert sorted(deleted) == [i for i in ids if i != ids[12]]
    assert (op["status"], op["succeeded"], op["processed"]) == ("completed", 20, 20)
