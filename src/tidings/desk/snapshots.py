"""Conversation snapshots as stored event payloads: read, rendered, serialised, stored.

``convo.deleted_forever`` carries the conversation and its threads as they were just
before the deletion. A snapshot here is that payload in its final, stored form (see
``tidings.events.payloads``), so it can be made by another process and handed to the
transaction that deletes the conversation (``tidings.operations.render_ahead``).

Rule: a snapshot depends only on its own conversation's rows (the conversation, its
threads and attachments) and on the users and customers it names. Render-ahead relies on
it: deleting one chunk must not change the next chunk's snapshots (ADR 0011). A payload
field drawn from other conversations (say, a customer's conversation count) would break
that, and must come with a change to the check there.
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
    process boundaries by the thousand, and tuples pickle fastest)."""

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
