"""In-process breakdown of the read path: where a list page / a conversation / a snapshot goes.

    .venv/bin/python bench/views.py [--conversations 100000] [--db sqlite|postgresql|both]

No HTTP: calls Tidings' own functions on the api.py data set and, side by side, the
prototype of the recommended changes (bench/_fastviews.py, checked byte-for-byte
against Tidings' output before timing) and, on SQLite, the payload built by SQLite's
own JSON functions (bench/_sqljson.py, same check). Prints one JSON line per step with wall and
CPU milliseconds per call (CPU time of this process, which a busy machine disturbs
far less than wall time; PostgreSQL's own work is in wall only).
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as c
import _fastviews as fv
import orjson
from sqlalchemy import func, select

from tidings.api.responses import page_of
from tidings.db.engine import Database
from tidings.db.schema import conversations
from tidings.desk.queries import ConversationFilter, Page, list_conversation_ids

conversations_json = c.tidings_views().conversations_json


def measure(fn: Callable[[], Any], seconds: float) -> tuple[float, float, int]:
    for _ in range(3):
        fn()
    n = 0
    w0, c0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - w0 < seconds:
        fn()
        n += 1
    return (
        1000 * (time.perf_counter() - w0) / n,
        1000 * (time.process_time() - c0) / n,
        n,
    )


def steps(conn: Any, n: int) -> list[tuple[str, str, Callable[[], Any]]]:
    rnd = random.Random(3)
    page = Page(1, 50)
    f = ConversationFilter(state=2)
    ids50, total = list_conversation_ids(conn, f, "createdAt", True, page)
    fv.check_same(conn, ids50, with_threads=False)
    start = n // 2
    ids500 = list(range(start, start + 500))
    fv.check_same(conn, ids500, with_threads=True)
    ids_sql = (
        "SELECT id FROM conversations WHERE state = 2 ORDER BY created_at DESC, id DESC LIMIT 50"
    )

    def tidings_page() -> bytes:
        ids, count = list_conversation_ids(conn, f, "createdAt", True, page)
        return page_of(
            "conversations", conversations_json(conn, ids, with_threads=False), page, count
        ).body

    def proto_page(count: bool) -> Callable[[], bytes]:
        def run() -> bytes:
            ids = [r[0] for r in conn.exec_driver_sql(ids_sql)]
            # With a count cache (recommendation 1) the total is a dict look-up.
            count_value = (
                conn.exec_driver_sql(
                    "SELECT count(*) FROM conversations WHERE state = 2"
                ).scalar_one()
                if count
                else total
            )
            items = fv.conversations_json(conn, ids, with_threads=False)
            return page_of("conversations", items, page, count_value).body

        return run

    extra: list[tuple[str, str, Callable[[], Any]]] = []
    if conn.dialect.name == "sqlite":
        import _sqljson

        _sqljson.check_same(conn, ids500)
        extra.append(
            (
                "snapshot_chunk500",
                "experiment: SQLite json_object builds the same bytes",
                lambda: _sqljson.payloads(conn, ids500),
            )
        )
    count_query = select(func.count()).select_from(conversations).where(conversations.c.state == 2)
    return [
        (
            "list_page50",
            "tidings: whole page (ids, count, conversations_json, page_of)",
            tidings_page,
        ),
        ("list_page50", "tidings: ids query only", lambda: conn.exec_driver_sql(ids_sql).all()),
        ("list_page50", "tidings: COUNT(*) only", lambda: conn.execute(count_query).scalar_one()),
        (
            "list_page50",
            "tidings: conversations_json(50 ids) only",
            lambda: conversations_json(conn, ids50, with_threads=False),
        ),
        ("list_page50", "prototype: whole page, COUNT(*) every time", proto_page(True)),
        ("list_page50", "prototype: whole page, count cached", proto_page(False)),
        (
            "get_conversation",
            "tidings: conversations_json([id], threads) + orjson",
            lambda: orjson.dumps(conversations_json(conn, [rnd.randint(1, n)], with_threads=True)),
        ),
        (
            "get_conversation",
            "prototype: same bytes",
            lambda: orjson.dumps(
                fv.conversations_json(conn, [rnd.randint(1, n)], with_threads=True)
            ),
        ),
        (
            "snapshot_chunk500",
            "tidings: conversations_json(500, threads) + orjson each",
            lambda: [orjson.dumps(x) for x in conversations_json(conn, ids500, with_threads=True)],
        ),
        (
            "snapshot_chunk500",
            "prototype: same bytes",
            lambda: [
                orjson.dumps(x) for x in fv.conversations_json(conn, ids500, with_threads=True)
            ],
        ),
        *extra,
    ]


def threaded(db: Database, threads: int, seconds: float) -> dict[str, float]:
    """Whole list pages (Tidings' own path, one read transaction each) from N threads."""
    import resource
    import threading

    page = Page(1, 50)
    f = ConversationFilter(state=2)

    def one() -> bytes:
        with db.read() as conn:
            ids, count = list_conversation_ids(conn, f, "createdAt", True, page)
            items = conversations_json(conn, ids, with_threads=False)
        return page_of("conversations", items, page, count).body

    for _ in range(5):
        one()
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def work(i: int) -> None:
        while time.perf_counter() < stop:
            one()
            counts[i] += 1

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    n = sum(counts)
    return {
        "pages_per_s": round(n / elapsed, 1),
        "cpu_ms_user": round(1000 * (r1.ru_utime - r0.ru_utime) / n, 3),
        "cpu_ms_sys": round(1000 * (r1.ru_stime - r0.ru_stime) / n, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--conversations", type=int, default=100_000)
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    ap.add_argument("--seconds", type=float, default=2.0, help="per step")
    ap.add_argument("--time-limit", type=int, default=900)
    args = ap.parse_args()
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    c.reexec_under_pg_if_needed("postgresql" in dbs)
    signal.alarm(args.time_limit)
    n = args.conversations
    with tempfile.TemporaryDirectory(prefix="tidings-bench-views-") as tmp:
        for db_name in dbs:
            spec = c.Spec(n)
            if db_name == "sqlite":
                url = c.sqlite_copy(c.sqlite_dataset(spec), Path(tmp), "views.sqlite")
            else:
                url = c.pg_dataset(spec, f"bench_views_{n}")
            db = Database(url)
            with db.read() as conn:
                for case, step, fn in steps(conn, n):
                    wall, cpu, calls = measure(fn, args.seconds)
                    c.emit(
                        {
                            "bench": "views",
                            "db": db_name,
                            "case": case,
                            "step": step,
                            "conversations": n,
                            "wall_ms": round(wall, 3),
                            "cpu_ms": round(cpu, 3),
                            "calls": calls,
                        }
                    )
            # The same page from 1, 2 and 8 threads: drivers release the GIL around every
            # row they step, so threads hand it back and forth (a server's thread pool).
            for threads in (1, 2, 8):
                c.emit(
                    {
                        "bench": "views",
                        "db": db_name,
                        "case": "list_page50_threads",
                        "step": f"tidings: whole page from {threads} thread(s)",
                        "conversations": n,
                        "threads": threads,
                        **threaded(db, threads, args.seconds),
                    }
                )
            db.dispose()
            if db_name == "postgresql":
                c.pg_drop(f"bench_views_{n}")


if __name__ == "__main__":
    sys.exit(main())
