"""Shared pieces of the benchmarks: a fast data set builder, databases, output.

The data set is written with direct bulk SQL into the tables of ``tidings.db.schema``
(after ``tidings.db.migrate.upgrade``): ``executemany`` on SQLite, ``COPY`` on
PostgreSQL. Nothing goes through the desk services, so building 100,000
conversations takes seconds, not minutes; the rows look like what the services
write (enumerations as FreeScout's integers, folders consistent with state,
status and assignee, ``threads_count`` equal to the threads written).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CACHE = BENCH / ".cache"
RESULTS = BENCH / "results"
PG_ENV = "TIDINGS_TEST_PG_URL"

# Bump when the generated rows change, so cached SQLite files are rebuilt.
DATA_VERSION = 4

sys.path.insert(0, str(ROOT / "src"))

from tidings.db import totals  # noqa: E402
from tidings.db.engine import Database  # noqa: E402
from tidings.db.migrate import upgrade  # noqa: E402
from tidings.db.schema import (  # noqa: E402
    attachments,
    conversation_folder,
    conversation_tag,
    conversations,
    customer_emails,
    customers,
    folders,
    followers,
    mailbox_user,
    mailboxes,
    tags,
    threads,
    users,
)
from tidings.desk.enums import FolderType, State, Status  # noqa: E402
from tidings.desk.folders import MAILBOX_FOLDERS, USER_FOLDERS, folder_type_for  # noqa: E402

_REVISION: list[str] = []


def revision() -> str:
    """The Tidings commit measured (``+dirty`` when src/ has uncommitted changes)."""
    if not _REVISION:
        import subprocess

        try:
            head = subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
            _REVISION.append(head + ("+dirty" if dirty else ""))
        except (OSError, subprocess.SubprocessError):
            _REVISION.append("unknown")
    return _REVISION[0]


_RESULTS: list[TextIO] = []


def emit(record: dict[str, Any]) -> None:
    """One JSON line per case on stdout (the benchmark's result), and in the results file
    when one is open (``results_file``)."""
    record.setdefault("tidings_revision", revision())
    line = json.dumps(record, separators=(",", ":"))
    print(line, flush=True)
    for out in _RESULTS:
        out.write(line + "\n")
        out.flush()


@contextmanager
def results_file(path: Path) -> Iterator[None]:
    """Write the lines ``emit`` prints to ``path`` too: to ``path.partial`` while the run
    goes on, renamed to ``path`` (replacing the previous run's) when it ends normally. A run
    that fails or times out leaves the previous results in place and its own in ``.partial``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w") as out:
        _RESULTS.append(out)
        try:
            yield
        finally:
            _RESULTS.remove(out)
    os.replace(partial, path)
    note(f"results in {path}")


def note(message: str) -> None:
    """Progress for humans, on stderr, so stdout stays JSON lines only."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def busy_cpu_seconds() -> float:
    """CPU seconds all processes on this machine have used (from /proc/stat)."""
    with open("/proc/stat") as fh:
        parts = fh.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss() -> float:
    """Reset this process's peak RSS (VmHWM) to its current RSS; returns that RSS in MB.

    ru_maxrss cannot be reset, so a transient peak during imports would hide the
    case's own peak; /proc/self/clear_refs (Linux) can."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """Peak RSS since the last ``reset_peak_rss`` (MB)."""
    return _status_mb("VmHWM")


class AnonPeak:
    """The peak of this process's anonymous memory (RssAnon: heap and stacks), sampled,
    and separately the peak of its descendants' (an operation's snapshot child and
    multiprocessing's resource tracker), summed, and the CPU time the descendants used
    meanwhile.

    VmHWM also counts the pages of files mapped into the process: with SQLite's memory
    map (``PRAGMA mmap_size``) that is every page of the database the case touched, page
    cache the kernel can drop, which grows with N whatever the code keeps in memory.

    ``RUSAGE_CHILDREN`` counts only children that exited and were waited for (the
    resource tracker outlives the case). So each descendant's CPU is sampled from
    ``/proc`` until it exits; the last interval (<= ``interval``) of each is lost.
    """

    def __init__(self, interval: float = 0.02) -> None:
        self.start_mb = _status_mb("RssAnon")
        self.peak_mb = self.start_mb
        self.children_peak_mb = 0.0
        self._interval = interval
        self._cpu_at_start = {pid: _proc_cpu(pid) for pid in _descendants()}
        self._cpu_seen: dict[str, float] = dict(self._cpu_at_start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample_once()

    def _sample_once(self) -> None:
        self.peak_mb = max(self.peak_mb, _status_mb("RssAnon"))
        anon = 0.0
        for pid in _descendants():
            anon += _anon_mb(pid)
            cpu = _proc_cpu(pid)
            if cpu:  # 0.0: it exited between the listing and the read
                self._cpu_seen[pid] = max(self._cpu_seen.get(pid, 0.0), cpu)
        self.children_peak_mb = max(self.children_peak_mb, anon)

    def stop(self) -> float:
        """The peak above the start (MB)."""
        self._stop.set()
        self._thread.join()
        self._sample_once()
        return self.peak_mb - self.start_mb

    @property
    def children_cpu_s(self) -> float:
        """CPU seconds the descendants used while sampled."""
        return sum(cpu - self._cpu_at_start.get(pid, 0.0) for pid, cpu in self._cpu_seen.items())


def _descendants(root: str = "self") -> list[str]:
    """Pids of every process below ``root``, children first."""
    found: list[str] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                kids = children.read_text().split()
            except OSError:
                continue
            found.extend(kids)
            todo.extend(kids)
    return found


def _anon_mb(pid: str) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _proc_cpu(pid: int | str, children: bool = False) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def _ppid(pid: str) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


_POSTMASTER: dict[str, int] = {}


def pg_cpu_seconds() -> float:
    """CPU seconds of the benchmark's PostgreSQL server (postmaster and all its processes,
    including children that already exited); 0 without one."""
    url = os.environ.get(PG_ENV)
    if not url:
        return 0.0
    if url not in _POSTMASTER:
        import psycopg

        with psycopg.connect(url) as conn:
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
            _POSTMASTER[url] = _ppid(str(backend))
    master = _POSTMASTER[url]
    total = _proc_cpu(master, children=True)
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _ppid(entry) == master:
            total += _proc_cpu(entry)
    return total


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def reexec_under_pg_if_needed(need_pg: bool) -> None:
    """``--db postgresql|both`` without a server: rerun this command under scripts/pg."""
    if not need_pg or os.environ.get(PG_ENV):
        return
    if os.environ.get("TIDINGS_BENCH_UNDER_PG"):
        raise SystemExit(f"{PG_ENV} is still unset under scripts/pg")
    note("no PostgreSQL given: starting a throwaway one with scripts/pg")
    os.environ["TIDINGS_BENCH_UNDER_PG"] = "1"
    os.execv(
        str(ROOT / "scripts" / "pg"), [str(ROOT / "scripts" / "pg"), sys.executable, *sys.argv]
    )


# --- the raw SQL baseline ------------------------------------------------------------
# The same data as Tidings' reads, fetched with plain SQL and no JSON (api.py, views.py).
# ``{p}`` is a conversation id's placeholder, ``{ids}`` a list of ids written inline.

CONVO_COLUMNS = """
    c.id, c.number, c.threads_count, c.type, c.folder_id, c.status, c.state, c.subject,
    c.preview, c.mailbox_id, c.created_at, c.updated_at, c.closed_at, c.user_updated_at,
    c.last_reply_at, c.last_reply_from, c.source_type, c.source_via, c.cc, c.bcc,
    c.customer_email, c.closed_by_user_id,
    u.id, u.first_name, u.last_name, u.photo_url, u.email,
    cu.id, cu.first_name, cu.last_name, cu.photo_url,
    (SELECT e.email FROM customer_emails e WHERE e.customer_id = c.customer_id
     ORDER BY e.id LIMIT 1)
"""
CONVO_JOINS = """
    FROM conversations c
    LEFT JOIN users u ON u.id = c.user_id
    LEFT JOIN customers cu ON cu.id = c.customer_id
"""
# One list page: the page of conversations with assignee and customer, and the total.
LIST_SQL = [
    f"SELECT {CONVO_COLUMNS} {CONVO_JOINS} WHERE c.state = 2"
    " ORDER BY c.created_at DESC, c.id DESC LIMIT 50",
    "SELECT count(*) FROM conversations WHERE state = 2",
]
# One mailbox's active conversations, as an agent's list shows them.
LIST_MAILBOX_ACTIVE_SQL = [
    f"SELECT {CONVO_COLUMNS} {CONVO_JOINS} WHERE c.mailbox_id = 1 AND c.status = 1"
    " AND c.state = 2 ORDER BY c.created_at DESC, c.id DESC LIMIT 50",
    "SELECT count(*) FROM conversations WHERE mailbox_id = 1 AND status = 1 AND state = 2",
]
# The cheapest authenticated endpoint: a framework-overhead floor for this server.
MAILBOXES_SQL = [
    "SELECT id, name, email, created_at, updated_at FROM mailboxes ORDER BY id LIMIT 50",
    "SELECT count(*) FROM mailboxes",
]
# One conversation with its threads (authors and attachments joined in).
GET_SQL = [
    f"SELECT {CONVO_COLUMNS} {CONVO_JOINS} WHERE c.id = {{p}}",
    """SELECT t.id, t.type, t.status, t.state, t.action_type, t.body, t.source_type,
              t.source_via, t."to", t.cc, t.bcc, t.meta, t.created_at, t.opened_at,
              tu.id, tu.first_name, tu.last_name, tu.photo_url, tu.email,
              tc.id, tc.first_name, tc.last_name, tc.photo_url,
              a.id, a.file_name, a.mime_type, a.size
       FROM threads t
       LEFT JOIN users tu ON tu.id = t.created_by_user_id
       LEFT JOIN customers tc ON tc.id = t.customer_id
       LEFT JOIN attachments a ON a.thread_id = t.id
       WHERE t.conversation_id = {p} AND t.state = 2
       ORDER BY t.created_at DESC, t.id DESC""",
]
# A snapshot chunk: GET_SQL for a list of conversations.
SNAPSHOT_SQL = [s.replace("= {p}", "IN ({ids})") for s in GET_SQL]
RAW_SQL = {
    "list_page50": LIST_SQL,
    "list_mailbox_active": LIST_MAILBOX_ACTIVE_SQL,
    "mailboxes": MAILBOXES_SQL,
    "get_conversation": GET_SQL,
    "snapshot_chunk500": SNAPSHOT_SQL,
}


# --- PostgreSQL databases ------------------------------------------------------------


def pg_url(database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(os.environ[PG_ENV]).set(database=database).render_as_string(False)


def pg_admin_exec(sql: str) -> None:
    import psycopg

    with psycopg.connect(os.environ[PG_ENV], autocommit=True) as conn:
        conn.execute(sql)


def pg_drop(name: str) -> None:
    pg_admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_create(name: str, template: str | None = None) -> str:
    pg_drop(name)
    suffix = f' TEMPLATE "{template}"' if template else ""
    pg_admin_exec(f'CREATE DATABASE "{name}"{suffix}')
    return pg_url(name)


# --- the data set ----------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What to build. ``state`` is "mixed" (mostly published) or "deleted" (all in trash)."""

    conversations: int
    threads_min: int = 1
    threads_max: int = 4
    state: str = "mixed"
    seed: int = 20260101

    @property
    def customers(self) -> int:
        return max(200, self.conversations // 5)

    def key(self) -> str:
        heads = sorted(p.name for p in (ROOT / "src/tidings/db/migrations/versions").glob("*.py"))
        digest = hashlib.sha1("|".join(heads).encode()).hexdigest()[:8]
        return (
            f"{self.state}_{self.conversations}_t{self.threads_min}-{self.threads_max}"
            f"_s{self.seed}_v{DATA_VERSION}_{digest}"
        )


N_USERS = 5
N_MAILBOXES = 3
TAG_NAMES = ["vip", "refund", "bug", "billing", "urgent", "feature", "shipping", "login"]
FIRST = ["Ann", "Ben", "Chloe", "Dev", "Eva", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kira"]
LAST = ["Smith", "Okafor", "Martin", "Rossi", "Novak", "Tanaka", "Silva", "Berg", "Khan"]
SUBJECTS = [
    "Refund for order #{n}",
    "Cannot log in since this morning",
    "Invoice address change for {n}",
    "Feature request: dark mode",
    "Shipping delay for parcel {n}",
    "API rate limits on plan {n}",
    "Cancel my subscription",
    "Bug: CSV export is empty",
]
SENTENCES = [
    "I was charged twice for this order and would like one of the payments refunded.",
    "Since this morning the login page says my password is wrong, but I reset it twice.",
    "Please change the address on the invoice to our new office on Main Street.",
    "Would love a dark mode for the dashboard; is there anything on the roadmap?",
    "My parcel has not moved for a week according to the tracking page.",
    "We hit 429 responses at about fifty requests per second; what are the limits?",
    "Thanks for reaching out! I've looked into this and issued the refund today.",
    "Sorry for the trouble. I reset your session; let me know if anything else comes up.",
    "The export downloads a file with only the header row and no data at all.",
]


def _body(rnd: random.Random) -> str:
    return "".join(f"<p>{rnd.choice(SENTENCES)}</p>" for _ in range(rnd.randint(2, 6)))


_TAGS = re.compile(r"<[^>]+>")


def _ts(value: datetime) -> str:
    # SQLAlchemy's own storage format for DateTime on SQLite; PostgreSQL parses it too.
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


Row = tuple[Any, ...]


def _compact(value: Any) -> str:
    # As Tidings stores JSON (orjson, no spaces).
    return json.dumps(value, separators=(",", ":"))


def _cols(table: Any) -> list[str]:
    return [c.name for c in table.columns]


def generate(spec: Spec) -> Iterator[tuple[Any, list[Row]]]:
    """(table, rows) batches in foreign-key order; rows are tuples in column order."""
    rnd = random.Random(spec.seed)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    start = now - timedelta(days=365)
    t0 = _ts(start)

    yield (
        users,
        [
            (
                u,
                FIRST[u],
                LAST[u],
                f"agent{u}@tidings.example",
                None,
                2 if u == 1 else 1,
                None,
                "Support agent",
                None,
                "UTC",
                None,
                "en",
                False,
                t0,
                t0,
            )
            for u in range(1, N_USERS + 1)
        ],
    )
    folder_rows: list[Row] = []
    folder_of: dict[tuple[int, int, int | None], int] = {}
    for m in range(1, N_MAILBOXES + 1):
        for ft in MAILBOX_FOLDERS:
            folder_rows.append((len(folder_rows) + 1, m, None, int(ft)))
            folder_of[(m, int(ft), None)] = len(folder_rows)
        for u in range(1, N_USERS + 1):
            for ft in USER_FOLDERS:
                folder_rows.append((len(folder_rows) + 1, m, u, int(ft)))
                folder_of[(m, int(ft), u)] = len(folder_rows)

    # Conversations first (in memory only as counters), so mailboxes know last_number.
    per_mailbox = [0] * (N_MAILBOXES + 1)
    mailbox_choice = [rnd.randrange(1, N_MAILBOXES + 1) for _ in range(spec.conversations)]
    for m in mailbox_choice:
        per_mailbox[m] += 1
    yield (
        mailboxes,
        [
            (m, name, f"{name.lower()}@tidings.example", per_mailbox[m], t0, t0)
            for m, name in zip(
                range(1, N_MAILBOXES + 1), ("Support", "Billing", "Sales"), strict=True
            )
        ],
    )
    yield folders, folder_rows
    yield mailbox_user, [(m, u) for m in range(1, N_MAILBOXES + 1) for u in range(1, N_USERS + 1)]
    yield tags, [(i + 1, name, i % 5) for i, name in enumerate(TAG_NAMES)]

    cust_rows: list[Row] = []
    email_rows: list[Row] = []
    for c in range(1, spec.customers + 1):
        phones = _compact([{"value": f"+1555{c:07d}", "type": "mobile"}]) if c % 3 == 0 else "[]"
        cust_rows.append(
            (
                c,
                rnd.choice(FIRST),
                rnd.choice(LAST),
                None,
                rnd.choice(["Acme", "Globex", "Initech", None]),
                None,
                None,
                None,
                phones,
                "[]",
                "[]",
                "{}",
                t0,
                t0,
            )
        )
        email_rows.append((c, c, f"customer{c}@example.com", 1))
        if len(cust_rows) >= 20000:
            yield customers, cust_rows
            yield customer_emails, email_rows
            cust_rows, email_rows = [], []
    yield customers, cust_rows
    yield customer_emails, email_rows

    numbers = [0] * (N_MAILBOXES + 1)
    span = 365 * 24 * 3600
    thread_id = 0
    attachment_id = 0
    payload = b"x" * 2048
    batch: dict[str, list[Row]] = {
        "c": [],
        "t": [],
        "a": [],
        "tag": [],
        "f": [],
        "cf": [],
    }

    def flush() -> Iterator[tuple[Any, list[Row]]]:
        for key, table in (
            ("c", conversations),
            ("t", threads),
            ("a", attachments),
            ("tag", conversation_tag),
            ("f", followers),
            ("cf", conversation_folder),
        ):
            if batch[key]:
                yield table, batch[key]
                batch[key] = []

    for i in range(spec.conversations):
        cid = i + 1
        m = mailbox_choice[i]
        numbers[m] += 1
        if spec.state == "deleted":
            state = State.DELETED
        else:
            state = State.DELETED if rnd.random() < 0.07 else State.PUBLISHED
        roll = rnd.random()
        status = (
            Status.CLOSED
            if roll < 0.3
            else Status.PENDING
            if roll < 0.5
            else Status.SPAM
            if roll < 0.53
            else Status.ACTIVE
        )
        user_id = rnd.randint(1, N_USERS) if rnd.random() < 0.6 else None
        folder_id = folder_of[(m, int(folder_type_for(state, status, user_id)), None)]
        customer_id = rnd.randint(1, spec.customers)
        created = start + timedelta(seconds=span * i / spec.conversations + rnd.randint(0, 600))
        n_threads = rnd.randint(spec.threads_min, spec.threads_max)
        agent = user_id or rnd.randint(1, N_USERS)
        last_at = created
        last_from = 1
        preview = ""
        for k in range(n_threads):
            thread_id += 1
            at = created + timedelta(hours=3 * k, seconds=rnd.randint(0, 900))
            body = _body(rnd)
            from_customer = k % 2 == 0
            if k == 0:
                preview = _TAGS.sub(" ", body).strip()[:255]
            last_at, last_from = at, (1 if from_customer else 2)
            batch["t"].append(
                (
                    thread_id,
                    cid,
                    1 if from_customer else 2,  # customer / message
                    1 if from_customer else int(status),
                    2,  # published
                    None,
                    body,
                    1,  # email
                    1 if from_customer else 2,
                    customer_id,
                    None if from_customer else agent,
                    customer_id if from_customer else None,
                    None,
                    "[]" if from_customer else _compact([f"customer{customer_id}@example.com"]),
                    "[]",
                    "[]",
                    "{}",
                    True,
                    _ts(at),
                    None,
                )
            )
            if rnd.random() < 0.02:
                attachment_id += 1
                batch["a"].append(
                    (attachment_id, thread_id, cid, "invoice.pdf", "application/pdf", 2048, payload)
                )
        closed = status == Status.CLOSED
        batch["c"].append(
            (
                cid,
                numbers[m],
                m,
                folder_id,
                1,  # email
                int(status),
                int(state),
                rnd.choice(SUBJECTS).format(n=rnd.randint(1000, 99999)),
                preview,
                user_id,
                customer_id,
                f"customer{customer_id}@example.com",
                "[]",
                "[]",
                1,
                1,
                None,
                customer_id,
                agent if closed else None,
                _ts(last_at) if closed else None,
                _ts(last_at),
                _ts(last_at),
                last_from,
                n_threads,
                True,
                _ts(created),
                _ts(last_at),
            )
        )
        if rnd.random() < 0.15:
            for tag_id in rnd.sample(range(1, len(TAG_NAMES) + 1), rnd.randint(1, 2)):
                batch["tag"].append((cid, tag_id))
        if rnd.random() < 0.05:
            batch["f"].append((cid, rnd.randint(1, N_USERS)))
        if user_id and rnd.random() < 0.03:
            batch["cf"].append((cid, folder_of[(m, int(FolderType.STARRED), user_id)]))
        if len(batch["c"]) >= 5000:
            yield from flush()
    yield from flush()


SEQUENCED = [
    mailboxes,
    users,
    folders,
    customers,
    customer_emails,
    conversations,
    threads,
    attachments,
    tags,
]


def _count_totals(url: str) -> None:
    """The list totals of the loaded conversations: the load went around the outbox, so
    the triggers' change rows were never folded (tidings.db.totals.rebuild)."""
    db = Database(url)
    try:
        with db.write() as conn:
            totals.rebuild(conn)
    finally:
        db.dispose()


def _insert_sqlite(path: Path, spec: Spec) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("BEGIN")
        for table, rows in generate(spec):
            cols = _cols(table)
            names = ", ".join(f'"{c}"' for c in cols)
            marks = ", ".join("?" for _ in cols)
            conn.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def _insert_pg(url: str, spec: Spec) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            for table, rows in generate(spec):
                names = ", ".join(f'"{c}"' for c in _cols(table))
                with cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
            for table in SEQUENCED:
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'),"
                    f' (SELECT COALESCE(MAX(id), 1) FROM "{table.name}"))'
                )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def sqlite_dataset(spec: Spec) -> Path:
    """The built SQLite file for ``spec``, from bench/.cache/ when it is there.

    Concurrent runs are safe: one builds under an exclusive lock, the others wait for it."""
    import fcntl

    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"{spec.key()}.sqlite"
    with open(CACHE / f"{spec.key()}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            note(f"using cached {path.relative_to(ROOT)}")
            return path
        started = time.perf_counter()
        tmp = path.with_suffix(f".{os.getpid()}.building")
        for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            p.unlink(missing_ok=True)
        db = Database(f"sqlite:///{tmp}")
        upgrade(db)
        db.dispose()
        _insert_sqlite(tmp, spec)
        _count_totals(f"sqlite:///{tmp}")
        os.replace(tmp, path)
    note(f"built {path.relative_to(ROOT)} in {time.perf_counter() - started:.1f} s")
    return path


def sqlite_copy(source: Path, dest_dir: Path, name: str) -> str:
    dest = dest_dir / name
    for p in (dest, Path(f"{dest}-wal"), Path(f"{dest}-shm")):
        p.unlink(missing_ok=True)
    shutil.copyfile(source, dest)
    return f"sqlite:///{dest}"


def pg_dataset(spec: Spec, name: str) -> str:
    """A PostgreSQL database named ``name`` holding ``spec``'s data; returns its URL."""
    started = time.perf_counter()
    url = pg_create(name)
    db = Database(url)
    upgrade(db)
    db.dispose()
    _insert_pg(url, spec)
    _count_totals(url)
    note(f"built PostgreSQL database {name} in {time.perf_counter() - started:.1f} s")
    return url


def chunks(ids: list[int], size: int) -> Iterable[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]
