"""PostgreSQL: a bulk delete forever begins each next chunk's transaction early (ADR 0014).

While chunk k deletes, appends and commits, chunk k+1's transaction has already locked its
conversations, and the snapshot renderer reads them meanwhile. These tests pin what that
must not change: the next chunk's rows are locked before they are read, a failing chunk
leaves nothing of the next one behind, and a transaction begun ahead never waits for the
operation's row with its conversations locked.
"""

from __future__ import annotations

import threading
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


def test_the_next_chunk_is_locked_before_it_is_read(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with postgresql_desk(database_url) as desk:
        _, ids = build(desk, 6)
        expected = stored_json(desk.ctx.db, ids)
        chunks = [ids[0:2], ids[2:4], ids[4:6]]
        seen: list[tuple[bool, bool]] = []  # per chunk: (its own rows, the next chunk's)
        delete_forever = actions.delete_forever

        def watched(tx: Any, present: Sequence[int], rendered: Any) -> list[int]:
            number = next(n for n, chunk in enumerate(chunks) if chunk[0] == present[0])
            following = chunks[number + 1] if number + 1 < len(chunks) else []
            with other_connection(desk) as db:
                seen.append((locked(db, present), bool(following) and locked(db, following)))
            return delete_forever(tx, present, rendered)

        monkeypatch.setattr(actions, "delete_forever", watched)
        body = confirmed(desk, {"action": "delete_forever", "conversationIds": ids})
        op_id, events = run(desk, body)
        check_run(events, op_id, "convo.deleted_forever", ids, total=6)
        # Chunks 1 and 2 ran while the next chunk's transaction held its rows; the last
        # chunk had none to begin.
        assert seen == [(True, True), (True, True), (True, False)]
        assert logged_payloads(desk.ctx.db, "convo.deleted_forever") == expected
        with other_connection(desk) as db:
            assert not locked(db, ids)


def test_a_failing_chunk_leaves_nothing_of_the_next_one(database_url: str) -> None:
    with postgresql_desk(database_url) as desk:
        _, ids = build(desk, 6)
        before = {i: desk.convo(i) for i in ids[2:]}
        fail_on_delete(desk.ctx.db, ids[3])  # chunk 2 fails; chunk 3 was begun during it
        body = confirmed(desk, {"action": "delete_forever", "conversationIds": ids})
        _, events = run(desk, body)
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
        with other_connection(desk) as db:
            assert not locked(db, ids[2:])  # and chunk 3's transaction is gone


def test_a_held_operation_row_makes_the_chunk_wait_without_its_locks(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone holds the operation's row as chunk 2 is about to start (a cancel request
    writing its flag, or another worker that took the operation over). Chunk 2's
    transaction, begun ahead with its conversations locked, does not wait for it: it
    rolls back, and the chunk runs the usual way once the row is free."""
    with postgresql_desk(database_url) as desk:
        _, ids = build(desk, 6)
        expected = stored_json(desk.ctx.db, ids)
        row_free = runner._operation_row_free
        answers: list[bool] = []

        def contended(tx: Any, op_id: str) -> bool:
            if not answers:
                holding, release = threading.Event(), threading.Event()
                holder = threading.Thread(target=hold_row, args=(op_id, holding, release))
                holder.start()
                holding.wait(10)
                answers.append(row_free(tx, op_id))
                threading.Timer(0.3, release.set).start()
                return answers[-1]
            answers.append(row_free(tx, op_id))
            return answers[-1]

        def hold_row(op_id: str, holding: threading.Event, release: threading.Event) -> None:
            with other_connection(desk) as db, db.write() as conn:
                sql = "SELECT id FROM operations WHERE id = ? FOR UPDATE"
                raw.rows(conn, raw.Statement(sql, (op_id,)))
                holding.set()
                release.wait(10)

        monkeypatch.setattr(runner, "_operation_row_free", contended)
        body = confirmed(desk, {"action": "delete_forever", "conversationIds": ids})
        op_id, events = run(desk, body)
        assert answers == [False, True]  # chunk 2 did not wait; chunk 3 found it free
        check_run(events, op_id, "convo.deleted_forever", ids, total=6)
        assert logged_payloads(desk.ctx.db, "convo.deleted_forever") == expected
