"""What appending a bulk operation's events costs, by the way they are written (ADR 0013).

    .venv/bin/python bench/append.py [--n 100000] [--db sqlite|postgresql|both]

Appends ``--n`` ``convo.deleted_forever`` rows, 500 a transaction, to an empty ``events``
table with Tidings' columns and indexes, using real payloads: 500 snapshots of
conversations with three threads rendered by Tidings from the bulk.py data set (~3.8 KB of
JSON each). The rows are built before the clock starts; only the writing is timed.

  sqlite/executemany      what Tidings does on SQLite: executemany, payloads LZ4 (ADR 0010)
  postgresql/insert_text  one INSERT per row (executemany), JSON text, TOAST compresses (LZ4)
  postgresql/copy_text    a binary COPY of the same JSON text, TOAST compresses
  postgresql/copy_lz4     a binary COPY of LZ4 blocks into bytea, STORAGE EXTERNAL:
                          what Tidings does since migration 0004 (the baseline's ratio is
                          against insert_text, what it did before)

Each line: seconds (wall), client and server CPU seconds, and ratio_to_insert = seconds /
insert_text seconds in the same run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import _common as c
import lz4.block
import orjson

INDEXES = ("created_at", "conversation_id", "operation_id")
COLUMNS = (
    "id, type, created_at, entity_type, entity_id, mailbox_id, conversation_id,"
    " operation_id, payload"
)
TYPES = ["varchar", "varchar", "timestamp", "varchar", "int8", "int8", "int8", "varchar"]
CHUNK = 500


def sample_payloads() -> list[bytes]:
    """500 real snapshots: conversations with three threads, as Tidings renders them."""
    from tidings.db.engine import Database

    views = c.tidings_views()
    source = c.sqlite_dataset(c.Spec(10_000, threads_min=3, threads_max=3, state="deleted"))
    db = Database(f"sqlite:///{source}")
    with db.read() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id FROM conversations LIMIT 500")]
        found = views.conversations_json(conn, ids, with_threads=True)
    db.dispose()
    return [orjson.dumps(item) for item in found]


def chunks_of_rows(n: int, payloads: Sequence[Any]) -> list[list[tuple[Any, ...]]]:
    from tidings.ids import new_ids

    now = datetime(2026, 12, 2, 16, 0, 0, tzinfo=UTC).replace(tzinfo=None)  # stored naive
    result = []
    for start in range(0, n, CHUNK):
        ids = new_ids("evt", CHUNK)
        result.append(
            [
                (ids[j], "convo.deleted_forever", now, "conversation", start + j, 1,
                 start + j, "op_01BENCHAPPEND0000000000000", payloads[j % len(payloads)])
                for j in range(CHUNK)
            ]
        )  # fmt: skip
    return result


def timed(write: Callable[[], None]) -> dict[str, float]:
    pg0, cpu0, t0 = c.pg_cpu_seconds(), time.process_time(), time.perf_counter()
    write()
    return {
        "seconds": round(time.perf_counter() - t0, 3),
        "client_cpu_s": round(time.process_time() - cpu0, 3),
        "server_cpu_s": round(c.pg_cpu_seconds() - pg0, 3),
    }


def run_sqlite(n: int, payloads: list[bytes]) -> None:
    import sqlite3

    path = Path(tempfile.mkdtemp()) / "append.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id VARCHAR(32) NOT NULL"
        " UNIQUE, type VARCHAR(64) NOT NULL, created_at DATETIME NOT NULL, entity_type"
        " VARCHAR(32) NOT NULL, entity_id BIGINT, mailbox_id BIGINT, conversation_id BIGINT,"
        " operation_id VARCHAR(32), payload TEXT NOT NULL)"
    )
    for column in INDEXES:
        conn.execute(f"CREATE INDEX ix_{column} ON events ({column})")
    compressed = [bytes(lz4.block.compress(p)) for p in payloads]
    chunks = [
        [(*row[:2], str(row[2]), *row[3:]) for row in chunk]
        for chunk in chunks_of_rows(n, compressed)
    ]
    sql = f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join('?' * 9)})"

    def write() -> None:
        for chunk in chunks:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, chunk)
            conn.execute("COMMIT")

    result = timed(write)
    conn.close()
    c.emit({"bench": "append", "db": "sqlite", "case": "executemany", "events": n, **result})


def run_postgresql(n: int, payloads: list[bytes]) -> None:
    import psycopg

    url = c.pg_create("bench_append")
    texts = [p.decode() for p in payloads]
    blocks = [bytes(lz4.block.compress(p)) for p in payloads]
    cases: dict[str, tuple[str, list[list[tuple[Any, ...]]], str]] = {
        "insert_text": ("TEXT COMPRESSION lz4", chunks_of_rows(n, texts), "insert"),
        "copy_text": ("TEXT COMPRESSION lz4", chunks_of_rows(n, texts), "text"),
        "copy_lz4": ("BYTEA", chunks_of_rows(n, blocks), "bytea"),
    }
    baseline = None
    for case, (payload_type, chunks, how) in cases.items():
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS events")
            conn.execute(
                "CREATE TABLE events (seq BIGSERIAL PRIMARY KEY, id VARCHAR(32) NOT NULL UNIQUE,"
                " type VARCHAR(64) NOT NULL, created_at TIMESTAMP NOT NULL, entity_type"
                " VARCHAR(32) NOT NULL, entity_id BIGINT, mailbox_id BIGINT, conversation_id"
                f" BIGINT, operation_id VARCHAR(32), payload {payload_type} NOT NULL)"
            )
            if how == "bytea":  # as migration 0004 leaves it (PostgreSQL 15 has no STORAGE
                # clause in CREATE TABLE)
                conn.execute("ALTER TABLE events ALTER COLUMN payload SET STORAGE EXTERNAL")
            for column in INDEXES:
                conn.execute(f"CREATE INDEX ix_{column} ON events ({column})")
            conn.autocommit = False

            result = timed(partial(_write_postgresql, conn, chunks, how))
        baseline = baseline or result["seconds"]
        c.emit(
            {
                "bench": "append",
                "db": "postgresql",
                "case": case,
                "events": n,
                **result,
                "ratio_to_insert": round(result["seconds"] / baseline, 2),
            }
        )
    c.pg_drop("bench_append")


def _write_postgresql(conn: Any, chunks: list[list[tuple[Any, ...]]], how: str) -> None:
    """Each chunk in its own transaction: executemany (``how`` is "insert"), or a binary
    COPY whose payload column has type ``how``."""
    for chunk in chunks:
        with conn.cursor() as cur:
            if how == "insert":
                placeholders = ", ".join(["%s"] * 9)
                cur.executemany(f"INSERT INTO events ({COLUMNS}) VALUES ({placeholders})", chunk)
            else:
                sql = f"COPY events ({COLUMNS}) FROM STDIN (FORMAT BINARY)"
                with cur.copy(sql) as copy:
                    copy.set_types([*TYPES, how])
                    for row in chunk:
                        copy.write_row(row)
        conn.commit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = ap.parse_args()
    c.reexec_under_pg_if_needed(args.db != "sqlite")
    payloads = sample_payloads()
    if args.db in ("sqlite", "both"):
        run_sqlite(args.n, payloads)
    if args.db in ("postgresql", "both") and os.environ.get(c.PG_ENV):
        run_postgresql(args.n, payloads)


if __name__ == "__main__":
    main()
