"""Delivery's own events and the operator's tools, with a real receiver on 127.0.0.1.

``webhook.failing`` / ``.recovered`` / ``.disabled`` / ``.lagging`` are announced in the
transaction that changes the webhook's health, and delivered like any other event to the
webhooks that subscribe to them; ``webhook.test`` reaches only the webhook it tests. A
redelivery sends the same delivery again (same ``webhook-id``, same sequence): one by id,
or every failed or missed one since a time as a tracked ``redeliver`` operation.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from tests.integration.test_events_kit import Desk
from tests.integration.test_webhook_delivery import _wait_for_status, delivering, subscribe
from tidings.db.engine import Database


def _wait(predicate: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := predicate():
            return found
        time.sleep(0.02)
    raise AssertionError(f"waited {timeout} s for {what}")


def _webhook_events(desk: Desk) -> list[tuple[str, int]]:
    return [
        (e["type"], e["entity"]["id"]) for e in desk.events() if e["type"].startswith("webhook.")
    ]


def test_a_test_event_reaches_only_the_tested_webhook(database_url: str) -> None:
    with delivering(database_url) as (desk, receiver):
        tested = subscribe(desk, receiver.url("/tested"), events=["convo.created"])
        other = subscribe(desk, receiver.url("/other"), events=["*"])
        answer = desk.post(f"/webhooks/{tested['id']}/test", {})
        assert answer.status_code == 202, answer.text
        event = answer.json()
        (got,) = receiver.wait_for("/tested", 1)
        assert desk.post("/webhooks/999/test", {}).status_code == 404
        desk.put(f"/webhooks/{other['id']}", {"enabled": False})
        refused = desk.post(f"/webhooks/{other['id']}/test", {})
    assert (event["type"], event["entity"]) == (
        "webhook.test",
        {"type": "webhook", "id": tested["id"]},
    )
    assert got.headers["X-FreeScout-Event"] == "webhook.test"
    assert orjson.loads(got.body) == event["data"]
    assert event["data"]["id"] == tested["id"]
    assert "secret" not in event["data"]
    assert receiver.at("/other") == []  # subscribed to everything, but not the one tested
    assert refused.status_code == 409
    assert refused.json()["message"] == f"Webhook {other['id']} is disabled: enable it first"


def test_failing_then_recovered_is_announced_once_each(database_url: str, db: Database) -> None:
    """Four failures in a row: ``webhook.failing``; the next success: ``.recovered``; both
    delivered to a webhook that watches delivery health."""
    with delivering(database_url, retry_schedule="0,0,0,0,0,0") as (desk, receiver):
        receiver.script["/flaky"] = [500, 500, 500, 500, 500, 200]
        watcher = subscribe(
            desk, receiver.url("/watch"), events=["webhook.failing", "webhook.recovered"]
        )
        flaky = subscribe(desk, receiver.url("/flaky"), events=["customer.created"])
        desk.post("/customers", {"firstName": "Flo", "email": "flo@example.com"})
        watched = receiver.wait_for("/watch", 2)
        shown = desk.get(f"/webhooks/{flaky['id']}").json()
        announced = _webhook_events(desk)
    assert announced == [
        ("webhook.failing", flaky["id"]),
        ("webhook.recovered", flaky["id"]),
    ]
    assert [r.headers["X-FreeScout-Event"] for r in watched] == [
        "webhook.failing",
        "webhook.recovered",
    ]
    failing = orjson.loads(watched[0].body)
    assert failing["health"]["status"] == "failing"
    assert failing["health"]["consecutiveFailures"] == 4
    assert failing["lastRunError"] == "HTTP 500"
    recovered = orjson.loads(watched[1].body)
    assert recovered["health"]["status"] == "healthy"
    assert recovered["health"]["consecutiveFailures"] == 0
    assert len(receiver.at("/flaky")) == 6
    assert shown["health"]["status"] == "healthy"
    assert watcher["id"] != flaky["id"]


def test_a_410_announces_webhook_disabled(database_url: str, db: Database) -> None:
    with delivering(database_url) as (desk, receiver):
        receiver.script["/gone"] = [410]
        watcher = subscribe(desk, receiver.url("/watch"), events=["webhook.disabled"])
        gone = subscribe(desk, receiver.url("/gone"), events=["customer.created"])
        desk.post("/customers", {"firstName": "A", "email": "a@example.com"})
        (got,) = receiver.wait_for("/watch", 1)
        desk.put(f"/webhooks/{watcher['id']}", {"enabled": False})
        _wait(lambda: ("webhook.disabled", watcher["id"]) in _webhook_events(desk), "disabled")
        announced = _webhook_events(desk)
    assert announced == [
        ("webhook.disabled", gone["id"]),
        ("webhook.disabled", watcher["id"]),
    ]
    body = orjson.loads(got.body)
    assert body["enabled"] is False
    assert body["health"]["disabledReason"] == "the receiver answered 410 Gone"


def test_a_stalled_webhook_is_announced_lagging_once(database_url: str, db: Database) -> None:
    """The receiver keeps failing with the next try far ahead: once its oldest undelivered
    event is older than the threshold, ``webhook.lagging``, once, and ``laggingSince``."""
    settings = {"retry_schedule": "0,3600", "webhook_lag_seconds": 0.3}
    with delivering(database_url, **settings) as (desk, receiver):
        receiver.script["/down"] = [503]
        watcher = subscribe(desk, receiver.url("/watch"), events=["webhook.lagging"])
        down = subscribe(desk, receiver.url("/down"), events=["customer.created"])
        desk.post("/customers", {"firstName": "A", "email": "a@example.com"})
        (got,) = receiver.wait_for("/watch", 1)
        time.sleep(1.5)  # more lag checks: none announces it again
        shown = desk.get(f"/webhooks/{down['id']}").json()
        announced = _webhook_events(desk)
    assert announced == [("webhook.lagging", down["id"])]
    assert orjson.loads(got.body)["health"]["laggingSince"] is not None
    assert shown["health"]["laggingSince"] is not None
    assert len(receiver.at("/watch")) == 1
    assert watcher["id"] != down["id"]


def test_redelivering_everything_failed_since_a_time(database_url: str, db: Database) -> None:
    """Three deliveries fail for good; the receiver is fixed; one request replays them as an
    operation, with the same ``webhook-id`` and sequence as the first time."""
    with delivering(database_url, retry_schedule="0") as (desk, receiver):
        receiver.script["/later"] = [500, 500, 500, 200]
        hook = subscribe(desk, receiver.url("/later"), events=["customer.created"])
        for n in range(3):
            desk.post("/customers", {"firstName": f"C{n}", "email": f"c{n}@example.com"})
        first = receiver.wait_for("/later", 3)
        _wait_for_status(db, "failed", 3)
        mark = desk.mark()
        answer = desk.post(f"/webhooks/{hook['id']}/redeliver", {"since": "2000-01-01T00:00:00Z"})
        assert answer.status_code == 202, answer.text
        op = answer.json()
        desk.run_operations()
        again = receiver.wait_for("/later", 6)[3:]
        _wait_for_status(db, "delivered", 3)
        done = desk.get(f"/operations/{op['id']}").json()
        listed = desk.get(f"/webhooks/{hook['id']}/deliveries").json()["_embedded"]["deliveries"]
        types = desk.types(mark)
    assert (op["action"], op["total"], op["params"]) == (
        "redeliver",
        3,
        {"webhookId": hook["id"], "status": ["failed", "skipped"], "since": "2000-01-01T00:00:00Z"},
    )
    assert (done["status"], done["succeeded"]) == ("completed", 3)
    assert (types[0], types[-1]) == ("operation.started", "operation.completed")
    ids = lambda got: sorted(r.headers["webhook-id"] for r in got)  # noqa: E731
    assert ids(again) == ids(first)
    assert sorted(r.headers["X-Tidings-Sequence"] for r in again) == ["1", "2", "3"]
    assert {d["status"] for d in listed} == {"delivered"}
    # The attempts of the first round and of the redelivery, in the order they were made.
    assert [(a["number"], a["statusCode"]) for a in listed[0]["attempts"]] == [(1, 500), (1, 200)]


def test_redelivering_one_delivery_and_the_refusals(database_url: str, db: Database) -> None:
    with delivering(database_url, retry_schedule="0") as (desk, receiver):
        receiver.script["/once"] = [500, 200]
        hook = subscribe(desk, receiver.url("/once"), events=["customer.created"])
        desk.post("/customers", {"firstName": "O", "email": "o@example.com"})
        (first,) = receiver.wait_for("/once", 1)
        _wait_for_status(db, "failed")
        path = f"/webhooks/{hook['id']}/redeliver"
        delivery_id = first.headers["webhook-id"]
        bad = [
            desk.post(path, {"deliveryId": "msg_nope"}),
            desk.post(path, {"status": ["lost"], "since": "2000-01-01T00:00:00Z"}),
            desk.post(path, {"since": "yesterday"}),
            desk.post(path, {}),
            desk.post(path, {"deliveryId": delivery_id, "since": "2000-01-01T00:00:00Z"}),
            desk.post("/webhooks/999/redeliver", {"deliveryId": delivery_id}),
        ]
        answer = desk.post(path, {"deliveryId": delivery_id})
        (_, second) = receiver.wait_for("/once", 2)
        _wait_for_status(db, "delivered")
        desk.put(f"/webhooks/{hook['id']}", {"enabled": False})
        disabled = desk.post(path, {"deliveryId": delivery_id})
    assert [r.status_code for r in bad] == [404, 400, 400, 400, 400, 404]
    assert bad[1].json()["_embedded"]["errors"][0]["path"] == "status"
    assert answer.status_code == 202
    assert (answer.json()["id"], answer.json()["status"]) == (delivery_id, "pending")
    assert second.headers["webhook-id"] == delivery_id
    assert second.body == first.body
    assert disabled.status_code == 409
