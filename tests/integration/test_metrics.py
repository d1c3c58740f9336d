"""GET /metrics: the database's gauges as they are at the scrape, and the attempts this
process's dispatcher counted, read back through Prometheus' own parser.

The attempt counters belong to the process, shared by every app a test builds, so tests
compare two scrapes; the database's gauges are the test's own database's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from tests.integration.test_events_kit import Desk, FakeClock, H, desk_app, submit
from tests.integration.test_webhook_delivery import LOCAL, delivering, subscribe
from tidings.db.engine import Database
from tidings.db.schema import deliveries, delivery_attempts
from tidings.operations.model import OperationStatus
from tidings.webhooks import metrics, store
from tidings.webhooks.dispatcher import Dispatcher, DispatcherThread
from tidings.webhooks.sender import Sent

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(desk: Desk) -> Samples:
    r = desk.client.get("/metrics", headers=H)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == CONTENT_TYPE_LATEST
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def at(samples: Samples, name: str, **labels: Any) -> float:
    return samples[(name, frozenset((k, str(v)) for k, v in labels.items()))]


def grew(before: Samples, after: Samples, name: str, **labels: Any) -> float:
    return at(after, name, **labels) - at(before, name, **labels)


def attempts(before: Samples, after: Samples) -> dict[str, float]:
    """How many attempts were counted between two scrapes, by outcome."""
    name = "tidings_delivery_attempts_total"
    return {o: grew(before, after, name, outcome=o) for o in metrics.OUTCOMES}


@contextmanager
def dispatching(database_url: str, clock: FakeClock, **settings: Any) -> Iterator[Desk]:
    """A desk on ``clock`` whose webhooks may target 127.0.0.1, its dispatcher running."""
    with desk_app(database_url, clock, webhook_allowed_networks=LOCAL, **settings) as desk:
        ctx = desk.ctx
        thread = DispatcherThread(
            Dispatcher(ctx.db, ctx.clock, ctx.settings, ctx.webhook_secret, ctx.allowed_networks),
            ctx.settings,
        )
        thread.start()
        try:
            yield desk
        finally:
            thread.stop()


def add_customers(desk: Desk, n: int) -> None:
    for i in range(n):
        r = desk.post("/customers", {"firstName": "M", "email": f"m{i}@example.com"})
        assert r.status_code == 201, r.text


def wait_for(db: Database, query: Any, expected: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.read() as conn:
            if conn.execute(query).scalar_one() == expected:
                return
        time.sleep(0.02)
    raise AssertionError(f"{query} never came to {expected}")


def count(table: Any, *where: Any) -> Any:
    return select(func.count()).select_from(table).where(*where)


# --- the route -------------------------------------------------------------------------


def test_metrics_need_the_api_key(database_url: str) -> None:
    with desk_app(database_url) as desk:
        for headers in ({}, {"X-FreeScout-API-Key": "wrong"}, {"X-FreeScout-API-Key": ""}):
            refused = desk.client.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.json() == {"message": "Not Authorized"}
        assert desk.client.get("/metrics", params={"api_key": "wrong"}).status_code == 401
        by_query = desk.client.get("/metrics", params={"api_key": "k"})
        by_header = desk.client.get("/metrics", headers=H)
        paths = desk.app.openapi()["paths"]
    assert by_query.status_code == by_header.status_code == 200
    assert by_header.headers["content-type"] == CONTENT_TYPE_LATEST
    assert "tidings_event_log_position" in by_query.text
    assert "/metrics" not in paths  # not FreeScout's API, and not JSON


# --- from the database -----------------------------------------------------------------


def test_delivered_events_leave_nothing_undelivered(database_url: str, db: Database) -> None:
    with delivering(database_url) as (desk, receiver):
        hook = subscribe(desk, receiver.url("/ok"), events=["customer.created"])
        add_customers(desk, 5)
        receiver.wait_for("/ok", 5)
        wait_for(db, count(deliveries, deliveries.c.status == store.DELIVERED), 5)
        samples = scrape(desk)
        position = desk.mark()
    webhook_id = hook["id"]
    assert at(samples, "tidings_deliveries_undelivered", webhook_id=webhook_id) == 0
    assert at(samples, "tidings_deliveries_in_flight", webhook_id=webhook_id) == 0
    assert at(samples, "tidings_oldest_undelivered_age_seconds", webhook_id=webhook_id) == 0
    assert at(samples, "tidings_event_log_position") == position > 0
    assert at(samples, "tidings_webhooks", status="healthy") == 1


def test_a_receiver_that_is_down_leaves_its_deliveries_undelivered(
    database_url: str, db: Database, free_port: int
) -> None:
    """Each delivery tried once (nothing listens on the port), the next try an hour away:
    all three stay undelivered, the oldest as old as the time that passed since."""
    clock = FakeClock()
    with dispatching(database_url, clock, retry_schedule="0,3600") as desk:
        down = subscribe(desk, f"http://127.0.0.1:{free_port}/down", events=["customer.created"])
        add_customers(desk, 3)
        wait_for(db, count(delivery_attempts), 3)  # recorded with their lease given back
        clock.advance(90)
        samples = scrape(desk)
    webhook_id = down["id"]
    assert at(samples, "tidings_deliveries_undelivered", webhook_id=webhook_id) == 3
    assert at(samples, "tidings_deliveries_in_flight", webhook_id=webhook_id) == 0
    assert at(samples, "tidings_oldest_undelivered_age_seconds", webhook_id=webhook_id) == 90


def test_claimed_deliveries_are_in_flight_until_their_lease_runs_out(
    database_url: str, db: Database
) -> None:
    clock = FakeClock()
    with desk_app(database_url, clock, webhook_allowed_networks=LOCAL) as desk:
        hook = subscribe(desk, "http://127.0.0.1:9/x", events=["customer.created"])
        idle = subscribe(desk, "http://127.0.0.1:9/y", events=["convo.created"])
        add_customers(desk, 3)
        with db.write() as conn:
            store.fan_out(conn, clock())
        clock.advance(30)
        with db.write() as conn:
            store.claim(conn, "me", clock(), timedelta(seconds=60), limit=2)
        leased = scrape(desk)
        clock.advance(61)
        expired = scrape(desk)
    webhook_id = hook["id"]
    assert at(leased, "tidings_deliveries_undelivered", webhook_id=webhook_id) == 3
    assert at(leased, "tidings_deliveries_in_flight", webhook_id=webhook_id) == 2
    assert at(leased, "tidings_oldest_undelivered_age_seconds", webhook_id=webhook_id) == 30
    assert at(expired, "tidings_deliveries_in_flight", webhook_id=webhook_id) == 0
    assert at(expired, "tidings_oldest_undelivered_age_seconds", webhook_id=webhook_id) == 91
    # A webhook with nothing pending is there too, at 0.
    for name in ("undelivered", "in_flight"):
        assert at(expired, f"tidings_deliveries_{name}", webhook_id=idle["id"]) == 0
    assert at(expired, "tidings_oldest_undelivered_age_seconds", webhook_id=idle["id"]) == 0


def test_disabled_webhooks_are_counted(database_url: str) -> None:
    with desk_app(database_url, webhook_allowed_networks=LOCAL) as desk:
        hooks = [subscribe(desk, f"http://127.0.0.1:9/{n}") for n in range(3)]
        for hook in hooks[1:]:
            assert desk.put(f"/webhooks/{hook['id']}", {"enabled": False}).status_code == 204
        samples = scrape(desk)
    assert at(samples, "tidings_webhooks_disabled") == 2
    assert [at(samples, "tidings_webhooks", status=s) for s in metrics.HEALTH] == [1, 0, 2]


def test_operations_by_status(database_url: str) -> None:
    with desk_app(database_url) as desk:
        box, agent = desk.mailbox(), desk.user()
        ids = [desk.conversation(box, customer=f"o{i}@example.com") for i in range(4)]
        submit(desk, {"action": "delete", "conversationIds": ids[:2], "byUser": agent})
        desk.run_operations()
        cancelled = submit(desk, {"action": "delete", "conversationIds": ids[2:], "byUser": agent})
        assert desk.post(f"/operations/{cancelled}/cancel", {}).status_code == 202
        desk.run_operations()
        submit(desk, {"action": "delete", "conversationIds": ids[2:], "byUser": agent})
        samples = scrape(desk)
        position = desk.mark()
    by_status = {s: at(samples, "tidings_operations", status=s) for s in OperationStatus}
    assert by_status == {
        "queued": 1,
        "running": 0,
        "completed": 1,
        "failed": 0,
        "cancelled": 1,
        "timed_out": 0,
    }
    assert at(samples, "tidings_event_log_position") == position


def test_several_registries_read_the_same_database(database_url: str) -> None:
    """Each app registers the process's attempt counters in its own registry."""
    with desk_app(database_url) as desk, desk_app(database_url) as other:
        desk.mailbox()
        assert scrape(desk) == scrape(other)


