"""Waking workers when there is work: LISTEN/NOTIFY on PostgreSQL, polling as a floor.

A change that gives a worker work sends ``NOTIFY <channel>`` inside its own transaction,
so the signal is delivered only if the change commits: a queued or cancelled operation on
``tidings_operations``, any appended event on ``tidings_events`` (the webhook
dispatcher's). Workers on any machine wake at once instead of at the next poll; a missed
signal costs at most one poll interval, because the poll still runs. In one process,
``set()`` wakes a waiter directly.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from sqlalchemy import Connection

from tidings.config import normalize_database_url

OPERATIONS = "tidings_operations"
EVENTS = "tidings_events"
logger = logging.getLogger("tidings.wakeup")


def notify(conn: Connection, channel: str = OPERATIONS) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {channel}")


class Waiter:
    """Sleeps up to ``timeout`` seconds, or until woken by ``set()`` or a NOTIFY."""

    def __init__(self, database_url: str, channel: str = OPERATIONS) -> None:
        self._channel = channel
        self._event = threading.Event()
        self._listener: psycopg.Connection[tuple[object, ...]] | None = None
        url = normalize_database_url(database_url)
        if url.startswith("postgresql"):
            self._dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
            self._connect()

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

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
