"""Turning changed conversations into events, with payloads built in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence

from tidings.desk.conversation_views import conversations_json
from tidings.desk.views import Json
from tidings.events.outbox import Tx


def snapshots(tx: Tx, ids: Sequence[int], *, with_tags: bool = False) -> dict[int, Json]:
    """The conversations as they are right now in this transaction, threads included."""
    found = conversations_json(tx.conn, ids, with_threads=True, with_tags=with_tags)
    return {c["id"]: c for c in found}


def emit_conversation(tx: Tx, type_: str, payload: Json) -> None:
    tx.emit(
        type_,
        payload,
        entity_type="conversation",
        entity_id=payload["id"],
        mailbox_id=payload["mailboxId"],
        conversation_id=payload["id"],
    )


def announce(
    tx: Tx, changes: Sequence[tuple[str, int]], *, with_tags: bool = False
) -> dict[int, Json]:
    """Emit ``(event type, conversation id)`` pairs in order, each with its snapshot;
    returns the snapshots, by conversation id."""
    if not changes:
        return {}
    ids = list(dict.fromkeys(convo_id for _, convo_id in changes))
    payloads = snapshots(tx, ids, with_tags=with_tags)
    for type_, convo_id in changes:
        emit_conversation(tx, type_, payloads[convo_id])
    return payloads
