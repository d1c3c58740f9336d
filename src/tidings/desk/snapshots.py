"""Conversation snapshots as stored event payloads: read, rendered, serialised, stored.

``convo.deleted_forever`` carries the conversation and its threads as they were just
before the deletion. A snapshot here is that payload in its final, stored form (see
``tidings.events.payloads``), so it can be made by another process and handed to the
transaction that deletes the conversation (``tidings.operations.snapshot_child``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import orjson
from sqlalchemy import Connection

from tidings.desk import conversation_views
from tidings.events import payloads


class Snapshot(NamedTuple):
    """One conversation's payload as ``events.payload`` stores it (a tuple: it crosses
    a process boundary by the thousand, and tuples pickle fastest)."""

    conversation_id: int
    mailbox_id: int
    payload: str | bytes


def render(batch: conversation_views.Batch, dialect: str) -> list[Snapshot]:
    """Pure: the batch's conversations, in its order, as stored payloads."""
    return [
        Snapshot(c["id"], c["mailboxId"], payloads.stored(orjson.dumps(c), dialect))
        for c in batch.render()
    ]


def read(conn: Connection, ids: Sequence[int]) -> list[Snapshot]:
    """The conversations among ``ids`` that exist, as ``conn`` sees them, threads included."""
    batch = conversation_views.read(conn, ids, with_threads=True)
    return render(batch, conn.dialect.name)