# --- counted by this process's dispatcher ------------------------------------------------


def test_attempts_and_latency_as_recorded(database_url: str) -> None:
    with desk_app(database_url) as desk:
        before = scrape(desk)
        metrics.attempt_recorded("delivered", 0.004)
        metrics.attempt_recorded("delivered", 75.0)  # a retry's success: past the last bucket
        metrics.attempt_recorded("delivered", None)  # counted, not timed
        metrics.attempt_recorded("failed", 0.5)  # only deliveries are timed
        metrics.attempt_recorded("gone", None)
        metrics.attempt_recorded("error", None)
        after = scrape(desk)
    with pytest.raises(ValueError, match="lost"):
        metrics.attempt_recorded("lost", None)
    assert attempts(before, after) == {"delivered": 3, "failed": 1, "gone": 1, "error": 1}
    latency = "tidings_delivery_latency_seconds"
    assert grew(before, after, f"{latency}_count") == 2
    assert grew(before, after, f"{latency}_sum") == pytest.approx(75.004)
    assert grew(before, after, f"{latency}_bucket", le="0.0025") == 0
    assert grew(before, after, f"{latency}_bucket", le="0.005") == 1
    assert grew(before, after, f"{latency}_bucket", le="60.0") == 1
    assert grew(before, after, f"{latency}_bucket", le="+Inf") == 2


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (410, "gone"),
        (500, "failed"),
        (429, "failed"),
        (302, "failed"),
        (None, "error"),
    ],
)
def test_an_attempts_outcome(status: int | None, outcome: str) -> None:
    assert metrics.outcome(status) == outcome


