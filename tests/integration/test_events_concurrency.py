"""Invariant 3 under load: a reader following the cursor never skips an event.

PostgreSQL commits concurrent transactions out of sequence order; the outbox takes an
advisory lock for the append so positions follow commit order. Eight writers commit
conversations and replies as fast as they can for ten seconds while a reader follows
``seq > cursor``. To widen the window between taking a position and committing, a
deferred constraint trigger sleeps a little at every commit that appends events.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from tidings.db.engine import Database
from tidings.db.schema import events
from tidings.desk import conversations as convos
from tidings.desk import mailboxes
from tidings.events import log
from tidings.events.outbox import transaction

WRITERS = 8
SECONDS = 10.0


def slow_commits(db: Database) -> None:
    with db.write() as conn:
        conn.exec_driver_sql(
            "CREATE FUNCTION slow_commit_fn() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN PERFORM pg_sleep(random() * 0.004); RETURN NULL; END $$"
        )
        conn.exec_driver_sql(
            "CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON events"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit_fn()"
        )


@pytest.mark.parametrize("backend", ["postgresql"])
def test_reader_sees_every_committed_event_once_in_order(database_url: str) -> None:
    db = Database(database_url, pool_size=WRITERS + 2)
    try:
        boxes = []
        for i in range(WRITERS):
            with transaction(db) as tx:
                boxes.append(mailboxes.create_mailbox(tx, {"name": f"B{i}", "email": f"b{i}@x.io"}))
        slow_commits(db)

        stop, writers_done = threading.Event(), threading.Event()
        errors: list[BaseException] = []
        committed = [0] * WRITERS

        def writer(n: int) -> None:
            try:
                i = 0
                while not stop.is_set():
                    i += 1
                    with transaction(db) as tx:
                        cid = convos.create_conversation(
                            tx,
                            {
                                "type": "email",
                                "mailboxId": boxes[n],
                                "subject": f"w{n} #{i}",
                                "customer": {"email": f"w{n}@example.com"},
                                "threads": [{"type": "customer", "text": "hello"}],
                            },
                        )["id"]
                    committed[n] += 1
                    with transaction(db) as tx:
                        convos.add_thread(tx, cid, {"type": "customer", "text": "more"})
                    committed[n] += 1
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        seen: list[int] = []
        reads = [0]

        def reader() -> None:
            cursor = 0
            try:
                while True:
                    finished = writers_done.is_set()  # decided before the read
                    with db.read() as conn:
                        page, cursor, _ = log.read(conn, log.EventQuery(after=cursor, limit=50))
                    reads[0] += 1
                    seen.extend(e["seq"] for e in page)
                    if finished and not page:
                        return
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        follower = threading.Thread(target=reader)
        for t in [*threads, follower]:
            t.start()
        time.sleep(SECONDS)
        stop.set()
        for t in threads:
            t.join(60)
        writers_done.set()
        # The reader stops only after a read, begun after every writer finished, came back empty.
        follower.join(60)
        assert not follower.is_alive()
        assert not errors, errors

        with db.read() as conn:
            everything = list(conn.execute(select(events.c.seq).order_by(events.c.seq)).scalars())
        assert sum(committed) > 100, committed
        assert all(c > 0 for c in committed), committed
        # Every committed event exactly once, and in increasing order: the reader never
        # moved past a position that a slower transaction filled in later.
        assert len(seen) == len(set(seen))
        assert seen == sorted(seen)
        missed = sorted(set(everything) - set(seen))
        assert not missed, f"the reader skipped {len(missed)} events, e.g. {missed[:10]}"
        assert seen == everything
        assert reads[0] > 10
    finally:
        db.dispose()
