"""examples/mirror stays identical to the server: a real ``tidings serve``, the example as
a user runs it (its own process, the receiver kit from receiver/src), and the server's
``GET /api/conversations/digest`` compared with a digest of the mirror's rows computed
here, through live changes, a bulk delete, a delete forever, a restore and an outage.

The server retries twice within half a second (``TIDINGS_RETRY_SCHEDULE``), so the
deliveries made while the mirror is down fail for good: only the example's own recovery
(reconcile at start, gaps filled from the event log) can bring it back.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.processes import KEY, api, environment, running, wait_for, wait_until_up
from tests.helpers import free_port

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).resolve().parents[2]
MIRROR = ROOT / "examples" / "mirror" / "mirror.py"
BUCKETS = 16


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    env = environment(database_url, webhook_allowed_networks="127.0.0.1/32", retry_schedule="0,0.3")
    url = f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "serve.log"
    with running(["serve", "--port", url.rsplit(":", 1)[1]], env, log) as proc:
        wait_until_up(url, proc, log)
        yield url


class Mirror:
    """The example's process (started and stopped by the test) and its database."""

    def __init__(self, url: str, directory: Path) -> None:
        self.db = directory / "mirror.sqlite3"
        self.log = directory / "mirror.log"
        port = free_port()
        self.args = [
            sys.executable, str(MIRROR), "--api-url", url, "--api-key", KEY,
            "--port", str(port), "--db", str(self.db),
            "--inbox", str(directory / "inbox.sqlite3"), "--gap-grace", "1",
        ]  # fmt: skip
        # As installed with `pip install tidings-receiver`: the kit's source, nothing else.
        self.env = {**os.environ, "PYTHONPATH": str(ROOT / "receiver" / "src")}
        self.proc: subprocess.Popen[bytes] | None = None

    @contextmanager
    def running(self) -> Iterator[None]:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, env=self.env, stdout=out, stderr=out)
        try:
            yield
        finally:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                assert self.proc.wait(30) == 0, self.output()
            self.proc = None

    def output(self) -> str:
        return self.log.read_text()

    def lines(self, text: str) -> list[str]:
        return [line for line in self.output().splitlines() if text in line]

    def wait_for_line(self, text: str, count: int = 1) -> str:
        def found() -> str | None:
            assert self.proc is None or self.proc.poll() is None, self.output()
            hits = self.lines(text)
            return hits[count - 1] if len(hits) >= count else None

        line: str = wait_for(f"{text!r} in the mirror's output", found, timeout=60)
        return line

    def rows(self) -> list[tuple[int, str, str]]:
        with sqlite3.connect(self.db) as conn:
            found = conn.execute("SELECT id, updated_at, state FROM conversations ORDER BY id")
            return [(int(i), str(u), str(s)) for i, u, s in found]


def digest(rows: list[tuple[int, str, str]]) -> dict[str, Any]:
    """The digest of the mirror's rows, as docs/api.md defines it."""
    lines: list[str] = ["" for _ in range(BUCKETS)]
    for convo_id, updated, state in sorted(rows):
        lines[convo_id % BUCKETS] += f"{convo_id}:{updated}:{state}\n"
    hashes = [hashlib.sha256(text.encode()).hexdigest() for text in lines]
    return {"total": len(rows), "hash": hashlib.sha256("\n".join(hashes).encode()).hexdigest()}


def on_server(client: httpx.Client) -> dict[str, Any]:
    found = client.get("/api/conversations/digest", params={"buckets": BUCKETS}).json()
    return {"total": found["total"], "hash": found["hash"]}


def in_sync(client: httpx.Client, mirror: Mirror) -> None:
    def same() -> bool:
        return on_server(client) == digest(mirror.rows())

    wait_for("the mirror to match the server", same, timeout=60)


def conversation(client: httpx.Client, mailbox: int, n: int) -> int:
    body = {
        "type": "email",
        "mailboxId": mailbox,
        "subject": f"Question {n}",
        "customer": {"email": f"customer{n}@mirror.example"},
        "threads": [{"type": "customer", "text": f"Hello {n}"}],
    }
    answer = client.post("/api/conversations", json=body)
    assert answer.status_code == 201, answer.text
    made: int = answer.json()["id"]
    return made


