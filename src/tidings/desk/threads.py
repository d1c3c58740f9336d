"""Threads: replies, notes, and the line items that record what happened."""

from __future__ import annotations

import base64
import binascii
import html
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from tidings.db.schema import attachments, conversations, threads, users
from tidings.desk import validate as v
from tidings.desk.enums import Action, SourceType, State, Status, ThreadState, ThreadType, Via
from tidings.desk.folders import FolderMap
from tidings.events.outbox import Tx

_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_MIME = re.compile(r"[\w!#$&^.+-]+/[\w!#$&^.+-]+( *;[ -~]*)?", re.ASCII)


def preview_of(body: str) -> str:
    text = html.unescape(_TAGS.sub(" ", body))
    return _SPACE.sub(" ", text).strip()[:255]


@dataclass
class NewAttachment:
    file_name: str
    mime_type: str
    data: bytes


@dataclass
class NewThread:
    type: ThreadType
    body: str
    customer_id: int | None = None
    user_id: int | None = None
    status: Status | None = None
    state: ThreadState = ThreadState.PUBLISHED
    source_type: SourceType = SourceType.API
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    imported: bool = False
    created_at: datetime | None = None
    attachments: list[NewAttachment] = field(default_factory=list)


def decode_attachment(item: Any, path: str) -> NewAttachment:
    """The attachment object at ``path`` in the body (``threads[0].attachments[1]``)."""
    if not isinstance(item, dict):
        raise v.wrong(path, "an object")
    name = v.required_text(item, "fileName", path=f"{path}.fileName")
    mime = v.required_text(item, "mimeType", path=f"{path}.mimeType")
    if not _MIME.fullmatch(mime):  # it is sent back as the Content-Type header
        raise v.wrong(f"{path}.mimeType", "a media type")
    data = item.get("data")
    if not isinstance(data, str):
        raise v.wrong(f"{path}.data", "base64-encoded file content")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise v.wrong(f"{path}.data", "valid base64") from None
    return NewAttachment(safe_file_name(name)[:255], mime[:127], raw)


# Bidirectional overrides and isolates: "invoice\u202eexe.pdf" shows as "invoicefdp.exe".
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def safe_file_name(name: str) -> str:
    """The base name of a client's file name, never a path (pure).

    The name is sent back in ``Content-Disposition`` and saved under it by browsers and
    scripts: ``../../../etc/passwd`` or ``C:\\Windows\\win.ini`` must reach them as
    ``passwd`` or ``win.ini``. Both separators count (Windows clients send backslashes);
    control characters (NUL, CR, LF, ...) and bidirectional overrides are dropped; a name
    left empty, or only dots, becomes ``attachment``.
    """
    visible = "".join(c for c in name if unicodedata.category(c) != "Cc").translate(_BIDI)
    base = visible.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base if base.strip(".") else "attachment"


def insert_thread(tx: Tx, convo_id: int, new: NewThread) -> int:
    return insert_threads(tx, convo_id, [new])[0]


# One INSERT for all of a change's threads, their ids returned in the order given: on
# PostgreSQL every statement is a round trip, and a created conversation has several.
_INSERT_THREADS = insert(threads).returning(threads.c.id, sort_by_parameter_order=True)


def insert_threads(tx: Tx, convo_id: int, new_threads: list[NewThread]) -> list[int]:
    """Store the threads (oldest first) and their attachments; their ids, in that order."""
    rows = [_thread_row(tx, convo_id, new) for new in new_threads]
    ids = [int(i) for i in tx.conn.execute(_INSERT_THREADS, rows).scalars()]
    files = [
        {
            "thread_id": thread_id,
            "conversation_id": convo_id,
            "file_name": a.file_name,
            "mime_type": a.mime_type,
            "size": len(a.data),
            "data": a.data,
        }
        for thread_id, new in zip(ids, new_threads, strict=True)
        for a in new.attachments
    ]
    if files:
        tx.conn.execute(insert(attachments), files)
    return ids


def _thread_row(tx: Tx, convo_id: int, new: NewThread) -> dict[str, Any]:
    is_customer = new.type == ThreadType.CUSTOMER
    return {
        "conversation_id": convo_id,
        "type": new.type,
        "status": new.status or Status.NOCHANGE,
        "state": new.state,
        "body": new.body,
        "source_type": new.source_type,
        "source_via": Via.CUSTOMER if is_customer else Via.USER,
        "customer_id": new.customer_id,
        "created_by_user_id": None if is_customer else new.user_id,
        "created_by_customer_id": new.customer_id if is_customer else None,
        "to": new.to,
        "cc": new.cc,
        "bcc": new.bcc,
        "meta": {},
        "imported": new.imported,
        "created_at": new.created_at if (new.imported and new.created_at) else tx.now,
    }


