"""Rendering a bulk delete forever's snapshots in a second process (ADR 0011).

Each ``convo.deleted_forever`` carries the conversation as it was just before the
deletion, and building that JSON is most of a bulk delete's Python work. It does not
have to happen on the connection that deletes: any connection that reads the committed
rows sees exactly that state, as long as nothing can change them in between. So a child
process renders them, with its own connection, while this one deletes and commits.

- **PostgreSQL**, inside the chunk: the chunk's transaction has locked the conversations
  (``FOR UPDATE``, which also blocks new threads and tags: their foreign keys need a
  key-share lock), so the child reads them while this connection deletes them.
- **SQLite**, one chunk ahead: while chunk k's transaction holds the write lock, the
  child renders chunk k+1. Between the two transactions only chunk k's own commit
  (which touches none of chunk k+1's rows) and other commits can change the database.
  The connection's ``PRAGMA data_version`` (commits by other connections) and
  ``total_changes`` (rows it changed itself, for whoever used it from the pool), read as
  chunk k commits and again as chunk k+1 begins (``begin``), tell whether anything did. If anything
  did, or chunk k+1 runs on another connection, its snapshots are rendered again.

Anything that goes wrong in the child (it died, it failed, it took too long) makes this
process render the chunk itself, from a second connection that sees the same committed
rows: the events are the same either way, only slower.
"""

from __future__ import annotations

import logging
import multiprocessing
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from tidings.db.engine import Database
from tidings.desk import snapshots
from tidings.desk.lifecycle import Rendered
from tidings.desk.snapshots import Snapshot
from tidings.events.outbox import Tx

logger = logging.getLogger("tidings.operations")

# Waiting longer than this for the child means something is wrong with it: render here.
RESULT_TIMEOUT_SECONDS = 60.0

# The child process's database, opened once by ``_open``.
_child_db: Database | None = None


def _open(url: str) -> None:
    global _child_db
    _child_db = Database(url, pool_size=1)


def _render(ids: Sequence[int]) -> list[Snapshot]:
    """In the child: the snapshots of ``ids`` as committed, in one read transaction."""
    assert _child_db is not None
    with _child_db.read() as conn:
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
        self._begun: tuple[Tx, tuple[Any, int, int]] | None = None
        self._gone = False  # the child died: this operation renders here from now on
        # Conversations whose snapshots came from the child, and that were rendered here
        # because the child's were stale or it failed (logged when the operation ends).
        self.from_child = 0
        self.rendered_here = 0

    @property
    def renders_ahead(self) -> bool:
        """True when the caller should pass the next chunk's ids (SQLite)."""
        return self.db.is_sqlite

    def begin(self, tx: Tx) -> None:
        """Call first thing in a chunk's transaction, before it writes anything."""
        if self.db.is_sqlite:
            self._begun = (tx, _sqlite_marker(_driver(tx)))

    def for_chunk(self, tx: Tx, ids: Sequence[int], upcoming: Sequence[int]) -> Rendered | None:
        """In a chunk's transaction, after ``ids`` are locked: how to get their snapshots,
        or None to render them here as usual. ``upcoming``: the next chunk's ids."""
        if self.db.is_postgresql:
            # Until the child has started, waiting for it would cost more than it saves.
            future = self._submit(ids) if ids and self._started.done() else None
            return None if future is None else self._collector(future)
        start = self._begun[1] if self._begun is not None and self._begun[0] is tx else None
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
            logger.warning("snapshot renderer failed: rendering here", exc_info=True)
        self.rendered_here += len(found)
        # Another connection sees the rows as committed, which this transaction keeps
        # unchanged until it commits (this one may already have deleted them).
        with self.db.read() as conn:
            return snapshots.read(conn, found)

    def close(self) -> None:
        logger.info(
            "snapshots rendered by the child process: %d; here, after it failed: %d",
            self.from_child,
            self.rendered_here,
        )
        if self._ahead is not None:
            self._ahead.future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


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
    memory = db.is_sqlite and db.url in ("sqlite://", "sqlite:///:memory:")
    if not enabled or memory or action not in ("delete_forever", "empty_trash"):
        yield None
        return
    if remaining <= chunk_size:
        yield None
        return
    renderer = RenderAhead(db)
    try:
        yield renderer
    finally:
        renderer.close()
