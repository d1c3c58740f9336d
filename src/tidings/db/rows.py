"""Tiny helpers over SQLAlchemy results."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Insert


def inline_ids(ids: Iterable[int]) -> str:
    """``1,2,3`` for an ``IN (...)`` list; every id goes through ``int()``, so nothing else
    can reach the SQL. Prefer ``raw.in_list`` (bound): every inlined list is a new statement
    text for the driver to parse and cache (ADR 0007)."""
    return ",".join(map(str, map(int, ids)))


def insert_returning_id(conn: Connection, statement: Insert) -> int:
    """Run an INSERT of one row and return its new primary key."""
    key: Any = conn.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])
