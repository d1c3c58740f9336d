"""Deleting, restoring, deleting forever, emptying folders, deleting mailboxes, merging.

Every function works on a set of conversations with set-based SQL, so the single
API call and the 100,000-row bulk operation run the same code and announce the
same events (FreeScout's bulk paths bypassed its hooks; reference 3.1).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection, Row, delete, select, update

from tidings.db import raw
from tidings.db.schema import (
    attachments,
    conversation_folder,
    conversation_tag,
    conversations,
    folders,
    followers,
    mailbox_user,
    mailboxes,
    threads,
)
from tidings.desk import conversation_views
from tidings.desk.announce import announce
from tidings.desk.enums import Action, FolderType, State, ThreadType
from tidings.desk.folders import FolderMap
from tidings.desk.snapshots import Snapshot
from tidings.desk.snapshots import render as snapshots_of
from tidings.desk.threads import line_items, user_name
from tidings.desk.views import chunked
from tidings.errors import InvalidInput, NotFound
from tidings.events.outbox import Tx

Change = tuple[str, int]


def lock_rows(conn: Connection, ids: Sequence[int]) -> list[Row[Any]]:
    """The conversations among ``ids`` that exist, locked on PostgreSQL, in id order."""
    rows: list[Row[Any]] = []
    for part in chunked(sorted(set(ids))):
        query = (
            select(conversations).where(conversations.c.id.in_(part)).order_by(conversations.c.id)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        rows.extend(conn.execute(query).all())
    return rows


def lock_ids(conn: Connection, ids: Sequence[int]) -> list[int]:
    """Like ``lock_rows`` for callers that need only to know which ids exist."""
    found: list[int] = []
    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
    for part in chunked(sorted(set(ids))):
        sql = f"SELECT id FROM conversations WHERE id IN ({{ids}}) ORDER BY id{lock}"
        found.extend(int(row[0]) for row in raw.rows(conn, raw.in_list(sql, part)))
    return found


def soft_delete_rows(tx: Tx, rows: Sequence[Row[Any]], by_user: int | None) -> list[Change]:
    """Move to the Deleted folder with a "deleted" line item; already deleted rows are left."""
    todo = [r for r in rows if r.state != State.DELETED]
    if not todo:
        return []
    folder_map = FolderMap(tx.conn, {r.mailbox_id for r in todo})
    by_mailbox: dict[int, list[int]] = defaultdict(list)
    for r in todo:
        by_mailbox[r.mailbox_id].append(r.id)
    for mailbox_id, ids in by_mailbox.items():
        deleted_folder = folder_map.folder_id(mailbox_id, FolderType.DELETED)
        drafts = folder_map.folder_id(mailbox_id, FolderType.DRAFTS)
        for part in chunked(ids):
            tx.conn.execute(
                update(conversations)
                .where(conversations.c.id.in_(part))
                .values(
                    state=State.DELETED,
                    folder_id=deleted_folder,
                    updated_at=tx.now,
                    user_updated_at=tx.now,
                )
            )
            tx.conn.execute(
                delete(conversation_folder).where(
                    conversation_folder.c.conversation_id.in_(part),
                    conversation_folder.c.folder_id == drafts,
                )
            )
    text = f"{user_name(tx.conn, by_user)} deleted the conversation"
    line_items(tx, [(r.id, Action.DELETED, text, []) for r in todo], by_user)
    return [("convo.deleted", r.id) for r in todo]


def restore_rows(tx: Tx, rows: Sequence[Row[Any]], by_user: int | None) -> list[Change]:
    """Bring deleted conversations back to the folder their status and assignee call for."""
    todo = [r for r in rows if r.state == State.DELETED]
    if not todo:
        return []
    folder_map = FolderMap(tx.conn, {r.mailbox_id for r in todo})
    by_folder: dict[int, list[int]] = defaultdict(list)
    for r in todo:
        by_folder[
            folder_map.for_conversation(r.mailbox_id, State.PUBLISHED, r.status, r.user_id)
        ].append(r.id)
    for folder_id, ids in by_folder.items():
        for part in chunked(ids):
            tx.conn.execute(
                update(conversations)
                .where(conversations.c.id.in_(part))
                .values(
                    state=State.PUBLISHED,
                    folder_id=folder_id,
                    updated_at=tx.now,
                    user_updated_at=tx.now,
                )
            )
    text = f"{user_name(tx.conn, by_user)} restored the conversation"
    line_items(tx, [(r.id, Action.RESTORED, text, []) for r in todo], by_user)
    return [("convo.restored", r.id) for r in todo]


def soft_delete(tx: Tx, ids: Sequence[int], by_user: int | None) -> list[int]:
    changes = soft_delete_rows(tx, lock_rows(tx.conn, ids), by_user)
    announce(tx, changes)
    return [convo_id for _, convo_id in changes]


def restore(tx: Tx, ids: Sequence[int], by_user: int | None) -> list[int]:
    changes = restore_rows(tx, lock_rows(tx.conn, ids), by_user)
    announce(tx, changes)
    return [convo_id for _, convo_id in changes]


def delete_forever(
    tx: Tx, ids: Sequence[int], snapshots: Sequence[Snapshot] | None = None
) -> list[int]:
    """Announce, then delete: each ``convo.deleted_forever`` carries the conversation and
    its threads as they were just before, and commits only together with the deletion
    (FreeScout announces before deleting and sends empty threads; reference 3.2).

    ``snapshots``: those conversations' payloads as this transaction would read them,
    read already from the committed rows by a bulk operation's child process
    (``tidings.operations.snapshot_child``); used if they cover exactly the ids found."""
    found = lock_ids(tx.conn, ids)
    if not found:
        return []
    if snapshots is not None and [s.conversation_id for s in snapshots] == found:
        _delete_rows(tx.conn, found)
        _emit_deleted(tx, snapshots)
        return found
    batch = conversation_views.read(tx.conn, found, with_threads=True)
    # Everything the snapshots need is read, so the rows are deleted while this thread
    # renders them, on the other core (ADR 0009). This thread leaves the connection alone
    # until the deletion is done.
    delete_rows = _delete_rows if tx.conn.dialect.name == "postgresql" else _delete_cascading
    deleting = _deleter.submit(delete_rows, tx.conn, found)
    try:
        _emit_deleted(tx, snapshots_of(batch, tx.conn.dialect.name))
    finally:
        # Waits, also when rendering failed (never end a transaction under a running
        # statement); re-raises a failed DELETE, chaining a rendering error if both failed.
        deleting.result()
    return found


def _emit_deleted(tx: Tx, rendered: Sequence[Snapshot]) -> None:
    tx.emit_stored_many("convo.deleted_forever", "conversation", rendered)


# Threads start only when needed; enough for every request thread and worker at once, so a
# deletion never queues behind another while its transaction holds row locks.
_deleter = ThreadPoolExecutor(max_workers=32, thread_name_prefix="tidings-delete")

# Children first; conversations last.
_ROWS_OF_CONVERSATIONS = (
    (attachments.name, attachments.c.conversation_id.name),
    (threads.name, threads.c.conversation_id.name),
    (followers.name, followers.c.conversation_id.name),
    (conversation_tag.name, conversation_tag.c.conversation_id.name),
    (conversation_folder.name, conversation_folder.c.conversation_id.name),
    (conversations.name, conversations.c.id.name),
)


def _delete_rows(conn: Connection, ids: list[int]) -> None:
    for part in chunked(ids):
        for table, column in _ROWS_OF_CONVERSATIONS:
            raw.execute(conn, raw.in_list(f"DELETE FROM {table} WHERE {column} IN ({{ids}})", part))


def _delete_cascading(conn: Connection, ids: list[int]) -> None:
    """SQLite: one statement per chunk, the children going by ``ON DELETE CASCADE``.

    The driver releases Python's lock for each statement and takes it back at the end,
    waiting until the rendering thread yields it (every 5 ms): six statements waited up
    to six times. SQLite's cascade costs ~15% more than six explicit deletes, but it runs
    on the other core with one wait (ADR 0009).
    """
    for part in chunked(ids):
        raw.execute(conn, raw.in_list("DELETE FROM conversations WHERE id IN ({ids})", part))


def mailbox_conversation_ids(conn: Connection, mailbox_id: int) -> list[int]:
    """Every conversation of a mailbox (NotFound for an unknown mailbox)."""
    if conn.execute(select(mailboxes.c.id).where(mailboxes.c.id == mailbox_id)).first() is None:
        raise NotFound()
    query = select(conversations.c.id).where(conversations.c.mailbox_id == mailbox_id)
    return list(conn.execute(query.order_by(conversations.c.id)).scalars())


def in_mailbox(conn: Connection, ids: Sequence[int], mailbox_id: int) -> list[int]:
    """Those of ``ids`` in the mailbox now, in the order given."""
    query = select(conversations.c.id).where(
        conversations.c.id.in_(list(ids)), conversations.c.mailbox_id == mailbox_id
    )
    kept = set(conn.execute(query).scalars()) if ids else set()
    return [i for i in ids if i in kept]


def in_folder(conn: Connection, ids: Sequence[int], kind: FolderType) -> list[int]:
    """Those of ``ids`` in their mailbox's folder of this type now, in the order given."""
    of_kind = select(folders.c.id).where(folders.c.type == kind)
    query = select(conversations.c.id).where(
        conversations.c.id.in_(list(ids)), conversations.c.folder_id.in_(of_kind)
    )
    kept = set(conn.execute(query).scalars()) if ids else set()
    return [i for i in ids if i in kept]


