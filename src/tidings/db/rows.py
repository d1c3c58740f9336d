"""Tiny helpers over SQLAlchemy results."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Insert, Table, insert


def inline_ids(ids: Iterable[int]) -> str:
    """``1,2,3`` for an ``IN (...)`` list; every id goes through ``int()``, so nothing else
    can reach the SQL. Prefer ``raw.in_list`` (bound): every inlined list is a new statement
    text for the driver to parse and cache (ADR 0007)."""
    return ",".join(map(str, map(int, ids)))


def insert_row(conn: Connection, table: Table, values: dict[str, Any]) -> int:
    """INSERT one row of ``values`` and return its new primary key.

    The values go in as execution parameters of one ``insert(table)`` per table, so
    SQLAlchemy compiles the statement once per set of columns and reuses it. Built with
    ``.values(...)``, each call coerced every value into a new statement and computed its
    cache key: ~40% of a conversation's creation.
    """
    key: Any = conn.execute(_insert(table), values).inserted_primary_key
    assert key is not None
    return int(key[0])


@functools.cache
def _insert(table: Table) -> Insert:
    return insert(table)
