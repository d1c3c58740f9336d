"""The database handle: one engine, write transactions and read snapshots.

SQLite runs in WAL mode with ``BEGIN IMMEDIATE`` for writes, so two writers never
deadlock upgrading a read lock; readers use a deferred ``BEGIN`` and see a
consistent snapshot. SQLite has one writer at a time: in one process, writers queue on a
lock for their turn, rather than in SQLite's busy handler, which sleeps 1 to 100 ms
between tries (measured: the webhook dispatcher's and the API's writes colliding put
p99 commit-to-receipt at 840 ms). PostgreSQL uses READ COMMITTED and row locks.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import NullPool, StaticPool

from tidings.config import normalize_database_url

_WRITE = "tidings_write"
# One lock per SQLite file, shared by every Database of this process that opens it.
_writers: dict[str, threading.RLock] = {}
_writers_guard = threading.Lock()


def _sqlite_writer(url: str) -> threading.RLock:
    with _writers_guard:
        return _writers.setdefault(url, threading.RLock())


# How much of a SQLite file each process maps into memory (TIDINGS_SQLITE_MMAP_MB).
DEFAULT_MMAP_MB = 256


class Database:
    def __init__(self, url: str, *, pool_size: int = 8, mmap_mb: int = DEFAULT_MMAP_MB) -> None:
        self.url = normalize_database_url(url)
        self.pool_size = pool_size
        self.engine = _make_engine(self.url, pool_size, mmap_mb)
        self._writer = _sqlite_writer(self.url) if self.is_sqlite else None

    @property
    def shared_with_other_processes(self) -> bool:
        """Whether another process can open this database too (not SQLite in memory)."""
        return not (self.is_sqlite and _in_memory(self.url))

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed when the block ends, rolled back on error."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{_WRITE: True})
            with self._writer or contextlib.nullcontext(), conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only snapshot; never takes SQLite's write lock."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _in_memory(url: str) -> bool:
    return url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url


def _json(value: Any) -> str:
    # Compact, as orjson writes payloads: stored JSON is embedded in responses as is.
    return orjson.dumps(value).decode()


# UPDATE ... RETURNING (the operation runner's lease) came with SQLite 3.35.
SQLITE_AT_LEAST = (3, 35)


def _make_engine(url: str, pool_size: int, mmap_mb: int) -> Engine:
    json_kwargs: dict[str, Any] = {"json_serializer": _json, "json_deserializer": orjson.loads}
    if not url.startswith("sqlite"):
        return create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False, **json_kwargs
        )
    if sqlite3.sqlite_version_info < SQLITE_AT_LEAST:
        raise RuntimeError(
            f"Tidings needs SQLite {'.'.join(map(str, SQLITE_AT_LEAST))} or later"
            f" (UPDATE ... RETURNING); this Python has {sqlite3.sqlite_version}"
        )
    memory = url in ("sqlite://", "sqlite:///:memory:")
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": 30},
        **json_kwargs,
    }
    if memory:
        kwargs["poolclass"] = StaticPool
    elif pool_size <= 0:
        kwargs["poolclass"] = NullPool
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size)
    engine = create_engine(url, **kwargs)
    _take_over_sqlite_transactions(engine, mmap_mb)
    return engine


def _take_over_sqlite_transactions(engine: Engine, mmap_mb: int) -> None:
    # pysqlite's own transaction handling begins lazily and never with IMMEDIATE;
    # SQLAlchemy documents this recipe for emitting BEGIN ourselves.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Read through one shared memory map instead of copying pages into each pooled
        # connection's own cache: measured on 100,000 conversations, one conversation
        # 513 -> ~890 requests/s, a list page's p99 69 -> 48 ms. The mapped pages a
        # process touched count in its resident memory, so the map is bounded: at
        # 1,000,000 conversations a 1 GB map held the server at 1.1 GB (ADR 0018).
        cursor.execute(f"PRAGMA mmap_size={int(mmap_mb) * 1024 * 1024}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        # Straight to the driver: through SQLAlchemy's execution path this statement cost
        # ~50 us, more than many of the reads it opens.
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute("BEGIN IMMEDIATE" if write else "BEGIN")
