"""The gap policy (pure): streams, holes, since when, which logged events fill them."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from receiver_kit import START
from tidings_receiver.gaps import (
    Hole,
    Mark,
    Stream,
    Subscription,
    advance,
    assign,
    due,
    holes,
    pick,
)

from tidings.webhooks.matching import matches


def at(seconds: float) -> Any:
    return START + timedelta(seconds=seconds)


def marks(*pairs: tuple[int, int | None], seen: float = 0) -> list[Mark]:
    return [Mark(s, p, at(seen + i)) for i, (s, p) in enumerate(pairs)]


def test_a_stream_advances_over_what_continues_it() -> None:
    stream = Stream(1, 0, None)
    seen = marks((1, 10), (2, 12), (3, 13), (5, 20))
    assert advance(stream, seen) == Stream(1, 3, 13)
    assert advance(Stream(1, 3, 13), seen) == Stream(1, 3, 13)  # 4 is missing
    filled = sorted([*seen, Mark(4, 18, at(9))], key=lambda m: m.sequence)
    assert advance(Stream(1, 3, 13), filled) == Stream(1, 5, 20)
    assert advance(stream, []) == stream


def test_holes_between_marks_with_their_bounds_and_age() -> None:
    stream = Stream(7, 2, 11)
    seen = [Mark(5, 30, at(10)), Mark(6, 31, at(2)), Mark(9, 50, at(5)), Mark(10, 52, at(1))]
    assert holes(stream, seen) == [
        # Since the earliest arrival past it: sequence 10, at 1 s.
        Hole(7, 3, 4, after=11, before=30, since=at(1)),
        Hole(7, 7, 8, after=31, before=50, since=at(1)),
    ]
    assert holes(Stream(7, 0, None), [Mark(3, 9, at(4)), Mark(4, 10, at(6))]) == [
        Hole(7, 1, 2, after=None, before=9, since=at(4))
    ]
    assert holes(stream, [Mark(3, 12, at(0))]) == []


def test_a_hole_is_due_after_its_grace_and_only_with_a_known_end() -> None:
    aged = Hole(1, 3, 3, 10, 20, at(0))
    young = Hole(1, 5, 5, 21, 30, at(50))
    blind = Hole(2, 3, 3, None, None, at(0))  # an older sender: no X-Tidings-Event-Seq
    assert due([aged, young, blind], at(60), timedelta(seconds=60)) == [aged]
    assert due([aged, young, blind], at(110), timedelta(seconds=60)) == [aged, young]


EVENT_TYPES = [
    "convo.created",
    "convo.status",
    "customer.created",
    "operation.started",
    "webhook.test",
    "webhook.failing",
]
ENTITIES = {
    "convo": "conversation",
    "customer": "customer",
    "operation": "operation",
    "webhook": "webhook",
}


def logged(seq: int, event_type: str, mailbox: int | None = None, entity_id: int = 1) -> Any:
    entity = ENTITIES[event_type.split(".")[0]]
    return {
        "id": f"evt_{seq}",
        "seq": seq,
        "type": event_type,
        "mailboxId": mailbox,
        "entity": {"type": entity, "id": entity_id},
        "data": {"n": seq},
    }


@pytest.mark.parametrize(
    ("events", "mailboxes"),
    [
        (["*"], []),
        (["*"], [2]),
        (["convo.created", "customer.created"], [1]),
        (["convo.status"], []),
    ],
)
def test_the_subscription_filter_is_the_servers(events: list[str], mailboxes: list[int]) -> None:
    subscription = Subscription(webhook_id=4, events=tuple(events), mailboxes=tuple(mailboxes))
    for event_type, mailbox, entity_id in itertools.product(EVENT_TYPES, [None, 1, 2], [3, 4]):
        event = logged(1, event_type, mailbox, entity_id)
        entity = event["entity"]["type"]
        expected = matches(
            events, mailboxes, event_type, entity, mailbox, webhook_id=4, entity_id=entity_id
        )
        assert subscription.wants(event) is expected, (event_type, mailbox, entity_id)


def test_the_type_filter_asks_for_the_webhooks_types_and_its_tests() -> None:
    assert Subscription(1, ("*",)).types() is None
    assert Subscription(1, ("convo.status", "convo.created")).types() == [
        "convo.created",
        "convo.status",
        "webhook.test",
    ]
    found = Subscription.from_json({"id": 3, "events": ["*"], "mailboxes": [1, 2], "url": "x"})
    assert found == Subscription(3, ("*",), (1, 2))


def test_a_hole_between_known_positions_takes_the_matching_events_between_them() -> None:
    subscription = Subscription(1, ("convo.created",), (1,))
    log = [
        logged(10, "convo.created", 1),
        logged(11, "convo.created", 2),  # other mailbox
        logged(12, "customer.created"),
        logged(13, "convo.created", 1),
        logged(14, "convo.created", 1),
        logged(15, "convo.created", 1),
    ]
    hole = Hole(1, 4, 5, after=10, before=15, since=at(0))
    found = pick(log, hole, subscription)
    assert [e["seq"] for e in found.events] == [13, 14]
    assert (found.matching, found.one_to_one, found.missing(hole)) == (2, True, 0)
    assert assign(hole, found) == [Mark(4, 13, at(0)), Mark(5, 14, at(0))]


def test_a_hole_at_the_start_takes_the_last_matching_events_before_its_end() -> None:
    """Sequence 1 lost: the events before the webhook existed match too, and are older."""
    subscription = Subscription(1, ("*",))
    log = [logged(n, "customer.created") for n in range(1, 9)]
    hole = Hole(1, 1, 2, after=None, before=8, since=at(3))
    found = pick(log, hole, subscription)
    assert [e["seq"] for e in found.events] == [6, 7]
    assert (found.matching, found.one_to_one) == (7, True)
    assert assign(hole, found) == [Mark(1, 6, at(3)), Mark(2, 7, at(3))]


def test_a_hole_whose_events_were_pruned_is_accounted_for_without_positions() -> None:
    subscription = Subscription(1, ("*",))
    hole = Hole(1, 4, 6, after=10, before=20, since=at(0))
    found = pick([logged(18, "customer.created")], hole, subscription)
    assert (len(found.events), found.one_to_one, found.missing(hole)) == (1, False, 2)
    assert assign(hole, found) == [Mark(n, None, at(0)) for n in (4, 5, 6)]


def test_more_matches_than_missing_deliveries_is_not_one_to_one() -> None:
    """The subscription changed since: the last ones are taken, without positions."""
    subscription = Subscription(1, ("*",))
    hole = Hole(1, 4, 4, after=10, before=20, since=at(0))
    found = pick([logged(n, "customer.created") for n in (12, 13)], hole, subscription)
    assert ([e["seq"] for e in found.events], found.matching, found.one_to_one) == ([13], 2, False)
