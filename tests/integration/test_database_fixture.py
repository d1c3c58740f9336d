"""The ``db`` fixture: a working, migrated database per test, isolated from the others."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import func, select

from tidings.db import migrate
from tidings.db.engine import Database
from tidings.db.schema import settings_kv
from tidings.operations import store
from tidings.operations.confirm import ids_digest


def test_write_then_read(db: Database, backend: str) -> None:
    assert db.is_sqlite == (backend == "sqlite")
    assert db.is_postgresql == (backend == "postgresql")
    with db.write() as conn:
        conn.execute(settings_kv.insert().values(key="smoke", value="written"))
    with db.read() as conn:
        value = conn.execute(
            select(settings_kv.c.value).where(settings_kv.c.key == "smoke")
        ).scalar_one()
    assert value == "written"


def test_each_test_gets_its_own_database(db: Database) -> None:
    # test_write_then_read left a row in its database; none of it is visible here.
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(settings_kv)).scalar_one() == 0
    with db.write() as conn:
        conn.execute(settings_kv.insert().values(key="smoke", value="isolated"))


def test_database_is_migrated_to_head(db: Database) -> None:
    with db.read() as conn:
        revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    assert revision == "0003"


def test_event_payloads_compress_with_lz4_on_postgresql(db: Database) -> None:
    if not db.is_postgresql:
        pytest.skip("TOAST compression is PostgreSQL's")
    with db.read() as conn:
        lz4 = conn.exec_driver_sql(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).scalar_one()
        method = conn.exec_driver_sql(
            "SELECT attcompression FROM pg_attribute"
            " WHERE attrelid = 'events'::regclass AND attname = 'payload'"
        ).scalar_one()
    if not lz4:
        pytest.skip("this PostgreSQL is built without LZ4 (migration 0002 is a no-op)")
    assert method == "l"  # lz4 (migration 0002)


def test_migration_0003_carries_over_operations_under_way(db: Database) -> None:
    """Before 0003 every done item had an outcome; after it, an operation resumes at
    ``next_position`` and a done item without an outcome changed."""
    cfg = migrate.alembic_config(db)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    with db.write() as conn:
        for op_id in ("op_a", "op_b"):
            conn.exec_driver_sql(
                "INSERT INTO operations (id, action, status, selection, params, atomic, total,"
                " processed, succeeded, failed, cancel_requested, created_at) VALUES"
                f" ('{op_id}', 'delete', 'running', '{{}}', '{{}}', false, 4, 0, 0, 0, false,"
                " '2030-01-01 00:00:00')"
            )
        outcomes = ["'changed'", "'missing'", "NULL", "NULL"]  # op_a: one chunk of two done
        for position, outcome in enumerate(outcomes):
            conn.exec_driver_sql(
                "INSERT INTO operation_items (operation_id, position, conversation_id, outcome)"
                f" VALUES ('op_a', {position}, {10 + position}, {outcome}),"
                f" ('op_b', {position}, {10 + position}, NULL)"
            )
    migrate.upgrade(db)
    with db.read() as conn:
        assert store.get(conn, "op_a").next_position == 2
        assert store.get(conn, "op_b").next_position == 0  # nothing done yet
        assert store.changed_digest(conn, "op_a") == ids_digest([10])
        assert store.changed_digest(conn, "op_b") == ids_digest([])
        assert store.next_items(conn, "op_a", None, 1) == [(2, 12), (3, 13)]
    # And back: every item is still there (rebuilding the table on SQLite would cascade).
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    with db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT operation_id, position, outcome FROM operation_items"
            " ORDER BY operation_id, position"
        ).all()
    assert [tuple(r) for r in rows] == [
        ("op_a", 0, "changed"),
        ("op_a", 1, "missing"),
        ("op_a", 2, None),
        ("op_a", 3, None),
        *[("op_b", p, None) for p in range(4)],
    ]
    migrate.upgrade(db)
