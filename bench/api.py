"""API benchmark: one real ``tidings serve`` process, reads under writes, and creates.

    .venv/bin/python bench/api.py [--conversations 10000,1000000] [--db sqlite|postgresql|both]
                                  [--writes-per-second 20]

Per database and size it builds (or, for SQLite, reuses from bench/.cache/) the data set, then:

1. the baseline: the same work done with raw SQL in this process (plain sqlite3 /
   psycopg, one connection, one thread, no JSON), sequentially for a few seconds;
2. one ``tidings serve`` process (API + worker, as shipped), loaded with a bare
   aiohttp client at a fixed concurrency: warm-up, then a timed window. With
   ``--writes-per-second R`` a second client writes meanwhile at R changes a second
   (replies, status changes and new conversations in turn), as a desk's agents do;
3. the ``create`` case last: new conversations with 3 threads each, as fast as the
   server takes them (it adds conversations, so it runs after the reads).

With two or more sizes, a ``list_at_scale`` line compares the list page's requests/s at
the largest size with the smallest (target: within 15%).

Prints one JSON line per case: requests/s, p50/p99 latency, the baseline's
requests/s and the ratio. Each case is measured ``--repeat`` times (default 3); the line
is the median window, and lists every window's requests/s and p99. The same lines go to
``--out`` (default bench/results/api.jsonl), replaced when a run ends normally.
``--db postgresql|both`` without ``TIDINGS_TEST_PG_URL`` reruns itself under
``scripts/pg`` (a throwaway PostgreSQL 15).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as c

API_KEY = "bench-api-key-0123456789"
TARGET_P99_MS = {"sqlite": 50.0, "postgresql": 80.0}
TARGET_LIST_RPS = 500.0
TARGET_AT_SCALE = 0.85  # list requests/s at the largest size / at the smallest
TARGET_CREATES = {"sqlite": 1000.0, "postgresql": 500.0}

# --- the raw SQL baseline (the statements are _common.RAW_SQL) ----------------------------


def raw_connect(db: str, url: str) -> tuple[Any, str]:
    if db == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        return conn, "?"
    import psycopg

    return psycopg.connect(url, autocommit=True), "%s"


def baseline(db: str, url: str, case: str, n: int, seconds: float) -> dict[str, float]:
    conn, mark = raw_connect(db, url)
    rnd = random.Random(1)
    statements = [s.replace("{p}", mark) for s in c.RAW_SQL.get(case, [])]

    def once() -> None:
        if case == "create":
            insert_conversation()
        elif case != "get_conversation":
            for sql in statements:
                conn.execute(sql).fetchall()
        else:
            cid = rnd.randint(1, n)
            for sql in statements:
                conn.execute(sql, (cid,)).fetchall()

    if case == "create":
        insert_conversation = raw_insert(conn, db, mark)
    for _ in range(50):
        once()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    own0, all0, pg0 = _own_cpu(), c.busy_cpu_seconds(), c.pg_cpu_seconds()
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        once()
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - started
    # Without a server running, CPU used by anything but this process is noise.
    pg = c.pg_cpu_seconds() - pg0
    other = c.busy_cpu_seconds() - all0 - (_own_cpu() - own0) - pg
    conn.close()
    latencies.sort()
    return {
        "baseline_rps": round(len(latencies) / elapsed, 1),
        "baseline_p50_ms": round(c.percentile(latencies, 50) * 1000, 3),
        "baseline_p99_ms": round(c.percentile(latencies, 99) * 1000, 3),
        "baseline_other_cpu_pct": round(100 * other / elapsed, 1),
        "baseline_pg_cpu_pct": round(100 * pg / elapsed, 1),
    }


def raw_insert(conn: Any, db: str, mark: str) -> Callable[[], None]:
    """The create baseline: one transaction inserting a copy of conversation 1's row and
    three of its threads' rows, as plain INSERTs (no customer, no event, no JSON)."""
    from tidings.db.schema import conversations, threads

    def template(table: Any, where: str) -> tuple[list[str], list[Any]]:
        cols = [col.name for col in table.columns if col.name != "id"]
        names = ", ".join(f'"{col}"' for col in cols)
        row = conn.execute(f'SELECT {names} FROM "{table.name}" WHERE {where} LIMIT 1').fetchone()
        if db == "postgresql":  # JSON columns come back as Python values
            from psycopg.types.json import Json

            return cols, [Json(v) if isinstance(v, dict | list) else v for v in row]
        return cols, list(row)

    c_cols, c_row = template(conversations, "id = 1")
    t_cols, t_row = template(threads, "conversation_id = 1")
    at = t_cols.index("conversation_id")

    def insert(table: str, cols: list[str]) -> str:
        names = ", ".join(f'"{x}"' for x in cols)
        return f"INSERT INTO {table} ({names}) VALUES ({', '.join(mark for _ in cols)})"

    insert_c = insert("conversations", c_cols) + " RETURNING id"
    insert_t = insert("threads", t_cols)
    if db == "postgresql":
        conn.autocommit = False

    def once() -> None:
        if db == "sqlite":
            conn.execute("BEGIN IMMEDIATE")
        cid = conn.execute(insert_c, c_row).fetchone()[0]
        row = list(t_row)
        row[at] = cid
        for _ in range(3):
            conn.execute(insert_t, row)
        conn.commit() if db == "postgresql" else conn.execute("COMMIT")

    return once


