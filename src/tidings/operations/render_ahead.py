"""Rendering a bulk delete forever's snapshots in a second process (ADR 0011).

Each ``convo.deleted_forever`` carries the conversation as it was just before the
deletion, and building that JSON is most of a bulk delete's Python work. It does not
have to happen on the connection that deletes: any connection that reads the committed
rows sees exactly that state, as long as nothing can change them in between. So a child
process renders them, with its own connection, while this one deletes and commits.

- **PostgreSQL**, one chunk ahead, under locks: during chunk k the runner begins chunk
  k+1's transaction on a second connection and locks its conversations (``FOR UPDATE``,
  which also blocks new threads and attachments: their foreign keys need a key-share
  lock); then the child is asked for them (``ask_ahead``) and reads them, in one
  ``REPEATABLE READ`` snapshot taken after the lock, while chunk k deletes, appends and
  commits. Nothing can change those rows until chunk k+1's own transaction, the one that
  holds the locks, deletes them (ADR 0014). A chunk that was not begun ahead locks its
  conversations and asks the child for them within the chunk, as before.
- **SQLite**, ahead: during chunk k the child is asked for chunks k+1 and k+2 (ADR 0012),
  and reads each at some moment between the request and that chunk's ``COMMIT``. Only
  three kinds of commit can fall in that window: the chunks' own, which change none of
  the later chunks' rows (a snapshot depends only on its conversation's rows and on users
  and customers; see ``tidings.desk.snapshots``); commits by other connections, which
  move ``PRAGMA data_version``; and writes by someone else through this pooled
  connection, which move its ``total_changes``. Both counters are read as each chunk
  commits and again as the next one begins (``begin``); if anything moved, or the next
  chunk runs on another connection, what was asked for before is stale and rendered
  again, in the chunk's own transaction.

Each chunk is shared (``tidings.operations.balance``): the child renders the first part
of it, and this process renders the rest in the chunk's transaction, before deleting
anything. The child's share follows what each chunk measured, so that neither process
waits for the other.

Anything that goes wrong with the child (it died, it raised, it did not answer within
``RESULT_TIMEOUT_SECONDS``) makes this process render the chunk itself, from a second
connection that sees the same committed rows, and stop using the child for the rest of
the operation: the events are the same either way, only slower.

Each operation's child is forked from a fork server that the worker starts once, with
this module and its imports loaded (``warm_up``, ADR 0015): ready in ~30 ms instead of
the ~0.5 s of CPU that starting a fresh interpreter costs.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import chain
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, NamedTuple

from sqlalchemy.pool import NullPool

from tidings.db.engine import Database
from tidings.desk import snapshots
from tidings.desk.lifecycle import Rendered
from tidings.desk.snapshots import Snapshot
from tidings.events.outbox import Tx
from tidings.operations import balance
from tidings.operations.actions import PRE_CHANGE_SNAPSHOTS

logger = logging.getLogger("tidings.operations")

# Waiting longer than this for the child means something is wrong with it: render here.
# Well below SQLite's busy timeout and the worker's lease (30 s each): the chunk holds the
# write lock (or row locks) while it waits.
RESULT_TIMEOUT_SECONDS = 10.0

# SQLite: how many chunks ahead the child renders. With one, a chunk the child took
# longer for (the machine was busy) made the worker wait even when the child was faster
# on average; a second one in hand absorbs that.
AHEAD = 2

# How long a finished operation waits for the child to exit before killing it.
CLOSE_TIMEOUT_SECONDS = 5.0

# The child process's database, opened once by ``_open``.
_child_db: Database | None = None

# What the fork server imports once, so that each child it forks has it loaded.
FORK_SERVER_PRELOAD = ["tidings.operations.render_ahead"]


def _context() -> BaseContext:
    """How children start: forked from the fork server where there is one (Linux, macOS),
    else as a fresh interpreter."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def warm_up() -> None:
    """Start the fork server that operations' children are forked from, if it is not
    running, without waiting for it. Call once when a worker starts.

    The server is this process's child; it holds no database connection, and it exits
    when this process does (it watches a pipe that only this process holds open). An
    operation that finds it not started starts it itself, and waits for it: about a
    fresh interpreter's start.
    """
    context = _context()
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(FORK_SERVER_PRELOAD)
        multiprocessing.forkserver.ensure_running()