def test_commit_to_receipt_ends_with_the_answer() -> None:
    committed = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    sent = Sent(started_at=committed + timedelta(seconds=2), latency_ms=250, status=200)
    assert metrics.commit_to_receipt(committed, sent) == 2.25


def test_the_dispatcher_counts_its_attempts(
    database_url: str, db: Database, free_port: int
) -> None:
    """One attempt per delivery (no retries), each counted by its outcome: as many as the
    receiver answered with each status, and the refused connections; every delivered one
    is timed."""
    with delivering(database_url, retry_schedule="0") as (desk, receiver):
        receiver.script.update({"/no": [500], "/gone": [410]})
        before = scrape(desk)
        for path in ("/ok", "/no", "/gone"):
            subscribe(desk, receiver.url(path), events=["customer.created"])
        subscribe(desk, f"http://127.0.0.1:{free_port}/down", events=["customer.created"])
        add_customers(desk, 5)
        wait_for(db, count(deliveries), 20)
        wait_for(db, count(deliveries, deliveries.c.status == store.PENDING), 0)

        def answered() -> dict[str, float]:
            paths = {"delivered": "/ok", "failed": "/no", "gone": "/gone"}
            return {o: len(receiver.at(p)) for o, p in paths.items()} | {"error": 5}

        # The first 410 disables the webhook; deliveries already sent answer 410 too, and
        # are counted when their answer is in (their attempts are not stored: skipped).
        deadline = time.monotonic() + 5
        while attempts(before, scrape(desk)) != answered() and time.monotonic() < deadline:
            time.sleep(0.02)
        after = scrape(desk)
        expected = answered()
    assert attempts(before, after) == expected
    assert (expected["delivered"], expected["failed"]) == (5, 5)
    assert expected["gone"] >= 1
    assert grew(before, after, "tidings_delivery_latency_seconds_count") == 5
    assert grew(before, after, "tidings_delivery_latency_seconds_bucket", le="30.0") == 5
