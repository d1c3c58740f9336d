"""Shared fixtures: every database test runs once on SQLite and once on PostgreSQL.

``database_url`` gives each test its own freshly migrated, empty database, cloned
from a template migrated once per session (a file copy on SQLite, ``CREATE DATABASE
... TEMPLATE`` on PostgreSQL). ``db`` wraps it in a :class:`Database`.

PostgreSQL comes from ``TIDINGS_TEST_PG_URL`` (an admin URL; ``scripts/test`` starts
a throwaway server and sets it). Without it the ``postgresql`` variants are skipped.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.helpers import free_port as _free_port
from tidings.db import totals
from tidings.db.engine import Database
from tidings.db.migrate import upgrade

PG_ENV = "TIDINGS_TEST_PG_URL"
PG_ADMIN_URL = os.environ.get(PG_ENV, "")

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(
            not PG_ADMIN_URL,
            reason=f"{PG_ENV} is not set (scripts/test starts a PostgreSQL and sets it)",
        ),
    ),
]


def _pg_url(database: str) -> str:
    """The admin URL pointed at another database on the same server."""
    return make_url(PG_ADMIN_URL).set(database=database).render_as_string(hide_password=False)


def _pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    return psycopg.connect(PG_ADMIN_URL, autocommit=True)


def _pg_drop(name: str) -> None:
    with _pg_admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _migrate(url: str) -> None:
    database = Database(url, pool_size=1)
    try:
        upgrade(database)
    finally:
        database.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; tests get copies of it."""
    path = tmp_path_factory.mktemp("sqlite-template") / "tidings.db"
    _migrate(f"sqlite:///{path}")
    # Fold the WAL into the main file so one shutil.copy carries everything.
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[sql.Composable]:
    """A PostgreSQL database migrated to head once per session.

    Yields the ``TEMPLATE ...`` clause that clones it. FILE_COPY (PostgreSQL 15+)
    beats the default WAL_LOG for a small template on a server with fsync off.
    """
    if not PG_ADMIN_URL:
        pytest.skip(f"{PG_ENV} is not set")
    name = f"tidings_template_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        file_copy = conn.info.server_version >= 150000
    try:
        _migrate(_pg_url(name))
        clause = sql.SQL("TEMPLATE {}").format(sql.Identifier(name))
        if file_copy:
            clause = sql.SQL("{} STRATEGY FILE_COPY").format(clause)
        yield clause
    finally:
        _pg_drop(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"``; every test using it runs on both."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, empty database for this test alone (URL as users write it)."""
    with fresh_database(backend, request, tmp_path) as url:
        yield url


@contextmanager
def fresh_database(backend: str, request: pytest.FixtureRequest, directory: Path) -> Iterator[str]:
    """A fresh, migrated, empty database (a SQLite file in ``directory``), dropped after;
    for fixtures that outlive one test, such as a module's shared server."""
    if backend == "sqlite":
        sqlite_file: Path = request.getfixturevalue("sqlite_template")
        path = directory / "tidings.db"
        shutil.copy(sqlite_file, path)
        yield f"sqlite:///{path}"
        assert_totals_exact(f"sqlite:///{path}")
        return

    template: sql.Composable = request.getfixturevalue("pg_template")
    name = f"t_{uuid.uuid4().hex}"
    with _pg_admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} {}").format(sql.Identifier(name), template))
    try:
        yield _pg_url(name)
        assert_totals_exact(_pg_url(name))
    finally:
        _pg_drop(name)


def assert_totals_exact(url: str) -> None:
    """Whatever a test did, by whichever path, the stored list totals equal a count of
    the conversations (ADR 0018): checked after every test that had a database."""
    database = Database(url)
    try:
        with database.read() as conn:
            assert totals.stored(conn) == totals.counted(conn), "list totals drifted"
    finally:
        database.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A :class:`Database` on this test's own fresh database; disposed afterwards."""
    database = Database(database_url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return _free_port()
