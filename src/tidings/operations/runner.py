"""The operation runner: claims an operation under a lease and runs it chunk by chunk.

Each chunk is one transaction holding the conversation changes, their events,
the outcomes of items that did not change, the counters, the position where the next
chunk starts (``operations.next_position``) and (at most once a second) a progress
event. A crash loses at most the chunk in flight, which rolled back whole; after the
lease expires, any worker resumes at ``next_position``, so no conversation is
processed twice and no event is duplicated.

On PostgreSQL a bulk delete forever begins each next chunk's transaction while the
current chunk runs, with only the next chunk's conversations locked, so that their
snapshots render meanwhile (``Begun``, ADR 0014); it becomes the next chunk once the
current one has committed, and it never waits for a lock while the current one holds
its own.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tidings.clock import Clock
from tidings.config import Settings
from tidings.db import raw
from tidings.db.engine import Database
from tidings.desk.lifecycle import lock_ids
from tidings.events import log as event_log
from tidings.events.outbox import Tx, transaction
from tidings.ids import new_id
from tidings.operations import actions, render_ahead, store
from tidings.operations.render_ahead import RenderAhead
from tidings.operations.wakeup import Waiter

logger = logging.getLogger("tidings.operations")


@dataclass
class Begun:
    """PostgreSQL: the next chunk's transaction, begun while the current chunk runs, with
    the next chunk's conversations locked, so that the snapshot renderer can read them
    meanwhile (ADR 0014). It touches the operation only once the current chunk committed."""

    context: ExitStack  # holds the transaction: closing it commits
    tx: Tx

    def abandon(self) -> None:
        """Roll it back."""
        self.context.__exit__(_Abandoned, _Abandoned(), None)


class _Abandoned(Exception):
    """Rolls back a ``Begun`` transaction that is not needed after all."""


@dataclass
class Cursor:
    """Items this runner has read beyond the chunk it last committed (the chunks rendered
    ahead): still to do, and no other worker touches them while this one holds the lease.
    Where the next chunk starts is the operation's ``next_position``."""

    read_ahead: Sequence[tuple[int, int]] = ()
    begun: Begun | None = None


class LeaseLost(Exception):
    """Another worker took the operation over; this one stops touching it."""


