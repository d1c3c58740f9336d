"""The dispatcher's pure parts: bodies, what an attempt leads to, room per endpoint,
and which events a webhook gets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from tidings.config import Settings
from tidings.db.engine import Database
from tidings.webhooks import store
from tidings.webhooks.dispatcher import Dispatcher, within_caps
from tidings.webhooks.matching import matches
from tidings.webhooks.sender import Sent

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
PAYLOAD = b'{"id":7,"subject":"Hello"}'


def _due(webhook_id: int = 1, attempts: int = 0, fmt: str = "freescout") -> store.Due:
    return store.Due(
        id=f"msg_{webhook_id}_{attempts}",
        webhook_id=webhook_id,
        url="https://93.184.216.34/hook",
        format=fmt,
        sequence=3,
        attempts=attempts,
        event_id="evt_1",
        event_seq=41,
        event_type="convo.created",
        event_created_at=NOW,
        payload=PAYLOAD,
        secrets=("whsec_a2s=",),
    )


def _dispatcher(**settings: object) -> Dispatcher:
    db = Database("sqlite://")
    s = Settings(database_url="sqlite://", **settings)  # type: ignore[arg-type]
    return Dispatcher(db, lambda: NOW, s, "secret", [])


def test_the_freescout_body_is_the_stored_payload_itself() -> None:
    assert _dispatcher().body(_due()) == PAYLOAD


def test_the_envelope() -> None:
    body = orjson.loads(_dispatcher().body(_due(fmt="envelope")))
    assert body == {
        "id": "evt_1",
        "type": "convo.created",
        "seq": 41,
        "createdAt": "2026-12-06T12:00:00Z",
        "data": {"id": 7, "subject": "Hello"},
    }


def test_a_failure_is_tried_again_on_the_schedule() -> None:
    dispatcher = _dispatcher(retry_schedule="0,10,20")
    failed = dispatcher.result(_due(attempts=0), Sent(NOW, 12, 500, response_body="no"))
    assert (failed.number, failed.delivered, failed.gone) == (1, False, False)
    assert failed.next_attempt_at is not None
    assert timedelta(seconds=8) <= failed.next_attempt_at - NOW <= timedelta(seconds=12)
    last = dispatcher.result(_due(attempts=2), Sent(NOW, 12, None, error_class="Timeout"))
    assert (last.number, last.next_attempt_at) == (3, None)  # the schedule ran out


def test_a_delivery_and_a_410_end_the_delivery() -> None:
    dispatcher = _dispatcher()
    ok = dispatcher.result(_due(), Sent(NOW, 3, 204))
    assert (ok.delivered, ok.next_attempt_at, ok.status_code) == (True, None, 204)
    gone = dispatcher.result(_due(), Sent(NOW, 3, 410))
    assert (gone.gone, gone.delivered, gone.next_attempt_at) == (True, False, None)


def test_each_webhook_gets_only_its_free_slots() -> None:
    claimed = [_due(1, n) for n in range(5)] + [_due(2, n) for n in range(3)]
    kept, extra = within_caps(claimed, caps={1: 4, 2: 10}, in_flight={1: 2})
    assert [d.id for d in kept] == ["msg_1_0", "msg_1_1", "msg_2_0", "msg_2_1", "msg_2_2"]
    assert [d.id for d in extra] == ["msg_1_2", "msg_1_3", "msg_1_4"]
    # A webhook that was disabled meanwhile (no cap) gets nothing.
    assert within_caps([_due(3)], caps={}, in_flight={}) == ([], [_due(3)])


def test_matching() -> None:
    assert matches(["*"], [], "operation.completed", "operation", None)
    assert matches(["convo.created"], [], "convo.created", "conversation", 5)
    assert not matches(["convo.created"], [], "convo.deleted", "conversation", 5)
    # The mailbox filter applies to conversation events only.
    assert matches(["convo.created"], [5], "convo.created", "conversation", 5)
    assert not matches(["convo.created"], [5], "convo.created", "conversation", 6)
    assert matches(["customer.created"], [5], "customer.created", "customer", None)
    assert matches(["*"], [5], "operation.started", "operation", None)


def test_a_test_event_reaches_only_the_webhook_it_tests() -> None:
    kwargs = {"webhook_id": 7}
    assert matches(["convo.created"], [], "webhook.test", "webhook", None, **kwargs, entity_id=7)
    assert not matches(["*"], [], "webhook.test", "webhook", None, **kwargs, entity_id=8)
    assert matches(["webhook.failing"], [5], "webhook.failing", "webhook", None, entity_id=8)
    assert not matches(["convo.created"], [], "webhook.failing", "webhook", None, entity_id=7)
