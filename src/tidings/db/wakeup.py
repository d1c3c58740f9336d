"""Waking workers when there is work: LISTEN/NOTIFY on PostgreSQL, SQLite's
``data_version``, polling as a floor.

A change that gives a worker work sends ``NOTIFY <channel>`` inside its own transaction,
so the signal is delivered only if the change commits: a queued or cancelled operation on
``tidings_operations``, any appended event on ``tidings_events`` (the webhook
dispatcher's). Workers on any machine wake at once instead of at the next poll; a missed
signal costs at most one poll interval, because the poll still runs. On SQLite, another
process's commit changes ``PRAGMA data_version``, which costs microseconds to read: the
waiter reads it every few milliseconds. In one process, ``set()`` wakes a waiter directly.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

import psycopg
from sqlalchemy import Connection, make_url

from tidings.config import normalize_database_url

OPERATIONS = "tidings_operations"
EVENTS = "tidings_events"
logger = logging.getLogger("tidings.wakeup")
SQLITE_CHECK_SECONDS = 0.003


def notify(conn: Connection, channel: str = OPERATIONS) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {channel}")


class Waiter:
    """Sleeps up to ``timeout`` seconds, or until woken by ``set()`` or a NOTIFY."""

    def __init__(self, database_url: str, channel: str = OPERATIONS) -> None:
        self._channel = channel
        self._event = threading.Event()
        self._listener: psycopg.Connection[tuple[object, ...]] | None = None
        self._sqlite: sqlite3.Connection | None = None
        url = normalize_database_url(database_url)
        if url.startswith("postgresql"):
            self._dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
            self._connect()
        elif (path := make_url(url).database) and path != ":memory:":
            self._sqlite = sqlite3.connect(path, check_same_thread=False)

    def _connect(self) -> None:
        try:
            self._listener = psycopg.connect(self._dsn, autocommit=True)
            self._listener.execute(f"LISTEN {self._channel}")
        except psycopg.Error:
            logger.warning("LISTEN failed; falling back to polling", exc_info=True)
            self._listener = None

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> None:
        if self._sqlite is not None:
            self._wait_for_sqlite(timeout)
            return
        if self._event.is_set() or self._listener is None:
            self._event.wait(timeout)
            self._event.clear()
            return
        try:
            for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                pass
        except psycopg.Error:
            logger.warning("LISTEN connection lost; reconnecting", exc_info=True)
            self._listener.close()
            self._connect()
        self._event.clear()

    def _wait_for_sqlite(self, timeout: float) -> None:
        assert self._sqlite is not None
        deadline = time.monotonic() + timeout
        seen = self._sqlite.execute("PRAGMA data_version").fetchone()
        while not self._event.wait(min(SQLITE_CHECK_SECONDS, deadline - time.monotonic())):
            if self._sqlite.execute("PRAGMA data_version").fetchone() != seen:
                break
            if time.monotonic() >= deadline:
                break
        self._event.clear()

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
