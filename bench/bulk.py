"""Bulk "delete forever" benchmark: Tidings' operation against the raw SQL floor and a naive loop.

    .venv/bin/python bench/bulk.py [--n 10000,100000] [--db sqlite|postgresql|both]

For each database and each N it builds N conversations with 3 threads each, all
in the deleted state (bulk SQL; the SQLite file is cached in bench/.cache/), and
times each way of deleting them all forever on a fresh copy of the data, in its own
subprocess (so peak memory is per case):

  raw_floor          DELETE FROM attachments/threads/followers/conversation_tag/
                     conversation_folder/conversations in chunks of 500 ids, one
                     transaction per chunk, no events: what the deletion alone costs.
  tidings_operation  the real thing: planning.parse + dry_run (confirm token), then
                     parse + queue in a transaction (as POST /api/operations does), then
                     Runner.run_once() in-process until the operation completed. The
                     runner may start one child process that reads the snapshots ahead
                     (ADR 0016); its CPU and memory are counted separately.
                     Verified: exactly N convo.deleted_forever events, each payload
                     carrying its 3 threads; no conversation or thread left.
  naive_loop         per conversation: load it and its threads, build the payload with
                     tidings.desk.conversation_views.conversation_json, insert the event,
                     delete its rows, commit. For N above --naive-full-max it runs on the
                     first --naive-sample conversations and extrapolates linearly
                     ("extrapolated_from" in the JSON).

Ratios: ratio_to_floor = seconds / raw_floor seconds; speedup_vs_naive = naive seconds
(extrapolated when sampled) / seconds; peak_anon_delta_mb = the case's peak anonymous
memory (RssAnon, sampled every 20 ms) above where it started: what the code holds;
peak_rss_delta_mb = the same for VmHWM (reset just before the case), which also counts
the database pages SQLite's memory map touched; children_peak_anon_mb = the peak RssAnon
of the case's descendants (the operation's snapshot child and multiprocessing's resource
tracker), whole, from zero.
CPU: self_cpu_s = the case's process; children_cpu_s = its descendants, sampled;
pg_cpu_s = the PostgreSQL server; other_cpu_s = everything else busy on the machine
(children included while they run).

``--pairs K`` then runs raw_floor and tidings_operation K more times, back to back on fresh
copies, and prints each pair's ratio and the median of all of them ("pairs_summary"): the
machine's speed drifts by +-25% within minutes, so one ratio proves little.

Every JSON line goes to stdout and to ``--out`` (default bench/results/bulk.jsonl),
replaced when a run ends normally.

``--db postgresql|both`` without ``TIDINGS_TEST_PG_URL`` reruns itself under scripts/pg.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c

THREADS = 3
CASES = ("raw_floor", "tidings_operation", "naive_loop")
TARGET_RATIO_TO_FLOOR = 2.0
TARGET_SPEEDUP_VS_NAIVE = 10.0
SECRET = "bench-confirm-secret"

DELETE_ORDER = (
    ("attachments", "conversation_id"),
    ("threads", "conversation_id"),
    ("followers", "conversation_id"),
    ("conversation_tag", "conversation_id"),
    ("conversation_folder", "conversation_id"),
    ("conversations", "id"),
)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --- the cases (each runs in a child process) -------------------------------------------------


def _deleted_ids(db: Any) -> list[int]:
    with db.read() as conn:
        return [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT id FROM conversations WHERE state = 3 ORDER BY id"
            )
        ]


def case_raw_floor(db: Any, args: argparse.Namespace) -> dict[str, Any]:
    ids = _deleted_ids(db)
    for part in c.chunks(ids, args.chunk):
        listed = ",".join(str(i) for i in part)
        with db.write() as conn:
            for table, column in DELETE_ORDER:
                conn.exec_driver_sql(f"DELETE FROM {table} WHERE {column} IN ({listed})")
    return {"processed": len(ids)}


def start_worker(db: Any, args: argparse.Namespace) -> Any:
    """Untimed, before the case: what ``tidings worker`` does when it starts (a Runner).
    A worker is running before anyone asks it for an operation."""
    from tidings.clock import system_clock
    from tidings.config import Settings
    from tidings.operations.runner import Runner

    settings = Settings(database_url=db.url, run_workers=False, operation_chunk_size=args.chunk)
    return Runner(db, system_clock, settings)


def case_tidings_operation(db: Any, args: argparse.Namespace, worker: Any) -> dict[str, Any]:
    """Plan and queue a delete forever of every deleted conversation, as the API does, then
    run it with ``worker`` until it finished. The runner may start one child process that
    reads the snapshots ahead (ADR 0016)."""
    from tidings.clock import system_clock
    from tidings.events.outbox import transaction
    from tidings.operations import planning, store
    from tidings.operations.model import FINISHED

    body: dict[str, Any] = {"action": "delete_forever", "filter": {"state": "deleted"}}
    t0 = time.perf_counter()
    with transaction(db, system_clock) as tx:
        req = planning.parse(tx.conn, {**body, "dryRun": True})
        plan = planning.dry_run(tx.conn, req, SECRET, tx.now, 300)
    with transaction(db, system_clock) as tx:
        req = planning.parse(tx.conn, {**body, "confirmToken": plan["confirmToken"]})
        op_id = planning.queue(tx, req, SECRET).id
    planned = time.perf_counter() - t0
    rss_after_plan = c.peak_rss_mb()
    runner = worker
    status = "queued"
    deadline = time.monotonic() + args.time_limit
    while status not in FINISHED and time.monotonic() < deadline:
        runner.run_once()
        with db.read() as conn:
            status = store.get(conn, op_id).status
    with db.read() as conn:
        op = store.get(conn, op_id)
    return {
        "processed": op.processed,
        "operation_status": op.status,
        "operation_error": op.error,
        "plan_seconds": round(planned, 3),
        "run_seconds": round(time.perf_counter() - t0 - planned, 3),
        "operation_id": op_id,
        "rss_after_plan_mb": round(rss_after_plan, 1),
    }


def case_naive_loop(db: Any, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import delete

    from tidings.clock import system_clock
    from tidings.db import schema
    from tidings.desk.announce import emit_conversation
    from tidings.desk.conversation_views import conversation_json
    from tidings.events.outbox import transaction

    tables = [(getattr(schema, t), getattr(schema, t).c[col]) for t, col in DELETE_ORDER]
    ids = _deleted_ids(db)
    if args.sample and args.sample < len(ids):
        ids = ids[: args.sample]
    for convo_id in ids:
        with transaction(db, system_clock) as tx:
            payload = conversation_json(tx.conn, convo_id)
            assert payload is not None
            emit_conversation(tx, "convo.deleted_forever", payload)
            for table, column in tables:
                tx.conn.execute(delete(table).where(column == convo_id))
    return {"processed": len(ids)}


def verify(db: Any, expected_events: int, expected_left: int) -> dict[str, Any]:
    """Untimed: count the events, check each payload has its threads, count what is left."""
    import orjson

    from tidings.events.payloads import json_of

    events = 0
    with_threads = 0
    ids: set[int] = set()
    with db.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT payload FROM events WHERE type = 'convo.deleted_forever'"
        )
        for (payload,) in rows:
            data = orjson.loads(json_of(payload))
            events += 1
            ids.add(data["id"])
            if len(data["_embedded"]["threads"]) == THREADS:
                with_threads += 1
        left = conn.exec_driver_sql("SELECT count(*) FROM conversations").scalar_one()
        left_threads = conn.exec_driver_sql("SELECT count(*) FROM threads").scalar_one()
        by_type = dict(
            conn.exec_driver_sql("SELECT type, count(*) FROM events GROUP BY type").all()
        )
    ok = (
        events == expected_events
        and len(ids) == events
        and with_threads == events
        and left == expected_left
        and (expected_left > 0 or left_threads == 0)
    )
    return {
        "events": events,
        "events_with_threads": with_threads,
        "events_by_type": by_type,
        "conversations_left": left,
        "threads_left": left_threads,
        "verified": ok,
    }


def child(args: argparse.Namespace) -> None:
    from tidings.db.engine import Database

    db = Database(args.url)
    with db.read() as conn:
        conn.exec_driver_sql("SELECT count(*) FROM conversations").scalar_one()
    c.pg_cpu_seconds()  # its import and connection happen before the memory baseline
    import gc
    from functools import partial

    run = {"raw_floor": case_raw_floor, "naive_loop": case_naive_loop}.get(args.child)
    if run is None:  # tidings_operation: the worker starts before the timing
        run = partial(case_tidings_operation, worker=start_worker(db, args))
    gc.collect()
    cpu0, all0, pg0 = _cpu(), c.busy_cpu_seconds(), c.pg_cpu_seconds()
    rss0 = c.reset_peak_rss()
    anon = c.AnonPeak()
    t0 = time.perf_counter()
    result = run(db, args)
    seconds = time.perf_counter() - t0
    anon_delta = anon.stop()
    rss1, cpu1, all1, pg1 = c.peak_rss_mb(), _cpu(), c.busy_cpu_seconds(), c.pg_cpu_seconds()
    processed = result["processed"]
    expected_events = 0 if args.child == "raw_floor" else processed
    result.update(verify(db, expected_events, args.n - processed))
    result.update(
        seconds=round(seconds, 3),
        rss_before_mb=round(rss0, 1),
        peak_rss_delta_mb=round(rss1 - rss0, 1),
        peak_anon_delta_mb=round(anon_delta, 1),
        children_peak_anon_mb=round(anon.children_peak_mb, 1),
        self_cpu_s=round(cpu1 - cpu0, 2),
        children_cpu_s=round(anon.children_cpu_s, 2),
        pg_cpu_s=round(pg1 - pg0, 2),
        other_cpu_s=round((all1 - all0) - (cpu1 - cpu0) - (pg1 - pg0), 2),
    )
    db.dispose()
    print(json.dumps(result, default=str), flush=True)


# --- the parent: data sets, fresh copies, one child per case --------------------------------------


def fresh_copy(db: str, source: Any, workdir: Path, case: str) -> str:
    if db == "sqlite":
        return c.sqlite_copy(source, workdir, f"bulk_{case}.sqlite")
    url = c.pg_create(f"bench_bulk_{case}", template=source)
    # PostgreSQL 15 copies a database through its WAL (STRATEGY WAL_LOG). Without a
    # checkpoint here, one that this WAL calls for may run during the case that follows,
    # on that case's clock.
    c.pg_admin_exec("CHECKPOINT")
    return url


def drop_copy(db: str, url: str, case: str) -> None:
    if db == "sqlite":
        path = url.removeprefix("sqlite:///")
        for p in (path, f"{path}-wal", f"{path}-shm"):
            Path(p).unlink(missing_ok=True)
    else:
        c.pg_drop(f"bench_bulk_{case}")


def run_child(args: argparse.Namespace, case: str, url: str, n: int, sample: int | None) -> Any:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        case,
        "--url",
        url,
        "--n",
        str(n),
        "--chunk",
        str(args.chunk),
        "--time-limit",
        str(args.case_time_limit),
    ]
    if sample:
        cmd += ["--sample", str(sample)]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        db = "sqlite" if url.startswith("sqlite") else "postgresql"
        out_file = args.profile / f"bulk_{db}_{n}_{case}.txt"
        cmd = [
            str(c.ROOT / ".venv/bin/py-spy"),
            "record",
            "--rate",
            "100",
            "--format",
            "raw",
            "--nonblocking",
            "--idle",
            "--subprocesses",
            "--output",
            str(out_file),
            "--",
            *cmd,
        ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=args.case_time_limit + 120, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"{case} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    noise = [x for x in out.stderr.splitlines() if x.strip() and not x.startswith("py-spy>")]
    if noise:
        sys.stderr.write("\n".join(noise) + "\n")
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", default="10000,100000", help="comma-separated conversation counts")
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--case", action="append", choices=CASES, help="only these cases")
    ap.add_argument("--chunk", type=int, default=500, help="conversations per transaction")
    ap.add_argument(
        "--naive-full-max",
        type=int,
        default=10_000,
        help="run the naive loop in full up to this N; sample above it",
    )
    ap.add_argument("--naive-sample", type=int, default=5_000)
    ap.add_argument(
        "--pairs",
        type=int,
        default=0,
        help="then run raw_floor and tidings_operation this many more times, interleaved,"
        " and report each pair's ratio and the median (the machine's speed drifts)",
    )
    ap.add_argument("--profile", type=Path, help="py-spy every case into this directory")
    ap.add_argument("--case-time-limit", type=int, default=1800)
    ap.add_argument("--time-limit", type=int, default=7200, help="abort the whole run after this")
    ap.add_argument(
        "--out",
        type=Path,
        default=c.RESULTS / "bulk.jsonl",
        help="also write the JSON lines here (default: %(default)s)",
    )
    # child mode
    ap.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--sample", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.n = int(args.n)
        signal.alarm(args.time_limit)
        child(args)
        return

    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    c.reexec_under_pg_if_needed("postgresql" in dbs)
    signal.alarm(args.time_limit)
    with c.results_file(args.out):
        run(args, dbs)


def run(args: argparse.Namespace, dbs: list[str]) -> None:
    ns = sorted(int(x) for x in args.n.split(","))
    cases = [k for k in CASES if not args.case or k in args.case]
    with tempfile.TemporaryDirectory(prefix="tidings-bench-bulk-") as tmp:
        workdir = Path(tmp)
        for db in dbs:
            memory_by_n: dict[int, float] = {}
            for n in ns:
                spec = c.Spec(n, threads_min=THREADS, threads_max=THREADS, state="deleted")
                if db == "sqlite":
                    source: Any = c.sqlite_dataset(spec)
                else:
                    source = f"bench_bulk_tmpl_{n}"
                    c.pg_dataset(spec, source)
                results: dict[str, Any] = {}
                for case in cases:
                    sample = (
                        args.naive_sample
                        if case == "naive_loop" and n > args.naive_full_max
                        else None
                    )
                    url = fresh_copy(db, source, workdir, case)
                    c.note(f"{db} N={n}: {case}" + (f" (sample {sample})" if sample else ""))
                    try:
                        results[case] = run_child(args, case, url, n, sample)
                    finally:
                        drop_copy(db, url, case)
                report(db, n, results, memory_by_n)
                if args.pairs:
                    run_pairs(args, db, source, workdir, n, results)
                if db == "postgresql":
                    c.pg_drop(source)


def run_pairs(
    args: argparse.Namespace, db: str, source: Any, workdir: Path, n: int, first: dict[str, Any]
) -> None:
    """``--pairs``: the floor and the operation back to back, each on a fresh copy, so a
    ratio compares two runs made at nearly the same speed of the machine."""
    ratios = []
    if "raw_floor" in first and "tidings_operation" in first:
        ratios.append(first["tidings_operation"]["seconds"] / first["raw_floor"]["seconds"])
    for pair in range(1, args.pairs + 1):
        seconds: dict[str, float] = {}
        for case in ("raw_floor", "tidings_operation"):
            url = fresh_copy(db, source, workdir, case)
            c.note(f"{db} N={n}: pair {pair}: {case}")
            try:
                seconds[case] = run_child(args, case, url, n, None)["seconds"]
            finally:
                drop_copy(db, url, case)
        ratio = seconds["tidings_operation"] / seconds["raw_floor"]
        ratios.append(ratio)
        record: dict[str, Any] = {
            "bench": "bulk",
            "db": db,
            "case": "pair",
            "conversations": n,
            "pair": pair,
            "raw_floor_seconds": seconds["raw_floor"],
            "tidings_seconds": seconds["tidings_operation"],
            "ratio_to_floor": round(ratio, 2),
        }
        c.emit(record)
    median = statistics.median(ratios)
    summary: dict[str, Any] = {
        "bench": "bulk",
        "db": db,
        "case": "pairs_summary",
        "conversations": n,
        "ratios_to_floor": [round(r, 2) for r in ratios],
        "median_ratio_to_floor": round(median, 2),
        "target_ratio_to_floor_max": 2.0,
        "median_meets_ratio_target": median <= 2.0,
    }
    c.emit(summary)


def report(db: str, n: int, results: dict[str, Any], memory_by_n: dict[int, float]) -> None:
    floor = results.get("raw_floor", {}).get("seconds")
    naive = results.get("naive_loop")
    naive_seconds = None
    if naive:
        naive_seconds = naive["seconds"] * n / naive["processed"]
    for case, r in results.items():
        seconds = r["seconds"]
        extrapolated = case == "naive_loop" and r["processed"] < n
        if extrapolated:
            seconds = round(seconds * n / r["processed"], 3)
        record: dict[str, Any] = {
            "bench": "bulk",
            "db": db,
            "case": case,
            "conversations": n,
            "threads_per_conversation": THREADS,
            "seconds": seconds,
            "conversations_per_s": round(n / seconds, 1) if seconds else None,
            "events": r["events"],
            "ratio_to_floor": round(seconds / floor, 2) if floor else None,
            "speedup_vs_naive": round(naive_seconds / seconds, 2) if naive_seconds else None,
            "peak_anon_delta_mb": r["peak_anon_delta_mb"],
            "children_peak_anon_mb": r["children_peak_anon_mb"],
            "peak_rss_delta_mb": r["peak_rss_delta_mb"],
            "rss_before_mb": r["rss_before_mb"],
            "self_cpu_s": r["self_cpu_s"],
            "children_cpu_s": r["children_cpu_s"],
            "pg_cpu_s": r["pg_cpu_s"],
            "other_cpu_s": r["other_cpu_s"],
            "verified": r["verified"],
        }
        if extrapolated:
            record["extrapolated_from"] = r["processed"]
            record["measured_seconds"] = r["seconds"]
        if case == "tidings_operation":
            record.update(
                plan_seconds=r["plan_seconds"],
                run_seconds=r["run_seconds"],
                plan_peak_rss_delta_mb=round(r["rss_after_plan_mb"] - r["rss_before_mb"], 1),
                operation_status=r["operation_status"],
                events_by_type=r["events_by_type"],
            )
            if r.get("operation_error"):
                record["operation_error"] = r["operation_error"]
            memory_by_n[n] = r["peak_anon_delta_mb"]
            smallest = min(memory_by_n)
            if smallest != n:
                record[f"peak_anon_delta_mb_at_n{smallest}"] = memory_by_n[smallest]
            record["target_ratio_to_floor_max"] = TARGET_RATIO_TO_FLOOR
            record["target_speedup_vs_naive_min"] = TARGET_SPEEDUP_VS_NAIVE
            record["meets_ratio_target"] = bool(floor) and seconds / floor <= TARGET_RATIO_TO_FLOOR
            record["meets_speedup_target"] = (
                bool(naive_seconds) and naive_seconds / seconds >= TARGET_SPEEDUP_VS_NAIVE
            )
        c.emit(record)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
