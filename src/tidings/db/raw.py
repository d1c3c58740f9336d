"""Statements run on the driver's own cursor, for the hot paths: list pages, conversation
views, bulk deletes and selections.

A list page's queries take ~30 us each in SQLite; building, caching and executing them
through SQLAlchemy Core took ~1.4 ms a page, and its result rows cost more to iterate
than the rows cost to read. The statements here are plain text with ``?`` placeholders
(rewritten to ``%s`` for psycopg, so the text may contain no other ``?`` and no ``%``)
and positional parameters, run inside the caller's SQLAlchemy transaction. Values go
through :func:`bind`, so a datetime is compared in the form
``tidings.db.types.UTCDateTime`` stores. Driver errors are re-raised as SQLAlchemy's.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from tidings.db.types import naive_utc


@dataclass(frozen=True, slots=True)
class Statement:
    """SQL text with ``?`` placeholders and its parameters; hashable, so a cache key."""

    sql: str
    params: tuple[Any, ...] = ()
    # PostgreSQL's own text and ids for an id list (see ``in_list``): one array parameter.
    any_array: tuple[str, tuple[int, ...]] | None = None


def in_list(sql: str, ids: Sequence[int]) -> Statement:
    """``sql``, whose ``IN ({ids})`` becomes an id list bound to ``ids`` (``str.format``:
    other braces in ``sql`` must be doubled).

    Bound, not inlined: the text then depends only on how many ids there are, so the
    driver reuses its prepared statement instead of parsing a new text for every page
    and every chunk (an inlined list per chunk also filled sqlite3's statement cache).
    SQLite gets one ``?`` per id. PostgreSQL gets ``= ANY(?)`` with the ids as one array:
    with 500 separate parameters its prepared plans made a bulk delete forever ~20% slower
    than inlined ids (ADR 0007).
    """
    assert "IN ({ids})" in sql
    values = tuple(map(int, ids))
    return Statement(
        sql.format(ids=",".join("?" * len(values))),
        values,
        any_array=(sql.replace("IN ({ids})", "= ANY(?)").format(ids=""), values),
    )


def bind(value: Any, dialect: str) -> Any:
    """A parameter as the column stores it: UTC datetimes are naive, and text on SQLite
    (``YYYY-MM-DD HH:MM:SS.ffffff``, four-digit years: the text is compared as text)."""
    if isinstance(value, datetime):
        naive = naive_utc(value)
        return naive.isoformat(" ", "microseconds") if dialect == "sqlite" else naive
    return value


_cursor_names = itertools.count()


@lru_cache(maxsize=256)
def _for_psycopg(sql: str) -> str:
    return sql.replace("?", "%s")


def _driver_form(statement: Statement, dialect: str) -> tuple[str, tuple[Any, ...]]:
    """The text and parameters the driver gets: PostgreSQL's ``%s`` placeholders, and
    its array form of an id list."""
    if dialect == "sqlite":
        return statement.sql, statement.params
    if statement.any_array is not None:
        sql, ids = statement.any_array
        return _for_psycopg(sql), (list(ids),)
    return _for_psycopg(statement.sql), statement.params


@contextmanager
def _cursor(
    conn: Connection, sql: str, params: Sequence[Any] = (), name: str | None = None
) -> Iterator[Any]:
    """A cursor of the driver's, inside ``conn``'s transaction, closed afterwards. The
    driver's errors come out as the exceptions SQLAlchemy would raise (DataError,
    OperationalError, ...), so errors are handled the same whichever way a statement ran;
    ``sql`` and ``params`` are for their message."""
    driver_error = conn.dialect.loaded_dbapi.Error
    cursor = conn.connection.cursor(name) if name else conn.connection.cursor()
    try:
        yield cursor
    except driver_error as exc:
        raise DBAPIError.instance(sql, params, exc, driver_error) from exc
    finally:
        cursor.close()


def rows(conn: Connection, statement: Statement | str) -> list[Sequence[Any]]:
    """All rows as plain tuples, inside ``conn``'s transaction."""
    found = _run(conn, statement, fetch=True)
    assert isinstance(found, list)
    return found


