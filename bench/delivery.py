"""Webhook delivery benchmark: Tidings' dispatcher against a bare aiohttp loop.

    .venv/bin/python bench/delivery.py [--db sqlite|postgresql|both] [--events 5000]

One receiver process (aiohttp on uvloop, answers 200 at once, records when each request
arrived) serves every case, at the same concurrency (``--concurrency``, each webhook's
``maxConcurrency``):

  bare_loop   no database: an aiohttp client POSTs the same bodies to the receiver,
              ``--concurrency`` at a time. The ceiling a Python dispatcher can approach.
  throughput  Tidings end to end: ``--events`` customers created in one transaction (one
              ``customer.created`` each) while the dispatcher waits; deliveries/s from that
              commit to the last receipt, and the ratio to ``bare_loop``. On PostgreSQL the
              dispatchers are ``tidings worker`` processes (1 and 2); on SQLite it runs in
              the writer's process, as in ``tidings serve`` (SQLite's one deployment: one
              process owns the file).
  latency     the same workers; a writer commits one event every 1/``--rate`` s for
              ``--seconds``; commit-to-receipt p50/p99 (the writer's commit time against the
              receiver's clock, one machine).
  isolation   the latency case's 200 deliveries/s spread over ten webhooks (20 events/s,
              each to all ten), all healthy; then again with one of the ten answering 500
              to everything: the healthy webhooks' p99 in the second run against the first
              (the same load but for the failing endpoint and its retries).

Targets (issue 15): throughput >= 0.7x the bare loop; p50 <= 10 ms and p99 <= 50 ms at 200
events/s; healthy p99 within 20% under isolation. Results also go to ``--out`` (default
bench/results/delivery.jsonl).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import _common as c

TIDINGS = str(Path(sys.executable).with_name("tidings"))
EMAIL = re.compile(rb"(e\d+)@bench\.example")

# --- the receiver (its own process) --------------------------------------------------------


def serve_receiver(port: int) -> None:
    """Answer 200 at once; keep (path, arrival time, the event's email tag)."""
    import uvloop
    from aiohttp import web

    seen: list[tuple[str, float, str]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        found = EMAIL.search(body)
        seen.append((request.path, time.time(), found.group(1).decode() if found else ""))
        return web.Response(status=500 if request.path.startswith("/fail") else 200)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(seen)

    async def count(request: web.Request) -> web.Response:
        prefix = request.query.get("prefix", "")
        return web.json_response(sum(1 for s in seen if s[0].startswith(prefix)))

    async def reset(request: web.Request) -> web.Response:
        seen.clear()
        return web.json_response([])

    app = web.Application()
    app.router.add_get("/stats", stats)
    app.router.add_get("/count", count)
    app.router.add_get("/reset", reset)
    app.router.add_post("/{tail:.*}", hook)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class Receiver:
    def __init__(self) -> None:
        self.port = c.free_port()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--receiver", str(self.port)], stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("the receiver did not start")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stats(self) -> list[tuple[str, float, str]]:
        with urllib.request.urlopen(self.url("/stats"), timeout=30) as r:
            return [tuple(x) for x in json.load(r)]  # type: ignore[misc]

    def reset(self) -> None:
        urllib.request.urlopen(self.url("/reset"), timeout=30).close()

    def wait(self, count: int, timeout: float, prefix: str = "/ok") -> list[Any]:
        """Every request to ``prefix``, once ``count`` have arrived. It polls a count: the
        whole list, decoded every poll, would cost the dispatcher CPU when it runs in this
        process."""
        deadline = time.monotonic() + timeout
        arrived = 0
        while time.monotonic() < deadline:
            with urllib.request.urlopen(self.url(f"/count?prefix={prefix}"), timeout=30) as r:
                arrived = json.load(r)
            if arrived >= count:
                return [s for s in self.stats() if s[0].startswith(prefix)]
            time.sleep(0.05)
        raise SystemExit(f"only {arrived} of {count} deliveries arrived in {timeout} s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# --- the cases -----------------------------------------------------------------------------


def case_bare_loop(receiver: Receiver, args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    body = json.dumps({"id": 1, "email": "e0@bench.example", "pad": "x" * 900}).encode()

    async def run() -> float:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            queue = list(range(args.events))

            async def one_lane() -> None:
                while queue:
                    queue.pop()
                    async with session.post(receiver.url("/ok/bare"), data=body) as r:
                        await r.read()

            t0 = time.perf_counter()
            async with asyncio.TaskGroup() as tasks:
                for _ in range(args.concurrency):
                    tasks.create_task(one_lane())
            return time.perf_counter() - t0

    receiver.reset()
    seconds = asyncio.run(run())
    receiver.wait(args.events, 30)
    return {"deliveries": args.events, "seconds": round(seconds, 3),
            "deliveries_per_s": round(args.events / seconds, 1)}  # fmt: skip


def _database(db: str, args: argparse.Namespace) -> str:
    sys.path.insert(0, str(c.ROOT / "src"))
    from tidings.db.engine import Database
    from tidings.db.migrate import upgrade

    if db == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='tidings-delivery-')}/bench.db"
    else:
        url = c.pg_create("bench_delivery")
    database = Database(url)
    upgrade(database)
    database.dispose()
    return url


def _subscribe(url: str, receiver: Receiver, paths: list[str], concurrency: int) -> None:
    from tidings.db.engine import Database
    from tidings.events.outbox import transaction
    from tidings.webhooks import subscriptions
    from tidings.webhooks.targets import parse_networks

    database = Database(url)
    with transaction(database) as tx:
        for path in paths:
            body = {"url": receiver.url(path), "events": ["customer.created"],
                    "maxConcurrency": concurrency}  # fmt: skip
            subscriptions.create_webhook(tx, body, parse_networks("127.0.0.0/8"))
    database.dispose()


def _create(database: Any, tags: list[str]) -> float:
    """Customers tagged ``tags``, in one transaction; the commit's time."""
    from tidings.desk import customers
    from tidings.events.outbox import transaction

    with transaction(database) as tx:
        for tag in tags:
            customers.create_customer(tx, {"firstName": "B", "email": f"{tag}@bench.example"})
    return time.time()


@contextmanager
def workers(url: str, count: int) -> Iterator[None]:
    if url.startswith("sqlite"):
        with in_process_dispatcher(url):
            yield
        return
    env = {**os.environ, "TIDINGS_DATABASE_URL": url,
           "TIDINGS_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}  # fmt: skip
    procs = [
        subprocess.Popen([TIDINGS, "worker"], env=env, stdout=subprocess.DEVNULL)
        for _ in range(count)
    ]
    time.sleep(3)  # started, idle
    try:
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def in_process_dispatcher(url: str) -> Iterator[None]:
    """The dispatcher as ``tidings serve`` runs it, in this (the writer's) process."""
    from tidings.app import build_context, dispatcher_thread
    from tidings.config import Settings

    ctx = build_context(Settings(database_url=url, webhook_allowed_networks="127.0.0.0/8"))
    thread = dispatcher_thread(ctx)
    assert thread is not None
    thread.start()
    time.sleep(1)
    try:
        yield
    finally:
        thread.stop()
        ctx.db.dispose()


def case_throughput(
    db: str, n_workers: int, receiver: Receiver, args: argparse.Namespace
) -> dict[str, Any]:
    from tidings.db.engine import Database

    url = _database(db, args)
    _subscribe(url, receiver, ["/ok/t"], args.concurrency)
    receiver.reset()
    database = Database(url)
    with workers(url, n_workers):
        committed = _create(database, [f"e{n}" for n in range(args.events)])
        seen = receiver.wait(args.events, args.time_limit)
    database.dispose()
    last = max(s[1] for s in seen)
    seconds = last - committed
    return {"deliveries": args.events, "seconds": round(seconds, 3),
            "deliveries_per_s": round(args.events / seconds, 1)}  # fmt: skip


def case_latency(db: str, n_workers: int, receiver: Receiver, args: argparse.Namespace,
                 webhooks: int = 1, failing: int = 0) -> dict[str, Any]:  # fmt: skip
    from tidings.db.engine import Database

    url = _database(db, args)
    paths = ["/ok/l"] + [f"/ok/h{n}" for n in range(webhooks - 1 - failing)]
    paths += [f"/fail/{n}" for n in range(failing)]
    _subscribe(url, receiver, paths, args.concurrency)
    receiver.reset()
    database = Database(url)
    commits: dict[str, float] = {}
    rate = args.rate / len(paths)  # the same deliveries/s, whatever the number of webhooks
    total = int(rate * args.seconds)
    with workers(url, n_workers):
        start = time.perf_counter()
        for n in range(total):
            due = start + n / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            commits[f"e{n}"] = _create(database, [f"e{n}"])
        healthy = len([p for p in paths if p.startswith("/ok")])
        seen = receiver.wait(total * healthy, 60)
    database.dispose()
    delays = sorted((t - commits[tag]) * 1000 for path, t, tag in seen if tag in commits)
    return {"events": total, "rate_per_s": rate, "webhooks": len(paths),
            "failing_webhooks": failing, "deliveries": len(delays),
            "p50_ms": round(c.percentile(delays, 50), 2),
            "p99_ms": round(c.percentile(delays, 99), 2)}  # fmt: skip


CASES = ("throughput", "latency", "isolation")


def run_cases(
    db: str, n_workers: int, receiver: Receiver, args: argparse.Namespace, bare: float
) -> None:
    common = {"bench": "delivery", "db": db, "workers": n_workers}
    cases = args.case or CASES
    if "throughput" in cases:
        throughput(db, n_workers, receiver, args, bare, common)
    if "latency" in cases or "isolation" in cases:
        latency(db, n_workers, receiver, args, common, "isolation" in cases)


def throughput(
    db: str, n_workers: int, receiver: Receiver, args: argparse.Namespace, bare: float,
    common: dict[str, Any],
) -> None:  # fmt: skip
    c.note(f"{db}: throughput, {n_workers} worker(s)")
    got = case_throughput(db, n_workers, receiver, args)
    ratio = round(got["deliveries_per_s"] / bare, 3)
    c.emit({**common, "case": "throughput", "concurrency": args.concurrency, **got,
            "ratio_to_bare_loop": ratio, "target_ratio_min": 0.7})  # fmt: skip


def latency(
    db: str, n_workers: int, receiver: Receiver, args: argparse.Namespace,
    common: dict[str, Any], isolation: bool,
) -> None:  # fmt: skip
    c.note(f"{db}: latency, {n_workers} worker(s)")
    measured = case_latency(db, n_workers, receiver, args)
    c.emit({**common, "case": "latency", **measured, "target_p50_ms": 10, "target_p99_ms": 50})
    if not isolation:
        return
    c.note(f"{db}: isolation, {n_workers} worker(s)")
    healthy = case_latency(db, n_workers, receiver, args, webhooks=10)
    c.emit({**common, "case": "isolation_all_healthy", **healthy})
    isolated = case_latency(db, n_workers, receiver, args, webhooks=10, failing=1)
    change = round(isolated["p99_ms"] / healthy["p99_ms"], 3) if healthy["p99_ms"] else None
    c.emit({**common, "case": "isolation", **isolated, "p99_vs_all_healthy": change,
            "target_p99_change_max": 1.2})  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--case", action="append", choices=CASES, help="only these (repeatable)")
    ap.add_argument("--out", type=Path, default=c.BENCH / "results" / "delivery.jsonl")
    ap.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.receiver:
        serve_receiver(args.receiver)
        return
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    c.reexec_under_pg_if_needed("postgresql" in dbs)
    receiver = Receiver()
    try:
        with c.results_file(args.out):
            c.note("bare_loop")
            bare = case_bare_loop(receiver, args)
            c.emit(
                {"bench": "delivery", "case": "bare_loop", "concurrency": args.concurrency, **bare}
            )
            for db in dbs:
                for n_workers in (1, 2) if db == "postgresql" else (1,):
                    run_cases(db, n_workers, receiver, args, bare["deliveries_per_s"])
    finally:
        receiver.stop()


if __name__ == "__main__":
    main()