def remove_mailbox(tx: Tx, mailbox_id: int) -> None:
    """The last step of deleting a mailbox, once its conversations are deleted forever
    (a ``delete_mailbox`` operation): any conversation that arrived meanwhile is deleted
    forever too, announced; then its folders, its users' access and the mailbox go."""
    if tx.conn.dialect.name == "postgresql":
        # Locked first: a conversation created in it now waits, then finds it gone.
        tx.conn.execute(
            select(mailboxes.c.id).where(mailboxes.c.id == mailbox_id).with_for_update()
        )
    delete_forever(tx, mailbox_conversation_ids(tx.conn, mailbox_id))
    tx.conn.execute(delete(folders).where(folders.c.mailbox_id == mailbox_id))
    tx.conn.execute(delete(mailbox_user).where(mailbox_user.c.mailbox_id == mailbox_id))
    tx.conn.execute(delete(mailboxes).where(mailboxes.c.id == mailbox_id))


def merge(tx: Tx, target_id: int, source_id: int, by_user: int) -> None:
    """Move the source's threads into the target, then soft-delete the source.

    Announces ``convo.merged`` for the target and ``convo.deleted`` for the source
    (``convo.updated`` when the source was already deleted: it lost its threads).
    """
    if target_id == source_id:
        raise InvalidInput.field("conversationId", "A conversation cannot be merged with itself")
    rows = {r.id: r for r in lock_rows(tx.conn, [target_id, source_id])}
    if target_id not in rows:
        raise NotFound()
    if source_id not in rows:
        raise InvalidInput.field("conversationId", f"Conversation {source_id} not found")
    source, target = rows[source_id], rows[target_id]
    moved = tx.conn.execute(
        update(threads)
        .where(threads.c.conversation_id == source_id, threads.c.type != ThreadType.LINEITEM)
        .values(conversation_id=target_id)
    ).rowcount
    tx.conn.execute(
        update(attachments)
        .where(attachments.c.conversation_id == source_id)
        .values(conversation_id=target_id)
    )
    tx.conn.execute(
        update(conversations)
        .where(conversations.c.id == target_id)
        .values(
            threads_count=target.threads_count + moved, updated_at=tx.now, user_updated_at=tx.now
        )
    )
    tx.conn.execute(
        update(conversations).where(conversations.c.id == source_id).values(threads_count=0)
    )
    name = user_name(tx.conn, by_user)
    associated = [{"type": "conversation", "id": source_id, "number": source.number}]
    line_items(
        tx,
        [
            (
                target_id,
                Action.MERGED,
                f"{name} merged conversation #{source.number} into this one",
                associated,
            )
        ],
        by_user,
    )
    changes = soft_delete_rows(tx, [source], by_user)
    if not changes:
        # Already deleted: not deleted again, but its threads moved all the same.
        changes = [("convo.updated", source_id)]
    announce(tx, [("convo.merged", target_id), *changes])
