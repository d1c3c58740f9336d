"""PostgreSQL: a bulk delete forever begins each next chunk's transaction early (ADR 0014).

While chunk k deletes, appends and commits, chunk k+1's transaction has already locked its
conversations, and the snapshot renderer reads them meanwhile. These tests pin what that
must not change: the next chunk's rows are locked before they are read, a failing chunk
leaves nothing of the next one behind, and a transaction begun ahead never waits for the
operation's row with its conversations locked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from tests.integration.test_events_kit import Desk, desk_app, fail_on_delete
from tests.integration.test_operations_events import check_run, confirmed, run
from tests.integration.test_render_ahead import build, logged_payloads, stored_json
from tidings.db import raw
from tidings.db.engine import Database
from tidings.operations import actions, runner


@contextmanager
def postgresql_desk(database_url: str) -> Iterator[Desk]:
    with desk_app(database_url, operation_chunk_size=2) as desk:
        if not desk.ctx.db.is_postgresql:
            pytest.skip("SQLite has one writer: no transaction begins ahead")
        yield desk


@contextmanager
def other_connection(desk: Desk) -> Iterator[Database]:
    """A database handle with connections of its own, not the runner's pool."""
    db = Database(desk.ctx.db.url, pool_size=0)
    try:
        yield db
    finally:
        db.dispose()


def locked(db: Database, ids: Sequence[int]) -> bool:
    """Whether another transaction holds a lock on any of these conversations now."""
    try:
        with db.write() as conn:
            sql = "SELECT id FROM conversations WHERE id IN ({ids}) FOR UPDATE NOWAIT"
            raw.rows(conn, raw.in_list(sql, ids))
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock not available
            raise
        return True
    return False


def no_transaction_left(desk: Desk) -> None:
    """Every connection back in the pool, and none of them inside a transaction."""
    db = desk.ctx.db
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    with other_connection(desk) as other, other.read() as conn:
        idle = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND state LIKE 'idle in transaction%%'"
        ).scalar_one()
    assert idle == 0


def delete_all(desk: Desk, ids: list[int]) -> tuple[str, list[dict[str, Any]]]:
    """Delete ``ids`` forever with a confirmed operation run to its end."""
    return run(desk, confirmed(desk, {"action": "delete_forever", "conversationIds": ids}))


def check_all_deleted(
    desk: Desk, ids: list[int], expected: dict[int, bytes], ran: tuple[str, list[dict[str, Any]]]
) -> None:
    """Each conversation announced once, with the bytes it had, and nothing left open."""
    op_id, events = ran
    check_run(events, op_id, "convo.deleted_forever", ids, total=len(ids))
    assert logged_payloads(desk.ctx.db, "convo.deleted_forever") == expected
    no_transaction_left(desk)


