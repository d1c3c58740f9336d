"""Every event in the catalog, refused by the database after its change: nothing is left.

For each event type, a real trigger makes appending that event to the outbox fail. The
change has already run in the transaction by then (the outbox append is its last
statement), so each case proves that the change and every event of its transaction roll
back together: the API answers FreeScout's 500, the desk reads as before, the log holds
nothing new. Then the trigger goes, the same request is made again, and it is announced.

``test_events_rollback.py`` covers the other kinds of failure (a row that refuses half-way,
a commit that fails); this file covers the catalog, one event at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.integration.test_events_kit import (
    Desk,
    FakeClock,
    assert_failed,
    count_events,
    desk_app,
    drop_trigger,
    fail_on_event,
    submit,
)
from tidings.db.engine import Database
from tidings.db.schema import deliveries, delivery_attempts, mailboxes, webhooks
from tidings.events.catalog import ALL_EVENTS
from tidings.webhooks.dispatcher import Dispatcher
from tidings.webhooks.sender import Sent

REFUSED = "boom fail_event"  # what the planted trigger raises


@dataclass
class World:
    """What a case's request works on."""

    desk: Desk
    agent: int
    other: int
    box: int
    box2: int
    cid: int
    customer: int
    source: int | None = None  # a second conversation, made by a merge case's ``prepare``


@dataclass(frozen=True)
class Case:
    """A request that announces the event (``act``, answered ``status``), what must read the
    same if it fails (``probe``), and what to do first (``prepare``)."""

    act: Callable[[World], Any]
    probe: Callable[[World], Any]
    status: int = 204
    prepare: Callable[[World], None] = lambda w: None


def _read(path: str, **params: Any) -> Callable[[World], Any]:
    """GET ``path`` (formatted with the world as ``w``): its status and body."""

    def probe(w: World) -> Any:
        r = w.desk.get(path.format(w=w), **params)
        return r.status_code, r.json()

    return probe


_convo = _read("/conversations/{w.cid}", embed="threads,tags")


def _put(body: Callable[[World], dict[str, Any]]) -> Callable[[World], Any]:
    """An update of the conversation, by the agent."""
    return lambda w: w.desk.put(f"/conversations/{w.cid}", {**body(w), "byUser": w.agent})


def _thread(body: Callable[[World], dict[str, Any]]) -> Callable[[World], Any]:
    """A new thread of the conversation."""
    return lambda w: w.desk.post(f"/conversations/{w.cid}/threads", body(w))


def _new_conversation(w: World) -> Any:
    body = {
        "type": "email",
        "mailboxId": w.box,
        "subject": "New",
        "customer": {"email": "fresh@example.com"},
        "threads": [{"type": "customer", "text": "hi"}],
    }
    return w.desk.post("/conversations", body)


def _conversations_customers_and_numbers(w: World) -> Any:
    """The mailbox's conversations, the customers, and each mailbox's last conversation
    number (which no API response shows)."""
    with w.desk.ctx.db.read() as conn:
        numbers = conn.execute(select(mailboxes.c.id, mailboxes.c.last_number)).all()
    return (
        _read("/conversations", mailboxId=w.box, state="all")(w),
        _read("/customers")(w),
        sorted(numbers),
    )


def _convo_and_tags(w: World) -> Any:
    return _convo(w), _read("/tags")(w)


def _assigned(w: World) -> None:
    w.desk.update(w.cid, {"assignTo": w.other, "byUser": w.agent})


def _trashed(w: World) -> None:
    w.desk.update(w.cid, {"state": "deleted", "byUser": w.agent})


def _with_source(w: World) -> None:
    w.source = w.desk.conversation(w.box, text="merge me", customer="merge@example.com")


def _merge(w: World) -> Any:
    body = {"conversationId": w.source, "byUser": w.agent}
    return w.desk.post(f"/conversations/{w.cid}/merge", body)


def _both(w: World) -> Any:
    return _convo(w), _read("/conversations/{w.source}", embed="threads,tags")(w)