# --- the server ----------------------------------------------------------------------------


class Server:
    def __init__(self, url: str, workdir: Path) -> None:
        self.port = c.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"server-{self.port}.log"
        env = {
            **os.environ,
            "TIDINGS_DATABASE_URL": url,
            "TIDINGS_API_KEY": API_KEY,
            "TIDINGS_HOST": "127.0.0.1",
        }
        cmd = [
            str(c.ROOT / ".venv/bin/tidings"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                req = urllib.request.Request(
                    f"{self.base}/api/mailboxes", headers={"X-FreeScout-API-Key": API_KEY}
                )
                with urllib.request.urlopen(req, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """The server's peak resident memory so far (VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# --- the load generator ----------------------------------------------------------------------

# A request: a path to GET, or (method, path, JSON body).
Call = str | tuple[str, str, Any]


def _request(session: Any, call: Call) -> Any:
    if isinstance(call, str):
        return session.get(call)
    method, path, body = call
    return session.request(method, path, json=body)


async def load(
    server: Server,
    make_call: Callable[[random.Random], Call],
    check: Callable[[int, bytes], bool],
    concurrency: int,
    warmup: float,
    duration: float,
    profile: Path | None,
    writes_per_second: float,
    n: int,
    console_tail: bool = False,
) -> dict[str, Any]:
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=30)
    headers = {"X-FreeScout-API-Key": API_KEY}
    state = {
        "recording": False, "stop": False, "errors": 0, "bytes": 0, "write_errors": 0,
        "tail_messages": 0,
    }  # fmt: skip
    latencies: list[float] = []
    write_latencies: list[float] = []
    async with (
        aiohttp.ClientSession(
            server.base,
            connector=aiohttp.TCPConnector(limit=concurrency),
            timeout=timeout,
            headers=headers,
        ) as session,
        aiohttp.ClientSession(server.base, timeout=timeout, headers=headers) as writes,
    ):

        async def worker(seed: int) -> None:
            rnd = random.Random(seed)
            while not state["stop"]:
                call = make_call(rnd)
                t = time.perf_counter()
                async with _request(session, call) as resp:
                    body = await resp.read()
                    ok = check(resp.status, body)
                elapsed = time.perf_counter() - t
                if state["recording"] and not state["stop"]:
                    latencies.append(elapsed)
                    state["bytes"] += len(body)
                    if not ok:
                        state["errors"] += 1

        async def writer() -> None:
            """The desk's agents: a change every 1/R s, on its own connection."""
            if writes_per_second <= 0:
                return
            rnd = random.Random(4242)
            interval = 1 / writes_per_second
            due = time.perf_counter()
            for i in itertools.count():
                if state["stop"]:
                    return
                t = time.perf_counter()
                async with _request(writes, background_write(i, rnd, n)) as resp:
                    await resp.read()
                    ok = resp.status in (200, 201, 204)
                if state["recording"]:
                    write_latencies.append(time.perf_counter() - t)
                    state["write_errors"] += 0 if ok else 1
                due += interval
                await asyncio.sleep(max(0.0, due - time.perf_counter()))

        async def tail() -> None:
            """An operator's console page open on the live tail, meanwhile."""
            if not console_tail:
                return
            jar = aiohttp.CookieJar(unsafe=True)  # keep cookies from 127.0.0.1
            async with aiohttp.ClientSession(
                server.base, timeout=timeout, cookie_jar=jar
            ) as browser:
                await sign_in(browser, server.base)
                async with browser.get("/console/events/stream?after=0") as resp:
                    assert resp.status == 200, resp.status
                    while not state["stop"]:
                        try:
                            line = await asyncio.wait_for(resp.content.readline(), 0.5)
                        except TimeoutError:
                            continue
                        if line.startswith(b"event:") and state["recording"]:
                            state["tail_messages"] += 1

        async def clock() -> dict[str, float]:
            await asyncio.sleep(warmup)
            cpu0, own0, all0 = server.cpu_seconds(), _own_cpu(), c.busy_cpu_seconds()
            pg0 = c.pg_cpu_seconds()
            spy = _start_profile(server, profile, duration)
            state["recording"] = True
            t0 = time.perf_counter()
            await asyncio.sleep(duration)
            state["stop"] = True
            elapsed = time.perf_counter() - t0
            measured = {
                "elapsed": elapsed,
                "server_cpu": server.cpu_seconds() - cpu0,
                "client_cpu": _own_cpu() - own0,
                "all_cpu": c.busy_cpu_seconds() - all0,
                "pg_cpu": c.pg_cpu_seconds() - pg0,
            }
            if spy is not None:
                spy.wait(timeout=duration + 30)
            return measured

        results = await asyncio.gather(
            clock(), writer(), tail(), *(worker(i) for i in range(concurrency))
        )
    window = results[0]
    latencies.sort()
    write_latencies.sort()
    n_done = len(latencies)
    measured: dict[str, Any] = {
        "requests": n_done,
        "errors": state["errors"],
        "rps": round(n_done / window["elapsed"], 1),
        "p50_ms": round(c.percentile(latencies, 50) * 1000, 2),
        "p90_ms": round(c.percentile(latencies, 90) * 1000, 2),
        "p99_ms": round(c.percentile(latencies, 99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
        "avg_response_bytes": round(state["bytes"] / n_done) if n_done else 0,
        "server_cpu_pct": round(100 * window["server_cpu"] / window["elapsed"], 1),
        # Robust to a busy machine: the server's CPU time per request (1000 / this is
        # the most a core could serve).
        "server_cpu_ms_per_req": round(1000 * window["server_cpu"] / n_done, 3) if n_done else None,
        "client_cpu_pct": round(100 * window["client_cpu"] / window["elapsed"], 1),
        "pg_cpu_pct": round(100 * window["pg_cpu"] / window["elapsed"], 1),
        # CPU used by everything else on the machine meanwhile (noise; 2 cores = 200%).
        "other_cpu_pct": round(
            100
            * (window["all_cpu"] - window["server_cpu"] - window["client_cpu"] - window["pg_cpu"])
            / window["elapsed"],
            1,
        ),
    }
    if console_tail:
        measured["console_tail_messages"] = state["tail_messages"]
    if writes_per_second > 0:
        measured["background_writes_per_s"] = round(len(write_latencies) / window["elapsed"], 1)
        measured["background_write_p99_ms"] = round(c.percentile(write_latencies, 99) * 1000, 2)
        measured["background_write_errors"] = state["write_errors"]
    return measured


async def sign_in(browser: Any, base: str) -> None:
    """Sign in to the console as a person does: the form, its token, the key."""
    async with browser.get("/console/sign-in") as resp:
        page = await resp.text()
    token = re.search(r'name="token" value="([^"]+)"', page)
    assert token, "no sign-in token on the console's sign-in page"
    form = {"token": token.group(1), "next": "/console/events", "key": API_KEY}
    async with browser.post("/console/sign-in", data=form, headers={"Origin": base}) as resp:
        if resp.status != 200 or "/console/events" not in str(resp.url):
            raise RuntimeError(f"console sign-in failed: {resp.status} at {resp.url}")


def background_write(i: int, rnd: random.Random, n: int) -> Call:
    """The i-th change of the background writer: a reply, a status change, a new
    conversation, in turn, on conversations picked at random."""
    kind = i % 3
    if kind == 0:
        text = "Thanks, we are looking into it."
        body = {"type": "message", "text": text, "user": 1}
        return "POST", f"/api/conversations/{rnd.randint(1, n)}/threads", body
    if kind == 1:
        status = rnd.choice(("active", "pending", "closed"))
        return "PUT", f"/api/conversations/{rnd.randint(1, n)}", {"status": status, "byUser": 1}
    return new_conversation(rnd)


def new_conversation(rnd: random.Random) -> Call:
    """``POST /api/conversations``: a customer's message, an agent's reply and a note."""
    who = rnd.randrange(1_000_000_000)
    return (
        "POST",
        "/api/conversations",
        {
            "type": "email",
            "mailboxId": rnd.randint(1, c.N_MAILBOXES),
            "subject": rnd.choice(c.SUBJECTS),
            "customer": {"email": f"bench{who}@example.com", "firstName": "Bench"},
            "threads": [
                {"type": "customer", "text": "My order has not arrived yet."},
                {"type": "message", "text": "It left our warehouse this morning.", "user": 1},
                {"type": "note", "text": "Carrier confirmed the pickup.", "user": 1},
            ],
        },
    )


def median_window(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """The window with the median requests/s, plus every window's requests/s and p99.

    The machine is shared: the same server measured minutes apart varies by +-25%, so one
    window says little. Targets are judged on the median window's requests/s and on the
    worst window's p99.
    """
    ordered = sorted(windows, key=lambda w: w["rps"])
    middle = dict(ordered[len(ordered) // 2])
    middle["windows_rps"] = [w["rps"] for w in windows]
    middle["windows_p99_ms"] = [w["p99_ms"] for w in windows]
    middle["windows_server_cpu_ms_per_req"] = [w["server_cpu_ms_per_req"] for w in windows]
    middle["p99_ms_worst_window"] = max(w["p99_ms"] for w in windows)
    middle["errors_all_windows"] = sum(w["errors"] for w in windows)
    return middle


def _own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _start_profile(server: Server, profile: Path | None, duration: float) -> Any:
    if profile is None:
        return None
    profile.mkdir(parents=True, exist_ok=True)
    out = profile / f"{_start_profile.label}.txt"  # type: ignore[attr-defined]
    return subprocess.Popen(
        [
            str(c.ROOT / ".venv/bin/py-spy"),
            "record",
            "--pid",
            str(server.proc.pid),
            "--duration",
            str(int(duration)),
            "--rate",
            "200",
            "--format",
            "raw",
            "--threads",
            "--nonblocking",
            "--gil",  # only the thread holding the GIL: where Python spends CPU
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


_start_profile.label = "profile"  # type: ignore[attr-defined]


def run_load(*args: Any) -> dict[str, Any]:
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(load(*args))
    except ImportError:
        return asyncio.run(load(*args))


# --- cases ------------------------------------------------------------------------------------

Case = tuple[Callable[[random.Random], Call], Callable[[int, bytes], bool]]


def cases(n: int) -> dict[str, Case]:
    def list_ok(status: int, body: bytes) -> bool:
        return status == 200 and body.startswith(b'{"_embedded":{"conversations":[{')

    def get_ok(status: int, body: bytes) -> bool:
        return status == 200 and b'"threads":[{' in body

    # Cheap checks during the load; ``sanity`` checks the content once beforehand.
    return {
        "list_page50": (lambda rnd: "/api/conversations?pageSize=50", list_ok),
        # The list an agent keeps open: one mailbox's active conversations.
        "list_mailbox_active": (
            lambda rnd: "/api/conversations?mailboxId=1&status=active&pageSize=50",
            list_ok,
        ),
        "get_conversation": (lambda rnd: f"/api/conversations/{rnd.randint(1, n)}", get_ok),
        # Not a target: the same server on a trivial endpoint, to show its fixed cost.
        "mailboxes": (lambda rnd: "/api/mailboxes", lambda s, b: s == 200),
        # Last: it adds conversations.
        "create": (new_conversation, lambda s, b: s == 201),
    }


def sanity(server: Server, n: int) -> None:
    import orjson

    def get(path: str) -> Any:
        req = urllib.request.Request(server.base + path, headers={"X-FreeScout-API-Key": API_KEY})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return orjson.loads(resp.read())

    def require(ok: bool, what: str) -> None:
        if not ok:
            raise RuntimeError(f"sanity check failed: {what}")

    page = get("/api/conversations?pageSize=50")
    items = page["_embedded"]["conversations"]
    require(len(items) == 50, f"{len(items)} items on the first page")
    require(page["page"]["totalElements"] > 0.9 * n, f"page {page['page']}")
    convo = get("/api/conversations/1")
    require(convo["id"] == 1, "conversation 1")
    require(len(convo["_embedded"]["threads"]) == convo["threadsCount"], "threads of 1")


# --- main -----------------------------------------------------------------------------------


def prepare(db: str, n: int, workdir: Path) -> str:
    spec = c.Spec(n)
    if db == "sqlite":
        return c.sqlite_copy(c.sqlite_dataset(spec), workdir, "api.sqlite")
    return c.pg_dataset(spec, f"bench_api_{n}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--conversations",
        default="100000",
        help="comma-separated sizes, each measured in turn (e.g. 10000,1000000)",
    )
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument(
        "--writes-per-second",
        type=float,
        default=0.0,
        help="changes a second written in the background during the read cases",
    )
    ap.add_argument(
        "--console-tail",
        action="store_true",
        help="keep a signed-in console page on the live tail open during every case",
    )
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per case")
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="measured windows per case; the record is the median window by requests/s",
    )
    ap.add_argument("--baseline-seconds", type=float, default=5.0)
    ap.add_argument("--case", action="append", help="only these cases (repeatable)")
    ap.add_argument("--profile", type=Path, help="py-spy the server into this directory")
    ap.add_argument("--time-limit", type=int, default=3600, help="abort the whole run after this")
    ap.add_argument(
        "--out",
        type=Path,
        default=c.RESULTS / "api.jsonl",
        help="also write the JSON lines here (default: %(default)s)",
    )
    args = ap.parse_args()
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    c.reexec_under_pg_if_needed("postgresql" in dbs)
    signal.alarm(args.time_limit)
    with c.results_file(args.out):
        run(args, dbs)


def run(args: argparse.Namespace, dbs: list[str]) -> None:
    sizes = [int(x) for x in str(args.conversations).split(",")]
    with tempfile.TemporaryDirectory(prefix="tidings-bench-api-") as tmp:
        workdir = Path(tmp)
        for db in dbs:
            lists: dict[int, dict[str, Any]] = {}
            for n in sizes:
                lists[n] = run_size(args, db, n, workdir)
            if len(sizes) > 1:
                c.emit(at_scale(db, min(sizes), max(sizes), lists, args.writes_per_second))


def run_size(args: argparse.Namespace, db: str, n: int, workdir: Path) -> dict[str, Any]:
    """Every selected case at ``n`` conversations; returns the list_page50 record."""
    url = prepare(db, n, workdir)
    selected = {k: v for k, v in cases(n).items() if not args.case or k in args.case}
    base = {}
    for case in selected:
        c.note(f"{db}: raw SQL baseline for {case}")
        base[case] = baseline(db, url, case, n, args.baseline_seconds)
    server = Server(url, workdir)
    records: dict[str, dict[str, Any]] = {}
    try:
        server.wait_ready()
        sanity(server, n)
        for case, (make_call, check) in selected.items():
            writes = 0.0 if case == "create" else args.writes_per_second
            c.note(
                f"{db}: {n} conversations, {case}, concurrency {args.concurrency},"
                f" {writes:g} writes/s, {args.repeat} x {args.duration:.0f} s"
            )
            windows = []
            for i in range(args.repeat):
                _start_profile.label = f"{db}_{n}_{case}_{i}"  # type: ignore[attr-defined]
                windows.append(
                    run_load(
                        server,
                        make_call,
                        check,
                        args.concurrency,
                        args.warmup if i == 0 else 1.0,
                        args.duration,
                        args.profile,
                        writes,
                        n,
                        args.console_tail,
                    )
                )
            records[case] = record(args, db, n, case, median_window(windows), base[case], writes)
            records[case]["server_peak_rss_mb"] = server.peak_rss_mb()
            c.emit(records[case])
    finally:
        server.stop()
    if db == "postgresql":
        c.pg_drop(f"bench_api_{n}")
    return records.get("list_page50", {})


def record(
    args: argparse.Namespace,
    db: str,
    n: int,
    case: str,
    measured: dict[str, Any],
    base: dict[str, float],
    writes: float,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "bench": "api",
        "db": db,
        "case": case,
        "conversations": n,
        "concurrency": args.concurrency,
        "writes_per_second": writes,
        "console_tail": args.console_tail,
        "seconds": args.duration,
        **measured,
        **base,
        "ratio_vs_raw_sql": round(measured["rps"] / base["baseline_rps"], 3),
    }
    ok = measured["errors_all_windows"] == 0
    if case == "mailboxes":
        return out
    if case == "create":
        out["target_rps"] = TARGET_CREATES[db]
        out["meets_target"] = ok and measured["rps"] >= TARGET_CREATES[db]
        return out
    out["target_p99_ms"] = TARGET_P99_MS[db]
    meets = ok and measured["p99_ms_worst_window"] < TARGET_P99_MS[db]
    if case == "list_page50" and db == "sqlite":  # the first round's target, SQLite only
        out["target_rps"] = TARGET_LIST_RPS
        meets = meets and measured["rps"] > TARGET_LIST_RPS
    out["meets_target"] = meets
    return out


def at_scale(
    db: str, small: int, large: int, lists: dict[int, dict[str, Any]], writes: float
) -> dict[str, Any]:
    """The list page at the largest size against the smallest, in the same run."""
    a, b = lists[small], lists[large]
    ratio = round(b["rps"] / a["rps"], 3) if a and b else None
    return {
        "bench": "api",
        "db": db,
        "case": "list_at_scale",
        "writes_per_second": writes,
        "conversations": [small, large],
        "rps": [a.get("rps"), b.get("rps")],
        "p99_ms_worst_window": [a.get("p99_ms_worst_window"), b.get("p99_ms_worst_window")],
        "ratio_large_to_small": ratio,
        "target_ratio": TARGET_AT_SCALE,
        "target_p99_ms": TARGET_P99_MS[db],
        "meets_target": bool(
            ratio
            and ratio >= TARGET_AT_SCALE
            and b["p99_ms_worst_window"] < TARGET_P99_MS[db]
            and b["errors_all_windows"] == 0
        ),
    }


if __name__ == "__main__":
    sys.exit(main())
