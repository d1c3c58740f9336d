"""Rendering a bulk delete forever's snapshots in a second process (ADR 0011).

Each ``convo.deleted_forever`` carries the conversation as it was just before the
deletion, and building that JSON is most of a bulk delete's Python work. It does not
have to happen on the connection that deletes: any connection that reads the committed
rows sees exactly that state, as long as nothing can change them in between. So a child
process renders them, with its own connection, while this one deletes and commits.

- **PostgreSQL**, inside the chunk: the chunk's transaction has locked the conversations
  (``FOR UPDATE``, which also blocks new threads and attachments: their foreign keys need
  a key-share lock), so the child reads them, in one ``REPEATABLE READ`` snapshot taken
  after the lock, while this connection deletes them.
- **SQLite**, one chunk ahead: the child is asked for chunk k+1's snapshots during chunk
  k's transaction, and reads them at some moment between chunk k's ``BEGIN`` and chunk
  k+1's ``COMMIT``. Only three kinds of commit can fall in that window: chunk k's own,
  which changes none of chunk k+1's rows (a snapshot depends only on its conversation's
  rows and on users and customers; see ``tidings.desk.snapshots``); commits by other
  connections, which move ``PRAGMA data_version``; and writes by someone else through this
  pooled connection, which move its ``total_changes``. Both counters are read as chunk k
  commits and again as chunk k+1 begins (``begin``); if anything moved, or chunk k+1 runs
  on another connection, its snapshots are rendered again, in its own transaction.

Anything that goes wrong with the child (it died, it raised, it did not answer within
``RESULT_TIMEOUT_SECONDS``) makes this process render the chunk itself, from a second
connection that sees the same committed rows, and stop using the child for the rest of
the operation: the events are the same either way, only slower.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from multiprocessing.process import BaseProcess
from typing import Any

from sqlalchemy.pool import NullPool

from tidings.db.engine import Database
from tidings.desk import snapshots
from tidings.desk.lifecycle import Rendered
from tidings.desk.snapshots import Snapshot
from tidings.events.outbox import Tx
from tidings.operations.actions import PRE_CHANGE_SNAPSHOTS

logger = logging.getLogger("tidings.operations")

# Waiting longer than this for the child means something is wrong with it: render here.
# Well below SQLite's busy timeout and the worker's lease (30 s each): the chunk holds the
# write lock (or row locks) while it waits.
RESULT_TIMEOUT_SECONDS = 10.0

# How long a finished operation waits for the child to exit before killing it.
CLOSE_TIMEOUT_SECONDS = 5.0

# The child process's database, opened once by ``_open``.
_child_db: Database | None = None


def _open(url: str) -> None:
    """In the child, once: open the database, and exit when the parent is gone (killed
    parents close no pipes the child would notice)."""
    global _child_db
    _child_db = Database(url, pool_size=1)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(0)


def _render(ids: Sequence[int]) -> list[Snapshot]:
    """In the child: the snapshots of ``ids`` as committed, in one read snapshot."""
    assert _child_db is not None
    with _child_db.read() as conn:
        if _child_db.is_postgresql:
            # One snapshot for all of the batch's queries, as SQLite's read transaction.
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return snapshots.read(conn, ids)


def _ready() -> None:
    """In the child: nothing; done once the child has started and opened its database."""


@dataclass
class _Ahead:
    """Snapshots being rendered for the next chunk, asked for in transaction ``tx``."""

    ids: frozenset[int]
    # Weak: the transaction's commit hook refers to this object, and a reference cycle
    # would keep each chunk's events alive until a full garbage collection.
    tx: weakref.ref[Tx]
    future: Future[list[Snapshot]]
    # The connection's state as ``tx`` left it, just before its COMMIT.
    end: tuple[Any, int, int] | None = None

    def still_valid(self, tx: Tx, start: tuple[Any, int, int] | None) -> bool:
        """Whether nothing was committed since ``self.tx`` but ``self.tx`` itself."""
        # The same transaction (atomic operations) has held the write lock throughout.
        return self.tx() is tx or (start is not None and start == self.end)


class RenderAhead:
    """One operation's snapshot renderer: a child process and the chunk it works on."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_open,
            initargs=(db.url,),
        )
        self._started = self._pool.submit(_ready)
        self._ahead: _Ahead | None = None
        self._begun: tuple[weakref.ref[Tx], tuple[Any, int, int]] | None = None
        self._gone = False  # the child failed: this operation renders here from now on
        self._first = True
        # Conversations whose snapshots came from the child, and those rendered here by
        # ``_collect`` because it failed (logged when the operation ends). Chunks whose
        # snapshots were stale render in the usual way and are not counted.
        self.from_child = 0
        self.rendered_here = 0

    @property
    def renders_ahead(self) -> bool:
        """True when the caller should pass the next chunk's ids (SQLite)."""
        return self.db.is_sqlite

    def begin(self, tx: Tx) -> None:
        """Call first thing in a chunk's transaction, before it writes anything."""
        if self.db.is_sqlite:
            self._begun = (weakref.ref(tx), _sqlite_marker(_driver(tx)))

    def for_chunk(self, tx: Tx, ids: Sequence[int], upcoming: Sequence[int]) -> Rendered | None:
        """In a chunk's transaction, after ``ids`` are locked: how to get their snapshots,
        or None to render them here as usual. ``upcoming``: the next chunk's ids."""
        if self.db.is_postgresql:
            # The first chunk renders here while the child starts (the next ones wait
            # for it if it has not started yet).
            first, self._first = self._first, False
            future = None if first or not ids else self._submit(ids)
            return None if future is None else self._collector(future)
        begun, self._begun = self._begun, None
        start = begun[1] if begun is not None and begun[0]() is tx else None
        ahead, self._ahead = self._ahead, None
        if upcoming:
            future = self._submit(upcoming)
            if future is not None:
                self._ahead = _Ahead(frozenset(upcoming), weakref.ref(tx), future)
                tx.before_commit.append(partial(_mark_end, self._ahead, _driver(tx)))
        if ahead is None:
            return None
        if not ahead.still_valid(tx, start) or not ahead.ids.issuperset(ids):
            # Something committed since (through this connection or another one).
            ahead.future.cancel()
            logger.info("snapshots rendered ahead are stale: rendering again")
            return None
        return self._collector(ahead.future)

    def _submit(self, ids: Sequence[int]) -> Future[list[Snapshot]] | None:
        if self._gone:
            return None
        try:
            return self._pool.submit(_render, list(ids))
        except RuntimeError:  # BrokenProcessPool: the child died; render here from now on
            logger.warning("snapshot renderer is gone: rendering here from now on")
            self._gone = True
            return None

    def _collector(self, future: Future[list[Snapshot]]) -> Rendered:
        return lambda found: self._collect(future, found)

    def _collect(self, future: Future[list[Snapshot]], found: list[int]) -> list[Snapshot]:
        try:
            made = {s.conversation_id: s for s in future.result(RESULT_TIMEOUT_SECONDS)}
            if all(i in made for i in found):
                self.from_child += len(found)
                return [made[i] for i in found]
            logger.warning("snapshot renderer missed conversations: rendering here")
        except Exception:
            logger.warning("snapshot renderer failed: rendering here from now on", exc_info=True)
            self._give_up()
        self.rendered_here += len(found)
        # Another connection sees the rows as committed, which this transaction keeps
        # unchanged until it commits (this one may already have deleted them).
        with self.db.read() as conn:
            return snapshots.read(conn, found)

    def _give_up(self) -> None:
        """Stop using the child for this operation, and stop it even if it is stuck."""
        self._gone = True
        self._ahead = None
        self._stop(kill=True)

    def close(self) -> None:
        """Stop the child: it may finish a chunk rendered ahead for nothing (the operation
        ended early), but one that does not stop within ``CLOSE_TIMEOUT_SECONDS`` is killed."""
        logger.info(
            "snapshots rendered by the child process: %d; here, after it failed: %d",
            self.from_child,
            self.rendered_here,
        )
        if self._ahead is not None:
            self._ahead.future.cancel()
        self._stop(kill=False)
        if self.db.is_sqlite:
            _truncate_wal(self.db)

    def _stop(self, *, kill: bool) -> None:
        # The executor's own thread reaps the child (joining it here too would race with
        # it for the exit status): wait for that thread, killing the child if need be.
        # ProcessPoolExecutor has no public way to reach either before Python 3.14.
        manager = getattr(self._pool, "_executor_manager_thread", None)
        processes = self._processes()
        if kill:
            for process in processes:
                process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if manager is None:  # never started, or already stopped
            return
        manager.join(CLOSE_TIMEOUT_SECONDS)
        if manager.is_alive():
            logger.warning("snapshot renderer did not stop: killing it")
            for process in processes:
                process.kill()
            manager.join()

    def _processes(self) -> list[BaseProcess]:
        """The child (none once stopped)."""
        return list((getattr(self._pool, "_processes", None) or {}).values())