CASES: dict[str, Case] = {
    "convo.created": Case(_new_conversation, _conversations_customers_and_numbers, 201),
    "convo.assigned": Case(_put(lambda w: {"assignTo": w.other}), _convo),
    "convo.unassigned": Case(_put(lambda w: {"assignTo": 0}), _convo, prepare=_assigned),
    "convo.moved": Case(_put(lambda w: {"mailboxId": w.box2}), _convo),
    "convo.status": Case(_put(lambda w: {"status": "closed"}), _convo),
    "convo.updated": Case(_put(lambda w: {"subject": "Another subject"}), _convo),
    "convo.deleted": Case(_put(lambda w: {"state": "deleted"}), _convo),
    "convo.restored": Case(_put(lambda w: {"state": "published"}), _convo, prepare=_trashed),
    "convo.deleted_forever": Case(lambda w: w.desk.delete(f"/conversations/{w.cid}"), _convo),
    "convo.customer.reply.created": Case(
        _thread(lambda w: {"type": "customer", "text": "still there?"}), _convo, 201
    ),
    "convo.agent.reply.created": Case(
        _thread(lambda w: {"type": "message", "text": "answer", "user": w.agent}), _convo, 201
    ),
    "convo.note.created": Case(
        _thread(lambda w: {"type": "note", "text": "a note", "user": w.agent}), _convo, 201
    ),
    "convo.tags": Case(
        lambda w: w.desk.put(f"/conversations/{w.cid}/tags", {"tags": ["billing"]}),
        _convo_and_tags,
    ),
    "convo.merged": Case(_merge, _both, prepare=_with_source),
    "customer.created": Case(
        lambda w: w.desk.post("/customers", {"firstName": "Zed", "email": "zed@example.com"}),
        _read("/customers"),
        201,
    ),
    "customer.updated": Case(
        lambda w: w.desk.put(f"/customers/{w.customer}", {"firstName": "Renamed"}),
        _read("/customers/{w.customer}"),
    ),
}

# Other paths to the same events, where the refused event is not the transaction's only one.
MORE_CASES: dict[str, tuple[str, Case]] = {
    # A customer reply un-deletes: convo.restored, then the reply's own event.
    "convo.restored-by-a-customer-reply": (
        "convo.restored",
        Case(
            _thread(lambda w: {"type": "customer", "text": "hello?"}),
            _convo,
            201,
            prepare=_trashed,
        ),
    ),
    # An agent reply to an active conversation makes it pending: the reply, then the status.
    "convo.status-by-an-agent-reply": (
        "convo.status",
        Case(
            _thread(lambda w: {"type": "message", "text": "on it", "user": w.agent}),
            _convo,
            201,
            prepare=lambda w: w.desk.update(w.cid, {"status": "active", "byUser": w.agent}),
        ),
    ),
}

# The operation events, refused in the runner's transactions: the test for each.
OPERATION_CASES = {
    "operation.started": "test_a_refused_operation_started_fails_the_operation",
    "operation.progress": "test_a_refused_operation_event_takes_its_chunk_with_it",
    "operation.completed": "test_a_refused_operation_event_takes_its_chunk_with_it",
    "operation.cancelled": "test_a_refused_cancellation_is_not_announced",
    "operation.timed_out": "test_a_refused_timeout_is_not_announced",
    "operation.failed": "test_a_refused_failure_leaves_the_operation_to_be_resumed",
}


# The webhook events, refused in the API's or the dispatcher's transactions.
WEBHOOK_CASES = {
    "webhook.test": "test_a_refused_webhook_test_is_not_sent",
    "webhook.disabled": "test_a_refused_webhook_disabled_leaves_it_enabled",
    "webhook.failing": "test_a_refused_health_alert_takes_its_attempts_with_it",
    "webhook.recovered": "test_a_refused_health_alert_takes_its_attempts_with_it",
    "webhook.lagging": "test_a_refused_lagging_alert_takes_the_claim_with_it",
}


def test_every_catalog_event_has_a_rollback_case() -> None:
    assert sorted([*CASES, *OPERATION_CASES, *WEBHOOK_CASES]) == sorted(ALL_EVENTS)
    cases = [*OPERATION_CASES.values(), *WEBHOOK_CASES.values()]
    assert all(callable(globals().get(name)) for name in cases)