class Runner:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.db, self.clock, self.settings = db, clock, settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_id('w')[-8:]}"
        if settings.render_process and render_ahead.usable(db):
            render_ahead.warm_up()  # the snapshot renderer's children fork from it

    def lease_until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.settings.worker_lease_seconds)

    def run_once(self) -> bool:
        """Claim and run one operation to its end; False when there was nothing to do."""
        with self.db.write() as conn:
            now = self.clock()
            op_id = store.claim(conn, self.owner, now, self.lease_until(now))
        if op_id is None:
            return False
        try:
            self.run(op_id)
        except LeaseLost:
            logger.warning("lease on %s lost to another worker", op_id)
        return True

    def run(self, op_id: str) -> None:
        self._start(op_id)
        op = self._load(op_id)
        with render_ahead.for_operation(
            self.db,
            self.settings.render_process,
            op.action,
            op.total - op.processed,
            self.settings.operation_chunk_size,
        ) as renderer:
            if op.atomic:
                # A cancel (or timeout) that arrived before the run is honoured here too:
                # once the single transaction starts, it runs to its end.
                stopped = self._guarded(op_id, lambda: self._check_stop(op_id))
                if stopped is False:  # None: the check failed, and said so
                    self._guarded(op_id, lambda: self._run_atomic(op_id, renderer))
                return
            cursor = Cursor()
            try:
                while True:
                    done = self._guarded(op_id, lambda: self._run_chunk(op_id, cursor, renderer))
                    if done is None or done:
                        return
            finally:
                if cursor.begun is not None:  # the operation ended in the chunk before
                    self._abandon(cursor.begun, renderer)

    # --- steps, each one transaction -------------------------------------------

    def _start(self, op_id: str) -> None:
        with transaction(self.db, self.clock, op_id) as tx:
            op = self._owned(tx, op_id)
            if op.status == "queued":
                store.set_fields(tx.conn, op_id, status="running", started_at=tx.now)
                self._emit(tx, "operation.started", op_id)

    def _run_chunk(self, op_id: str, cursor: Cursor, renderer: RenderAhead | None = None) -> bool:
        """One chunk; True when the operation finished in this transaction: completed, or
        stopped (cancelled, timed out) before the chunk began."""
        begun = self._take_over(cursor, op_id, renderer)
        following: Begun | None = None  # the next chunk's, once this one has begun it

        def begin_following() -> None:
            nonlocal following
            assert renderer is not None
            following = self._begin(op_id, found[size : 2 * size], renderer)

        try:
            with ExitStack() as stack:
                if begun is not None:
                    stack.push(begun.context)
                    tx = begun.tx
                else:
                    tx = stack.enter_context(transaction(self.db, self.clock, op_id))
                if renderer is not None:
                    renderer.begin(tx)
                op = self._owned(tx, op_id)
                if self._stopped(tx, op):
                    return True
                size = self.settings.operation_chunk_size
                # Rendering ahead needs the next chunks' items too.
                found = self._next_items(tx, op, cursor.read_ahead, (1 + _ahead(renderer)) * size)
                items = found[:size]
                ahead = renderer is not None and renderer.asks_under_locks and bool(found[size:])
                if items:
                    self._apply(
                        tx,
                        op,
                        items,
                        renderer,
                        _chunks(found[size:], size),
                        then=begin_following if ahead else None,
                    )
                # Positions run 0 .. total-1, so the last one says whether anything is left.
                if not items or items[-1][0] >= op.total - 1:
                    self._complete(tx, op_id)
                    return True
                self._progress(tx, op)
            # Committed.
            cursor.read_ahead = found[size:]
            cursor.begun, following = following, None
            return False
        finally:
            if following is not None:  # this chunk failed, or ended the operation
                self._abandon(following, renderer)

    # --- PostgreSQL: the next chunk's transaction, begun ahead (ADR 0014) ------------
    #
    # While the current chunk holds its own conversations, the transaction begun ahead
    # never waits for a lock: the worker's one thread would then be waiting in one
    # transaction while the other holds locks, a cycle PostgreSQL cannot see. Whatever
    # it cannot have at once, it gives up, and the chunk runs the usual way.

    def _begin(
        self, op_id: str, items: Sequence[tuple[int, int]], renderer: RenderAhead
    ) -> Begun | None:
        """Begin the next chunk's transaction, lock its conversations and ask the renderer
        for their snapshots; None if that cannot be done without waiting."""
        if not self.db.can_connect_at_once():
            return None
        context = ExitStack()
        try:
            begun = Begun(context, context.enter_context(transaction(self.db, self.clock, op_id)))
        except Exception as exc:  # no connection to be had, say
            logger.warning("could not begin the next chunk ahead: %s", exc)
            return None
        try:
            ids = lock_ids(begun.tx.conn, [cid for _, cid in items], nowait=True)
        except Exception as exc:
            _quietly(begun.abandon)
            if not _lock_not_available(exc):
                logger.warning("could not begin the next chunk ahead: %s", exc)
            return None
        renderer.ask_ahead(begun.tx, ids)
        return begun

    def _take_over(self, cursor: Cursor, op_id: str, renderer: RenderAhead | None) -> Begun | None:
        """The transaction begun ahead for this chunk, now holding the operation's row too;
        None if there is none, or if someone else holds the row: then it is rolled back,
        and the chunk waits for the row the usual way, with nothing locked."""
        begun, cursor.begun = cursor.begun, None
        if begun is None:
            return None
        try:
            lock = "SELECT id FROM operations WHERE id = ? FOR UPDATE NOWAIT"
            raw.execute(begun.tx.conn, raw.Statement(lock, (op_id,)))
        except Exception as exc:
            self._abandon(begun, renderer)
            if not _lock_not_available(exc):
                logger.warning("the chunk begun ahead is lost: %s", exc)
            return None
        # Its clock starts now, as a chunk's does: leases, timeouts and events use it.
        begun.tx.now = self.clock()
        return begun

    def _abandon(self, begun: Begun, renderer: RenderAhead | None) -> None:
        if renderer is not None:
            renderer.drop_held(begun.tx)
        _quietly(begun.abandon)

    def _next_items(
        self, tx: Tx, op: Any, known: Sequence[tuple[int, int]], count: int
    ) -> Sequence[tuple[int, int]]:
        """The next ``count`` items from ``op.next_position`` on, reading only those not
        among ``known`` (read during the last chunk) yet."""
        if not known or known[0][0] != op.next_position:
            known = ()  # a new run, or read before a chunk that did not commit
        if len(known) >= count:
            return known[:count]
        after = known[-1][0] if known else op.next_position - 1
        return [*known, *store.next_items(tx.conn, op.id, count - len(known), after)]

    def _run_atomic(self, op_id: str, renderer: RenderAhead | None) -> bool:
        with transaction(self.db, self.clock, op_id) as tx:
            op = self._owned(tx, op_id)
            items = store.next_items(tx.conn, op_id, None, op.next_position - 1)
            size = self.settings.operation_chunk_size
            for start in range(0, len(items), size):
                chunk = items[start : start + size]
                upcoming = items[start + size : start + (1 + _ahead(renderer)) * size]
                self._apply(tx, op, chunk, renderer, _chunks(upcoming, size))
            self._complete(tx, op_id)
        return True

    def _apply(
        self,
        tx: Tx,
        op: Any,
        items: Sequence[tuple[int, int]],
        renderer: RenderAhead | None = None,
        upcoming: Sequence[Sequence[tuple[int, int]]] = (),
        then: Callable[[], None] | None = None,
    ) -> None:
        """The action on one chunk and its bookkeeping. ``then``: called once the chunk
        holds its conversations and has asked for their snapshots, before it changes
        anything (PostgreSQL begins the next chunk there)."""
        ids = [cid for _, cid in items]
        existing = set(lock_ids(tx.conn, ids))
        present = [i for i in ids if i in existing]
        if renderer is not None:
            # Only for PRE_CHANGE_SNAPSHOTS (render_ahead.for_operation): snapshots from the
            # child process, rendered during this chunk or (SQLite) during an earlier one.
            rendered = renderer.for_chunk(
                tx, present, [[cid for _, cid in chunk] for chunk in upcoming]
            )
            if then is not None:
                then()
            changed = actions.delete_forever(tx, present, rendered)
        else:
            changed = actions.ACTIONS[op.action](tx, present, op.params, op.by_user_id)
        done = set(changed)
        # In the chunk's transaction: the outcomes and counters move with the work.
        store.record_chunk(
            tx.conn,
            op.id,
            [p for p, _ in items],
            unchanged=[i for i in present if i not in done],
            missing=[i for i in ids if i not in existing],
            lease_until=self.lease_until(tx.now),
        )

    def _progress(self, tx: Tx, op: Any) -> None:
        """At most once a second; ``op`` as read when the chunk began."""
        if op.last_progress_at is None or tx.now - op.last_progress_at >= timedelta(seconds=1):
            store.set_fields(tx.conn, op.id, last_progress_at=tx.now)
            self._emit(tx, "operation.progress", op.id)

    def _complete(self, tx: Tx, op_id: str) -> None:
        digest = store.changed_digest(tx.conn, op_id)
        self._finish(tx, op_id, "completed", digest=digest)

    def _finish(self, tx: Tx, op_id: str, status: str, **fields: Any) -> None:
        store.set_fields(
            tx.conn,
            op_id,
            status=status,
            finished_at=tx.now,
            lease_owner=None,
            lease_until=None,
            **fields,
        )
        self._emit(tx, f"operation.{status}", op_id)

    def _check_stop(self, op_id: str) -> bool:
        """Finish as cancelled or timed out when asked to or overdue; True if finished."""
        with transaction(self.db, self.clock, op_id) as tx:
            return self._stopped(tx, self._owned(tx, op_id))

    def _stopped(self, tx: Tx, op: Any) -> bool:
        """In ``tx``: finish ``op`` as cancelled or timed out when asked to or overdue;
        True if it is finished."""
        if op.status in store.FINISHED:
            return True
        if op.cancel_requested:
            self._finish(tx, op.id, "cancelled")
            return True
        if (
            op.timeout_seconds
            and op.started_at
            and tx.now - op.started_at > timedelta(seconds=op.timeout_seconds)
        ):
            self._finish(
                tx, op.id, "timed_out", error=f"Operation exceeded {op.timeout_seconds} seconds"
            )
            return True
        return False

    def _guarded(self, op_id: str, step: Any) -> bool | None:
        """Run a step; when it fails, its transaction rolled back and the failure is announced."""
        try:
            return bool(step())
        except LeaseLost:
            raise
        except Exception as exc:
            logger.exception("operation %s failed", op_id)
            with transaction(self.db, self.clock, op_id) as tx:
                self._owned(tx, op_id)
                self._finish(tx, op_id, "failed", error=f"{type(exc).__name__}: {exc}")
            return None

    def _owned(self, tx: Tx, op_id: str) -> Any:
        """The operation, its lease extended (and its row locked) in ``tx``."""
        op = store.hold_lease(tx.conn, op_id, self.owner, self.lease_until(tx.now))
        if op is None:
            raise LeaseLost(op_id)
        return op

    def _load(self, op_id: str) -> Any:
        with self.db.read() as conn:
            return store.get(conn, op_id)

    def _emit(self, tx: Tx, type_: str, op_id: str) -> None:
        payload = store.operation_json(store.get(tx.conn, op_id))
        tx.emit(type_, payload, entity_type="operation", entity_id=None)

    def prune_events(self) -> int:
        with self.db.write() as conn:
            return event_log.prune(
                conn, event_log.retention_cutoff(self.clock(), self.settings.event_retention_days)
            )