def _truncate_wal(db: Database) -> None:
    """Once the child has stopped: copy the WAL back and empty it, if nobody else is using
    the database right now (no waiting). With the child always reading, the WAL could not
    start over during the operation and grew (~500 MB over 100,000 conversations)."""
    with db.engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        (timeout,) = driver.execute("PRAGMA busy_timeout").fetchone()
        driver.execute("PRAGMA busy_timeout=0")
        try:
            driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            driver.execute(f"PRAGMA busy_timeout={int(timeout)}")


def _driver(tx: Tx) -> Any:
    driver = tx.conn.connection.driver_connection
    assert driver is not None
    return driver


def _sqlite_marker(driver: Any) -> tuple[Any, int, int]:
    """Which connection this is, how many other connections' commits it has seen
    (``data_version``) and how many rows it has changed itself (``total_changes``).

    Equal markers at the end of one transaction and the start of the next mean nobody
    committed anything in between: not another connection, and not another user of
    this pooled connection.
    """
    (version,) = driver.execute("PRAGMA data_version").fetchone()
    return (driver, int(version), int(driver.total_changes))


def _mark_end(ahead: _Ahead, driver: Any) -> None:
    ahead.end = _sqlite_marker(driver)


@contextmanager
def for_operation(
    db: Database, enabled: bool, action: str, remaining: int, chunk_size: int
) -> Iterator[RenderAhead | None]:
    """A renderer for an operation that deletes forever more than one chunk, else None.

    Started per operation and stopped after it: the child starts while the first
    chunk runs here, and no idle process or connection is left behind.
    """
    if not enabled or action not in PRE_CHANGE_SNAPSHOTS or remaining <= chunk_size:
        yield None
        return
    if db.is_sqlite and (_in_memory(db.url) or isinstance(db.engine.pool, NullPool)):
        # Another connection could not see the data, or every chunk gets a new one.
        yield None
        return
    renderer = RenderAhead(db)
    try:
        yield renderer
    finally:
        renderer.close()


def _in_memory(url: str) -> bool:
    return url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
