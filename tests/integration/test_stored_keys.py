"""Keys generated once and kept in the database: processes starting together agree."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, insert

from tidings.db.engine import Database
from tidings.db.schema import settings_kv
from tidings.keys import api_key


def test_a_key_stored_by_another_process_meanwhile_wins(db: Database, database_url: str) -> None:
    """Between this process's read and its insert, another one stores the key: the insert
    fails, and this process takes the other's key instead of crashing (it used to, with
    two ``tidings worker`` started at once on a new PostgreSQL database)."""
    if not db.is_postgresql:
        pytest.skip("SQLite has one writer: the read and the insert cannot be split")
    other = Database(database_url)
    raced: list[bool] = []

    def store_first(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO settings") and not raced:
            raced.append(True)
            with other.write() as theirs:
                theirs.execute(insert(settings_kv).values(key="api_key", value="theirs"))

    event.listen(db.engine, "before_cursor_execute", store_first)
    try:
        assert api_key(db, None) == "theirs"
    finally:
        event.remove(db.engine, "before_cursor_execute", store_first)
        other.dispose()
    assert raced == [True]
    assert api_key(db, None) == "theirs"
