"""The ``db`` fixture: a working, migrated database per test, isolated from the others."""

from __future__ import annotations

from sqlalchemy import func, select

from tidings.db.engine import Database
from tidings.db.schema import settings_kv


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
