"""Snapshots rendered by a child process are the snapshots this process would render.

A bulk delete forever hands the rendering of ``convo.deleted_forever`` snapshots to a
child process (``tidings.operations.render_ahead``, ADR 0011). These tests pin what
must not change because of that: the bytes of every payload, a commit by another
connection between two chunks (SQLite renders one chunk ahead), and a child that dies.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers import gone
from tests.integration.test_events_kit import Desk, desk_app
from tests.integration.test_operations_events import check_run, confirmed, run
from tidings.clock import system_clock
from tidings.config import Settings
from tidings.db import raw
from tidings.db.engine import Database
from tidings.desk import lifecycle, snapshots
from tidings.events import payloads
from tidings.events.outbox import transaction
from tidings.operations import balance, render_ahead
from tidings.operations.render_ahead import RenderAhead
from tidings.operations.runner import Runner


def build(desk: Desk, n: int) -> tuple[int, list[int]]:
    """A mailbox with ``n`` conversations: replies, a note, tags, an assignee, some in the
    trash."""
    box = desk.mailbox()
    user = desk.user("Ann")
    ids = []
    for i in range(n):
        convo = desk.conversation(box, customer=f"c{i}@example.com", text=f"Hello {i} <b>é</b>")
        desk.reply(convo, {"type": "message", "text": f"Answer {i}", "user": user})
        desk.reply(convo, {"type": "note", "text": f"Note {i}", "user": user})
        desk.update(convo, {"assignTo": user, "byUser": user})
        r = desk.put(f"/conversations/{convo}/tags", {"tags": [f"t{i}", "bulk"]})
        assert r.status_code == 204, r.text
        ids.append(convo)
    for convo in ids[::2]:
        desk.update(convo, {"state": "deleted", "byUser": user})  # some in the trash
    return box, ids


def stored_json(db: Database, ids: list[int]) -> dict[int, bytes]:
    """The snapshot bytes this process renders now, by conversation."""
    with db.read() as conn:
        return {
            s.conversation_id: bytes_of(payloads.json_of(s.payload))
            for s in snapshots.read(conn, ids)
        }


def bytes_of(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def logged_payloads(db: Database, event_type: str) -> dict[int, bytes]:
    with db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT conversation_id, payload FROM events WHERE type = ?"
            if db.is_sqlite
            else "SELECT conversation_id, payload FROM events WHERE type = %s",
            (event_type,),
        ).all()
    return {int(c): bytes_of(payloads.json_of(p)) for c, p in rows}


@pytest.mark.parametrize("atomic", [False, True])
def test_child_rendered_payloads_are_byte_identical(
    database_url: str, atomic: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with desk_app(database_url, operation_chunk_size=2) as desk:
        _, ids = build(desk, 7)
        db = desk.ctx.db
        expected = stored_json(db, ids)
        assert len(expected) == 7
        assert all(b'"threads":[{' in v for v in expected.values())
        body = confirmed(desk, {"action": "delete_forever", "conversationIds": ids})
        with caplog.at_level(logging.INFO, logger="tidings.operations"):
            op_id, events = run(desk, {**body, "atomic": atomic})
        if db.is_sqlite:
            # Emptied once the child stopped: it may have kept the WAL from starting over.
            assert Path(db.url.removeprefix("sqlite:///") + "-wal").stat().st_size == 0
        if atomic:
            assert [e["type"] for e in events] == [
                "operation.started",
                *["convo.deleted_forever"] * 7,
                "operation.completed",
            ]
        else:
            check_run(events, op_id, "convo.deleted_forever", ids, total=7)
        assert logged_payloads(db, "convo.deleted_forever") == expected
        # The first chunk renders here while the child starts (and, on SQLite, renders
        # the second); the other 5 conversations come from the child.
        assert (
            "rendered by the child process: 5; here, alongside it: 0; here, after it failed: 0"
            in caplog.text
        )
        assert multiprocessing.active_children() == []  # stopped with the operation
        assert stored_json(db, ids) == {}


def test_in_process_rendering_gives_the_same_bytes(database_url: str) -> None:
    """The switch that turns the child off (``TIDINGS_RENDER_PROCESS=false``)."""
    with desk_app(database_url, operation_chunk_size=2, render_process=False) as desk:
        _, ids = build(desk, 5)
        expected = stored_json(desk.ctx.db, ids)
        body = confirmed(desk, {"action": "delete_forever", "conversationIds": ids})
        op_id, events = run(desk, body)
        check_run(events, op_id, "convo.deleted_forever", ids, total=5)
        assert logged_payloads(desk.ctx.db, "convo.deleted_forever") == expected


def delete_chunk(db: Database, renderer: RenderAhead, ids: list[int], *upcoming: list[int]) -> Any:
    """One chunk as the runner runs it, ``upcoming`` the next chunks' ids; returns what
    ``for_chunk`` offered."""
    with transaction(db) as tx:
        renderer.begin(tx)
        found = lifecycle.lock_ids(tx.conn, ids)
        rendered = renderer.for_chunk(tx, found, upcoming)
        lifecycle.delete_forever(tx, found, locked=True, rendered=rendered)
    return rendered


def settle(renderer: RenderAhead) -> None:
    """Wait until the child has rendered everything asked of it ahead (SQLite)."""
    for ahead in renderer._ahead.values():
        ahead.request.future.result()


def rename_customer(desk: Desk, convo_id: int, how: str) -> Any:
    """Rename the conversation's customer and commit; returns the driver connection used."""
    customer = desk.convo(convo_id)["customer"]["id"]
    if how == "api":
        r = desk.put(f"/customers/{customer}", {"firstName": "Renamed", "lastName": "Later"})
        assert r.status_code == 204, r.text
        return None
    sql = "UPDATE customers SET first_name = 'Renamed', last_name = 'Later' WHERE id = ?"
    # "pool": the connection the last chunk used, back in the pool (most recent first);
    # "other": a connection of its own.
    db = desk.ctx.db if how == "pool" else Database(desk.ctx.db.url, pool_size=0)
    try:
        with db.write() as conn:
            driver = conn.connection.driver_connection
            raw.execute(conn, raw.Statement(sql, (customer,)))
    finally:
        if db is not desk.ctx.db:
            db.dispose()
    return driver


