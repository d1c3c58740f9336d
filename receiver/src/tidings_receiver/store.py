"""Every SQL statement of the inbox, on one SQLite file (WAL).

Tables: ``events`` (each accepted or recovered event, once per event id, with its
processing state), ``handled`` (which handlers an event has already been through, so a
retry runs only those that failed), ``streams`` and ``marks`` (per webhook, the sequences
seen, for gap detection: ``gaps.py``), ``lost`` (gaps the log could not fill).

One connection, used under one lock: SQLite has one writer at a time anyway, and waiting
on a Python lock costs microseconds where SQLite's busy handler sleeps milliseconds. Other
processes on the same file (several web workers) wait on SQLite's lock
(``busy_timeout``). Each change is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``).

Durability: in WAL mode a commit is in the WAL file once ``COMMIT`` returns, so it survives
the process being killed whatever ``synchronous`` says. ``NORMAL`` (the inbox's default)
flushes the WAL to the disk at checkpoints only, so a power cut or kernel crash can lose the
last commits; ``FULL`` flushes on every commit, which survives those too and costs a disk
flush per transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tidings_receiver.event import DeadLetter, Event, Incoming
from tidings_receiver.gaps import Hole, Lost, Mark, Stream

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    n INTEGER PRIMARY KEY,                 -- arrival order
    id TEXT NOT NULL UNIQUE,               -- the event id: de-duplication
    type TEXT NOT NULL,
    position INTEGER,                      -- in the server's log (X-Tidings-Event-Seq)
    webhook_id INTEGER,
    sequence INTEGER,                      -- X-Tidings-Sequence
    message_id TEXT,                       -- webhook-id
    source TEXT NOT NULL,                  -- delivery | log
    body BLOB NOT NULL,
    received_at REAL NOT NULL,
    status TEXT NOT NULL,                  -- pending | done | dead
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at REAL NOT NULL,
    error TEXT,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS events_pending ON events (position, n) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS events_finished ON events (finished_at) WHERE status = 'done';
CREATE TABLE IF NOT EXISTS handled (
    event_n INTEGER NOT NULL,
    handler TEXT NOT NULL,
    PRIMARY KEY (event_n, handler)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS streams (
    webhook_id INTEGER PRIMARY KEY,
    through INTEGER NOT NULL,
    position INTEGER
);
CREATE TABLE IF NOT EXISTS marks (
    webhook_id INTEGER NOT NULL,
    sequence INTEGER NOT NULL,
    position INTEGER,
    seen_at REAL NOT NULL,
    PRIMARY KEY (webhook_id, sequence)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lost (
    webhook_id INTEGER NOT NULL,
    first INTEGER NOT NULL,
    last INTEGER NOT NULL,
    missing INTEGER NOT NULL,
    noticed_at REAL NOT NULL,
    PRIMARY KEY (webhook_id, first)
);
"""

EVENT_COLUMNS = (
    "n, id, type, position, webhook_id, sequence, message_id, source, body, received_at, attempts"
)

INSERT_EVENT = (
    "INSERT INTO events (id, type, position, webhook_id, sequence, message_id, source, body,"
    " received_at, status, due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)"
    " ON CONFLICT (id) DO NOTHING"
)
INSERT_STREAM = "INSERT INTO streams VALUES (?, 0, NULL) ON CONFLICT DO NOTHING"
INSERT_MARK = "INSERT INTO marks VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"


@dataclass(frozen=True, slots=True)
class Pending:
    """An event due for an attempt; ``n`` is its row."""

    n: int
    event: Event


