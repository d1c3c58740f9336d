"""``tidings.api.stream``: ``follow`` (what the stream route and the console's live tail
read) and ``sse_message``, on a real database.

Changes are made between two steps of ``follow`` while it is suspended, so each step's
batch is known exactly; only the heartbeat waits on a clock, with a short period.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from tests.integration.test_events_kit import Desk, desk_app
from tests.integration.test_events_log_api import populate
from tidings.api import stream
from tidings.events.log import EventQuery

Batch = list[dict[str, Any]]


def _steps(desk: Desk, query: EventQuery, *steps: Any) -> list[Batch]:
    """The batches ``follow`` yields, one per step; a callable step first makes changes."""

    async def run() -> list[Batch]:
        batches: list[Batch] = []
        found = stream.follow(desk.ctx, query, poll_seconds=0.02, heartbeat_seconds=0.3)
        for step in steps:
            if callable(step):
                step()
            batch = await asyncio.wait_for(anext(found), 10)
            # As JSON reads them (``data`` is the stored snapshot's bytes, a Fragment).
            batches.append(orjson.loads(orjson.dumps(batch)))
        await found.aclose()
        return batches

    return asyncio.run(run())


def test_batches_hold_the_log_in_order_bounded_then_a_heartbeat(database_url: str) -> None:
    with desk_app(database_url) as desk:
        populate(desk)
        everything = desk.events()
        total = len(everything)
        full, rest = divmod(total, 6)
        assert full >= 2

        def new_customer() -> None:
            desk.post("/customers", {"firstName": "Late"})

        batches = _steps(desk, EventQuery(limit=6), *[None] * (full + 1), None, new_customer)
        caught_up = batches[: full + 1]
        # Full batches back to back, then the rest: a batch never holds more than the limit.
        assert [len(b) for b in caught_up] == [6] * full + [rest]
        assert [e for b in caught_up for e in b] == everything
        assert batches[full + 1] == []  # nothing new for a heartbeat period
        assert batches[full + 2] == desk.events(everything[-1]["seq"])
        assert [e["type"] for e in batches[full + 2]] == ["customer.created"]


def test_it_starts_after_the_cursor_and_keeps_the_filters(database_url: str) -> None:
    with desk_app(database_url) as desk:
        box, _, ids = populate(desk)
        everything = desk.events()
        start = everything[3]["seq"]
        query = EventQuery(after=start, limit=500, mailbox_id=box)
        [batch] = _steps(desk, query, None)
        assert batch == desk.events(start, mailboxId=box)
        assert batch == [e for e in everything[4:] if e["mailboxId"] == box]

        typed = EventQuery(types=("convo.created",), conversation_id=ids[1])
        [only] = _steps(desk, typed, None)
        assert [(e["type"], e["entity"]["id"]) for e in only] == [("convo.created", ids[1])]


def test_close_all_ends_every_follow(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "_closing", False)  # restored after the test
    with desk_app(database_url) as desk:

        async def run() -> list[Batch]:
            seen: list[Batch] = []

            async def tail() -> None:
                async for batch in stream.follow(
                    desk.ctx, EventQuery(), poll_seconds=0.02, heartbeat_seconds=0.05
                ):
                    seen.append(batch)
                    if len(seen) == 2:
                        stream.close_all()

            await asyncio.wait_for(tail(), 10)
            return seen

        # Two heartbeats, then the end: ``close_all`` stopped the loop within a poll.
        assert asyncio.run(run()) == [[], []]


def test_a_message_is_the_event_on_one_line(database_url: str) -> None:
    with desk_app(database_url) as desk:
        # Line breaks of every kind in the payload stay inside the JSON string.
        desk.post("/customers", {"firstName": "a\nb\rc\r\nd\u2028e\u0085f"})
        [event] = desk.events()
        message = stream.sse_message(event)
        lines = message.split(b"\n")
        assert lines[:2] == [f"id: {event['seq']}".encode(), b"event: customer.created"]
        assert lines[3:] == [b"", b""]
        assert b"\r" not in message
        assert lines[2].startswith(b"data: ")
        assert orjson.loads(lines[2].removeprefix(b"data: ")) == event
        assert event["data"]["firstName"] == "a\nb\rc\r\nd\u2028e\u0085f"
