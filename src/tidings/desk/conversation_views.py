"""Conversations in FreeScout's shape (reference 1.5), fast enough for every page and event.

This is the hottest code in Tidings: every list page renders 50 conversations and every
event carries one, so a 100,000-conversation bulk delete renders 100,000 with their
threads. It therefore reads raw driver rows with only the columns the shape needs:
- id lists are bound through ``raw.in_list`` (prepared statements reused);
- JSON columns are embedded as they are stored (``orjson.Fragment``), never decoded,
  except a line item's ``meta``;
- timestamps arrive as text in SQLite's stored layout (``YYYY-MM-DD HH:MM:SS.ffffff``,
  UTC by construction, see ``tidings.db.types``; PostgreSQL formats them so) and are
  re-cut into FreeScout's format without parsing;
- enumerations go through ``{int: name}`` dicts.
A batch costs a fixed number of queries (conversations, threads, attachments, users,
customers, emails, optionally tags), never one per row: FreeScout's N+1 look-ups are
why its list endpoint serves ~22 requests/s.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from itertools import groupby
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection, select

from tidings.db import raw
from tidings.db.schema import conversation_tag, tags
from tidings.desk.enums import (
    ACTION_NAMES,
    ConversationType,
    SourceType,
    State,
    Status,
    ThreadState,
    ThreadType,
    Via,
)
from tidings.desk.views import Json, chunked


def _names(enum: type[IntEnum]) -> dict[int, str]:
    return {int(m): m.name.lower() for m in enum}


CONVERSATION_TYPE = _names(ConversationType)
STATUS = _names(Status)
STATE = _names(State)
SOURCE = _names(SourceType)
VIA = _names(Via)
THREAD_TYPE = _names(ThreadType)
THREAD_STATE = _names(ThreadState)
ACTION = {int(k): v for k, v in ACTION_NAMES.items()}
MONTHS = {
    f"{number:02}": name
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
DAYS = {f"{day:02}": str(day) for day in range(1, 32)}
EMPTY_LIST = orjson.Fragment(b"[]")

CONVERSATION_COLUMNS = (
    "id, number, threads_count, type, folder_id, status, state, subject, preview, mailbox_id,"
    " user_id, customer_id, customer_email, cc, bcc, source_type, source_via,"
    " created_by_user_id, created_by_customer_id, closed_by_user_id, closed_at,"
    " user_updated_at, last_reply_at, last_reply_from, created_at, updated_at"
)
USER_COLUMNS = "id, first_name, last_name, photo_url, email"
CUSTOMER_COLUMNS = "id, first_name, last_name, photo_url, email"  # email: the first one
THREAD_COLUMNS = (
    "id, conversation_id, type, status, state, action_type, body, source_type, source_via,"
    ' customer_id, created_by_user_id, created_by_customer_id, user_id, "to", cc, bcc, meta,'
    " created_at, opened_at"
)

_TIMESTAMPS = (
    "closed_at",
    "user_updated_at",
    "last_reply_at",
    "created_at",
    "updated_at",
    "opened_at",
)


_JSON_COLUMNS = ("cc", "bcc", '"to"', "meta")


def _selected(columns: str, dialect: str) -> str:
    """``columns`` as a select list. PostgreSQL sends timestamps as text in the layout
    SQLite stores (``YYYY-MM-DD HH:MM:SS.ffffff``, whatever its ``DateStyle``): re-cutting
    text is cheaper than building a ``datetime`` in the driver and formatting it here. It
    sends JSON columns as their text too, as SQLite does: a ``json`` column keeps the text
    Tidings wrote (compact, by orjson), which is embedded as is; decoding it in the driver
    only for orjson to encode it again cost ~8 us a conversation with three threads."""
    if dialect != "postgresql":
        return columns

    def selected(name: str) -> str:
        if name in _TIMESTAMPS:
            return f"to_char({name}, 'YYYY-MM-DD HH24:MI:SS.US') AS {name}"
        if name in _JSON_COLUMNS:
            return f"{name}::text AS {name}"
        return name

    return ", ".join(selected(name.strip()) for name in columns.split(","))


class Columns:
    """Where each column of a select list stands in its rows: ``r[CONVERSATION.user_id]``
    (rows are plain driver tuples, the fastest to read)."""

    def __init__(self, columns: str) -> None:
        for position, name in enumerate(columns.split(",")):
            setattr(self, name.strip().strip('"'), position)

    def __getattr__(self, name: str) -> int:  # for type checkers: every name is a position
        raise AttributeError(name)


CONVERSATION = Columns(CONVERSATION_COLUMNS)
THREAD = Columns(THREAD_COLUMNS)
PERSON = Columns(USER_COLUMNS)  # users and customers alike (CUSTOMER_COLUMNS)
assert CUSTOMER_COLUMNS == USER_COLUMNS

SELECT_CONVERSATIONS = {d: _selected(CONVERSATION_COLUMNS, d) for d in ("sqlite", "postgresql")}
SELECT_THREADS = {d: _selected(THREAD_COLUMNS, d) for d in ("sqlite", "postgresql")}


def iso(value: str | None) -> str | None:
    """FreeScout's ``2026-11-28T02:13:39Z`` from a timestamp as selected (see ``_selected``)."""
    return None if value is None else f"{value[:10]}T{value[11:19]}Z"


