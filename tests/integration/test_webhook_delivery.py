"""Webhook delivery to real receivers on 127.0.0.1: what arrives, signed how, retried how.

The dispatcher runs for real (``DispatcherThread``, aiohttp) against an aiohttp receiver
started by the test; the desk is changed through its API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from standardwebhooks import Webhook

from tests.integration.test_events_kit import Desk, desk_app, submit
from tests.receiver import Receiver, running_receiver
from tidings.db.engine import Database
from tidings.db.schema import deliveries, delivery_attempts
from tidings.events.outbox import transaction
from tidings.webhooks.dispatcher import Dispatcher, DispatcherThread

LOCAL = "127.0.0.0/8"
FAST_RETRIES = "0,0.2,0.2,0.2"


@contextmanager
def delivering(database_url: str, **settings: Any) -> Iterator[tuple[Desk, Receiver]]:
    """A desk whose webhooks may target 127.0.0.1, a receiver, and the dispatcher running."""
    settings = {
        "webhook_allowed_networks": LOCAL,
        "retry_schedule": FAST_RETRIES,
        "worker_poll_seconds": 0.05,
        **settings,
    }
    with running_receiver() as receiver, desk_app(database_url, **settings) as desk:
        ctx = desk.ctx
        thread = DispatcherThread(
            Dispatcher(ctx.db, ctx.clock, ctx.settings, ctx.webhook_secret, ctx.allowed_networks),
            ctx.settings,
        )
        thread.start()
        try:
            yield desk, receiver
        finally:
            thread.stop()


def subscribe(desk: Desk, url: str, **body: Any) -> dict[str, Any]:
    r = desk.post("/webhooks", {"url": url, "events": ["*"], **body})
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    return made


def _now() -> int:
    return int(datetime.now(UTC).timestamp())


def test_deliveries_are_signed_and_carry_the_stored_payload(database_url: str) -> None:
    with delivering(database_url) as (desk, receiver):
        box = desk.mailbox()
        early = desk.conversation(box, text="before the webhook")  # not delivered
        hook = subscribe(desk, receiver.url(), events=["convo.created", "customer.created"])
        mark = desk.mark()
        ids = [desk.conversation(box, customer=f"c{i}@example.com") for i in range(3)]
        logged = [e for e in desk.events(mark) if e["type"] in hook["events"]]
        arrived = receiver.wait_for("/hook", len(logged))
        secret = desk.ctx.webhook_secret
    got = sorted(arrived, key=lambda r: int(r.headers["X-Tidings-Sequence"]))
    assert early not in ids
    assert len(got) == len(logged) == 6  # three customers, three conversations
    verifier = Webhook(hook["secret"])
    for n, (request, event) in enumerate(zip(got, logged, strict=True), 1):
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert headers["x-freescout-event"] == event["type"]
        assert headers["content-type"] == "application/json"
        assert headers["x-tidings-sequence"] == str(n)  # per webhook, no gaps
        assert headers["x-tidings-webhook-id"] == str(hook["id"])
        assert headers["x-tidings-event-id"] == event["id"]
        assert headers["x-tidings-event-seq"] == str(event["seq"])
        assert headers["webhook-id"].startswith("msg_")
        assert abs(int(headers["webhook-timestamp"]) - _now()) < 60
        # The body is the event's data, byte for byte as the log serves it.
        assert orjson.loads(request.body) == event["data"]
        # Verified by the standardwebhooks package, and by FreeScout's HMAC-SHA1.
        assert verifier.verify(request.body, headers) == event["data"]
        digest = hmac.new(secret.encode(), request.body, hashlib.sha1).digest()
        assert headers["x-freescout-signature"] == base64.b64encode(digest).decode()


def test_a_failing_receiver_gets_the_same_webhook_id_until_it_succeeds(
    database_url: str, db: Database
) -> None:
    with delivering(database_url) as (desk, receiver):
        receiver.script["/flaky"] = [500, 503, 200]
        hook = subscribe(desk, receiver.url("/flaky"), events=["customer.created"])
        desk.post("/customers", {"firstName": "Flo", "email": "flo@example.com"})
        got = receiver.wait_for("/flaky", 3)
        # Recorded once the third answer is in.
        _wait_for_status(db, "delivered")
        shown = desk.get(f"/webhooks/{hook['id']}").json()
        listed = desk.get(f"/webhooks/{hook['id']}/deliveries").json()
        assert (
            desk.get(f"/webhooks/{hook['id']}/deliveries", status="failed").json()["page"][
                "totalElements"
            ]
            == 0
        )
        assert desk.get(f"/webhooks/{hook['id']}/deliveries", status="lost").status_code == 400
        assert desk.get(f"/webhooks/{hook['id']}/deliveries", since="soon").status_code == 400
        assert desk.get("/webhooks/999/deliveries").status_code == 404
    assert listed["page"]["totalElements"] == 1
    (delivery,) = listed["_embedded"]["deliveries"]
    assert delivery["id"] == got[0].headers["webhook-id"]
    assert (delivery["status"], delivery["sequence"], delivery["nextAttemptAt"]) == (
        "delivered",
        1,
        None,
    )
    assert delivery["event"]["type"] == "customer.created"
    assert [(a["number"], a["statusCode"]) for a in delivery["attempts"]] == [
        (1, 500),
        (2, 503),
        (3, 200),
    ]
    assert [a["responseBody"] for a in delivery["attempts"]] == ["no", "no", "ok"]
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert len({r.body for r in got}) == 1  # the same bytes every time
    with db.read() as conn:
        attempts = conn.execute(
            select(delivery_attempts.c.number, delivery_attempts.c.status_code).order_by(
                delivery_attempts.c.number
            )
        ).all()
    assert [tuple(a) for a in attempts] == [(1, 500), (2, 503), (3, 200)]
    assert shown["health"]["status"] == "healthy"
    assert shown["lastRunError"] is None


def test_410_disables_the_webhook(database_url: str, db: Database) -> None:
    with delivering(database_url) as (desk, receiver):
        receiver.script["/gone"] = [410]
        hook = subscribe(desk, receiver.url("/gone"), events=["customer.created"])
        desk.post("/customers", {"firstName": "A", "email": "a@example.com"})
        receiver.wait_for("/gone", 1)
        _wait_for_status(db, "failed")
        desk.post("/customers", {"firstName": "B", "email": "b@example.com"})
        _wait_for_status(db, "skipped")
        shown = desk.get(f"/webhooks/{hook['id']}").json()
    assert len(receiver.at("/gone")) == 1  # nothing after the 410
    assert shown["enabled"] is False
    assert shown["health"]["status"] == "disabled"
    assert "410" in shown["health"]["disabledReason"]


def test_redirects_are_not_followed(database_url: str, db: Database) -> None:
    with delivering(database_url, retry_schedule="0") as (desk, receiver):
        receiver.script["/moved"] = [302]
        subscribe(desk, receiver.url("/moved"), events=["customer.created"])
        desk.post("/customers", {"firstName": "R", "email": "r@example.com"})
        receiver.wait_for("/moved", 1)
        _wait_for_status(db, "failed")
    assert receiver.at("/elsewhere") == []


def test_a_private_address_is_refused_when_connecting(database_url: str, db: Database) -> None:
    """Allowlisted when created, no longer when sent: refused before any request."""
    with (
        running_receiver() as receiver,
        desk_app(database_url, webhook_allowed_networks=LOCAL, retry_schedule="0") as desk,
    ):
        subscribe(desk, receiver.url("/private"), events=["customer.created"])
        subscribe(desk, f"http://localhost:{receiver.port}/by-name", events=["customer.created"])
        desk.post("/customers", {"firstName": "P", "email": "p@example.com"})
        ctx = desk.ctx
        strict = Dispatcher(ctx.db, ctx.clock, ctx.settings, ctx.webhook_secret, allowed=[])
        thread = DispatcherThread(strict, ctx.settings)
        thread.start()
        try:
            _wait_for_status(db, "failed", count=2)
        finally:
            thread.stop()
        with db.read() as conn:
            errors = set(conn.execute(select(delivery_attempts.c.error_class)).scalars())
    assert receiver.received == []
    assert errors == {"TargetRefused"}


def test_mailbox_filter_and_a_bulk_delete(database_url: str) -> None:
    """A bulk delete of 1,000 conversations reaches the receiver as exactly 1,000
    ``convo.deleted`` plus the operation's events; another mailbox's events do not."""
    with delivering(database_url, operation_chunk_size=250) as (desk, receiver):
        box, other = desk.mailbox(), desk.mailbox("Other")
        agent = desk.user()
        ids = [desk.conversation(box, customer=f"b{i % 7}@example.com") for i in range(1000)]
        desk.conversation(other)
        subscribe(
            desk,
            receiver.url("/bulk"),
            events=["convo.deleted", "operation.started", "operation.completed"],
            mailboxes=[box],
        )
        desk.conversation(other, customer="elsewhere@example.com")  # filtered out
        op_id = submit(desk, {"action": "delete", "conversationIds": ids, "byUser": agent})
        desk.run_operations()
        arrived = receiver.wait_for("/bulk", 1002)
    # Up to ten at a time (maxConcurrency), so in sequence order only once sorted.
    got = sorted(arrived, key=lambda r: int(r.headers["X-Tidings-Sequence"]))
    assert len(got) == 1002
    events = [r.headers["X-FreeScout-Event"] for r in got]
    assert events.count("convo.deleted") == 1000
    assert (events[0], events[-1]) == ("operation.started", "operation.completed")
    bodies = [orjson.loads(r.body) for r in got]
    deleted = [b["id"] for b, e in zip(bodies, events, strict=True) if e == "convo.deleted"]
    assert sorted(deleted) == ids
    assert [int(r.headers["X-Tidings-Sequence"]) for r in got] == list(range(1, 1003))
    assert bodies[-1]["id"] == op_id
    assert bodies[-1]["succeeded"] == 1000


def _wait_for_status(db: Database, status: str, count: int = 1, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.read() as conn:
            found = conn.execute(select(deliveries.c.id).where(deliveries.c.status == status)).all()
        if len(found) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"no {count} deliveries {status}")


def test_a_hanging_receiver_does_not_hold_up_a_healthy_one(database_url: str, db: Database) -> None:
    """Ten deliveries at a time hang at one endpoint (up to its timeout, 10 s here); the
    other endpoint gets all of its deliveries meanwhile, none of them waiting behind."""
    with delivering(database_url, webhook_timeout_seconds=10) as (desk, receiver):
        receiver.script["/hang"] = ["hang"]
        subscribe(desk, receiver.url("/hang"), events=["customer.created"])
        subscribe(desk, receiver.url("/ok"), events=["customer.created"])
        for n in range(40):
            desk.post("/customers", {"firstName": "H", "email": f"h{n}@example.com"})
        receiver.wait_for("/ok", 40)
        _wait_for_status(db, "delivered", count=40)
        hanging = receiver.at("/hang")
        with db.read() as conn:
            attempts = conn.execute(select(delivery_attempts.c.id)).all()
    # Only the endpoint's cap of deliveries was sent to the hanging one, none answered yet.
    assert len(hanging) == 10
    assert len(attempts) == 40  # the healthy endpoint's, recorded one by one


def test_a_webhook_deleted_mid_delivery_costs_the_others_nothing(
    database_url: str, db: Database
) -> None:
    """Its attempts are dropped when recorded; the other webhooks' in the same batch stay."""
    from tidings.webhooks import store

    with desk_app(database_url, webhook_allowed_networks=LOCAL) as desk:
        kept = subscribe(desk, "http://127.0.0.1:9/kept", events=["customer.created"])
        gone = subscribe(desk, "http://127.0.0.1:9/gone", events=["customer.created"])
        desk.post("/customers", {"firstName": "D", "email": "d@example.com"})
        now = desk.ctx.clock()
        with db.write() as conn:
            store.fan_out(conn, now)
            claimed = store.claim(conn, "me", now, timedelta(seconds=60), 10)
        assert {d.webhook_id for d in claimed} == {kept["id"], gone["id"]}
        assert desk.delete(f"/webhooks/{gone['id']}").status_code == 204
        results = [
            store.Result(d.id, d.webhook_id, 1, now, 200, 1, "ok", None, None, None, True, False)
            for d in claimed
        ]
        with transaction(db, desk.ctx.clock) as tx:
            store.record(tx, results, "me")
        with db.read() as conn:
            rows = conn.execute(select(deliveries.c.webhook_id, deliveries.c.status)).all()
    assert [tuple(r) for r in rows] == [(kept["id"], "delivered")]