class WorkerThread:
    """Runs operations in the background of ``tidings serve``; supervised, stoppable."""

    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.runner = Runner(db, clock, settings)
        self.poll = settings.worker_poll_seconds
        self.waiter = Waiter(settings.database_url)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tidings-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self.waiter.set()

    def stop(self) -> None:
        self._stop.set()
        self.waiter.set()
        self._thread.join(timeout=30)
        self.waiter.close()

    def _loop(self) -> None:
        last_prune = 0.0
        while not self._stop.is_set():
            try:
                busy = self.runner.run_once()
                if time.monotonic() - last_prune > 3600:
                    self.runner.prune_events()
                    last_prune = time.monotonic()
            except Exception:
                logger.exception("worker loop error")
                busy = False
            if not busy:
                self.waiter.wait(self.poll)


def _lock_not_available(exc: BaseException) -> bool:
    """PostgreSQL's answer to ``NOWAIT`` when another transaction holds the row."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) == "55P03"


def _quietly(step: Callable[[], None]) -> None:
    """Roll back a transaction begun ahead; a connection that broke meanwhile is the
    pool's to discard, not a reason to fail the operation."""
    try:
        step()
    except Exception:
        logger.warning("rolling back the chunk begun ahead failed", exc_info=True)


def _ahead(renderer: RenderAhead | None) -> int:
    """How many chunks beyond the current one the renderer wants to see."""
    return 0 if renderer is None else renderer.chunks_ahead


def _chunks(items: Sequence[tuple[int, int]], size: int) -> list[Sequence[tuple[int, int]]]:
    return [items[start : start + size] for start in range(0, len(items), size)]