def _friendly(value: str | None) -> str:
    """FreeScout's ``Nov 28, 02:13``."""
    return "" if value is None else f"{MONTHS[value[5:7]]} {DAYS[value[8:10]]}, {value[11:16]}"


def _stored_json(value: str | None) -> Any:
    """A JSON column as stored (text on both databases, see ``_selected``), embedded as is."""
    if value is None or value == "[]":
        return EMPTY_LIST
    return orjson.Fragment(value)


def _known(ids: set[int | None]) -> list[int]:
    return sorted(i for i in ids if i)


class People:
    """The users and customers a batch mentions, fetched in two queries."""

    def __init__(
        self, conn: Connection, user_ids: set[int | None], customer_ids: set[int | None]
    ) -> None:
        self.users: dict[int, Json] = {}
        # id -> (id, first name, last name, photo url, first e-mail)
        self.customers: dict[int, Sequence[Any]] = {}
        self._short: dict[tuple[int, str | None], Json] = {}
        for part in chunked(_known(user_ids)):
            for r in raw.unordered_rows(
                conn,
                raw.in_list(f"SELECT {USER_COLUMNS} FROM users WHERE id IN ({{ids}})", part),
                USER_COLUMNS,
            ):
                self.users[r[PERSON.id]] = {
                    "id": r[PERSON.id],
                    "type": "user",
                    "firstName": r[PERSON.first_name],
                    "lastName": r[PERSON.last_name],
                    "photoUrl": r[PERSON.photo_url],
                    "email": r[PERSON.email],
                }
        for part in chunked(_known(customer_ids)):
            for r in raw.unordered_rows(
                conn,
                raw.in_list(
                    "SELECT c.id, c.first_name, c.last_name, c.photo_url, (SELECT e.email"
                    " FROM customer_emails e WHERE e.customer_id = c.id ORDER BY e.id LIMIT 1)"
                    " AS email FROM customers c WHERE c.id IN ({ids})",
                    part,
                ),
                CUSTOMER_COLUMNS,
            ):
                self.customers[r[PERSON.id]] = r

    def user(self, user_id: int | None) -> Json | None:
        """The user's short object; None for None or an unknown id."""
        return self.users.get(user_id) if user_id else None

    def customer(self, customer_id: int | None, email: str | None = None) -> Json | None:
        row = self.customers.get(customer_id) if customer_id else None
        if row is None or customer_id is None:
            return None
        email = email or row[PERSON.email]
        # Shared between the threads that mention the customer: payloads are serialised,
        # never mutated, so one dict per (customer, email) is enough.
        found = self._short.get((customer_id, email))
        if found is None:
            found = self._short[(customer_id, email)] = {
                "id": row[PERSON.id],
                "type": "customer",
                "firstName": row[PERSON.first_name],
                "lastName": row[PERSON.last_name],
                "photoUrl": row[PERSON.photo_url],
                "email": email,
            }
        return found


def conversations_json(
    conn: Connection, ids: Sequence[int], *, with_threads: bool, with_tags: bool = False
) -> list[Json]:
    """Conversations in the order of ``ids``; ids that do not exist are left out."""
    return read(conn, ids, with_threads=with_threads, with_tags=with_tags).render()


