"""The one migration creates exactly the tables of ``tidings.db.schema``, on both databases:
Alembic's own comparison finds nothing to add, drop or change."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tidings.db.engine import Database
from tidings.db.schema import metadata


def test_the_migrated_database_matches_the_tables(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []
