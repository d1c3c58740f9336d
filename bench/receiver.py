"""Receiver benchmark: deliveries/s accepted into tidings_receiver's durable inbox, against a
bare handler that does nothing, on the same HTTP server.

    .venv/bin/python bench/receiver.py [--concurrency 10] [--duration 10] [--repeat 3]

Each case is one server process: uvicorn (uvloop, httptools, one worker) serving Starlette,
loaded by an aiohttp client at ``--concurrency`` keep-alive requests (Tidings sends up to a
webhook's ``maxConcurrency``, 10 by default, at once). Every request is a signed delivery
as Tidings sends it (every header, a 2 KB conversation payload, each one a new event), so
both cases read the same bytes:

  bare        the endpoint reads the body and answers 204: the server's own ceiling.
  inbox       ``tidings_receiver.asgi.endpoint`` with the inbox's defaults: verify the
              Standard Webhooks signature, store and de-duplicate in the SQLite inbox (WAL,
              ``synchronous=NORMAL``, deliveries that arrive together committed together),
              answer 204 once committed. No worker runs: the accepting side alone.
              Afterwards the inbox must hold exactly one event per 204.
  inbox_full  the same with ``synchronous=FULL``: every commit also waits for the disk
              (survives a power cut, not just a killed process).

Each case is measured ``--repeat`` windows of ``--duration`` s after ``--warmup`` s; the
line is the median window, listing every window's deliveries/s. Target (issue 19): inbox
>= 0.5x bare (``ratio_to_bare``, on both inbox cases). Results also go to ``--out`` (default
bench/results/receiver.jsonl).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import _common as c

TARGET_RATIO = 0.5
SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
INSTANCE_SECRET = "bench-instance-secret"

# --- the server (its own process) ----------------------------------------------------------


SYNCHRONOUS = {"inbox": "NORMAL", "inbox_full": "FULL"}


def serve(case: str, port: int, inbox_path: str) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def bare(request: Request) -> Response:
        await request.body()
        return Response(status_code=204)

    async def ready(request: Request) -> Response:
        return PlainTextResponse("ok")

    handler: Any = bare
    if case in SYNCHRONOUS:
        from tidings_receiver import Inbox
        from tidings_receiver.asgi import endpoint

        handler = endpoint(Inbox(inbox_path, SECRET, synchronous=SYNCHRONOUS[case]))
    app = Starlette(routes=[Route("/hook", handler, methods=["POST"]), Route("/ready", ready)])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="off",
    )


class Server:
    def __init__(self, case: str, inbox_path: Path) -> None:
        self.port = c.free_port()
        command = [sys.executable, __file__, "--serve", case, "--port", str(self.port)]
        command += ["--inbox", str(inbox_path)]
        self.proc = subprocess.Popen(command)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url("/ready"), timeout=5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"the {case} server did not start")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def cpu(self) -> float:
        return c._proc_cpu(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


# --- the deliveries ------------------------------------------------------------------------


def payload_template() -> bytes:
    """A conversation as Tidings sends it, compact JSON, about 2 KB; ``__N__`` is its id."""
    import json

    thread = {
        "id": 1,
        "type": "customer",
        "status": "active",
        "state": "published",
        "body": "<p>"
        + "Since this morning the login page says my password is wrong. " * 12
        + "</p>",
        "createdAt": "2026-12-06T07:30:02Z",
        "_embedded": {"attachments": []},
    }
    conversation = {
        "id": "__N__",
        "number": 4211,
        "subject": "Cannot log in",
        "status": "active",
        "state": "published",
        "mailboxId": 1,
        "createdAt": "2026-12-06T07:30:02Z",
        "updatedAt": "2026-12-06T07:30:02Z",
        "customer": {"id": 9, "email": "dana@example.com"},
        "_embedded": {"threads": [thread, {**thread, "id": 2}]},
    }
    return json.dumps(conversation, separators=(",", ":")).encode()


class Deliveries:
    """Signed deliveries, each a new event, signed when sent (the same client cost in both
    cases)."""

    def __init__(self) -> None:
        from tidings.webhooks.signing import freescout_signature, standard_signatures

        self._template = payload_template()
        self._standard = standard_signatures
        self._freescout = freescout_signature
        self.n = 0

    def next(self) -> tuple[bytes, dict[str, str]]:
        self.n += 1
        n = self.n
        body = self._template.replace(b'"__N__"', str(n).encode())
        message_id, stamp = f"msg_bench{n:012d}", int(time.time())
        return body, {
            "Content-Type": "application/json",
            "X-FreeScout-Event": "convo.created",
            "X-FreeScout-Signature": self._freescout(body, INSTANCE_SECRET),
            "webhook-id": message_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": self._standard(message_id, stamp, body, [SECRET]),
            "X-Tidings-Sequence": str(n),
            "X-Tidings-Webhook-Id": "1",
            "X-Tidings-Event-Id": f"evt_bench{n:012d}",
            "X-Tidings-Event-Seq": str(1000 + n),
        }


# --- load ----------------------------------------------------------------------------------


def run_window(
    server: Server, deliveries: Deliveries, args: argparse.Namespace, warmup: float
) -> dict[str, Any]:
    import aiohttp

    async def load() -> dict[str, Any]:
        latencies: list[float] = []
        errors = 0
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            start_at = time.monotonic() + warmup
            end_at = start_at + args.duration
            marks: dict[str, float] = {}

            async def lane() -> None:
                nonlocal errors
                while (t0 := time.monotonic()) < end_at:
                    if "cpu" not in marks and t0 >= start_at:
                        marks.update(cpu=server.cpu(), all=c.busy_cpu_seconds(), own=_own_cpu())
                    body, headers = deliveries.next()
                    async with session.post(server.url("/hook"), data=body, headers=headers) as r:
                        await r.read()
                        ok = r.status == 204
                    errors += not ok  # in the warm-up too: every 204 must be in the inbox
                    if t0 >= start_at:
                        latencies.append(time.monotonic() - t0)

            async with asyncio.TaskGroup() as tasks:
                for _ in range(args.concurrency):
                    tasks.create_task(lane())
            return {"latencies": latencies, "errors": errors, "marks": marks}

    found = asyncio.run(load())
    marks, latencies = found["marks"], sorted(found["latencies"])
    n = len(latencies)
    server_cpu = server.cpu() - marks["cpu"]
    return {
        "deliveries_per_s": round(n / args.duration, 1),
        "deliveries": n,
        "errors": found["errors"],
        "p50_ms": round(1000 * c.percentile(latencies, 50), 2),
        "p99_ms": round(1000 * c.percentile(latencies, 99), 2),
        "server_cpu_ms_per_delivery": round(1000 * server_cpu / n, 3) if n else None,
        "server_cpu_pct": round(100 * server_cpu / args.duration, 1),
        "client_cpu_pct": round(100 * (_own_cpu() - marks["own"]) / args.duration, 1),
        "other_cpu_pct": round(
            100
            * (c.busy_cpu_seconds() - marks["all"] - server_cpu - (_own_cpu() - marks["own"]))
            / args.duration,
            1,
        ),
    }


def _own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def median_window(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """The window with the median deliveries/s, and every window's (the machine is shared
    and drifts by +-25% within minutes: one window proves little)."""
    ordered = sorted(windows, key=lambda w: w["deliveries_per_s"])
    middle = dict(ordered[len(ordered) // 2])
    middle["windows_deliveries_per_s"] = [w["deliveries_per_s"] for w in windows]
    middle["errors_all_windows"] = sum(w["errors"] for w in windows)
    return middle


def stored_events(inbox_path: Path) -> int:
    conn = sqlite3.connect(inbox_path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def run_cases(cases: list[str], args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Every case's windows, interleaved (bare, inbox, inbox_full, bare, ...): the machine's
    speed drifts, and this way each case sees the same drift."""
    servers = {case: Server(case, workdir / f"{case}.sqlite3") for case in cases}
    deliveries = {case: Deliveries() for case in cases}
    windows: dict[str, list[dict[str, Any]]] = {case: [] for case in cases}
    try:
        for i in range(args.repeat):
            for case in cases:
                c.note(f"{case}: window {i + 1} of {args.repeat}, concurrency {args.concurrency}")
                warmup = args.warmup if i == 0 else 1.0
                windows[case].append(run_window(servers[case], deliveries[case], args, warmup))
    finally:
        for server in servers.values():
            server.stop()
    records = {}
    for case in cases:
        records[case] = {
            "bench": "receiver",
            "case": case,
            "server": "uvicorn+uvloop+httptools, starlette, 1 process",
            "concurrency": args.concurrency,
            "seconds": args.duration,
            "body_bytes": len(payload_template()),
            **median_window(windows[case]),
        }
        if case in SYNCHRONOUS:
            records[case].update(stored_check(case, workdir, deliveries[case], windows[case]))
            if "bare" in windows:
                records[case].update(ratio(windows[case], windows["bare"]))
    return records