@pytest.mark.parametrize("how", ["api", "pool", "other"])
def test_a_commit_between_chunks_is_not_missed(database_url: str, how: str) -> None:
    """SQLite renders chunk k+1 during chunk k; a commit in between (here: the customer
    renamed), by another connection or through the same pooled connection, makes it
    render chunk k+1 again, so the event shows the rename; without a commit in between,
    the chunk rendered ahead is used. PostgreSQL renders each chunk in the child while
    it deletes, so it sees the rename anyway."""
    with desk_app(database_url) as desk:
        db = desk.ctx.db
        _, ids = build(desk, 6)
        renderer = RenderAhead(db)
        try:
            renderer._started.result()
            # The first chunk always renders here (SQLite: nothing was rendered ahead yet).
            assert delete_chunk(db, renderer, ids[0:2], ids[2:4]) is None
            settle(renderer)  # the child has rendered ids[2:4] as they are
            if db.is_sqlite:
                assert renderer._chain._last_end is not None
                chunk_connection = renderer._chain._last_end[1][0]
            driver = rename_customer(desk, ids[2], how)
            if db.is_sqlite and how != "api":
                # Each of the two ways to notice is what catches it here.
                assert (driver is chunk_connection) is (how == "pool")
            second = delete_chunk(db, renderer, ids[2:4], ids[4:6])
            assert (second is None) is db.is_sqlite  # SQLite: stale, rendered here
            settle(renderer)
            assert delete_chunk(db, renderer, ids[4:6]) is not None  # nothing committed
        finally:
            renderer.close()
        logged = logged_payloads(db, "convo.deleted_forever")
        assert sorted(logged) == sorted(ids)
        renamed = orjson.loads(logged[ids[2]])
        assert renamed["customer"]["firstName"] == "Renamed"
        assert renamed["customer"]["lastName"] == "Later"
        assert renderer.from_child == (2 if db.is_sqlite else 4)  # PostgreSQL: not chunk 1
        assert renderer.rendered_here == 0


