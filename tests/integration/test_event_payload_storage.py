"""How payloads are stored (tidings.events.payloads, ADRs 0010 and 0016): on SQLite large
ones LZ4-compressed and small ones JSON text, on PostgreSQL all JSON text; the event log
serves the same JSON either way."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import select

from tests.integration.test_events_kit import desk_app
from tidings.db.engine import Database
from tidings.db.schema import events
from tidings.events import payloads


def stored_rows(db: Database) -> dict[str, tuple[str, str | bytes]]:
    with db.read() as conn:
        rows = conn.execute(select(events.c.id, events.c.type, events.c.payload))
        return {r.id: (r.type, r.payload) for r in rows}


def test_large_payloads_are_compressed(database_url: str, db: Database) -> None:
    with desk_app(database_url) as desk:
        box = desk.mailbox()
        convo = desk.conversation(box, customer="big@ex.com", text="Long story. " * 400)
        desk.update(convo, {"state": "deleted", "byUser": desk.user()})
        served = {e["id"]: e for e in desk.events()}

    stored = stored_rows(db)
    assert set(stored) == set(served)
    sizes = {}
    for event_id, (type_, value) in stored.items():
        text = payloads.json_of(value)
        data = orjson.loads(text)
        assert data == served[event_id]["data"]  # the log serves exactly what was stored
        sizes[type_] = len(text)
        large = len(text) >= payloads.COMPRESS_FROM
        if large and db.is_sqlite:
            assert isinstance(value, bytes)
        else:
            assert isinstance(value, str)
        if large and db.is_sqlite:
            assert len(value) < len(text) / 5  # repetitive text compresses well
    # Both kinds occurred: conversation snapshots are large, the customer's event is not.
    assert sizes["convo.created"] >= payloads.COMPRESS_FROM
    assert sizes["customer.created"] < payloads.COMPRESS_FROM


@pytest.mark.parametrize("size", [0, payloads.COMPRESS_FROM - 1, payloads.COMPRESS_FROM, 200_000])
def test_round_trip(size: int) -> None:
    text = orjson.dumps({"body": "é" * (size // 2)})
    for dialect in ("sqlite", "postgresql"):
        value = payloads.stored(text, dialect)
        back = payloads.json_of(value)
        assert (back.encode() if isinstance(back, str) else back) == text
        assert isinstance(value, bytes) == (dialect == "sqlite" and len(text) >= 1024)