def unordered_rows(conn: Connection, statement: Statement, columns: str) -> list[Sequence[Any]]:
    """The rows of ``statement``, whose output columns are named ``columns``, in no
    particular order (the caller keys them by id).

    On SQLite they travel as one JSON array that SQLite builds and orjson parses: the
    driver then makes one step instead of one per row and converts one value instead of
    one per column (50 conversations: ~290 -> ~150 us). Only for columns holding
    integers, text and NULL; text comes back as it was stored.
    """
    if conn.dialect.name != "sqlite":
        return rows(conn, statement)
    found = rows(
        conn,
        Statement(
            f"SELECT json_group_array(json_array({columns})) FROM ({statement.sql})",
            statement.params,
        ),
    )
    parsed: list[Sequence[Any]] = orjson.loads(found[0][0]) if found else []
    return parsed


def batches(conn: Connection, statement: Statement, size: int = 5000) -> Iterator[list[Any]]:
    """The first column of every row, ``size`` at a time, never all in memory."""
    for found in row_batches(conn, statement, size):
        yield [r[0] for r in found]


def row_batches(
    conn: Connection, statement: Statement, size: int = 5000
) -> Iterator[list[Sequence[Any]]]:
    """Every row as a plain tuple, ``size`` at a time, never all in memory.

    PostgreSQL needs a server-side (named) cursor for that; a plain one fetches the
    whole result into the client. The caller's transaction must stay open meanwhile.
    """
    sql, params = _driver_form(statement, conn.dialect.name)
    name = f"tidings_batches_{next(_cursor_names)}" if conn.dialect.name != "sqlite" else None
    with _cursor(conn, sql, params, name) as cursor:
        cursor.execute(sql, params)
        while found := cursor.fetchmany(size):
            yield found


def insert_many(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``sql`` (an INSERT with ``?`` placeholders) once per row, through the driver's
    executemany: SQLAlchemy's per-row parameter processing cost as much as the inserts."""
    if rows:
        conn.exec_driver_sql(sql if conn.dialect.name == "sqlite" else _for_psycopg(sql), rows)


def copy_rows(
    conn: Connection,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[Any]],
) -> None:
    """PostgreSQL: append ``rows`` to ``table`` with a binary ``COPY ... FROM STDIN``,
    inside the caller's transaction; ``columns`` are (name, PostgreSQL type) pairs.

    Measured with 100,000 event rows of ~3.8 KB: one INSERT per row (executemany) cost
    the server 2.4 s and the client 1.6 s; a text COPY 1.7 s and 0.5 s; a binary COPY,
    which the server does not parse, 1.6 s and 0.5 s.
    """
    assert conn.dialect.name == "postgresql"
    names = ", ".join(name for name, _ in columns)
    sql = f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)"
    with _cursor(conn, sql) as cursor, cursor.copy(sql) as copy:
        copy.set_types([type_ for _, type_ in columns])
        for row in rows:
            copy.write_row(row)


def execute(conn: Connection, statement: Statement | str) -> int:
    """Run a statement that returns no rows; its row count."""
    count = _run(conn, statement, fetch=False)
    assert isinstance(count, int)
    return count


def _run(conn: Connection, statement: Statement | str, *, fetch: bool) -> list[Sequence[Any]] | int:
    if isinstance(statement, str):
        statement = Statement(statement)
    sql, params = _driver_form(statement, conn.dialect.name)
    with _cursor(conn, sql, params) as cursor:
        if params:
            cursor.execute(sql, params)
        else:
            cursor.execute(sql)
        return list(cursor.fetchall()) if fetch else int(cursor.rowcount)


def scalar(conn: Connection, statement: Statement | str) -> Any:
    """The first column of the first row, or None."""
    found = rows(conn, statement)
    return found[0][0] if found else None