@pytest.mark.parametrize("rename_after", [None, 1, 2])
def test_two_chunks_ahead_a_commit_reaches_the_second(
    database_url: str, rename_after: int | None
) -> None:
    """SQLite asks for chunks k+1 and k+2 during chunk k. A commit by someone else, after
    chunk 1 or after chunk 2, renames chunk 3's customer (chunk 3 was asked for during
    chunk 1): chunk 3 is rendered again and its event shows the rename. Each boundary
    between the request and its use must be clean, not only the first. Without a commit,
    everything rendered ahead is used."""
    with desk_app(database_url) as desk:
        db = desk.ctx.db
        _, ids = build(desk, 8)
        expected = stored_json(db, ids)
        renderer = RenderAhead(db)
        chunks = [ids[0:2], ids[2:4], ids[4:6], ids[6:8]]
        offered = []
        try:
            renderer._started.result()
            for number, chunk in enumerate(chunks, 1):
                offered.append(delete_chunk(db, renderer, chunk, *chunks[number : number + 2]))
                settle(renderer)  # the chunks asked for are rendered as they are now
                if number == rename_after:
                    rename_customer(desk, ids[4], "other")
        finally:
            renderer.close()
        logged = logged_payloads(db, "convo.deleted_forever")
        assert sorted(logged) == sorted(ids)
        customer = orjson.loads(logged[ids[4]])["customer"]
        assert (customer["firstName"] == "Renamed") is (rename_after is not None)
        if rename_after is None:
            assert logged == expected
        # The first chunk renders here; on SQLite so does the chunk after the rename.
        here = {1} | ({rename_after + 1} if db.is_sqlite and rename_after else set())
        assert [number for number, o in enumerate(offered, 1) if o is None] == sorted(here)
        assert renderer.from_child == 2 * (4 - len(here))
        assert renderer.rendered_here == 0


