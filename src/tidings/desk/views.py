"""FreeScout's object shapes (reference 1.5), built in batches.

A page of 50 conversations costs a fixed handful of queries (conversations, users,
customers, emails, and optionally threads, attachments, tags), never one per row:
FreeScout's N+1 look-ups are why its list endpoint serves ~22 requests/s.
The same functions build event payloads, inside the transaction of the change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, select

from tidings.clock import isoformat
from tidings.db.schema import (
    attachments,
    conversation_tag,
    conversations,
    customer_emails,
    customers,
    mailboxes,
    tags,
    threads,
    users,
)
from tidings.desk.enums import (
    ACTION_NAMES,
    PHOTO_TYPES,
    Action,
    ConversationType,
    EmailType,
    SourceType,
    State,
    Status,
    ThreadState,
    ThreadType,
    Via,
    name_of,
)

Json = dict[str, Any]

# SQLite allows 32,766 bound parameters; stay far below for every IN list.
IN_LIMIT = 900


def chunked(ids: Sequence[int], size: int = IN_LIMIT) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def short_user(row: Row[Any] | None) -> Json | None:
    if row is None:
        return None
    return {
        "id": row.id,
        "type": "user",
        "firstName": row.first_name,
        "lastName": row.last_name,
        "photoUrl": row.photo_url,
        "email": row.email,
    }


def short_customer(row: Row[Any] | None, email: str | None) -> Json | None:
    if row is None:
        return None
    return {
        "id": row.id,
        "type": "customer",
        "firstName": row.first_name,
        "lastName": row.last_name,
        "photoUrl": row.photo_url,
        "email": email,
    }


def full_user(row: Row[Any]) -> Json:
    return {
        "id": row.id,
        "firstName": row.first_name,
        "lastName": row.last_name,
        "email": row.email,
        "role": "admin" if row.role == 2 else "user",
        "alternateEmails": row.alternate_emails or "",
        "jobTitle": row.job_title,
        "phone": row.phone,
        "timezone": row.timezone,
        "photoUrl": row.photo_url,
        "language": row.language,
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }


def mailbox_json(row: Row[Any]) -> Json:
    return {
        "id": row.id,
        "name": row.name,
        "email": row.email,
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }


def load_mailbox(conn: Connection, mailbox_id: int) -> Row[Any] | None:
    return conn.execute(select(mailboxes).where(mailboxes.c.id == mailbox_id)).first()


class _People:
    """Users and customers needed by a batch, fetched in two or three queries."""

    def __init__(self, conn: Connection, user_ids: set[int], customer_ids: set[int]) -> None:
        self.users = _by_id(conn, users, user_ids)
        self.customers = _by_id(conn, customers, customer_ids)
        self.emails = _first_emails(conn, customer_ids)

    def user(self, user_id: int | None) -> Json | None:
        return short_user(self.users.get(user_id)) if user_id else None

    def customer(self, customer_id: int | None, email: str | None = None) -> Json | None:
        if not customer_id:
            return None
        return short_customer(
            self.customers.get(customer_id), email or self.emails.get(customer_id)
        )


def _by_id(conn: Connection, table: Any, ids: set[int]) -> dict[int, Row[Any]]:
    found: dict[int, Row[Any]] = {}
    for part in chunked(sorted(ids)):
        for row in conn.execute(select(table).where(table.c.id.in_(part))):
            found[row.id] = row
    return found


def _first_emails(conn: Connection, customer_ids: set[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for part in chunked(sorted(customer_ids)):
        rows = conn.execute(
            select(customer_emails.c.customer_id, customer_emails.c.email)
            .where(customer_emails.c.customer_id.in_(part))
            .order_by(customer_emails.c.id)
        )
        for customer_id, email in rows:
            found.setdefault(customer_id, email)
    return found


def conversations_json(
    conn: Connection,
    ids: Sequence[int],
    *,
    with_threads: bool,
    with_tags: bool = False,
) -> list[Json]:
    """Conversations in the order of ``ids``; ids that do not exist are left out."""
    rows: dict[int, Row[Any]] = {}
    for part in chunked(list(ids)):
        for row in conn.execute(select(conversations).where(conversations.c.id.in_(part))):
            rows[row.id] = row
    thread_rows = _threads_of(conn, list(rows)) if with_threads else {}
    user_ids: set[int] = set()
    customer_ids: set[int] = set()
    for row in rows.values():
        user_ids.update(
            x for x in (row.user_id, row.created_by_user_id, row.closed_by_user_id) if x
        )
        customer_ids.update(x for x in (row.customer_id, row.created_by_customer_id) if x)
    for convo_threads in thread_rows.values():
        for t in convo_threads:
            user_ids.update(x for x in (t.created_by_user_id, t.user_id) if x)
            customer_ids.update(x for x in (t.customer_id, t.created_by_customer_id) if x)
    people = _People(conn, user_ids, customer_ids)
    files = _attachments_of(conn, [t.id for ts in thread_rows.values() for t in ts])
    tag_names = _tags_of(conn, list(rows)) if with_tags else {}
    result = []
    for convo_id in ids:
        if convo_id not in rows:
            continue
        item = _conversation(rows[convo_id], people)
        embedded: Json = {}
        if with_threads:
            embedded["threads"] = [
                _thread(t, people, files.get(t.id, [])) for t in thread_rows.get(convo_id, [])
            ]
        if with_tags:
            embedded["tags"] = tag_names.get(convo_id, [])
        item["_embedded"] = embedded
        result.append(item)
    return result


def conversation_json(conn: Connection, convo_id: int, *, with_tags: bool = False) -> Json | None:
    found = conversations_json(conn, [convo_id], with_threads=True, with_tags=with_tags)
    return found[0] if found else None


def _conversation(row: Row[Any], people: _People) -> Json:
    via = name_of(row.source_via, Via, "customer")
    closed = row.status == Status.CLOSED
    created_by = (
        people.customer(row.created_by_customer_id)
        if row.source_via == Via.CUSTOMER
        else people.user(row.created_by_user_id)
    )
    return {
        "id": row.id,
        "number": row.number,
        "threadsCount": row.threads_count,
        "type": name_of(row.type, ConversationType, "email"),
        "folderId": row.folder_id,
        "status": name_of(row.status, Status, "active"),
        "state": name_of(row.state, State, "published"),
        "subject": row.subject,
        "preview": row.preview,
        "mailboxId": row.mailbox_id,
        "assignee": people.user(row.user_id),
        "createdBy": created_by,
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
        "closedBy": row.closed_by_user_id if closed else None,
        "closedByUser": people.user(row.closed_by_user_id) if closed else None,
        "closedAt": isoformat(row.closed_at),
        "userUpdatedAt": isoformat(row.user_updated_at),
        "customerWaitingSince": {
            "time": isoformat(row.last_reply_at),
            "friendly": row.last_reply_at.strftime("%b %-d, %H:%M") if row.last_reply_at else "",
            "latestReplyFrom": name_of(row.last_reply_from, Via),
        },
        "source": {"type": name_of(row.source_type, SourceType, "email"), "via": via},
        "cc": list(row.cc or []),
        "bcc": list(row.bcc or []),
        "customer": people.customer(row.customer_id, row.customer_email),
    }


def _threads_of(conn: Connection, convo_ids: list[int]) -> dict[int, list[Row[Any]]]:
    found: dict[int, list[Row[Any]]] = defaultdict(list)
    for part in chunked(convo_ids):
        rows = conn.execute(
            select(threads)
            .where(threads.c.conversation_id.in_(part), threads.c.state == ThreadState.PUBLISHED)
            .order_by(threads.c.created_at.desc(), threads.c.id.desc())
        )
        for row in rows:
            found[row.conversation_id].append(row)
    return found


def _attachments_of(conn: Connection, thread_ids: list[int]) -> dict[int, list[Json]]:
    found: dict[int, list[Json]] = defaultdict(list)
    cols = (
        attachments.c.id,
        attachments.c.thread_id,
        attachments.c.file_name,
        attachments.c.mime_type,
        attachments.c.size,
    )
    for part in chunked(thread_ids):
        rows = conn.execute(select(*cols).where(attachments.c.thread_id.in_(part)))
        for row in rows.all():
            found[row.thread_id].append(
                {
                    "id": row.id,
                    "fileName": row.file_name,
                    "fileUrl": f"/api/attachments/{row.id}/data",
                    "mimeType": row.mime_type,
                    "size": row.size,
                }
            )
    return found


def _tags_of(conn: Connection, convo_ids: list[int]) -> dict[int, list[Json]]:
    found: dict[int, list[Json]] = defaultdict(list)
    for part in chunked(convo_ids):
        rows = conn.execute(
            select(conversation_tag.c.conversation_id, tags.c.id, tags.c.name)
            .join(tags, tags.c.id == conversation_tag.c.tag_id)
            .where(conversation_tag.c.conversation_id.in_(part))
            .order_by(tags.c.name)
        )
        for convo_id, tag_id, name in rows:
            found[convo_id].append({"id": tag_id, "name": name})
    return found


def _thread(row: Row[Any], people: _People, files: list[Json]) -> Json:
    via = name_of(row.source_via, Via, "customer")
    created_by = (
        people.customer(row.created_by_customer_id)
        if row.source_via == Via.CUSTOMER
        else people.user(row.created_by_user_id)
    )
    action_name = ACTION_NAMES.get(Action(row.action_type)) if row.action_type else None
    return {
        "id": row.id,
        "type": name_of(row.type, ThreadType, "customer"),
        "status": name_of(row.status, Status, "nochange"),
        "state": name_of(row.state, ThreadState, "published"),
        "action": {
            "type": action_name,
            "text": (row.meta or {}).get("text", "") if action_name else "",
            "associatedEntities": (row.meta or {}).get("associated", []),
        },
        "body": row.body,
        "source": {"type": name_of(row.source_type, SourceType, "email"), "via": via},
        "customer": people.customer(row.customer_id),
        "createdBy": created_by,
        "assignedTo": people.user(row.user_id),
        "to": list(row.to or []),
        "cc": list(row.cc or []),
        "bcc": list(row.bcc or []),
        "createdAt": isoformat(row.created_at),
        "openedAt": isoformat(row.opened_at),
        "_embedded": {"attachments": files},
    }


def full_customer(conn: Connection, customer_id: int) -> Json | None:
    found = customers_json(conn, [customer_id])
    return found[0] if found else None


def customers_json(conn: Connection, ids: Sequence[int]) -> list[Json]:
    rows = _by_id(conn, customers, set(ids))
    emails: dict[int, list[Json]] = defaultdict(list)
    for part in chunked(list(ids)):
        for e in conn.execute(
            select(customer_emails)
            .where(customer_emails.c.customer_id.in_(part))
            .order_by(customer_emails.c.id)
        ):
            emails[e.customer_id].append(
                {"id": e.id, "value": e.email, "type": name_of(e.type, EmailType, "work")}
            )
    return [_customer(rows[i], emails.get(i, [])) for i in ids if i in rows]


def _customer(row: Row[Any], emails: list[Json]) -> Json:
    address = row.address or {}
    photo_type = PHOTO_TYPES[row.photo_type] if row.photo_type is not None else None
    return {
        "id": row.id,
        "firstName": row.first_name,
        "lastName": row.last_name,
        "jobTitle": row.job_title,
        "company": row.company,
        "photoType": photo_type,
        "photoUrl": row.photo_url,
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
        "notes": row.notes,
        "_embedded": {
            "emails": emails,
            "phones": [{"id": 0, **p} for p in row.phones or []],
            "social_profiles": [{"id": 0, **p} for p in row.social_profiles or []],
            "websites": [{"id": 0, **w} for w in row.websites or []],
            "address": {
                key: address.get(key) for key in ("city", "state", "zip", "country", "address")
            },
        },
    }
