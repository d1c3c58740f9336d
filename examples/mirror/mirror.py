"""Mirror a Tidings server's conversations into a local SQLite database, and keep it
identical through deletions, restores and outages. See README.md next to this file.

    python mirror.py --api-url http://127.0.0.1:8080 --api-key KEY --port 8001

Standard library and ``tidings_receiver`` only. On its first start it subscribes a webhook
to every event at ``http://127.0.0.1:PORT/`` and keeps the webhook's id and signing secret
in the mirror database. Each delivery goes into the receiver kit's durable inbox (verified,
de-duplicated, answered at once); a worker thread applies the events to the mirror in log
order; lost deliveries are recovered from the server's event log; and at every start, and
every ``--reconcile-every`` seconds, the copy is compared with the server's digest and
repaired.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sqlite3
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tidings_receiver import Event, Inbox, VerificationError, reconcile

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    mailbox_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    status TEXT NOT NULL,
    subject TEXT,
    updated_at TEXT NOT NULL,  -- exactly as the API shows it: the digest hashes it
    seq INTEGER,               -- the log position of the event that wrote the row
    body TEXT NOT NULL         -- the conversation as the API shows it, threads included
);
CREATE TABLE IF NOT EXISTS gone (id INTEGER PRIMARY KEY, seq INTEGER);  -- deleted forever
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Mirror:
    """The local copy; also the ``LocalView`` that ``reconcile`` compares and repairs."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()  # the inbox worker and reconcile write from two threads

    def upsert(self, convo: dict[str, Any], seq: int | None = None) -> bool:
        """Store a conversation; ``seq`` is its event's log position (None: read from the
        API by reconcile). An event older than the one that wrote the row, or deleted it
        forever, is skipped: a delivery can arrive late, after a newer state."""
        with self.lock, self.db:
            known = self.db.execute(
                "SELECT max(seq) FROM (SELECT seq FROM conversations WHERE id = :id"
                " UNION ALL SELECT seq FROM gone WHERE id = :id)",
                {"id": convo["id"]},
            ).fetchone()[0]
            if seq is not None and known is not None and seq <= known:
                return False
            self.db.execute("DELETE FROM gone WHERE id = ?", (convo["id"],))
            self.db.execute(
                "INSERT OR REPLACE INTO conversations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    convo["id"], convo["mailboxId"], convo["state"], convo["status"],
                    convo.get("subject"), convo["updatedAt"], known if seq is None else seq,
                    json.dumps(convo),
                ),
            )  # fmt: skip
            return True

    def delete(self, conversation_id: int, seq: int | None = None) -> None:
        with self.lock, self.db:
            self.db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if seq is not None:  # a late, older event must not bring it back
                self.db.execute("INSERT OR REPLACE INTO gone VALUES (?, ?)", (conversation_id, seq))

    def items(self, mailbox_id: int | None) -> list[tuple[int, str, str]]:
        with self.lock:
            if mailbox_id is None:
                rows = self.db.execute("SELECT id, updated_at, state FROM conversations")
            else:
                rows = self.db.execute(
                    "SELECT id, updated_at, state FROM conversations WHERE mailbox_id = ?",
                    (mailbox_id,),
                )
            return [(int(i), str(u), str(s)) for i, u, s in rows]

    def setting(self, key: str, value: str | None = None) -> str | None:
        with self.lock, self.db:
            if value is not None:
                self.db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, value))
                return value
            found = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
            return None if found is None else str(found[0])


def apply(mirror: Mirror, event: Event) -> None:
    """The inbox's handler: every conversation event carries the whole conversation."""
    if not event.type.startswith("convo."):
        return
    convo = event.data
    if event.type == "convo.deleted_forever":
        mirror.delete(convo["id"], event.seq)  # the inbox confirmed it is gone (404)
    elif mirror.upsert(convo, event.seq):
        print(f"applied {event.type} to conversation {convo['id']} (seq {event.seq})", flush=True)


# --- the webhook this mirror receives from ------------------------------------------------


def call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    """One API call; the answer's JSON, or None for 404."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        args.api_url.rstrip("/") + path,
        data=data,
        method=method,
        headers={"X-FreeScout-API-Key": args.api_key, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            raw = answer.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        text = exc.read().decode(errors="replace")
        raise SystemExit(f"{method} {path}: {exc.code} {text}") from None
    return json.loads(raw) if raw else {}


def subscription(args: argparse.Namespace, mirror: Mirror) -> str:
    """The signing secret of this mirror's webhook, subscribed on the first start (and
    again if it was deleted); enabled again if the server disabled it during an outage."""
    url = f"http://127.0.0.1:{args.port}/"
    webhook_id = mirror.setting("webhook_id")
    found = call(args, "GET", f"/api/webhooks/{webhook_id}") if webhook_id else None
    if found is None or found["url"] != url:
        made = call(
            args, "POST", "/api/webhooks", {"url": url, "events": ["*"], "orderedDelivery": True}
        )
        mirror.setting("webhook_id", str(made["id"]))
        mirror.setting("secret", made["secret"])
        print(f"subscribed webhook {made['id']} at {url}", flush=True)
    elif not found["enabled"]:
        call(args, "PUT", f"/api/webhooks/{webhook_id}", {"enabled": True})
        print(f"enabled webhook {webhook_id} again", flush=True)
    secret = mirror.setting("secret")
    assert secret is not None
    return secret


def receiver(inbox: Inbox) -> type[BaseHTTPRequestHandler]:
    class Receive(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                inbox.accept(body, dict(self.headers.items()))  # stored before we answer
            except VerificationError as exc:
                self.send_response(exc.status_code)
                self.end_headers()
                self.wfile.write(str(exc).encode())
                return
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Receive


def repair(args: argparse.Namespace, mirror: Mirror) -> None:
    report = reconcile(mirror, args.api_url, args.api_key, repair=True)
    print(
        f"reconciled: {report.remote_total} on the server, {len(report.missing)} missing,"
        f" {len(report.extra)} extra, {len(report.stale)} stale;"
        f" {len(report.upserted)} fetched, {len(report.deleted)} deleted",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-url", default="http://127.0.0.1:8080")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--db", default="mirror.sqlite3", help="the mirror")
    parser.add_argument("--inbox", default="mirror-inbox.sqlite3", help="the receiver's inbox")
    parser.add_argument("--gap-grace", type=float, default=60, help="seconds")
    parser.add_argument("--reconcile-every", type=float, default=600, help="seconds")
    args = parser.parse_args()
    # The kit says what it does (gaps filled from the log, dead letters) through logging.
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    mirror = Mirror(args.db)
    inbox = Inbox(
        args.inbox,
        subscription(args, mirror),
        api_url=args.api_url,
        api_key=args.api_key,
        confirm_deletes=True,  # delete the copy only once the API says 404
        gap_grace=timedelta(seconds=args.gap_grace),
    )
    inbox.on("*", lambda event: apply(mirror, event), name="mirror.apply")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), receiver(inbox))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"receiving at http://127.0.0.1:{args.port}/", flush=True)

    inbox.process()  # what was accepted before the last stop
    repair(args, mirror)  # what happened while nobody listened
    inbox.start()
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    while not stop.wait(args.reconcile_every):
        repair(args, mirror)
    server.shutdown()
    inbox.close()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