def test_a_chunk_shared_with_the_child_gives_the_same_bytes(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk split between the child (its share, the first conversations) and this
    process (the rest, read in the chunk's transaction before it deletes)."""
    monkeypatch.setattr(balance, "SPLIT_FROM", 2)  # chunks of 2 are split...
    monkeypatch.setattr(balance, "DAMPING", 0.0)  # ... and the share stays at one half
    with desk_app(database_url) as desk:
        db = desk.ctx.db
        _, ids = build(desk, 6)
        expected = stored_json(db, ids)
        renderer = RenderAhead(db)
        renderer.share = 0.5
        try:
            renderer._started.result()
            for start in (0, 2, 4):
                chunk = ids[start : start + 2]
                delete_chunk(
                    db, renderer, chunk, ids[start + 2 : start + 4], ids[start + 4 : start + 6]
                )
                settle(renderer)
        finally:
            renderer.close()
        assert logged_payloads(db, "convo.deleted_forever") == expected
        # The first chunk renders here in full; the other two, one conversation each.
        assert (renderer.from_child, renderer.alongside, renderer.rendered_here) == (2, 2, 0)


def first_chunk_then(db: Database, renderer: RenderAhead, ids: list[int], sig: int) -> int:
    """Run the first chunk (ids 0-1) and let the child finish rendering what it was asked
    (SQLite: ids 2-3, ahead), then send it ``sig``; returns its pid."""
    renderer._started.result()
    delete_chunk(db, renderer, ids[0:2], ids[2:4])
    settle(renderer)
    (child,) = renderer._processes()
    assert child.pid is not None
    os.kill(child.pid, sig)
    return child.pid


def test_a_child_killed_mid_operation_changes_nothing(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGKILL the child between chunks: this process renders the rest itself, from the
    committed rows."""
    with desk_app(database_url) as desk:
        _, ids = build(desk, 8)
        db = desk.ctx.db
        expected = stored_json(db, ids)
        renderer = RenderAhead(db)
        try:
            child = first_chunk_then(db, renderer, ids, signal.SIGKILL)
            while not gone(child):  # not joined here: the executor reaps its process
                time.sleep(0.01)
            with caplog.at_level(logging.WARNING, logger="tidings.operations"):
                for start in (2, 4, 6):
                    delete_chunk(db, renderer, ids[start : start + 2], ids[start + 2 : start + 4])
        finally:
            renderer.close()
        assert renderer._gone
        assert "snapshot renderer" in caplog.text
        assert logged_payloads(db, "convo.deleted_forever") == expected
        assert stored_json(db, ids) == {}


def test_a_stuck_child_costs_one_timeout(
    database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A child that stops answering (SIGSTOP) holds the chunk for RESULT_TIMEOUT_SECONDS
    once; then it is killed and this process renders the rest."""
    monkeypatch.setattr(render_ahead, "RESULT_TIMEOUT_SECONDS", 0.5)
    with desk_app(database_url) as desk:
        _, ids = build(desk, 6)
        db = desk.ctx.db
        expected = stored_json(db, ids)
        renderer = RenderAhead(db)
        try:
            first_chunk_then(db, renderer, ids, signal.SIGSTOP)
            with caplog.at_level(logging.WARNING, logger="tidings.operations"):
                delete_chunk(db, renderer, ids[2:4], ids[4:6])
                delete_chunk(db, renderer, ids[4:6])
        finally:
            renderer.close()
        assert multiprocessing.active_children() == []  # killed, and reaped
        assert renderer._gone
        # SQLite: chunk 2 from the child, chunk 3 waited; PostgreSQL: chunk 2 waited.
        assert renderer.from_child == (2 if db.is_sqlite else 0)
        assert renderer.rendered_here == 2
        assert "snapshot renderer failed" in caplog.text
        assert logged_payloads(db, "convo.deleted_forever") == expected


@pytest.mark.parametrize(
    ("action", "remaining", "url", "expected"),
    [
        ("delete_forever", 3, None, True),
        ("empty_trash", 3, None, True),
        ("delete_forever", 2, None, False),  # one chunk: nothing to overlap
        ("delete", 3, None, False),  # snapshots after the change: only that transaction
        ("delete_forever", 3, "sqlite://", False),  # in memory: invisible to another process
    ],
)
def test_when_a_child_is_started(
    database_url: str, action: str, remaining: int, url: str | None, expected: bool
) -> None:
    db = Database(url) if url else Database(database_url)
    try:
        with render_ahead.for_operation(db, True, action, remaining, 2) as renderer:
            assert (renderer is not None) is expected
        with render_ahead.for_operation(db, False, action, remaining, 2) as renderer:
            assert renderer is None  # TIDINGS_RENDER_PROCESS=false
    finally:
        db.dispose()
    assert multiprocessing.active_children() == []


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(), reason="no fork server here"
)
def test_a_worker_starts_the_fork_server_its_children_come_from(database_url: str) -> None:
    """A worker starts the fork server once (ADR 0015); each operation's child is forked
    from it, so this process's only child is the fork server, and the child still stops
    with the operation."""
    db = Database(database_url)
    try:
        Runner(db, system_clock, Settings(database_url=database_url, run_workers=False))
        with render_ahead.for_operation(db, True, "delete_forever", 3, 2) as renderer:
            assert renderer is not None
            renderer._started.result(30)
            (child,) = renderer._processes()
            assert child.pid is not None
            server = parent_of(child.pid)
            assert server != os.getpid()
            assert parent_of(server) == os.getpid()
        assert gone(child.pid)
        assert not gone(server)  # it stays for the next operation
    finally:
        db.dispose()