def operation(client: httpx.Client, body: dict[str, Any]) -> None:
    """Run a bulk operation (with its dry run's token when it needs one) to its end."""
    if body["action"] == "delete_forever":
        dry = client.post("/api/operations", json={**body, "dryRun": True}).json()
        body = {**body, "confirmToken": dry["confirmToken"]}
    queued = client.post("/api/operations", json=body)
    assert queued.status_code == 202, queued.text
    op_id = queued.json()["id"]

    def finished() -> dict[str, Any] | None:
        op: dict[str, Any] = client.get(f"/api/operations/{op_id}").json()
        return op if op["status"] not in ("queued", "running") else None

    assert wait_for(f"operation {op_id}", finished)["status"] == "completed"


def put(client: httpx.Client, convo_id: int, body: dict[str, Any]) -> None:
    answer = client.put(f"/api/conversations/{convo_id}", json=body)
    assert answer.status_code == 204, answer.text


def test_the_mirror_stays_identical_to_the_server(server: str, tmp_path: Path) -> None:
    with api(server) as client:
        _mirror_through_everything(client, server, tmp_path)


def _mirror_through_everything(client: httpx.Client, server: str, tmp_path: Path) -> None:
    user = client.post(
        "/api/users", json={"firstName": "Mo", "lastName": "Mirror", "email": "mo@mirror.example"}
    ).json()["id"]
    by = {"byUser": user}
    mailbox = client.post(
        "/api/mailboxes", json={"name": "Support", "email": "support@mirror.example"}
    ).json()["id"]
    ids = [conversation(client, mailbox, n) for n in range(30)]
    mirror = Mirror(server, tmp_path)

    with mirror.running():
        # The first start copies everything through reconcile.
        first = mirror.wait_for_line("reconciled:")
        assert "30 missing, 0 extra, 0 stale; 30 fetched, 0 deleted" in first, first
        webhook = int(re.findall(r"subscribed webhook (\d+)", mirror.output())[0])
        in_sync(client, mirror)

        # Live changes arrive as deliveries.
        put(client, ids[0], {"status": "closed", **by})
        client.post(
            f"/api/conversations/{ids[1]}/threads", json={"type": "note", "text": "n", "user": user}
        )
        ids.append(conversation(client, mailbox, 30))
        in_sync(client, mirror)
        assert mirror.lines(f"to conversation {ids[-1]}")

        # A bulk delete to the trash, then forever for half of them, then a restore.
        operation(client, {"action": "delete", "conversationIds": ids[:10]})
        in_sync(client, mirror)
        assert {s for i, _, s in mirror.rows() if i in ids[:10]} == {"deleted"}
        operation(client, {"action": "delete_forever", "conversationIds": ids[:5]})
        in_sync(client, mirror)
        assert not {i for i, _, _ in mirror.rows()} & set(ids[:5])
        operation(client, {"action": "restore", "conversationIds": ids[5:10]})
        in_sync(client, mirror)
        assert {s for i, _, s in mirror.rows() if i in ids[5:10]} == {"published"}
        delivered = len(mirror.lines("applied "))

    # An outage: changes while the mirror is down, their deliveries failing for good.
    put(client, ids[10], {"status": "pending", **by})
    put(client, ids[11], {"state": "deleted", **by})
    ids.append(conversation(client, mailbox, 31))
    operation(client, {"action": "delete_forever", "conversationIds": [ids[12]]})
    operation(
        client,
        {"action": "status", "conversationIds": ids[13:18], "params": {"status": "spam"}, **by},
    )

    def all_failed() -> bool:
        pending = client.get(f"/api/webhooks/{webhook}/deliveries", params={"status": "pending"})
        return pending.json()["page"]["totalElements"] == 0

    wait_for("the deliveries made during the outage to fail", all_failed)
    failed = client.get(f"/api/webhooks/{webhook}/deliveries", params={"status": "failed"})
    assert failed.json()["page"]["totalElements"] >= 9
    assert on_server(client) != digest(mirror.rows())  # the mirror is behind now

    with mirror.running():
        # Back: reconcile at start repairs what was missed...
        again = mirror.wait_for_line("reconciled:", 2)
        assert "1 missing, 1 extra, 7 stale; 8 fetched, 1 deleted" in again, again
        in_sync(client, mirror)
        # ...and the next delivery shows the gap in X-Tidings-Sequence, which the inbox
        # fills from the event log (the events are older than what reconcile wrote).
        put(client, ids[20], {"status": "closed", **by})
        mirror.wait_for_line("were missing")
        in_sync(client, mirror)
        assert len(mirror.lines("applied ")) > delivered
    assert mirror.lines("stopped")
    assert sorted(i for i, _, _ in mirror.rows()) == sorted(
        c["id"]
        for c in client.get("/api/conversations", params={"state": "all", "pageSize": 500}).json()[
            "_embedded"
        ]["conversations"]
    )
