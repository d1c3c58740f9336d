"""``tidings worker`` killed with SIGKILL in the middle of delivering: nothing is lost.

A real worker process delivers to a slow receiver (each answer takes 50 ms, ten at a
time), is killed while deliveries are in flight, and a second worker takes over once the
leases run out. Every event arrives at least once, a repeat carries the same
``webhook-id`` as the first time, and the sequence numbers have no gaps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.receiver import running_receiver
from tidings.db.engine import Database
from tidings.db.schema import deliveries
from tidings.desk import customers
from tidings.events.outbox import transaction
from tidings.webhooks import subscriptions
from tidings.webhooks.targets import parse_networks

pytestmark = pytest.mark.acceptance

TIDINGS = str(Path(sys.executable).with_name("tidings"))
COUNT = 200


def _worker(database_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "TIDINGS_WORKER_LEASE_SECONDS": "2",
        "TIDINGS_WEBHOOK_TIMEOUT_SECONDS": "1",  # leases of 6 s
        "TIDINGS_WORKER_POLL_SECONDS": "0.1",
    }
    return subprocess.Popen(
        [TIDINGS, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _delivered(db: Database) -> int:
    with db.read() as conn:
        query = select(func.count()).where(deliveries.c.status == "delivered")
        return int(conn.execute(query).scalar_one())


def test_sigkill_mid_delivery_loses_nothing(database_url: str, db: Database) -> None:
    with running_receiver() as receiver:
        receiver.delay = 0.05
        with transaction(db) as tx:
            allowed = parse_networks("127.0.0.0/8")
            subscriptions.create_webhook(
                tx, {"url": receiver.url("/slow"), "events": ["customer.created"]}, allowed
            )
        with transaction(db) as tx:
            for n in range(COUNT):
                customers.create_customer(tx, {"firstName": "C", "email": f"c{n}@example.com"})
        first = _worker(database_url)
        try:
            receiver.wait_for("/slow", 30, timeout=60)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            first.kill()
        killed_at = _delivered(db)
        assert killed_at < COUNT, "killed too late to test anything"
        second = _worker(database_url)
        try:
            deadline = time.monotonic() + 120
            while _delivered(db) < COUNT and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
        got = receiver.at("/slow")
    assert _delivered(db) == COUNT
    by_sequence: dict[int, set[str]] = defaultdict(set)
    for request in got:
        by_sequence[int(request.headers["X-Tidings-Sequence"])].add(request.headers["webhook-id"])
    assert sorted(by_sequence) == list(range(1, COUNT + 1))  # every one, no gaps
    assert all(len(ids) == 1 for ids in by_sequence.values())  # a repeat is the same delivery
    emails = {request.body for request in got}
    assert len(emails) == COUNT
