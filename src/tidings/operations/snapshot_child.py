"""A bulk delete forever's snapshots, read one chunk ahead by a child process.

Each ``convo.deleted_forever`` carries its conversation as it was just before the
deletion. Reading and rendering those snapshots is most of a bulk delete's work, and
any connection that reads the committed rows can do it. So an operation that deletes
more than two chunks starts one child process (spawned for that operation and stopped
after it). During chunk k the runner asks the child for chunk k+1's snapshots, and
chunk k+1 uses them only if the event log shows that nothing but this operation
committed since the child read them (``tidings.events.log.others_appended``): chunk k's
own deletions change none of chunk k+1's rows, and every other change to a
conversation or a customer appends its event (invariant 1). Otherwise, or if anything
goes wrong with the child, the chunk reads the snapshots itself, as a single API call
does. The events are the same either way (ADR 0016).
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Sequence
from multiprocessing.connection import Connection as Pipe
from typing import NamedTuple

from tidings.db.engine import Database
from tidings.desk import snapshots
from tidings.desk.snapshots import Snapshot
from tidings.events import log as event_log

logger = logging.getLogger("tidings.operations")

# Waiting longer than this for the child means something is wrong with it. Well below
# SQLite's busy timeout and the worker's lease: the chunk holds its locks meanwhile.
RESULT_TIMEOUT_SECONDS = 10.0
# How long a finished operation waits for the child to exit before killing it.
CLOSE_TIMEOUT_SECONDS = 5.0


class Ahead(NamedTuple):
    """The child's answer: snapshots, in id order, and the newest event position in the
    database snapshot they were read from."""

    seen: int
    snapshots: list[Snapshot]


class SnapshotChild:
    """One operation's child process; at most one request in flight."""

    def __init__(self, database_url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self._process = context.Process(
            target=serve, args=(database_url, child_end), name="tidings-snapshots", daemon=True
        )
        self._process.start()
        child_end.close()
        self._asked: tuple[int, ...] | None = None
        self.used = 0  # snapshots taken from the child (logged at the end)

    def ask(self, ids: Sequence[int]) -> None:
        """Ask for the snapshots of ``ids``; an earlier answer not taken is dropped."""
        if self._asked is not None:
            self._receive()
        if self._process.is_alive() and ids:
            self._asked = tuple(sorted(set(ids)))
            self._pipe.send(list(self._asked))

    def take(self, ids: Sequence[int]) -> Ahead | None:
        """The answer for exactly ``ids``; None if the child was not asked for them or
        failed (then it is stopped, and the operation goes on without it)."""
        asked, self._asked = self._asked, None
        if asked is None:
            return None
        answer = self._receive()
        if answer is None or asked != tuple(sorted(set(ids))):
            return None
        self.used += len(answer.snapshots)
        return answer

    def _receive(self) -> Ahead | None:
        self._asked = None
        try:
            if self._pipe.poll(RESULT_TIMEOUT_SECONDS):
                answer = self._pipe.recv()
                if answer is None or isinstance(answer, Ahead):
                    return answer
        except (EOFError, OSError):
            pass
        logger.warning("the snapshot child did not answer: going on without it")
        self.close()
        return None

    def close(self) -> None:
        """Stop the child: closing the pipe ends its loop; one that does not exit within
        ``CLOSE_TIMEOUT_SECONDS`` is killed."""
        self._pipe.close()
        self._process.join(CLOSE_TIMEOUT_SECONDS)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def serve(database_url: str, pipe: Pipe) -> None:
    """In the child: answer requests until the pipe closes (the parent stopped it, or
    died: a killed parent's end closes with it)."""
    db = Database(database_url, pool_size=1)
    try:
        while True:
            try:
                ids = pipe.recv()
            except EOFError:
                return
            pipe.send(read(db, ids))
    finally:
        db.dispose()


def read(db: Database, ids: list[int]) -> Ahead | None:
    """The snapshots of ``ids`` as committed, in one read snapshot; None if that failed."""
    try:
        with db.read() as conn:
            if db.is_postgresql:
                conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return Ahead(event_log.newest_position(conn), snapshots.read(conn, ids))
    except Exception:
        logger.exception("the snapshot child could not read %d conversations", len(ids))
        return None
