"""A bulk delete forever's snapshots, read two chunks ahead by a child process.

Each ``convo.deleted_forever`` carries its conversation as it was just before the
deletion. Reading and rendering those snapshots is most of a bulk delete's work, and
any connection that reads the committed rows can do it. So an operation that deletes
at least ``TIDINGS_RENDER_PROCESS_FROM`` conversations (5,000) starts one child process,
spawned for that operation and stopped after it. The runner keeps the child ``AHEAD``
chunks ahead: during chunk k it asks for chunk k+2's snapshots, and a chunk uses what the
child read only if the event log shows that nothing but this operation committed since
(``tidings.events.log.others_appended``): the operation's own deletions change none of a
later chunk's rows, and every other change to a conversation or a customer appends its
event (invariant 1). Otherwise, if the child has not started yet, or if anything goes
wrong with it, the chunk reads the snapshots itself, as a single API call does. The
events are the same either way (ADR 0016).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection as Pipe
from typing import NamedTuple

from tidings.db.engine import Database
from tidings.desk import snapshots
from tidings.desk.snapshots import Snapshot
from tidings.events import log as event_log

logger = logging.getLogger("tidings.operations")

# How many chunks ahead the child reads. With one, each chunk the child took longer for
# than the worker made the worker wait, and each it was quicker for left it idle; a
# second one in hand absorbs that.
AHEAD = 2

# Waiting longer than this for the child means something is wrong with it. Well below
# SQLite's busy timeout and the worker's lease: the chunk holds its locks meanwhile.
RESULT_TIMEOUT_SECONDS = 10.0
# How long a finished operation waits for the child to exit before killing it.
CLOSE_TIMEOUT_SECONDS = 5.0


READY = "ready"  # what the child sends once it has started


class Ahead(NamedTuple):
    """The child's answer: snapshots, in id order, and the newest event position in the
    database snapshot they were read from."""

    seen: int
    snapshots: list[Snapshot]


class SnapshotChild:
    """One operation's child process and the requests it has in hand, oldest first."""

    def __init__(self, database_url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child_end = context.Pipe()
        self._process = context.Process(
            target=serve, args=(database_url, child_end), name="tidings-snapshots", daemon=True
        )
        self._process.start()
        child_end.close()
        self._asked: deque[tuple[int, ...]] = deque()
        # The runner's bookkeeping for this operation: the last item position asked for,
        # and how many snapshots it used (checked, then taken into a chunk).
        self.asked_through = -1
        self.used = 0
        # Whether the child has started (imported Tidings, opened the database): ~0.5 s
        # of CPU after spawning. Until it has, nothing is asked of it and nobody waits.
        self._ready = False

    def ask(self, ids: Sequence[int]) -> bool:
        """Ask for the snapshots of ``ids``; False if the child has not started (or has
        stopped), and so was not asked."""
        if not (ids and self.started):
            return False
        try:
            self._pipe.send(list(_key(ids)))
        except OSError:  # it died meanwhile
            self.close()
            return False
        self._asked.append(_key(ids))
        return True

    def take(self, ids: Sequence[int]) -> Ahead | None:
        """The answer for exactly ``ids``, dropping the answers asked for before it; None
        if the child was not asked for them, or failed (then it is stopped, and the
        operation goes on without it)."""
        wanted = _key(ids)
        if wanted not in self._asked:
            return None
        while self._asked:
            asked = self._asked.popleft()
            answer = self._receive()
            if asked == wanted:
                return answer
        return None

    @property
    def started(self) -> bool:
        """Whether the child has started and is alive (never waits)."""
        if not self._ready and self._process.is_alive():
            try:
                self._ready = self._pipe.poll(0) and self._pipe.recv() == READY
            except (EOFError, OSError):
                return False
        return self._ready and self._process.is_alive()

    def _receive(self) -> Ahead | None:
        try:
            if self._pipe.poll(RESULT_TIMEOUT_SECONDS):
                answer = self._pipe.recv()
                if answer is None or isinstance(answer, Ahead):
                    return answer
        except Exception:  # died, or sent something unreadable
            logger.warning("the snapshot child's answer was unreadable", exc_info=True)
        logger.warning("the snapshot child did not answer: going on without it")
        self.close()
        return None

    def close(self) -> None:
        """Stop the child: closing the pipe ends its loop; one that does not exit within
        ``CLOSE_TIMEOUT_SECONDS`` is killed."""
        self._asked.clear()
        self._pipe.close()
        self._process.join(CLOSE_TIMEOUT_SECONDS)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def _key(ids: Sequence[int]) -> tuple[int, ...]:
    return tuple(sorted(set(ids)))


def serve(database_url: str, pipe: Pipe) -> None:
    """In the child: answer requests until the pipe closes (the parent stopped it, or
    died: a killed parent's end closes with it)."""
    db = Database(database_url, pool_size=1)
    # Everything loaded so far lives as long as the child: leave it out of garbage
    # collections, or each full one walks the whole interpreter again (~30 ms).
    gc.freeze()
    try:
        pipe.send(READY)
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