@dataclass
class Batch:
    """Everything a batch of conversations renders from, read in a fixed number of queries.

    Reading and rendering are apart so a caller can change the database while the batch
    renders (``lifecycle.delete_forever`` deletes what it has just read).
    """

    ids: Sequence[int]
    rows: dict[int, Any]
    people: People
    threads: dict[int, list[Any]] | None
    files: dict[int, list[Json]]
    tags: dict[int, list[Json]] | None

    def render(self) -> list[Json]:
        """Pure: no database access."""
        result = []
        people, threads, files, tag_names = self.people, self.threads, self.files, self.tags
        for convo_id in self.ids:
            row = self.rows.get(convo_id)
            if row is None:
                continue
            item = _conversation(row, people)
            embedded: Json = {}
            if threads is not None:
                embedded["threads"] = [
                    _thread(t, people, files.get(t[THREAD.id])) for t in threads.get(convo_id, ())
                ]
            if tag_names is not None:
                embedded["tags"] = tag_names.get(convo_id, [])
            item["_embedded"] = embedded
            result.append(item)
        return result


def read(
    conn: Connection, ids: Sequence[int], *, with_threads: bool, with_tags: bool = False
) -> Batch:
    rows: dict[int, Any] = {}
    for part in chunked(list(ids)):
        select_list = SELECT_CONVERSATIONS[conn.dialect.name]
        sql = f"SELECT {select_list} FROM conversations WHERE id IN ({{ids}})"
        found = raw.unordered_rows(conn, raw.in_list(sql, part), CONVERSATION_COLUMNS)
        rows.update((r[CONVERSATION.id], r) for r in found)
    user_ids: set[int | None] = set()
    customer_ids: set[int | None] = set()
    c = CONVERSATION
    for r in rows.values():
        user_ids.update((r[c.user_id], r[c.created_by_user_id], r[c.closed_by_user_id]))
        customer_ids.update((r[c.customer_id], r[c.created_by_customer_id]))
    threads, files = (
        _threads(conn, list(rows), user_ids, customer_ids) if with_threads else (None, {})
    )
    return Batch(
        ids=ids,
        rows=rows,
        people=People(conn, user_ids, customer_ids),
        threads=threads,
        files=files,
        tags=_tags_of(conn, list(rows)) if with_tags else None,
    )


def conversation_json(conn: Connection, convo_id: int, *, with_tags: bool = False) -> Json | None:
    found = conversations_json(conn, [convo_id], with_threads=True, with_tags=with_tags)
    return found[0] if found else None


def _threads(
    conn: Connection,
    convo_ids: list[int],
    user_ids: set[int | None],
    customer_ids: set[int | None],
) -> tuple[dict[int, list[Any]], dict[int, list[Json]]]:
    """Published threads newest first, and their attachments, by conversation / thread."""
    threads: dict[int, list[Any]] = {}
    files: dict[int, list[Json]] = defaultdict(list)
    for part in chunked(convo_ids):
        # Unordered, then sorted here: SQLite sorting whole rows, bodies and all, in a
        # temporary b-tree cost ~15% of reading them (1,500 threads: ~5.5 -> ~4.7 ms).
        # Row by row, not as one JSON array (``raw.unordered_rows``): bodies can be large,
        # and one string of all of them would be bounded only by SQLite's 1 GB limit.
        rows = raw.rows(
            conn,
            raw.in_list(
                f"SELECT {SELECT_THREADS[conn.dialect.name]} FROM threads"
                " WHERE conversation_id IN ({ids})"
                f" AND state = {int(ThreadState.PUBLISHED)}",
                part,
            ),
        )
        # One sort and C-level grouping: by conversation, then (created_at, id) descending
        # (stored timestamps sort as they compare); ~2x faster than a Python loop.
        rows.sort(key=_BY_CONVERSATION_NEWEST_FIRST, reverse=True)
        threads.update((cid, list(group)) for cid, group in groupby(rows, _CONVERSATION))
        user_ids.update(map(_USER, rows), map(_CREATED_BY_USER, rows))
        customer_ids.update(map(_CUSTOMER, rows), map(_CREATED_BY_CUSTOMER, rows))
        for a in raw.rows(
            conn,
            raw.in_list(
                "SELECT id, thread_id, file_name, mime_type, size FROM attachments"
                " WHERE conversation_id IN ({ids}) ORDER BY id",
                part,
            ),
        ):
            attachment_id, thread_id, file_name, mime_type, size = a
            files[thread_id].append(
                {
                    "id": attachment_id,
                    "fileName": file_name,
                    "fileUrl": f"/api/attachments/{attachment_id}/data",
                    "mimeType": mime_type,
                    "size": size,
                }
            )
    return threads, files


