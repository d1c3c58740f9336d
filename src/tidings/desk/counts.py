"""``COUNT(*)`` for list pages, remembered until the event log moves.

Counting 93,000 published conversations scans an index on every page request
(~6 ms on SQLite): more than everything else a list page costs. Every committed
change to conversations or customers appends to the event log in its own
transaction (invariant 1), so the newest event position is a version of all the
data these counts depend on: a count stays valid exactly until the log moves.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy import Connection

from tidings.db import raw
from tidings.db.raw import Statement


def log_position(conn: Connection) -> int:
    return int(raw.scalar(conn, "SELECT max(seq) FROM events") or 0)


class CountCache:
    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, Statement], tuple[int, int]] = OrderedDict()
        self._lock = threading.Lock()

    def count(self, conn: Connection, query: Statement) -> int:
        key = (str(conn.engine.url), query)
        before = log_position(conn)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] == before:
                self._entries.move_to_end(key)
                return hit[1]
        total = int(raw.scalar(conn, query))
        # Under READ COMMITTED the count may have seen a later commit than ``before``:
        # remember it only when the log did not move meanwhile.
        if log_position(conn) == before:
            with self._lock:
                self._entries[key] = (before, total)
                self._entries.move_to_end(key)
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
        return total


counts = CountCache()