def stored_check(
    case: str, workdir: Path, sent: Deliveries, windows: list[dict[str, Any]]
) -> dict[str, Any]:
    stored = stored_events(workdir / f"{case}.sqlite3")
    errors = sum(w["errors"] for w in windows)
    return {
        "synchronous": SYNCHRONOUS[case],
        "sent": sent.n,
        "stored": stored,
        # Every delivery answered 204 is in the file (the errors were answered otherwise).
        "stored_all_accepted": stored == sent.n - errors,
    }


def ratio(inbox: list[dict[str, Any]], bare: list[dict[str, Any]]) -> dict[str, Any]:
    median_inbox = median_window(inbox)["deliveries_per_s"]
    median_bare = median_window(bare)["deliveries_per_s"]
    value = median_inbox / median_bare
    return {
        "bare_deliveries_per_s": median_bare,
        "ratio_to_bare": round(value, 3),
        "windows_ratio_to_bare": [
            round(i["deliveries_per_s"] / b["deliveries_per_s"], 3)
            for i, b in zip(inbox, bare, strict=True)
        ],
        "target_ratio": TARGET_RATIO,
        "meets_target": value >= TARGET_RATIO,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    ap.add_argument("--duration", type=float, default=10.0, help="measured seconds per window")
    ap.add_argument("--repeat", type=int, default=3, help="windows per case (median reported)")
    ap.add_argument("--case", action="append", choices=("bare", *SYNCHRONOUS), help="only these")
    ap.add_argument("--time-limit", type=int, default=600, help="abort the whole run after this")
    ap.add_argument(
        "--out",
        type=Path,
        default=c.RESULTS / "receiver.jsonl",
        help="also write the JSON lines here (default: %(default)s)",
    )
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--inbox", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.inbox)
        return
    signal.alarm(args.time_limit)
    cases = args.case or ["bare", *SYNCHRONOUS]
    with (
        c.results_file(args.out),
        tempfile.TemporaryDirectory(prefix="tidings-bench-receiver-") as tmp,
    ):
        for record in run_cases(cases, args, Path(tmp)).values():
            c.emit(record)


if __name__ == "__main__":
    main()