def line_items(
    tx: Tx, rows: list[tuple[int, Action, str, list[dict[str, Any]]]], by_user: int | None
) -> None:
    """Record what happened as FreeScout line items: (conversation, action, text, associated)."""
    if not rows:
        return
    tx.conn.execute(
        insert(threads),
        [
            {
                "conversation_id": convo_id,
                "type": ThreadType.LINEITEM,
                "status": Status.NOCHANGE,
                "state": ThreadState.PUBLISHED,
                "action_type": action,
                "body": "",
                "source_type": SourceType.WEB,
                "source_via": Via.USER,
                "created_by_user_id": by_user,
                "to": [],
                "cc": [],
                "bcc": [],
                "meta": {"text": text, "associated": associated},
                "imported": False,
                "created_at": tx.now,
            }
            for convo_id, action, text, associated in rows
        ],
    )


def user_name(conn: Connection, user_id: int | None) -> str:
    if not user_id:
        return "Tidings"
    row = conn.execute(
        select(users.c.first_name, users.c.last_name).where(users.c.id == user_id)
    ).first()
    return f"{row.first_name} {row.last_name}".strip() if row else f"User #{user_id}"


REPLY_EVENTS = {
    ThreadType.CUSTOMER: "convo.customer.reply.created",
    ThreadType.MESSAGE: "convo.agent.reply.created",
    ThreadType.NOTE: "convo.note.created",
}


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    status: int
    restores: bool
    events: tuple[str, ...]


def reply_outcome(
    thread_type: ThreadType, requested: Status | None, status: int, state: int
) -> ReplyOutcome:
    """What a reply or note does to its conversation, and the events that announce it (pure).

    A customer reply reopens (active), an agent reply waits for the customer (pending),
    unless the request names a status; a note changes the status only when asked to.
    A reply to a deleted conversation restores it: FreeScout does this silently for
    customer replies; here it is announced as ``convo.restored`` (compatibility.md).
    Any status change a reply causes is announced as ``convo.status``.
    """
    defaults: dict[ThreadType, int] = {
        ThreadType.CUSTOMER: Status.ACTIVE,
        ThreadType.MESSAGE: Status.PENDING,
    }
    new_status = int(requested) if requested else defaults.get(thread_type, status)
    restores = state == State.DELETED and thread_type != ThreadType.NOTE
    events = (
        *(("convo.restored",) if restores else ()),
        REPLY_EVENTS[thread_type],
        *(("convo.status",) if new_status != status else ()),
    )
    return ReplyOutcome(new_status, restores, events)


def record_reply(tx: Tx, convo: Any, new: NewThread) -> list[str]:
    """Apply a reply or note to its conversation; return the events, in order."""
    outcome = reply_outcome(new.type, new.status, convo.status, convo.state)
    values: dict[str, Any] = {
        "updated_at": tx.now,
        "preview": preview_of(new.body),
        "threads_count": conversations.c.threads_count + 1,
    }
    if new.type == ThreadType.CUSTOMER:
        values.update(last_reply_at=tx.now, last_reply_from=Via.CUSTOMER)
    elif new.type == ThreadType.MESSAGE:
        values.update(last_reply_at=tx.now, last_reply_from=Via.USER, user_updated_at=tx.now)
    state = State.PUBLISHED if outcome.restores else convo.state
    if outcome.restores:
        values["state"] = state
    if outcome.status != convo.status:
        values.update(status=outcome.status, **closing(outcome.status, new.user_id, tx.now))
    values["folder_id"] = FolderMap(tx.conn, {convo.mailbox_id}).for_conversation(
        convo.mailbox_id, state, outcome.status, convo.user_id
    )
    tx.conn.execute(update(conversations).where(conversations.c.id == convo.id).values(**values))
    return list(outcome.events)


def closing(status: int, by_user: int | None, now: datetime) -> dict[str, Any]:
    if status == Status.CLOSED:
        return {"closed_at": now, "closed_by_user_id": by_user}
    return {"closed_at": None, "closed_by_user_id": None}
