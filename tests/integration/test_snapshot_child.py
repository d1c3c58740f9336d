"""A bulk delete forever's snapshots read ahead by a child process
(``tidings.operations.snapshot_child``): the events are exactly what the worker would
have read itself, a commit by anyone else between chunks makes the worker read them
itself, and a child that dies costs nothing but speed.

Each test deletes nine conversations in chunks of two (five chunks), so the child is
asked for chunks 2 and 3 during chunk 1, for chunk 4 during chunk 2, and so on.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

from tests.integration.test_events_kit import Desk, desk_app, submit
from tidings.db.engine import Database
from tidings.desk import snapshots
from tidings.operations.snapshot_child import SnapshotChild

CHUNK = 2
COUNT = 9


def _nine(desk: Desk) -> list[int]:
    """Nine conversations, some with an agent's reply, all in the trash."""
    agent = desk.user()
    box = desk.mailbox()
    ids = [
        desk.conversation(box, customer=f"c{i % 3}@example.com", text=f"Question {i}")
        for i in range(COUNT)
    ]
    for cid in ids[::2]:
        desk.reply(cid, {"type": "message", "text": f"Answer to {cid}", "user": agent})
    for cid in ids:
        desk.update(cid, {"state": "deleted", "byUser": agent})
    return ids


def _delete_forever(desk: Desk) -> str:
    body = {"action": "delete_forever", "filter": {"state": "deleted"}}
    plan = desk.post("/operations", {**body, "dryRun": True}).json()
    assert plan["total"] == COUNT
    return submit(desk, {**body, "confirmToken": plan["confirmToken"]})


# The worker's checkouts from the pool: claim, start, load, then one per chunk.
CHUNK_1, CHUNK_2, CHUNK_3 = 4, 5, 6

# Spawning the child and importing Tidings there takes ~0.5 s of CPU; the worker does not
# wait for it (it reads the snapshots itself until the child has started). So that the
# tests know which chunks the child reads, the first chunk waits this long.
CHILD_START_SECONDS = 3


def _before_checkouts(db: Database, actions: dict[int, Callable[[], None]]) -> Callable[[], None]:
    """Run ``actions[n]`` as the worker takes its n-th connection from the pool (it holds
    none then, and has begun nothing); the remover of the hook."""
    seen = 0
    actions = {CHUNK_1: lambda: time.sleep(CHILD_START_SECONDS), **actions}

    def checkout(*_: Any) -> None:
        nonlocal seen
        seen += 1
        if seen in actions:
            actions[seen]()

    event.listen(db.engine, "checkout", checkout)
    return lambda: event.remove(db.engine, "checkout", checkout)


def _read_ahead(caplog: pytest.LogCaptureFixture) -> int:
    """How many snapshots the runner took from the child (its closing log line)."""
    found = [r.getMessage() for r in caplog.records if "read ahead by the child" in r.getMessage()]
    assert len(found) == 1, found
    return int(found[0].split(": ")[1].split()[0])


def test_the_child_reads_what_the_worker_would(database_url: str, db: Database) -> None:
    """Byte for byte: the child's snapshots are the worker's own."""
    with desk_app(database_url) as desk:
        ids = _nine(desk)
    child = SnapshotChild(db.url)
    try:
        child.ask(ids)  # not started yet: not asked
        deadline = time.monotonic() + 30
        while not child.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert child.take(ids) is None
        child.ask(ids[:4])
        child.ask(ids[4:])
        assert child.take(ids[:5]) is None  # never asked for: both answers are dropped
        child.ask(list(reversed(ids)))
        answer = child.take(ids)  # the same set, in any order
    finally:
        child.close()
    assert answer is not None
    with db.read() as conn:
        assert answer.snapshots == snapshots.read(conn, ids)
        assert answer.seen == conn.exec_driver_sql("SELECT max(seq) FROM events").scalar_one()
    assert not multiprocessing.active_children()


def test_a_bulk_delete_forever_uses_the_childs_snapshots(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with desk_app(database_url, operation_chunk_size=CHUNK, render_process_from=1) as desk:
        ids = _nine(desk)
        before = {cid: desk.convo(cid) for cid in ids}
        mark = desk.mark()
        _delete_forever(desk)
        remove = _before_checkouts(desk.ctx.db, {})
        try:
            with caplog.at_level(logging.INFO, logger="tidings.operations"):
                desk.run_operations()
        finally:
            remove()
        deleted = [e for e in desk.events(mark) if e["type"] == "convo.deleted_forever"]
    assert [e["entity"]["id"] for e in deleted] == ids
    for e in deleted:
        assert e["data"] == before[e["entity"]["id"]]
    # Chunks 2 to 5 came from the child; the first was read before it was asked for any.
    assert _read_ahead(caplog) == COUNT - CHUNK
    assert not multiprocessing.active_children()


def test_a_commit_between_chunks_makes_the_worker_read_for_itself(
    database_url: str, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with desk_app(database_url, operation_chunk_size=CHUNK, render_process_from=1) as desk:
        ids = _nine(desk)
        agent = desk.user("Late")
        _delete_forever(desk)
        changed = ids[5]  # in chunk 3, which the child read during chunk 1

        def late_reply() -> None:
            # By now the child has been asked for chunks 2 to 4; give it the time to
            # read them all, so that the reply comes after its reads of chunks 3 and 4.
            time.sleep(1)
            desk.reply(changed, {"type": "note", "text": "Too late", "user": agent})

        # Checkouts: claim, start, load, chunk 1, chunk 2, then the reply (its own
        # checkout is the seventh), then chunk 3.
        remove = _before_checkouts(desk.ctx.db, {CHUNK_3: late_reply})
        try:
            with caplog.at_level(logging.INFO, logger="tidings.operations"):
                desk.run_operations()
        finally:
            remove()
        deleted = {
            e["entity"]["id"]: e["data"]
            for e in desk.events()
            if e["type"] == "convo.deleted_forever"
        }
    assert sorted(deleted) == ids
    # The snapshot shows the reply that committed before its chunk.
    bodies = [t["body"] for t in deleted[changed]["_embedded"]["threads"]]
    assert bodies[0] == "Too late"
    # Chunk 2 came from the child; chunks 3 and 4 were read before the reply, so the
    # worker read them itself; chunk 5 was read after it.
    assert _read_ahead(caplog) == 2 + 1


def test_a_child_that_dies_costs_only_speed(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with desk_app(database_url, operation_chunk_size=CHUNK, render_process_from=1) as desk:
        ids = _nine(desk)
        before = {cid: desk.convo(cid) for cid in ids}
        op_id = _delete_forever(desk)

        def kill_the_child() -> None:
            for child in multiprocessing.active_children():
                child.kill()

        remove = _before_checkouts(desk.ctx.db, {CHUNK_2: kill_the_child})
        try:
            with caplog.at_level(logging.INFO, logger="tidings.operations"):
                desk.run_operations()
        finally:
            remove()
        assert desk.get(f"/operations/{op_id}").json()["status"] == "completed"
        deleted = [e for e in desk.events() if e["type"] == "convo.deleted_forever"]
    assert [e["entity"]["id"] for e in deleted] == ids
    for e in deleted:
        assert e["data"] == before[e["entity"]["id"]]
    # Killed before chunk 2: at most what it had read already (chunks 2 and 3) was used;
    # chunks 4 and 5 were read by the worker.
    assert _read_ahead(caplog) in (0, 2, 4)
    assert not multiprocessing.active_children()
