"""``tidings worker`` as a separate process on PostgreSQL, woken by NOTIFY."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tidings.db.engine import Database
from tidings.db.schema import operations
from tidings.desk import conversations as convos
from tidings.desk.mailboxes import create_mailbox
from tidings.desk.users import create_user
from tidings.events.outbox import transaction
from tidings.operations import planning

pytestmark = pytest.mark.acceptance

TIDINGS = str(Path(sys.executable).with_name("tidings"))


@pytest.mark.parametrize("backend", ["postgresql"])
def test_separate_workers_wake_on_notify_and_finish_operations(
    db: Database, database_url: str
) -> None:
    with transaction(db) as tx:
        create_user(tx, {"firstName": "Ada", "lastName": "A", "email": "ada@e.io"})
        mailbox = create_mailbox(tx, {"name": "S", "email": "s@e.io"})
        body = {"type": "email", "mailboxId": mailbox, "subject": "Hi"}
        ids = [
            convos.create_conversation(
                tx,
                {
                    **body,
                    "customer": {"email": f"c{i}@e.io"},
                    "threads": [{"type": "customer", "text": "x"}],
                },
            )["id"]
            for i in range(20)
        ]
    # A poll interval far longer than the wait below: only NOTIFY can wake the workers in time.
    env = {**os.environ, "TIDINGS_DATABASE_URL": database_url, "TIDINGS_WORKER_POLL_SECONDS": "300"}
    workers = [
        subprocess.Popen(
            [TIDINGS, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    try:
        time.sleep(3)  # both listening
        with transaction(db) as tx:
            request = {"action": "delete", "conversationIds": ids, "byUser": 1}
            op_id = planning.queue(tx, planning.parse(tx.conn, request), "secret").id
        deadline = time.monotonic() + 60
        status = "queued"
        while time.monotonic() < deadline and status != "completed":
            time.sleep(0.2)
            with db.read() as conn:
                status = conn.execute(
                    select(operations.c.status).where(operations.c.id == op_id)
                ).scalar_one()
        assert status == "completed"
    finally:
        for proc in workers:
            proc.kill()
            proc.wait(timeout=10)
            assert proc.stderr is not None
            proc.stderr.close()
