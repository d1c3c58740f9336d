"""Tiny helpers over SQLAlchemy results."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Insert


def insert_returning_id(conn: Connection, statement: Insert) -> int:
    """Run an INSERT of one row and return its new primary key."""
    key: Any = conn.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])
