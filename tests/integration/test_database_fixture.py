"""The ``db`` fixture: a working, migrated database per test, isolated from the others."""

from __future__ import annotations

import orjson
import pytest
from alembic import command
from sqlalchemy import func, select

from tidings.db import migrate
from tidings.db.engine import Database
from tidings.db.schema import settings_kv
from tidings.events import payloads
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
    assert revision == "0004"


def test_event_payloads_are_stored_as_they_come_on_postgresql(db: Database) -> None:
    """Migration 0004: bytea, and no second compression of the LZ4 blocks by TOAST."""
    if not db.is_postgresql:
        pytest.skip("SQLite has storage classes, not column types")
    with db.read() as conn:
        type_, storage = conn.exec_driver_sql(
            "SELECT atttypid::regtype::text, attstorage FROM pg_attribute"
            " WHERE attrelid = 'events'::regclass AND attname = 'payload'"
        ).one()
    assert (type_, storage) == ("bytea", "e")  # e: EXTERNAL, out of line but uncompressed


def test_migration_0004_compresses_existing_payloads(db: Database) -> None:
    """Payloads written as text before 0004 read back as the same JSON after it, and after
    going back."""
    if not db.is_postgresql:
        pytest.skip("0004 changes only PostgreSQL")
    texts = [orjson.dumps({"n": n, "body": "é" * n}).decode() for n in (0, 10, 5000)]
    cfg = migrate.alembic_config(db)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    with db.write() as conn:
        for n, text in enumerate(texts):
            conn.exec_driver_sql(
                "INSERT INTO events (id, type, created_at, entity_type, payload)"
                " VALUES (%s, 'test', '2030-01-01 00:00:00', 'test', %s)",
                (f"evt_{n}", text),
            )
    migrate.upgrade(db)
    with db.read() as conn:
        stored = [r[0] for r in conn.exec_driver_sql("SELECT payload FROM events ORDER BY seq")]
    assert all(isinstance(value, bytes) for value in stored)
    assert [payloads.json_of(value) for value in stored] == [t.encode() for t in texts]
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    with db.read() as conn:
        back = [r[0] for r in conn.exec_driver_sql("SELECT payload FROM events ORDER BY seq")]
    assert back == texts
    migrate.upgrade(db)


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
