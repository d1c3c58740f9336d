"""The operation runner: claims an operation under a lease and runs it chunk by chunk.

Each chunk is one transaction holding the conversation changes, their events, the
outcomes of items that did not change, the counters, the position where the next chunk
starts (``operations.next_position``) and (at most once a second) a progress event. A
chunk that fails on a transient database error (a deadlock, a lock or busy timeout) rolled
back whole and is tried again after a pause (``tidings.db.retry``); any other
failure fails the operation, announced. A crash loses at most the chunk in flight; once
the lease expires, any worker resumes at ``next_position``, so no conversation is
processed twice and no event is duplicated. An atomic operation is one transaction.

A bulk delete forever reads its snapshots one chunk ahead in a child process
(``tidings.operations.snapshot_child``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from tidings.clock import Clock
from tidings.config import Settings
from tidings.db import retry
from tidings.db.engine import Database
from tidings.db.wakeup import Waiter
from tidings.desk.snapshots import Snapshot
from tidings.events import log as event_log
from tidings.events.outbox import Tx, transaction
from tidings.ids import new_id
from tidings.operations import actions, store
from tidings.operations.model import Operation, OperationStatus
from tidings.operations.snapshot_child import AHEAD, SnapshotChild

logger = logging.getLogger("tidings.operations")


class LeaseLost(Exception):
    """Another worker took the operation over; this one stops touching it."""


class Runner:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.db, self.clock, self.settings = db, clock, settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_id('w')[-8:]}"
        # Set when the worker is asked to stop: pauses between tries end at once.
        self.stopping = threading.Event()
        self._child: SnapshotChild | None = None  # while a bulk delete forever runs

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
        """Run a claimed operation until it finishes, or until the worker is asked to stop
        (then its lease is given up, so that any worker may resume it at once)."""
        started = self._try(op_id, lambda: self.start(op_id))
        if started is None or started:
            return
        op = self._load(op_id)
        step = self._run_atomic if op.atomic else self.run_chunk
        with self._snapshot_child(op):
            while not self.stopping.is_set():
                done = self._try(op_id, lambda: step(op_id))
                if done is None or done:
                    return
        try:
            with self.db.write() as conn:
                store.release(conn, op_id, self.owner)
        except Exception as exc:  # the database is still in the way: the lease expires
            logger.warning("operation %s: lease not given up (%s); it expires", op_id, exc)

    # --- steps, each one transaction; True when the operation has finished -------------

    def start(self, op_id: str) -> bool:
        """Announce that a queued operation runs."""
        with transaction(self.db, self.clock, op_id) as tx:
            op = self._owned(tx, op_id)
            if op.status is OperationStatus.QUEUED:
                store.start(tx.conn, op_id, tx.now)
                self._emit(tx, "operation.started", op_id)
        return op.status.finished

    def run_chunk(self, op_id: str) -> bool:
        """One chunk; True when the operation finished in this transaction: completed, or
        stopped (cancelled, timed out) before the chunk began."""
        size = self.settings.operation_chunk_size
        with transaction(self.db, self.clock, op_id) as tx:
            op = self._owned(tx, op_id)
            if self._stopped(tx, op):
                return True
            items = store.next_items(tx.conn, op_id, size, op.next_position - 1)
            if items:
                self._apply(tx, op, items)
            # Positions run 0 .. total-1, so the last one says whether anything is left.
            if not items or items[-1].position >= op.total - 1:
                self._complete(tx, op)
                return True
            self._progress(tx, op)
        return False

    def _run_atomic(self, op_id: str) -> bool:
        """All the chunks in one transaction."""
        with transaction(self.db, self.clock, op_id) as tx:
            op = self._owned(tx, op_id)
            # A cancel (or timeout) that arrived before the run is honoured here too: once
            # the single transaction starts, it runs to its end.
            if self._stopped(tx, op):
                return True
            items = store.next_items(tx.conn, op_id, None, op.next_position - 1)
            size = self.settings.operation_chunk_size
            for start in range(0, len(items), size):
                self._apply(tx, op, items[start : start + size])
            self._complete(tx, op)
        return True

    def _apply(self, tx: Tx, op: Operation, items: Sequence[store.Item]) -> None:
        """The action on one chunk and its bookkeeping."""
        ids = [item.conversation_id for item in items]
        # Locked first: whatever changed them has committed before the checks below.
        existing = set(actions.lock_items(tx.conn, op.action, op.params, ids))
        present = actions.still_selected(
            tx.conn, op.action, op.params, [i for i in ids if i in existing]
        )
        if op.action in actions.PRE_CHANGE_SNAPSHOTS:
            ahead = self._snapshots_ahead(tx, op, ids)
            self._ask_ahead(tx, op, items)
            changed = set(actions.delete_forever(tx, present, ahead))
        else:
            changed = set(actions.ACTIONS[op.action](tx, present, op.params, op.by_user_id))
        # In the chunk's transaction: the outcomes and counters move with the work.
        store.record_chunk(
            tx.conn,
            op.id,
            items,
            unchanged=[i for i in ids if i in existing and i not in changed],
            missing=[i for i in ids if i not in existing],
            lease_until=self.lease_until(tx.now),
        )

    def _ask_ahead(self, tx: Tx, op: Operation, items: Sequence[store.Item]) -> None:
        """Keep the child ``AHEAD`` chunks beyond ``items``, asking for the ones it was
        not asked for yet."""
        if self._child is None:
            return
        size = len(items)
        after = max(items[-1].position, self._child.asked_through)
        last = items[-1].position + AHEAD * size
        if after >= last:
            return
        later = store.next_items(tx.conn, op.id, last - after, after)
        for start in range(0, len(later), size):
            chunk = later[start : start + size]
            if not self._child.ask([item.conversation_id for item in chunk]):
                return  # not started yet: asked again from the next chunk on
            self._child.asked_through = chunk[-1].position

    def _snapshots_ahead(self, tx: Tx, op: Operation, ids: list[int]) -> list[Snapshot] | None:
        """The child's snapshots of ``ids``, if it read them and nothing but this operation
        has committed since; else None (the chunk reads them itself)."""
        if self._child is None:
            return None
        ahead = self._child.take(ids)
        if ahead is None or event_log.others_appended(tx.conn, ahead.seen, op.id):
            return None
        self._child.used += len(ahead.snapshots)
        return ahead.snapshots

    def _progress(self, tx: Tx, op: Operation) -> None:
        """At most once a second; ``op`` as read when the chunk began."""
        if op.last_progress_at is None or tx.now - op.last_progress_at >= timedelta(seconds=1):
            store.mark_progress(tx.conn, op.id, tx.now)
            self._emit(tx, "operation.progress", op.id)

    def _complete(self, tx: Tx, op: Operation) -> None:
        finishing = actions.FINISH.get(op.action)
        if finishing is not None:
            finishing(tx, op.params)
        digest = store.changed_digest(tx.conn, op.id)
        self._finish(tx, op.id, OperationStatus.COMPLETED, digest=digest)

    def _finish(
        self, tx: Tx, op_id: str, status: OperationStatus, *, error: str | None = None,
        digest: str | None = None,
    ) -> None:  # fmt: skip
        store.finish(tx.conn, op_id, status, tx.now, error=error, digest=digest)
        self._emit(tx, f"operation.{status}", op_id)

    def _stopped(self, tx: Tx, op: Operation) -> bool:
        """In ``tx``: finish ``op`` as cancelled or timed out when asked to or overdue;
        True if it is finished."""
        if op.status.finished:
            return True
        if op.cancel_requested:
            self._finish(tx, op.id, OperationStatus.CANCELLED)
            return True
        if op.overdue(tx.now):
            error = f"Operation exceeded {op.timeout_seconds} seconds"
            self._finish(tx, op.id, OperationStatus.TIMED_OUT, error=error)
            return True
        return False

    def _try(self, op_id: str, step: Callable[[], bool]) -> bool | None:
        """Run a step, again after a pause while it fails on a transient error; None when
        it failed for good (the operation is then announced failed), False when the worker
        was asked to stop while waiting to try again."""
        attempt = 1
        while True:
            try:
                return step()
            except LeaseLost:
                raise
            except Exception as exc:
                pause = retry.delay(attempt, exc)
                if pause is None:
                    logger.exception("operation %s failed", op_id)
                    self._fail(op_id, exc)
                    return None
                logger.warning(
                    "operation %s: transient error, try %d again in %.2f s: %s",
                    op_id, attempt + 1, pause, exc,
                )  # fmt: skip
                if self.stopping.wait(pause):
                    return False
                attempt += 1

    def _fail(self, op_id: str, exc: Exception) -> None:
        with transaction(self.db, self.clock, op_id) as tx:
            self._owned(tx, op_id)
            error = f"{type(exc).__name__}: {exc}"
            self._finish(tx, op_id, OperationStatus.FAILED, error=error)

    def _owned(self, tx: Tx, op_id: str) -> Operation:
        """The operation, its lease extended (and its row locked) in ``tx``."""
        op = store.hold_lease(tx.conn, op_id, self.owner, self.lease_until(tx.now))
        if op is None:
            raise LeaseLost(op_id)
        return op

    def _load(self, op_id: str) -> Operation:
        with self.db.read() as conn:
            op = store.get(conn, op_id)
        assert op is not None
        return op

    def _emit(self, tx: Tx, type_: str, op_id: str) -> None:
        op = store.get(tx.conn, op_id)
        assert op is not None
        tx.emit(type_, op.to_json(), entity_type="operation", entity_id=None)

    @contextmanager
    def _snapshot_child(self, op: Operation) -> Iterator[None]:
        """A child for a delete forever of at least ``render_process_from`` conversations
        (it costs ~0.5 s of CPU to start: smaller ones are done before it helps), on a
        database that another process can open; none otherwise."""
        if not (
            self.settings.render_process
            and op.action in actions.PRE_CHANGE_SNAPSHOTS
            and op.total - op.next_position >= max(1, self.settings.render_process_from)
            and self.db.shared_with_other_processes
        ):
            yield
            return
        self._child = SnapshotChild(self.db.url)
        try:
            yield
        finally:
            child, self._child = self._child, None
            child.close()
            logger.info("operation %s: %d snapshots read ahead by the child", op.id, child.used)

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
        self._thread = threading.Thread(target=self._loop, name="tidings-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self.waiter.set()

    def stop(self) -> None:
        """Stop after the current chunk (which commits or rolls back whole)."""
        self.runner.stopping.set()
        self.waiter.set()
        self._thread.join(timeout=30)
        self.waiter.close()

    def _loop(self) -> None:
        last_prune = 0.0
        while not self.runner.stopping.is_set():
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
