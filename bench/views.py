"""In-process read path: Tidings' own functions against raw SQL reads of the same rows.

    .venv/bin/python bench/views.py [--conversations 100000] [--db sqlite|postgresql|both]

No HTTP: on the api.py data set, in one read transaction, for each case it times

  raw SQL      the same data fetched with the driver alone (the statements of api.py's
               baseline, _common.RAW_SQL, on the same connection), no JSON: the baseline;
  tidings      Tidings' whole path for it (ratio_to_raw_sql_cpu / _wall = its ms / the
               baseline's ms);
  parts        for the list page, its pieces one by one.

  list_page50        GET /api/conversations?pageSize=50 without HTTP: ids, count (Tidings
                     remembers it until the event log moves, ADR 0006; raw SQL counts every
                     time), conversations_json, page_of.
  get_conversation   one random conversation with its threads, conversations_json + orjson.
  snapshot_chunk500  500 conversations with their threads, what a bulk delete forever
                     snapshots per chunk: conversations_json + orjson each.

Then list_page50_threads: Tidings' whole list page from 1, 2 and 8 threads at once.

Prints one JSON line per step with wall and CPU milliseconds per call (CPU time of this
process, which a busy machine disturbs far less than wall time; PostgreSQL's own work is
in wall only). The same lines go to ``--out`` (default bench/results/views.jsonl),
replaced when a run ends normally.
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
import orjson
from sqlalchemy import func, select

from tidings.api.responses import page_of
from tidings.db.engine import Database
from tidings.db.schema import conversations
from tidings.desk.conversation_views import conversations_json
from tidings.desk.queries import ConversationFilter, Page, list_conversation_ids

Step = tuple[str, str, str, Callable[[], Any]]  # case, role, label, what to time


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


def raw_sql(conn: Any, n: int) -> dict[str, Callable[[], Any]]:
    """The baseline per case: the driver's own connection (sqlite3 / psycopg), no JSON."""
    driver = conn.connection.driver_connection
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    rnd = random.Random(3)
    start = n // 2
    listed = ",".join(str(i) for i in range(start, start + 500))

    def plain(statements: list[str]) -> Callable[[], Any]:
        return lambda: [driver.execute(sql).fetchall() for sql in statements]

    def one_conversation() -> Any:
        cid = rnd.randint(1, n)
        return [driver.execute(s.replace("{p}", mark), (cid,)).fetchall() for s in c.GET_SQL]

    return {
        "list_page50": plain(c.LIST_SQL),
        "get_conversation": one_conversation,
        "snapshot_chunk500": plain([s.replace("{ids}", listed) for s in c.SNAPSHOT_SQL]),
    }


def steps(conn: Any, n: int) -> list[Step]:
    rnd = random.Random(3)
    page = Page(1, 50)
    f = ConversationFilter(state=2)
    ids50, _total = list_conversation_ids(conn, f, "createdAt", True, page)
    start = n // 2
    ids500 = list(range(start, start + 500))
    ids_sql = (
        "SELECT id FROM conversations WHERE state = 2 ORDER BY created_at DESC, id DESC LIMIT 50"
    )
    count_query = select(func.count()).select_from(conversations).where(conversations.c.state == 2)

    def tidings_page() -> bytes:
        ids, count = list_conversation_ids(conn, f, "createdAt", True, page)
        return page_of(
            "conversations", conversations_json(conn, ids, with_threads=False), page, count
        ).body

    base = raw_sql(conn, n)
    return [
        ("list_page50", "raw", "raw SQL: the page's rows, people joined, and COUNT(*)",
         base["list_page50"]),
        ("list_page50", "tidings", "tidings: whole page (ids, count, conversations_json, page_of)",
         tidings_page),
        ("list_page50", "part", "tidings part: ids query",
         lambda: conn.exec_driver_sql(ids_sql).all()),
        ("list_page50", "part", "tidings part: COUNT(*), as on a count cache miss",
         lambda: conn.execute(count_query).scalar_one()),
        ("list_page50", "part", "tidings part: conversations_json(50 ids)",
         lambda: conversations_json(conn, ids50, with_threads=False)),
        ("get_conversation", "raw", "raw SQL: the conversation, people joined, its threads",
         base["get_conversation"]),
        ("get_conversation", "tidings", "tidings: conversations_json([id], threads) + orjson",
         lambda: orjson.dumps(conversations_json(conn, [rnd.randint(1, n)], with_threads=True))),
        ("snapshot_chunk500", "raw", "raw SQL: 500 conversations, people joined, their threads",
         base["snapshot_chunk500"]),
        ("snapshot_chunk500", "tidings", "tidings: conversations_json(500, threads) + orjson each",
         lambda: [orjson.dumps(x) for x in conversations_json(conn, ids500, with_threads=True)]),
    ]  # fmt: skip


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
    ap.add_argument(
        "--out",
        type=Path,
        default=c.RESULTS / "views.jsonl",
        help="also write the JSON lines here (default: %(default)s)",
    )
    args = ap.parse_args()
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    c.reexec_under_pg_if_needed("postgresql" in dbs)
    signal.alarm(args.time_limit)
    with c.results_file(args.out):
        run(args, dbs)


def run(args: argparse.Namespace, dbs: list[str]) -> None:
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
                baseline: dict[str, tuple[float, float]] = {}
                for case, role, label, fn in steps(conn, n):
                    wall, cpu, calls = measure(fn, args.seconds)
                    record: dict[str, Any] = {
                        "bench": "views",
                        "db": db_name,
                        "case": case,
                        "step": label,
                        "conversations": n,
                        "wall_ms": round(wall, 3),
                        "cpu_ms": round(cpu, 3),
                        "calls": calls,
                    }
                    if role == "raw":
                        baseline[case] = (wall, cpu)
                    elif role == "tidings":
                        raw_wall, raw_cpu = baseline[case]
                        record.update(
                            raw_sql_wall_ms=round(raw_wall, 3),
                            raw_sql_cpu_ms=round(raw_cpu, 3),
                            ratio_to_raw_sql_wall=round(wall / raw_wall, 2),
                            ratio_to_raw_sql_cpu=round(cpu / raw_cpu, 2),
                        )
                    c.emit(record)
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