def _open(url: str) -> None:
    """In the child, once: open the database, and exit when the parent is gone (killed
    parents close no pipes the child would notice)."""
    global _child_db
    _child_db = Database(url, pool_size=1)
    # Everything loaded so far lives as long as the child: leave it out of garbage
    # collections, or each full one walks the whole interpreter (~30 ms, every ~17 chunks).
    gc.freeze()
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(0)


class Rendering(NamedTuple):
    """What the child sends back: the snapshots, and when and how fast it made them."""

    snapshots: list[Snapshot]
    busy: float  # seconds spent on them
    finished_at: float  # time.monotonic(): the system's clock, the same in both processes


def _render(ids: Sequence[int]) -> Rendering:
    """In the child: the snapshots of ``ids`` as committed, in one read snapshot."""
    assert _child_db is not None
    started = time.perf_counter()
    with _child_db.read() as conn:
        if _child_db.is_postgresql:
            # One snapshot for all of the batch's queries, as SQLite's read transaction.
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        made = snapshots.read(conn, ids)
    return Rendering(made, time.perf_counter() - started, time.monotonic())


def _ready() -> None:
    """In the child: nothing; done once the child has started and opened its database."""


@dataclass
class _Request:
    """The child's share of one chunk: the conversations it was asked for, out of
    ``chunk``, and its answer to come."""

    ids: frozenset[int]
    chunk: int
    future: Future[Rendering]
    # When the child was given its next request (time.monotonic()); None: not yet.
    followed_at: float | None = None
    # Queued behind work that turned out stale: its timing says nothing about the share.
    behind_stale: bool = False


@dataclass
class _Ahead:
    """SQLite: the child's share of a later chunk, asked for in transaction ``tx``, the
    ``issued_in``-th chunk transaction."""

    request: _Request
    # Weak: the renderer outlives each chunk's transaction.
    tx: weakref.ref[Tx]
    issued_in: int


class _Chain:
    """SQLite: which chunk transactions followed one another with nothing else committed
    between them.

    Each chunk transaction gets a number when it begins. Its marker (``_sqlite_marker``)
    is read as it is about to commit, and the next one's as it begins: if they differ,
    someone else committed in between (or the chunk did not commit), and the chain is
    broken there. Work asked for in transaction ``n`` may be used in a later transaction
    while the chain has not been broken since ``n``: every commit in between was a chunk's
    own, which changes none of the later chunks' rows.
    """

    def __init__(self) -> None:
        self.begun = 0  # chunk transactions begun
        self._current: weakref.ref[Tx] | None = None
        self._unbroken_from = 0
        self._last_end: tuple[int, tuple[Any, int, int]] | None = None

    def begin(self, tx: Tx) -> None:
        """First thing in a chunk's transaction, before it writes anything."""
        self.begun += 1
        self._current = weakref.ref(tx)
        driver = _driver(tx)
        if self._last_end != (self.begun - 1, _sqlite_marker(driver)):
            self._unbroken_from = self.begun
        tx.before_commit.append(partial(self._end, self.begun, driver))

    def _end(self, number: int, driver: Any) -> None:
        self._last_end = (number, _sqlite_marker(driver))

    def number(self, tx: Tx) -> int:
        """``tx``'s number; -1 if it did not ``begin`` as a chunk (atomic operations)."""
        return self.begun if self._current is not None and self._current() is tx else -1

    def good_since(self, number: int, tx: Tx) -> bool:
        """Whether ``tx`` may use what was asked for in chunk transaction ``number``."""
        return self.number(tx) >= 0 and 0 <= self._unbroken_from <= number