def begun_chunks(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record, for each attempt to begin a chunk ahead, whether it was begun."""
    outcomes: list[bool] = []
    begin = runner.Runner._begin

    def recorded(self: runner.Runner, *args: Any) -> Any:
        begun = begin(self, *args)
        outcomes.append(begun is not None)
        return begun

    monkeypatch.setattr(runner.Runner, "_begin", recorded)
    return outcomes


def test_the_next_chunk_is_locked_before_it_is_read(
    database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with postgresql_desk(database_url) as desk:
        _, ids = build(desk, 6)
        expected = stored_json(desk.ctx.db, ids)
        chunks = [ids[0:2], ids[2:4], ids[4:6]]
        following_locked: list[bool] = []  # per chunk, as it deletes
        delete_forever = actions.delete_forever

        def watched(tx: Any, present: Sequence[int], rendered: Any) -> list[int]:
            number = next(n for n, chunk in enumerate(chunks) if chunk[0] == present[0])
            if number + 1 < len(chunks):
                with other_connection(desk) as db:
                    following_locked.append(locked(db, chunks[number + 1]))
            return delete_forever(tx, present, rendered)

        monkeypatch.setattr(actions, "delete_forever", watched)
        body = confirmed(desk, {"action": "delete_forever", "conversationIds": ids})
        with caplog.at_level(logging.INFO, logger="tidings.operations"):
            op_id, events = run(desk, body)
        check_run(events, op_id, "convo.deleted_forever", ids, total=6)
        # Chunks 1 and 2 deleted while the next chunk's transaction held its rows, and
        # the child rendered chunks 2 and 3 from what those transactions had locked.
        assert following_locked == [True, True]
        assert "rendered by the child process: 4; here, alongside it: 0" in caplog.text
        assert logged_payloads(desk.ctx.db, "convo.deleted_forever") == expected
        no_transaction_left(desk)


def test_a_failing_chunk_leaves_nothing_of_the_next_one(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with postgresql_desk(database_url) as desk:
        _, ids = build(desk, 6)
        before = {i: desk.convo(i) for i in ids[2:]}
        fail_on_delete(desk.ctx.db, ids[3])  # chunk 2 fails; chunk 3 was begun during it
        begun = begun_chunks(monkeypatch)
        body = confirmed(desk, {"action": "delete_forever", "conversationIds": ids})
        _, events = run(desk, body)
        assert begun == [True, True]  # chunk 2 during chunk 1, chunk 3 during chunk 2
        assert [e["type"] for e in events] == [
            "operation.started",
            "convo.deleted_forever",
            "convo.deleted_forever",
            "operation.progress",
            "operation.failed",
        ]
        assert [e["entity"]["id"] for e in events[1:3]] == ids[:2]
        assert "boom fail_delete" in events[-1]["data"]["error"]
        for cid in ids[2:]:
            assert desk.convo(cid) == before[cid]  # chunk 2 rolled back, chunk 3 untouched
        no_transaction_left(desk)
        with other_connection(desk) as db:
            assert not locked(db, ids[2:])


def test_a_cancel_reaches_the_chunk_begun_ahead(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancellation requested while chunk 1 runs waits for the operation's row, and
    stops the operation at the next chunk: chunk 2, which was begun ahead (or, if the
    worker took the row first, chunk 3). Nothing of the chunk that stops is deleted, and
    no transaction is left open."""
    with postgresql_desk(database_url) as desk:
        _, ids = build(desk, 6)
        before = {i: desk.convo(i) for i in ids}
        delete_forever = actions.delete_forever
        cancels: list[threading.Thread] = []

        def cancel_during_first(tx: Any, present: Sequence[int], rendered: Any) -> list[int]:
            if not cancels:
                cancels.append(threading.Thread(target=request_cancel, args=(tx.operation_id,)))
                cancels[0].start()
                wait_until_waiting_for_the_row()
            return delete_forever(tx, present, rendered)

        def request_cancel(op_id: str) -> None:
            with other_connection(desk) as db, db.write() as conn:
                sql = "UPDATE operations SET cancel_requested = true WHERE id = ?"
                raw.execute(conn, raw.Statement(sql, (op_id,)))

        def wait_until_waiting_for_the_row() -> None:
            with other_connection(desk) as db:
                for _ in range(500):
                    with db.read() as conn:
                        waiting = conn.exec_driver_sql(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                            " AND query LIKE 'UPDATE operations SET cancel_requested%%'"
                        ).scalar_one()
                    if waiting:
                        return
                    time.sleep(0.01)
            raise AssertionError("the cancel request never waited for the operation's row")

        monkeypatch.setattr(actions, "delete_forever", cancel_during_first)
        begun = begun_chunks(monkeypatch)
        _, events = delete_all(desk, ids)
        cancels[0].join(10)
        types = [e["type"] for e in events]
        deleted = [e["entity"]["id"] for e in events if e["type"] == "convo.deleted_forever"]
        assert deleted in (ids[:2], ids[:4])
        assert begun == [True] * (len(deleted) // 2)
        assert types[0] == "operation.started"
        assert types[-1] == "operation.cancelled"
        for cid in ids[len(deleted) :]:
            assert desk.convo(cid) == before[cid]
        no_transaction_left(desk)


def test_a_held_operation_row_makes_the_chunk_wait_without_its_locks(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone holds the operation's row as chunk 2 is about to start (a cancel request
    writing its flag, or another worker that took the operation over and may wait for
    chunk 2's conversations). Chunk 2's transaction, begun ahead with those conversations
    locked, does not wait for the row: it rolls back, and the chunk runs the usual way,
    waiting for the row with nothing locked."""
    with postgresql_desk(database_url) as desk:
        _, ids = build(desk, 6)
        expected = stored_json(desk.ctx.db, ids)
        take_over = runner.Runner._take_over
        seen: list[tuple[bool, bool, bool]] = []  # (locked before, taken over, locked after)

        def contended(self: runner.Runner, cursor: Any, op_id: str, renderer: Any) -> Any:
            if seen or cursor.begun is None:
                return take_over(self, cursor, op_id, renderer)
            holding, release = threading.Event(), threading.Event()
            holder = threading.Thread(target=hold_row, args=(op_id, holding, release))
            holder.start()
            holding.wait(10)
            with other_connection(desk) as db:
                locked_before = locked(db, ids[2:4])
                threading.Timer(0.5, release.set).start()  # a waiting take-over would get it
                begun = take_over(self, cursor, op_id, renderer)
                seen.append((locked_before, begun is not None, locked(db, ids[2:4])))
            return begun

        def hold_row(op_id: str, holding: threading.Event, release: threading.Event) -> None:
            with other_connection(desk) as db, db.write() as conn:
                sql = "SELECT id FROM operations WHERE id = ? FOR UPDATE"
                raw.rows(conn, raw.Statement(sql, (op_id,)))
                holding.set()
                release.wait(10)

        monkeypatch.setattr(runner.Runner, "_take_over", contended)
        ran = delete_all(desk, ids)
        assert seen == [(True, False, False)]  # given up at once, its locks gone with it
        check_all_deleted(desk, ids, expected, ran)


def test_a_chunk_that_cannot_begin_ahead_runs_the_usual_way(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Locking the next chunk fails (here: once, with an error of any kind): the next
    chunk locks its rows itself, and the events are the same."""
    with postgresql_desk(database_url) as desk:
        _, ids = build(desk, 6)
        expected = stored_json(desk.ctx.db, ids)
        lock_ids = runner.lock_ids
        failures: list[int] = []

        def failing_once(conn: Any, chunk: Sequence[int], *, nowait: bool = False) -> list[int]:
            if nowait and not failures:
                failures.append(chunk[0])
                raise RuntimeError("the network is down")
            return lock_ids(conn, chunk, nowait=nowait)

        monkeypatch.setattr(runner, "lock_ids", failing_once)
        begun = begun_chunks(monkeypatch)
        ran = delete_all(desk, ids)
        assert failures == [ids[2]]
        assert begun == [False, True]  # chunk 2 ran the usual way and began chunk 3
        check_all_deleted(desk, ids, expected, ran)


def test_the_chunk_begun_ahead_never_waits_for_a_lock(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone holds a conversation of chunk 2 while chunk 1 runs. Waiting for it there
    could close a cycle that PostgreSQL cannot see (the worker's one thread waits in one
    transaction while its other one holds locks), so chunk 2 is not begun ahead: it locks
    its rows itself once chunk 1 has committed, as any chunk did before."""
    with postgresql_desk(database_url) as desk:
        _, ids = build(desk, 6)
        expected = stored_json(desk.ctx.db, ids)
        holding, release = threading.Event(), threading.Event()

        def hold_conversation() -> None:
            with other_connection(desk) as db, db.write() as conn:
                raw.rows(
                    conn,
                    raw.in_list(
                        "SELECT id FROM conversations WHERE id IN ({ids}) FOR UPDATE", [ids[3]]
                    ),
                )
                holding.set()
                release.wait(5)  # without NOWAIT, chunk 1 would wait this long, then begin

        holder = threading.Thread(target=hold_conversation)
        holder.start()
        holding.wait(10)
        delete_forever = actions.delete_forever

        def release_after_chunk_1(tx: Any, present: Sequence[int], rendered: Any) -> list[int]:
            release.set()
            return delete_forever(tx, present, rendered)

        monkeypatch.setattr(actions, "delete_forever", release_after_chunk_1)
        begun = begun_chunks(monkeypatch)
        ran = delete_all(desk, ids)
        holder.join(10)
        assert begun == [False, True]
        check_all_deleted(desk, ids, expected, ran)