_BY_CONVERSATION_NEWEST_FIRST = itemgetter(THREAD.conversation_id, THREAD.created_at, THREAD.id)
_CONVERSATION = itemgetter(THREAD.conversation_id)
_CUSTOMER = itemgetter(THREAD.customer_id)
_CREATED_BY_USER = itemgetter(THREAD.created_by_user_id)
_CREATED_BY_CUSTOMER = itemgetter(THREAD.created_by_customer_id)
_USER = itemgetter(THREAD.user_id)


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


# Every (type, via) pair's ``source`` object, shared: payloads are serialised, never mutated.
SOURCES: dict[tuple[int, int], Json] = {
    (t, v): {"type": type_name, "via": via_name}
    for t, type_name in SOURCE.items()
    for v, via_name in VIA.items()
}


def _source(source_type: int, source_via: int) -> Json:
    found = SOURCES.get((source_type, source_via))
    if found is None:
        return {"type": SOURCE.get(source_type, "email"), "via": VIA.get(source_via, "customer")}
    return found


def _conversation(r: Any, people: People) -> Json:
    (
        convo_id, number, threads_count, type_, folder_id, status, state, subject, preview,
        mailbox_id, user_id, customer_id, customer_email, cc, bcc, source_type, source_via,
        created_by_user_id, created_by_customer_id, closed_by_user_id, closed_at,
        user_updated_at, last_reply_at, last_reply_from, created_at, updated_at,
    ) = r  # fmt: skip
    closed = status == Status.CLOSED
    by_customer = source_via == Via.CUSTOMER
    return {
        "id": convo_id,
        "number": number,
        "threadsCount": threads_count,
        "type": CONVERSATION_TYPE.get(type_, "email"),
        "folderId": folder_id,
        "status": STATUS.get(status, "active"),
        "state": STATE.get(state, "published"),
        "subject": subject,
        "preview": preview,
        "mailboxId": mailbox_id,
        "assignee": people.user(user_id),
        "createdBy": (
            people.customer(created_by_customer_id)
            if by_customer
            else people.user(created_by_user_id)
        ),
        "createdAt": iso(created_at),
        "updatedAt": iso(updated_at),
        "closedBy": closed_by_user_id if closed else None,
        "closedByUser": people.user(closed_by_user_id) if closed else None,
        "closedAt": iso(closed_at),
        "userUpdatedAt": iso(user_updated_at),
        "customerWaitingSince": {
            "time": iso(last_reply_at),
            "friendly": _friendly(last_reply_at),
            "latestReplyFrom": VIA.get(last_reply_from) if last_reply_from is not None else None,
        },
        "source": _source(source_type, source_via),
        "cc": _stored_json(cc),
        "bcc": _stored_json(bcc),
        "customer": people.customer(customer_id, customer_email),
    }


def _thread(t: Any, people: People, files: list[Json] | None) -> Json:
    (
        thread_id, _, type_, status, state, action_type, body, source_type, source_via,
        customer_id, created_by_user_id, created_by_customer_id, user_id, to, cc, bcc, meta,
        created_at, opened_at,
    ) = t  # fmt: skip
    if not action_type and (meta == "{}" or not meta):
        action = NO_ACTION  # most threads
    else:
        decoded = orjson.loads(meta)
        action = _action(action_type, decoded or {})
    return {
        "id": thread_id,
        "type": THREAD_TYPE.get(type_, "customer"),
        "status": STATUS.get(status, "nochange"),
        "state": THREAD_STATE.get(state, "published"),
        "action": action,
        "body": body,
        "source": _source(source_type, source_via),
        "customer": people.customer(customer_id),
        "createdBy": (
            people.customer(created_by_customer_id)
            if source_via == Via.CUSTOMER
            else people.user(created_by_user_id)
        ),
        "assignedTo": people.user(user_id),
        "to": _stored_json(to),
        "cc": _stored_json(cc),
        "bcc": _stored_json(bcc),
        "createdAt": iso(created_at),
        "openedAt": iso(opened_at),
        "_embedded": {"attachments": files} if files else NO_ATTACHMENTS,
    }


def _action(action_type: int | None, meta: Json) -> Json:
    name = ACTION.get(action_type) if action_type else None
    return {
        # FreeScout's Thread::getActionTypeName() answers "" for a thread with no action.
        "type": name or "",
        "text": meta.get("text", "") if name else "",
        "associatedEntities": meta.get("associated", []),
    }


# Shared by every thread without an action / attachments (serialised, never mutated).
NO_ACTION = _action(None, {})
NO_ATTACHMENTS: Json = {"attachments": []}
