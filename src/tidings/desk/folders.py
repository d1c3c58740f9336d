"""Folders: which folder a conversation belongs in (pure), and folder listings.

Counters are counted when folders are read, never stored (ADR 0002): FreeScout's
stored counters drift whenever a code path forgets to recalculate them, and every
bulk path here would have to remember. An index on (folder_id, status) keeps the
count cheap.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, insert, select

from tidings.db.schema import conversation_folder, conversations, folders, mailbox_user
from tidings.desk.enums import FolderType, State, Status

MAILBOX_FOLDERS = (
    FolderType.UNASSIGNED,
    FolderType.DRAFTS,
    FolderType.ASSIGNED,
    FolderType.CLOSED,
    FolderType.DELETED,
    FolderType.SPAM,
)
USER_FOLDERS = (FolderType.MINE, FolderType.STARRED)

FOLDER_NAMES = {
    FolderType.UNASSIGNED: "Unassigned",
    FolderType.MINE: "Mine",
    FolderType.STARRED: "Starred",
    FolderType.DRAFTS: "Drafts",
    FolderType.ASSIGNED: "Assigned",
    FolderType.CLOSED: "Closed",
    FolderType.DELETED: "Deleted",
    FolderType.SPAM: "Spam",
}


def folder_type_for(state: int, status: int, user_id: int | None) -> FolderType:
    """FreeScout's ``Conversation::updateFolder`` priority order (reference 4.1)."""
    if state == State.DRAFT:
        return FolderType.DRAFTS
    if state == State.DELETED:
        return FolderType.DELETED
    if status == Status.SPAM:
        return FolderType.SPAM
    if status == Status.CLOSED:
        return FolderType.CLOSED
    if user_id:
        return FolderType.ASSIGNED
    return FolderType.UNASSIGNED


# Built once, its id list bound at execution: compiled once, not once per call.
_MAILBOX_FOLDERS = select(folders.c.id, folders.c.mailbox_id, folders.c.type).where(
    folders.c.mailbox_id.in_(bindparam("mailboxes", expanding=True)), folders.c.user_id.is_(None)
)


class FolderMap:
    """(mailbox, folder type) -> folder id for the mailbox-wide folders."""

    def __init__(self, conn: Connection, mailbox_ids: set[int]) -> None:
        rows = conn.execute(_MAILBOX_FOLDERS, {"mailboxes": sorted(mailbox_ids)})
        self._ids: dict[tuple[int, int], int] = {(r.mailbox_id, r.type): r.id for r in rows}

    def folder_id(self, mailbox_id: int, folder_type: FolderType) -> int:
        return self._ids[(mailbox_id, int(folder_type))]

    def for_conversation(
        self, mailbox_id: int, state: int, status: int, user_id: int | None
    ) -> int:
        return self.folder_id(mailbox_id, folder_type_for(state, status, user_id))


def create_mailbox_folders(conn: Connection, mailbox_id: int) -> None:
    conn.execute(insert(folders), [{"mailbox_id": mailbox_id, "type": t} for t in MAILBOX_FOLDERS])


def grant_access(conn: Connection, mailbox_id: int, user_ids: list[int]) -> None:
    """Give users access to a mailbox, with their own Mine and Starred folders."""
    if not user_ids:
        return
    conn.execute(insert(mailbox_user), [{"mailbox_id": mailbox_id, "user_id": u} for u in user_ids])
    conn.execute(
        insert(folders),
        [
            {"mailbox_id": mailbox_id, "user_id": u, "type": t}
            for u in user_ids
            for t in USER_FOLDERS
        ],
    )


def folders_json(
    conn: Connection, mailbox_id: int, user_id: int | None, folder_id: int | None
) -> list[dict[str, Any]]:
    query = (
        select(folders)
        .where(folders.c.mailbox_id == mailbox_id)
        .order_by(folders.c.type, folders.c.id)
    )
    if user_id is not None:
        query = query.where((folders.c.user_id.is_(None)) | (folders.c.user_id == user_id))
    if folder_id is not None:
        query = query.where(folders.c.id == folder_id)
    rows = conn.execute(query).all()
    direct = _direct_counts(conn, mailbox_id)
    indirect = _indirect_counts(conn, [r.id for r in rows])
    mine = _mine_counts(conn, mailbox_id)
    result = []
    for row in rows:
        if row.type == FolderType.MINE:
            total, active = mine.get(row.user_id, (0, 0))
        elif row.type in (FolderType.STARRED, FolderType.DRAFTS):
            total, active = indirect.get(row.id, (0, 0))
        else:
            total, active = direct.get(row.id, (0, 0))
        result.append(
            {
                "id": row.id,
                "name": FOLDER_NAMES.get(FolderType(row.type), str(row.type)),
                "type": row.type,
                "userId": row.user_id,
                "totalCount": total,
                "activeCount": active,
                "meta": {},
            }
        )
    return result


def _active() -> Any:
    return func.sum(case((conversations.c.status == Status.ACTIVE, 1), else_=0))


def _direct_counts(conn: Connection, mailbox_id: int) -> dict[int, tuple[int, int]]:
    rows = conn.execute(
        select(conversations.c.folder_id, func.count(), _active())
        .where(conversations.c.mailbox_id == mailbox_id)
        .group_by(conversations.c.folder_id)
    )
    return {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}


def _indirect_counts(conn: Connection, folder_ids: list[int]) -> dict[int, tuple[int, int]]:
    rows = conn.execute(
        select(conversation_folder.c.folder_id, func.count(), _active())
        .join(conversations, conversations.c.id == conversation_folder.c.conversation_id)
        .where(conversation_folder.c.folder_id.in_(folder_ids))
        .group_by(conversation_folder.c.folder_id)
    )
    return {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}


def _mine_counts(conn: Connection, mailbox_id: int) -> dict[int, tuple[int, int]]:
    rows = conn.execute(
        select(conversations.c.user_id, func.count(), _active())
        .where(
            and_(
                conversations.c.mailbox_id == mailbox_id,
                conversations.c.state == State.PUBLISHED,
                conversations.c.status.in_([Status.ACTIVE, Status.PENDING]),
                conversations.c.user_id.is_not(None),
            )
        )
        .group_by(conversations.c.user_id)
    )
    return {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}