class Store:
    def __init__(self, path: str | Path, *, synchronous: str = "NORMAL", timeout: float = 30.0):
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError("synchronous is FULL, EXTRA or NORMAL")
        self._path, self._synchronous, self._timeout = str(path), synchronous.upper(), timeout
        self._open()
        with self.transaction() as conn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def _open(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=self._timeout
        )
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute(f"PRAGMA synchronous = {self._synchronous}")

    def _connection(self) -> sqlite3.Connection:
        """The connection, opened again in a forked child (a web server that imports the
        app before forking its workers): SQLite connections must not cross a fork."""
        if os.getpid() != self._pid:
            self._open()
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: its statements see one state of the file."""
        conn = self._connection()
        with self._lock:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        conn = self._connection()
        with self._lock:
            return conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- accepting -----------------------------------------------------------------------

    def accept(self, batch: Sequence[tuple[Incoming, datetime]]) -> list[bool]:
        """Store deliveries in one transaction, each unless its event is already here (or
        earlier in the batch); whether each was new."""
        ids = [incoming.id for incoming, _ in batch]
        with self.transaction() as conn:
            # The write lock is held from BEGIN IMMEDIATE: what this finds stays true.
            seen = {r[0] for r in conn.execute(_existing(len(ids)), ids)}
            new, rows, marks = [], [], []
            for incoming, now in batch:
                at = now.timestamp()
                new.append(incoming.id not in seen)
                if new[-1]:
                    seen.add(incoming.id)
                    rows.append(
                        (
                            incoming.id,
                            incoming.type,
                            incoming.seq,
                            incoming.webhook_id,
                            incoming.sequence,
                            incoming.message_id,
                            "delivery",
                            incoming.body,
                            at,
                            at,
                        )
                    )
                if incoming.webhook_id is not None and incoming.sequence is not None:
                    marks.append((incoming.webhook_id, incoming.sequence, incoming.seq, at))
            conn.executemany(INSERT_EVENT, rows)
            conn.executemany(INSERT_STREAM, [(w,) for w in {m[0] for m in marks}])
            conn.executemany(INSERT_MARK, marks)
        return new

    # --- processing ----------------------------------------------------------------------

    def due(self, now: datetime, limit: int, skip: Iterable[int] = ()) -> list[Pending]:
        """Pending events due by ``now`` in log order (by position; those without one,
        from older senders, first, in arrival order), leaving out the rows in ``skip``."""
        skipped = set(skip)
        rows = self._read(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE status = 'pending' AND due_at <= ?"
            " ORDER BY position, n LIMIT ?",
            (now.timestamp(), limit + len(skipped)),
        )
        return [Pending(r[0], _event(r)) for r in rows if r[0] not in skipped][:limit]

    def claim(self, n: int, attempt: int, retry_at: datetime) -> None:
        """Count the attempt before it runs, due again at ``retry_at``: an attempt that
        kills the process is counted too, and the event is not lost."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE events SET attempts = ?, due_at = ? WHERE n = ?",
                (attempt, retry_at.timestamp(), n),
            )

    def handled(self, n: int) -> set[str]:
        return {r[0] for r in self._read("SELECT handler FROM handled WHERE event_n = ?", (n,))}

    def finish(
        self,
        n: int,
        handlers: Iterable[str],
        now: datetime,
        *,
        error: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        """Record an attempt: the handlers that succeeded, then done (no ``error``), due
        again (``retry_at``) or dead."""
        status = "done" if error is None else ("pending" if retry_at else "dead")
        due_at = (retry_at or now).timestamp()
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO handled VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(n, h) for h in handlers],
            )
            conn.execute(
                "UPDATE events SET status = ?, error = ?, due_at = ?, finished_at = ? WHERE n = ?",
                (status, error, due_at, now.timestamp(), n),
            )

    def dead_letters(self) -> list[DeadLetter]:
        rows = self._read(
            f"SELECT {EVENT_COLUMNS}, error, finished_at FROM events WHERE status = 'dead'"
            " ORDER BY position, n"
        )
        return [DeadLetter(_event(r), r[10], r[11] or "", _time(r[12])) for r in rows]

    def revive(self, event_id: str, now: datetime) -> bool:
        """A dead letter pending again, with its attempts anew."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE events SET status = 'pending', attempts = 0, due_at = ?, error = NULL"
                " WHERE id = ? AND status = 'dead'",
                (now.timestamp(), event_id),
            )
            return cursor.rowcount == 1

    def counts(self) -> dict[str, int]:
        rows = self._read("SELECT status, COUNT(*) FROM events GROUP BY status")
        return {"pending": 0, "done": 0, "dead": 0, **{r[0]: r[1] for r in rows}}

    def prune(self, before: datetime) -> int:
        """Forget events done before ``before`` (their ids no longer de-duplicate)."""
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM handled WHERE event_n IN (SELECT n FROM events"
                " WHERE status = 'done' AND finished_at < ?)",
                (before.timestamp(),),
            )
            cursor = conn.execute(
                "DELETE FROM events WHERE status = 'done' AND finished_at < ?",
                (before.timestamp(),),
            )
            return cursor.rowcount

    # --- gaps ----------------------------------------------------------------------------

    def streams(self) -> list[tuple[Stream, list[Mark]]]:
        """Each webhook's stream and the marks above it, by sequence."""
        with self._snapshot() as conn:  # one for both: another process may accept meanwhile
            streams = conn.execute("SELECT * FROM streams ORDER BY webhook_id").fetchall()
            marks = conn.execute(
                "SELECT m.webhook_id, m.sequence, m.position, m.seen_at FROM marks m"
                " JOIN streams s ON s.webhook_id = m.webhook_id AND m.sequence > s.through"
                " ORDER BY m.webhook_id, m.sequence"
            ).fetchall()
        by_webhook: dict[int, list[Mark]] = {s[0]: [] for s in streams}
        for webhook_id, sequence, position, seen_at in marks:
            by_webhook[webhook_id].append(Mark(sequence, position, _time(seen_at)))
        return [(Stream(*s), by_webhook[s[0]]) for s in streams]

    def advance(self, moved: Iterable[Stream]) -> None:
        """Move streams forward and forget the marks they passed."""
        with self.transaction() as conn:
            for s in moved:
                conn.execute(
                    "UPDATE streams SET through = ?, position = ? WHERE webhook_id = ?"
                    " AND through < ?",
                    (s.through, s.position, s.webhook_id, s.through),
                )
                conn.execute(
                    "DELETE FROM marks WHERE webhook_id = ? AND sequence <= ?",
                    (s.webhook_id, s.through),
                )

    def fill(
        self,
        hole: Hole,
        logged: Sequence[dict[str, Any]],
        marks: Sequence[Mark],
        now: datetime,
    ) -> int:
        """Store a hole's events recovered from the log (those not here already), account
        for its sequences, and record what the log no longer had; how many were new."""
        at = now.timestamp()
        sequences = {int(m.position): m.sequence for m in marks if m.position is not None}
        rows = [
            (
                e["id"],
                e["type"],
                int(e["seq"]),
                hole.webhook_id,
                sequences.get(int(e["seq"])),
                None,
                "log",
                _serialise(e.get("data")),
                at,
                at,
            )
            for e in logged
        ]
        with self.transaction() as conn:
            new = sum(conn.execute(INSERT_EVENT, row).rowcount for row in rows)
            conn.executemany(
                INSERT_MARK, [(hole.webhook_id, m.sequence, m.position, at) for m in marks]
            )
            if len(logged) < hole.size:
                conn.execute(
                    "INSERT INTO lost VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (hole.webhook_id, hole.first, hole.last, hole.size - len(logged), at),
                )
        return new

    def lost(self) -> list[Lost]:
        rows = self._read("SELECT * FROM lost ORDER BY noticed_at, webhook_id, first")
        return [Lost(r[0], r[1], r[2], r[3], _time(r[4])) for r in rows]


def _existing(count: int) -> str:
    return f"SELECT id FROM events WHERE id IN ({', '.join('?' * count)})"


def _event(r: Sequence[Any]) -> Event:
    return Event(
        id=r[1],
        type=r[2],
        seq=r[3],
        webhook_id=r[4],
        sequence=r[5],
        message_id=r[6],
        source=r[7],
        body=bytes(r[8]),
        received_at=_time(r[9]),
        attempt=r[10] + 1,
    )


def _time(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _serialise(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
