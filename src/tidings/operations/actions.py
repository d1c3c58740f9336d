"""What each bulk action does to one chunk of its items, through the desk services: the
items are conversations, but for ``redeliver``, a webhook's deliveries (by sequence)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection

from tidings.desk import conversations as convos
from tidings.desk import lifecycle, tags
from tidings.desk import validate as v
from tidings.desk.announce import announce
from tidings.desk.enums import CONVERSATION_STATUSES, FolderType, Status, parse
from tidings.desk.snapshots import Snapshot
from tidings.errors import InvalidInput
from tidings.events.outbox import Tx
from tidings.webhooks import history as deliveries

# (tx, conversation ids, params, acting user) -> ids that changed
ChunkAction = Callable[[Tx, Sequence[int], dict[str, Any], int | None], list[int]]

DESTRUCTIVE = ("delete_forever", "empty_trash", "delete_mailbox")

# Actions whose events show the conversations as they were before the change: another
# process can read those from the committed rows (``operations/snapshot_child.py``).
PRE_CHANGE_SNAPSHOTS = frozenset(DESTRUCTIVE)


def delete_forever(tx: Tx, ids: Sequence[int], snapshots: Sequence[Snapshot] | None) -> list[int]:
    """Every destructive action on one chunk; ``snapshots``: see ``lifecycle.delete_forever``."""
    return lifecycle.delete_forever(tx, ids, snapshots)


def _per_row(change: Callable[..., list[str]]) -> Callable[..., list[int]]:
    def run(tx: Tx, ids: Sequence[int], *args: Any) -> list[int]:
        changes = []
        for row in lifecycle.lock_rows(tx.conn, ids):
            changes += [(t, row.id) for t in change(tx, row, *args)]
        announce(tx, changes)
        return list(dict.fromkeys(i for _, i in changes))

    return run


_status = _per_row(convos.change_status)
_assign = _per_row(convos.assign)
_move = _per_row(convos.move)


ACTIONS: dict[str, ChunkAction] = {
    "delete": lambda tx, ids, p, by: lifecycle.soft_delete(tx, ids, by),
    "restore": lambda tx, ids, p, by: lifecycle.restore(tx, ids, by),
    "delete_forever": lambda tx, ids, p, by: delete_forever(tx, ids, None),
    "empty_trash": lambda tx, ids, p, by: delete_forever(tx, ids, None),
    "delete_mailbox": lambda tx, ids, p, by: delete_forever(tx, ids, None),
    "status": lambda tx, ids, p, by: _status(tx, ids, parse(p["status"], Status), by or 0),
    "assign": lambda tx, ids, p, by: _assign(tx, ids, p.get("user"), by or 0),
    "move": lambda tx, ids, p, by: _move(tx, ids, p["mailboxId"], by or 0),
    "tag": lambda tx, ids, p, by: tags.set_tags(
        tx, ids, p["tags"], replace=p.get("replace", False)
    ),
    "redeliver": lambda tx, ids, p, by: deliveries.requeue(
        tx.conn, p["webhookId"], ids, p["status"], tx.now
    ),
}

# What ``POST /api/operations`` accepts; a redelivery is asked of its webhook.
BULK_ACTIONS = tuple(a for a in ACTIONS if a != "redeliver")


def lock_items(
    conn: Connection, action: str, params: dict[str, Any], ids: Sequence[int]
) -> list[int]:
    """Lock a chunk's items; those that still exist."""
    if action == "redeliver":
        return deliveries.lock_sequences(conn, params["webhookId"], ids)
    return lifecycle.lock_ids(conn, ids)


def still_selected(
    conn: Connection, action: str, params: dict[str, Any], ids: Sequence[int]
) -> list[int]:
    """Of a chunk's (locked) conversations, those the action still applies to: a mailbox's
    deletion spares one moved to another mailbox since the selection was frozen, and
    emptying the trash spares one restored meanwhile. They count as unchanged."""
    if action == "delete_mailbox":
        return lifecycle.in_mailbox(conn, ids, params["mailboxId"])
    if action == "empty_trash":
        spam = params.get("folder") == "spam"
        return lifecycle.in_folder(conn, ids, FolderType.SPAM if spam else FolderType.DELETED)
    return list(ids)


# What an action does once its last chunk is done, in that chunk's transaction.
FINISH: dict[str, Callable[[Tx, dict[str, Any]], None]] = {
    "delete_mailbox": lambda tx, p: lifecycle.remove_mailbox(tx, p["mailboxId"]),
}


def parse_params(
    tx_conn: Any, action: str, raw: dict[str, Any], by_user: int | None
) -> dict[str, Any]:
    """Validate an action's params before anything runs; returns the normalised params."""
    if action in ("status", "assign", "move") and by_user is None:
        raise InvalidInput.field("byUser", "byUser parameter is required.")
    if action == "status":
        status = v.enum_value(raw, "status", Status, CONVERSATION_STATUSES, path="params.status")
        if status is None:
            raise v.required("params.status")
        # Kept as the API name: params are shown back to clients and in events.
        return {"status": Status(status).name.lower()}
    if action == "assign":
        user = v.integer(raw, "user", path="params.user")
        if user:
            convos.require_user(tx_conn, user, "params.user")
        return {"user": user or None}
    if action == "move":
        mailbox_id = v.integer(raw, "mailboxId", path="params.mailboxId")
        if mailbox_id is None:
            raise v.required("params.mailboxId")
        return {"mailboxId": convos.require_mailbox(tx_conn, mailbox_id, "params.mailboxId")}
    if action == "tag":
        return {
            "tags": tags.parse_names(raw.get("tags"), "params.tags"),
            "replace": v.boolean(raw, "replace", path="params.replace"),
        }
    if action == "delete_mailbox":
        mailbox_id = v.integer(raw, "mailboxId", path="params.mailboxId")
        if mailbox_id is None:
            raise v.required("params.mailboxId")
        return {"mailboxId": convos.require_mailbox(tx_conn, mailbox_id, "params.mailboxId")}
    if action == "empty_trash":
        folder = raw.get("folder", "deleted")
        if folder not in ("deleted", "spam"):
            raise InvalidInput.field("params.folder", "`params.folder` must be deleted or spam")
        return {"folder": folder}
    return {}