def world(desk: Desk) -> World:
    agent, other = desk.user(), desk.user("Bob")
    box, box2 = desk.mailbox(), desk.mailbox("Sales")
    cid = desk.conversation(box, customer="first@example.com")
    desk.reply(cid, {"type": "message", "text": "earlier answer", "user": agent})
    customer = desk.convo(cid)["customer"]["id"]
    return World(desk, agent, other, box, box2, cid, customer)


@pytest.mark.parametrize(
    ("event_type", "case"),
    [
        *(pytest.param(t, CASES[t], id=t) for t in sorted(CASES)),
        *(pytest.param(*pair, id=name) for name, pair in MORE_CASES.items()),
    ],
)
def test_a_refused_event_takes_its_change_with_it(
    database_url: str,
    db: Database,
    event_type: str,
    case: Case,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with desk_app(database_url, raise_server_exceptions=False) as desk:
        w = world(desk)
        case.prepare(w)
        before, n_events = case.probe(w), count_events(db)

        fail_on_event(db, event_type)
        assert_failed(case.act(w))
        assert REFUSED in caplog.text  # it was the event that the database refused
        assert case.probe(w) == before
        assert count_events(db) == n_events

        # Nothing of the failure is left behind: once the database takes it, it is announced.
        drop_trigger(db, "fail_event", "events")
        mark = desk.mark()
        r = case.act(w)
        assert r.status_code == case.status, r.text
        types = desk.types(mark)
        assert event_type in types, types
        assert case.probe(w) != before


# --- operation events: the runner's transactions -------------------------------------------

CHUNK = 2  # three conversations: a chunk of two, then the last one


def three_conversations(desk: Desk) -> tuple[int, list[int]]:
    """An agent, and three conversations in one mailbox."""
    agent, box = desk.user(), desk.mailbox()
    return agent, [desk.conversation(box, text=f"t{i}") for i in range(3)]


def delete(desk: Desk, agent: int, ids: list[int], **extra: Any) -> str:
    """Queue a bulk delete; its id."""
    return submit(desk, {"action": "delete", "conversationIds": ids, "byUser": agent, **extra})


def states(desk: Desk, ids: list[int]) -> list[str]:
    return [desk.convo(i)["state"] for i in ids]


def deleted_ids(desk: Desk, mark: int) -> list[int]:
    return [e["entity"]["id"] for e in desk.events(mark) if e["type"] == "convo.deleted"]


def test_a_refused_operation_started_fails_the_operation(database_url: str, db: Database) -> None:
    """A persistent error before the first chunk fails the operation, announced, and
    changes no conversation."""
    clock = FakeClock()
    with desk_app(database_url, clock, operation_chunk_size=CHUNK) as desk:
        agent, ids = three_conversations(desk)
        mark = desk.mark()
        op_id = delete(desk, agent, ids)
        fail_on_event(db, "operation.started")
        desk.run_operations()
        op = desk.get(f"/operations/{op_id}").json()
        assert op["status"] == "failed"
        assert REFUSED in op["error"]
        assert desk.types(mark) == ["operation.failed"]
        assert states(desk, ids) == ["published"] * 3


@pytest.mark.parametrize(
    ("event_type", "announced"),
    [
        # The first chunk's progress event is refused: that chunk rolls back whole.
        ("operation.progress", ["operation.started", "operation.failed"]),
        # The last chunk's completion is refused: the last chunk rolls back whole.
        (
            "operation.completed",
            [
                "operation.started",
                "convo.deleted",
                "convo.deleted",
                "operation.progress",
                "operation.failed",
            ],
        ),
    ],
)
def test_a_refused_operation_event_takes_its_chunk_with_it(
    database_url: str, db: Database, event_type: str, announced: list[str]
) -> None:
    with desk_app(database_url, FakeClock(), operation_chunk_size=CHUNK) as desk:
        agent, ids = three_conversations(desk)
        mark = desk.mark()
        op_id = delete(desk, agent, ids)
        fail_on_event(db, event_type)
        desk.run_operations()

        assert desk.types(mark) == announced
        committed = announced.count("convo.deleted")
        assert deleted_ids(desk, mark) == ids[:committed]
        assert states(desk, ids) == ["deleted"] * committed + ["published"] * (3 - committed)
        op = desk.get(f"/operations/{op_id}").json()
        assert (op["status"], op["processed"]) == ("failed", committed)
        assert REFUSED in op["error"]


def assert_failed_before_any_change(desk: Desk, mark: int, op_id: str, ids: list[int]) -> None:
    """The operation announced only that it started and then failed, for the refusal, and
    changed nothing."""
    assert desk.types(mark) == ["operation.started", "operation.failed"]
    op = desk.get(f"/operations/{op_id}").json()
    assert op["status"] == "failed"
    assert REFUSED in op["error"]
    assert states(desk, ids) == ["published"] * 3


@pytest.mark.parametrize("atomic", [False, True])
def test_a_refused_cancellation_is_not_announced(
    database_url: str, db: Database, atomic: bool
) -> None:
    with desk_app(database_url, FakeClock(), operation_chunk_size=CHUNK) as desk:
        agent, ids = three_conversations(desk)
        mark = desk.mark()
        op_id = delete(desk, agent, ids, atomic=atomic)
        assert desk.post(f"/operations/{op_id}/cancel", {}).status_code == 202
        fail_on_event(db, "operation.cancelled")
        desk.run_operations()

        assert_failed_before_any_change(desk, mark, op_id, ids)


@pytest.mark.parametrize("atomic", [False, True])
def test_a_refused_timeout_is_not_announced(database_url: str, db: Database, atomic: bool) -> None:
    clock = FakeClock(step=timedelta(seconds=2))  # every reading is 2 s later
    with desk_app(database_url, clock, operation_chunk_size=CHUNK) as desk:
        agent, ids = three_conversations(desk)
        mark = desk.mark()
        op_id = delete(desk, agent, ids, timeoutSeconds=1, atomic=atomic)
        fail_on_event(db, "operation.timed_out")
        desk.run_operations()

        assert_failed_before_any_change(desk, mark, op_id, ids)


def test_a_refused_failure_leaves_the_operation_to_be_resumed(
    database_url: str, db: Database
) -> None:
    """The chunk fails, and so does announcing that: the operation is left running, as
    after a crash, with nothing announced that did not commit. A worker that takes it over
    once the lease has run out meets the failing chunk again and announces it once."""
    clock = FakeClock()
    with desk_app(database_url, clock, operation_chunk_size=CHUNK) as desk:
        agent, ids = three_conversations(desk)
        mark = desk.mark()
        op_id = delete(desk, agent, ids)
        fail_on_event(db, "convo.deleted", conversation_id=ids[2], name="fail_chunk")
        fail_on_event(db, "operation.failed")
        with pytest.raises(Exception, match=REFUSED):
            desk.run_operations()
        committed = ["operation.started", "convo.deleted", "convo.deleted", "operation.progress"]
        assert desk.types(mark) == committed
        op = desk.get(f"/operations/{op_id}").json()
        assert (op["status"], op["processed"]) == ("running", 2)

        drop_trigger(db, "fail_event", "events")
        clock.advance(desk.settings.worker_lease_seconds + 1)
        desk.run_operations()
        assert desk.types(mark) == [*committed, "operation.failed"]
        assert deleted_ids(desk, mark) == ids[:2]
        assert states(desk, ids) == ["deleted", "deleted", "published"]
        op = desk.get(f"/operations/{op_id}").json()
        assert op["status"] == "failed"
        assert "boom fail_chunk" in op["error"]


# --- the webhook events ------------------------------------------------------------------


@contextmanager
def watched_webhook(database_url: str, **settings: Any) -> Iterator[tuple[Desk, int, Dispatcher]]:
    """A desk, a webhook for customer events, and a dispatcher driven by hand (nothing is
    sent: the tests hand it the attempts' outcomes)."""
    with desk_app(
        database_url,
        FakeClock(step=timedelta(seconds=1)),
        raise_server_exceptions=False,
        run_dispatcher=False,
        webhook_allowed_networks="127.0.0.0/8",
        **settings,
    ) as desk:
        r = desk.post("/webhooks", {"url": "http://127.0.0.1:9/", "events": ["*"]})
        assert r.status_code == 201, r.text
        ctx = desk.ctx
        dispatcher = Dispatcher(ctx.db, ctx.clock, ctx.settings, "s", ctx.allowed_networks)
        yield desk, r.json()["id"], dispatcher


def _health(db: Database) -> tuple[Any, ...]:
    """What a refused health change must leave as it was."""
    with db.read() as conn:
        hook = conn.execute(
            select(webhooks.c.enabled, webhooks.c.consecutive_failures, webhooks.c.lagging_since)
        ).one()
        attempts = conn.execute(select(func.count()).select_from(delivery_attempts)).scalar()
        states = conn.execute(
            select(deliveries.c.status, deliveries.c.lease_owner).order_by(deliveries.c.sequence)
        ).all()
    return (tuple(hook), attempts, [tuple(s) for s in states])


def test_a_refused_webhook_test_is_not_sent(database_url: str, db: Database) -> None:
    with watched_webhook(database_url) as (desk, hook, _):
        before = count_events(db)
        fail_on_event(db, "webhook.test")
        assert_failed(desk.post(f"/webhooks/{hook}/test", {}))
        assert count_events(db) == before
        drop_trigger(db, REFUSED.split()[1], "events")
        assert desk.post(f"/webhooks/{hook}/test", {}).status_code == 202
        assert desk.types(before) == ["webhook.test"]


def test_a_refused_webhook_disabled_leaves_it_enabled(database_url: str, db: Database) -> None:
    with watched_webhook(database_url) as (desk, hook, _):
        before = count_events(db)
        fail_on_event(db, "webhook.disabled")
        assert_failed(desk.put(f"/webhooks/{hook}", {"enabled": False}))
        assert desk.get(f"/webhooks/{hook}").json()["enabled"] is True
        assert count_events(db) == before
        drop_trigger(db, REFUSED.split()[1], "events")
        assert desk.put(f"/webhooks/{hook}", {"enabled": False}).status_code == 204
        assert desk.types(before) == ["webhook.disabled"]


@pytest.mark.parametrize("refused", ["webhook.failing", "webhook.recovered", "webhook.disabled"])
def test_a_refused_health_alert_takes_its_attempts_with_it(
    database_url: str, db: Database, refused: str
) -> None:
    """The batch of attempts whose recording announces the change is not recorded (the
    deliveries stay leased, to be sent again): nothing is half-kept."""
    with watched_webhook(database_url) as (desk, _, dispatcher):
        for n in range(6):
            desk.post("/customers", {"firstName": f"C{n}", "email": f"c{n}@example.com"})
        due, _ = dispatcher._claim({})
        outcome = lambda i, code: dispatcher.result(due[i], Sent(desk.ctx.clock(), 1, code))  # noqa: E731
        if refused != "webhook.failing":
            dispatcher._record([outcome(i, 500) for i in range(4)])  # now failing
        batch = {
            "webhook.failing": [outcome(i, 500) for i in range(4)],
            "webhook.recovered": [outcome(4, 200)],
            "webhook.disabled": [outcome(4, 410)],
        }[refused]
        before, events_before = _health(db), count_events(db)
        fail_on_event(db, refused)
        with pytest.raises(Exception, match=REFUSED):
            dispatcher._record(batch)
        assert (_health(db), count_events(db)) == (before, events_before)
        drop_trigger(db, REFUSED.split()[1], "events")
        dispatcher._record(batch)
        assert desk.types(events_before) == [refused]


def test_a_refused_lagging_alert_takes_the_claim_with_it(database_url: str, db: Database) -> None:
    with watched_webhook(database_url, webhook_lag_seconds=1) as (desk, _, dispatcher):
        desk.post("/customers", {"firstName": "L", "email": "l@example.com"})
        dispatcher._claim({})  # fanned out, leased; the clock moves a second a reading
        before, events_before = _health(db), count_events(db)
        fail_on_event(db, "webhook.lagging")
        dispatcher._lag_checked = 0
        with pytest.raises(Exception, match=REFUSED):
            dispatcher._claim({})
        assert (_health(db), count_events(db)) == (before, events_before)
        drop_trigger(db, REFUSED.split()[1], "events")
        dispatcher._lag_checked = 0
        dispatcher._claim({})
        assert desk.types(events_before) == ["webhook.lagging"]
