"""GET /api/events: its shape, its cursor, its filters, its errors; and pruning."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.integration.test_events_kit import Desk, FakeClock, H, desk_app
from tidings.db.engine import Database
from tidings.db.schema import events
from tidings.events import payloads

EVENT_KEYS = {"id", "seq", "type", "createdAt", "entity", "mailboxId", "operationId", "data"}


def populate(desk: Desk) -> tuple[int, int, list[int]]:
    """Two mailboxes, five conversations, a few replies: about twenty events."""
    agent = desk.user()
    box, box2 = desk.mailbox(), desk.mailbox("Other")
    ids = [desk.conversation(box if i % 2 else box2, customer=f"c{i}@ex.com") for i in range(5)]
    for cid in ids[:3]:
        desk.reply(cid, {"type": "message", "text": "answer", "user": agent})
    desk.update(ids[0], {"state": "deleted", "byUser": agent})
    return box, box2, ids


def test_shape_of_a_page(database_url: str, db: Database) -> None:
    with desk_app(database_url) as desk:
        populate(desk)
        r = desk.get("/events", limit=3)
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"_embedded", "cursor"}
        assert set(body["cursor"]) == {"next", "hasMore"}
        page = body["_embedded"]["events"]
        assert len(page) == 3
        assert body["cursor"] == {"next": str(page[-1]["seq"]), "hasMore": True}
        for e in page:
            assert set(e) == EVENT_KEYS
            assert re.fullmatch(r"evt_[0-9A-HJKMNP-TV-Z]{26}", e["id"])
            assert isinstance(e["seq"], int)
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["createdAt"])
            assert set(e["entity"]) == {"type", "id"}
            assert isinstance(e["data"], dict)
        assert page[0]["type"] == "customer.created"
        assert page[0]["entity"]["type"] == "customer"
        assert page[1]["type"] == "convo.created"
        assert page[1]["entity"] == {"type": "conversation", "id": page[1]["data"]["id"]}
        assert page[1]["mailboxId"] == page[1]["data"]["mailboxId"]
        assert page[1]["operationId"] is None

        # The payload is the stored snapshot, byte for byte re-read as JSON.
        import orjson

        with db.read() as conn:
            stored = conn.execute(select(events.c.payload).where(events.c.id == page[1]["id"]))
            assert orjson.loads(payloads.json_of(stored.scalar_one())) == page[1]["data"]

        assert desk.client.get("/api/events").status_code == 401


@pytest.mark.parametrize("limit", [1, 2, 7, 1000])
def test_following_next_returns_every_event_once(
    database_url: str, db: Database, limit: int
) -> None:
    with desk_app(database_url) as desk:
        populate(desk)
        with db.read() as conn:
            expected = [(r.seq, r.id) for r in conn.execute(select(events).order_by(events.c.seq))]
        assert len(expected) >= 15
        seen: list[tuple[int, str]] = []
        cursor: str | None = None
        pages = 0
        while True:
            params = {"limit": limit} if cursor is None else {"limit": limit, "after": cursor}
            body = desk.get("/events", **params).json()
            page = body["_embedded"]["events"]
            assert len(page) <= limit
            seen += [(e["seq"], e["id"]) for e in page]
            pages += 1
            if not body["cursor"]["hasMore"]:
                break
            assert len(page) == limit
            cursor = body["cursor"]["next"]
        assert seen == expected
        assert pages == max(1, -(-len(expected) // limit))

        # At the end: an empty page that keeps the cursor where it is.
        end = desk.get("/events", after=str(expected[-1][0])).json()
        assert end == {
            "_embedded": {"events": []},
            "cursor": {"next": str(expected[-1][0]), "hasMore": False},
        }
        # New events show up after the old cursor, and only they.
        desk.mailbox("Late")  # no event
        desk.post("/customers", {"firstName": "Late"})
        late = desk.get("/events", after=str(expected[-1][0])).json()["_embedded"]["events"]
        assert [e["type"] for e in late] == ["customer.created"]


def test_filters(database_url: str) -> None:
    with desk_app(database_url) as desk:
        box, box2, ids = populate(desk)
        everything = desk.events()

        def check(params: dict[str, str | int], keep: object) -> None:
            want = [e["id"] for e in everything if keep(e)]  # type: ignore[operator]
            got = [e["id"] for e in desk.events(**params)]
            assert got == want
            assert want, f"filter {params} should match something"

        check({"type": "convo.status"}, lambda e: e["type"] == "convo.status")
        check(
            {"type": "convo.created, customer.created"},
            lambda e: e["type"] in ("convo.created", "customer.created"),
        )
        check({"mailboxId": box}, lambda e: e["mailboxId"] == box)
        check({"mailboxId": box2}, lambda e: e["mailboxId"] == box2)
        check(
            {"conversationId": ids[0]},
            lambda e: e["entity"] == {"type": "conversation", "id": ids[0]},
        )
        check(
            {"conversationId": ids[0], "type": "convo.deleted"},
            lambda e: e["entity"]["id"] == ids[0] and e["type"] == "convo.deleted",
        )
        assert desk.events(mailboxId=999) == []

        # A filtered page's cursor skips the non-matching events in between.
        first = desk.get("/events", type="convo.agent.reply.created", limit=1).json()
        nxt = first["cursor"]["next"]
        assert first["cursor"]["hasMore"] is True
        rest = desk.events(int(nxt), type="convo.agent.reply.created")
        assert len(rest) == 2


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"after": "abc"}, "after"),
        ({"after": "-1"}, "after"),
        ({"after": "1.5"}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"type": "convo.nope"}, "type"),
        ({"type": "convo.created,bogus"}, "type"),
        ({"mailboxId": "x"}, "mailboxId"),
        ({"conversationId": "x"}, "conversationId"),
    ],
)
def test_bad_parameters_are_400(database_url: str, params: dict[str, str], path: str) -> None:
    with desk_app(database_url) as desk:
        r = desk.client.get("/api/events", params=params, headers=H)
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["message"] == "Error occurred"
        assert [e["path"] for e in body["_embedded"]["errors"]] == [path]


def test_cursor_survives_pruning_everything(database_url: str) -> None:
    """After retention prunes every event, new events must still come after old cursors.

    SQLite hands out max(rowid)+1: on an emptied table positions would start again
    at 1, behind every reader's cursor, and those readers would skip them for good.
    """
    clock = FakeClock()
    with desk_app(database_url, clock, event_retention_days=30) as desk:
        populate(desk)
        cursor = desk.mark()
        clock.advance(timedelta(days=31).total_seconds())
        pruned = desk.runner().prune_events()
        assert pruned >= 1
        desk.post("/customers", {"firstName": "After the prune"})
        after = desk.events(cursor)
        assert [e["type"] for e in after] == ["customer.created"]
        assert after[0]["seq"] > cursor