class RenderAhead:
    """One operation's snapshot renderer: a child process and the chunk it works on."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=_context(),
            initializer=_open,
            initargs=(db.url,),
        )
        self._started = self._pool.submit(_ready)
        # Chunks seen (``for_chunk`` calls); on SQLite, requests for the next ones by
        # chunk number, and whether each may still be used.
        self._calls = 0
        self._ahead: dict[int, _Ahead] = {}
        self._chain = _Chain()
        # PostgreSQL: requests for the chunk of a transaction begun ahead, by id(transaction).
        self._held: dict[int, _Ahead] = {}
        self._gone = False  # the child failed: this operation renders here from now on
        # The child's share of each chunk, and what this process pays per conversation
        # for the rest (``tidings.operations.balance``).
        self.share = 1.0
        # Seconds and conversations rendered here alongside the child, in all: a chunk's
        # few conversations alone would overstate the cost (its queries cost the same).
        self._local_seconds = 0.0
        self._local_count = 0
        # The last request given to the child (weak: whoever will collect it holds it).
        self._latest: weakref.ref[_Request] | None = None
        # Stale requests the child may still be working on (they could not be cancelled).
        self._stale_queued = False
        # Conversations whose snapshots came from the child; those rendered here as the
        # rest of a shared chunk; and those rendered here by ``_collect`` because the
        # child failed (logged when the operation ends). Chunks whose snapshots were
        # stale render in the usual way and are not counted.
        self.from_child = 0
        self.alongside = 0
        self.rendered_here = 0

    @property
    def chunks_ahead(self) -> int:
        """How many of the next chunks' items the caller should read: SQLite asks for the
        next ``AHEAD`` through ``for_chunk``, PostgreSQL for the next one through
        ``ask_ahead``."""
        return AHEAD if self.db.is_sqlite else 1

    def begin(self, tx: Tx) -> None:
        """Call first thing in a chunk's transaction, before it writes anything."""
        if self.db.is_sqlite:
            self._chain.begin(tx)

    def for_chunk(
        self, tx: Tx, ids: Sequence[int], upcoming: Sequence[Sequence[int]] = ()
    ) -> Rendered | None:
        """In a chunk's transaction, after ``ids`` are locked: how to get their snapshots,
        or None to render them here as usual. ``upcoming``: the next chunks' ids, in
        order (``chunks_ahead`` of them)."""
        self._calls += 1
        if self.db.is_postgresql:
            held = self._held.pop(id(tx), None)
            if held is not None and held.tx() is tx:
                return self._shared(tx, ids, held.request)  # asked for ahead (``ask_ahead``)
            # The first chunk renders here while the child starts (so do later ones of
            # 50 or more conversations, until it has: see ``_submit``).
            request = None if self._calls == 1 or not ids else self._submit(ids)
            return None if request is None else self._shared(tx, ids, request)
        self._stale_queued = self._drop_stale(tx)
        ahead = self._ahead.pop(self._calls, None)
        for offset, chunk in enumerate(upcoming[:AHEAD], 1):
            if chunk and self._calls + offset not in self._ahead:
                request = self._submit(chunk)
                if request is not None:
                    issued_in = self._chain.number(tx)
                    self._ahead[self._calls + offset] = _Ahead(request, weakref.ref(tx), issued_in)
        if ahead is None:
            return None
        return self._shared(tx, ids, ahead.request)

    @property
    def asks_under_locks(self) -> bool:
        """Whether the caller should begin the next chunk's transaction ahead and pass its
        locked ids to ``ask_ahead`` (PostgreSQL, while the child is in use)."""
        return self.db.is_postgresql and not self._gone

    def ask_ahead(self, holder: Tx, ids: Sequence[int]) -> None:
        """PostgreSQL: ask the child now for the snapshots of the chunk that ``holder`` will
        delete. ``holder`` is that chunk's transaction, begun while the current chunk runs,
        and has locked ``ids``: nothing can change their rows until it commits, so the child
        may read them before the current chunk has even committed (ADR 0014)."""
        request = self._submit(ids) if ids else None
        if request is not None:
            self._held[id(holder)] = _Ahead(request, weakref.ref(holder), -1)

    def drop_held(self, holder: Tx) -> None:
        """``holder`` rolled back: what the child renders for it is of no use."""
        held = self._held.pop(id(holder), None)
        if held is not None:
            held.request.future.cancel()

    def _drop_stale(self, tx: Tx) -> bool:
        """Forget what was asked for ahead that this transaction cannot use (``_Chain``); a
        request is always good in the transaction that made it (atomic operations run in
        one). True if the child may still be rendering some of what was dropped."""
        busy = False
        for number, ahead in list(self._ahead.items()):
            if ahead.tx() is not tx and not self._chain.good_since(ahead.issued_in, tx):
                del self._ahead[number]
                busy |= not ahead.request.future.cancel()
                logger.info("snapshots rendered ahead are stale: rendering again")
        return busy

    def _submit(self, ids: Sequence[int]) -> _Request | None:
        """Ask the child for its share of a chunk: the first of ``ids``; None while it is
        still starting (a large chunk renders here rather than wait) or after it failed."""
        if self._gone or (len(ids) >= balance.SPLIT_FROM and not self._started.done()):
            return None
        part = list(ids[: balance.child_count(self.share, len(ids))])
        try:
            future = self._pool.submit(_render, part)
        except RuntimeError:  # BrokenProcessPool: the child died; render here from now on
            logger.warning("snapshot renderer is gone: rendering here from now on")
            self._gone = True
            return None
        latest = None if self._latest is None else self._latest()
        if latest is not None:
            latest.followed_at = time.monotonic()
        request = _Request(frozenset(part), len(ids), future, behind_stale=self._stale_queued)
        self._latest = weakref.ref(request)
        return request

    def _shared(self, tx: Tx, ids: Sequence[int], request: _Request) -> Rendered:
        """Render here, now (before the chunk deletes anything), what the child was not
        asked for; the rest comes from the child when the chunk needs it."""
        rest = [i for i in ids if i not in request.ids]
        here: list[Snapshot] = []
        if rest:
            started = time.perf_counter()
            here = snapshots.read(tx.conn, rest)
            self._local_seconds += time.perf_counter() - started
            self._local_count += len(rest)
            self.alongside += len(here)

        def rendered(found: list[int]) -> list[Snapshot]:
            wanted = [i for i in found if i in request.ids]
            theirs = self._collect(request, wanted) if wanted else []
            by_id = {s.conversation_id: s for s in chain(theirs, here)}
            return [by_id[i] for i in found]

        return rendered

    def _collect(self, request: _Request, found: list[int]) -> list[Snapshot]:
        asked = time.monotonic()
        try:
            answer = request.future.result(RESULT_TIMEOUT_SECONDS)
            self._rebalance(request, answer, asked)
            made = {s.conversation_id: s for s in answer.snapshots}
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

    def _rebalance(self, request: _Request, answer: Rendering, asked: float) -> None:
        if not request.ids or request.behind_stale:
            return
        child_cost = answer.busy / len(request.ids)
        self.share = balance.next_share(
            self.share,
            request.chunk,
            balance.gap(answer.finished_at, asked, request.followed_at),
            child_cost=child_cost,
            local_cost=(
                self._local_seconds / self._local_count if self._local_count else child_cost
            ),
        )

    def _give_up(self) -> None:
        """Stop using the child for this operation, and stop it even if it is stuck."""
        self._gone = True
        self._ahead.clear()
        self._held.clear()
        self._stop(kill=True)

    def close(self) -> None:
        """Stop the child: it may finish a chunk rendered ahead for nothing (the operation
        ended early), but one that does not stop within ``CLOSE_TIMEOUT_SECONDS`` is killed."""
        logger.info(
            "snapshots rendered by the child process: %d; here, alongside it: %d;"
            " here, after it failed: %d; the child's final share of a chunk: %.2f",
            self.from_child,
            self.alongside,
            self.rendered_here,
            self.share,
        )
        for ahead in chain(self._ahead.values(), self._held.values()):
            ahead.request.future.cancel()
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


@contextmanager
def for_operation(
    db: Database, enabled: bool, action: str, remaining: int, chunk_size: int
) -> Iterator[RenderAhead | None]:
    """A renderer for an operation that deletes forever more than one chunk, else None.

    Started per operation and stopped after it, so that no idle connection is left
    behind: the child is forked from the fork server (``warm_up``), or, if that is not
    running yet, starts while the first chunk runs here.
    """
    if (
        not (enabled and usable(db))
        or action not in PRE_CHANGE_SNAPSHOTS
        or remaining <= chunk_size
    ):
        yield None
        return
    renderer = RenderAhead(db)
    try:
        yield renderer
    finally:
        renderer.close()


def usable(db: Database) -> bool:
    """Whether a child process can render for ``db``: not for SQLite in memory, which
    another process could not see, nor with a ``NullPool``, where every chunk gets a new
    connection."""
    return not (db.is_sqlite and (_in_memory(db.url) or isinstance(db.engine.pool, NullPool)))


def _in_memory(url: str) -> bool:
    return url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
