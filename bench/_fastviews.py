"""A prototype of the recommended faster ``tidings.desk.conversation_views.conversations_json``.

Not used by Tidings: the benchmarks use it to show what the recommended changes buy
(``bulk.py --case reference_with_events``, ``api.py`` in-process breakdown). It builds
byte-for-byte the same JSON as ``conversations_json`` (``check_same`` verifies that) with:

- raw driver rows (``exec_driver_sql`` with the ids inlined; they are ints): no
  SQLAlchemy type processing, no per-call compilation of expanding IN lists;
- only the columns the shape needs (customers' four JSON columns are never decoded);
- JSON columns embedded as ``orjson.Fragment`` (the stored text *is* the JSON),
  decoded only for ``meta`` when it is not ``{}``;
- timestamps formatted by slicing SQLite's stored text (``YYYY-MM-DD HH:MM:SS.ffffff``
  is UTC by construction) or one ``strftime`` on PostgreSQL's naive UTC datetimes;
- enumerations through precomputed ``{int: name}`` dicts instead of ``IntEnum(value)``;
- attachments by ``conversation_id`` (indexed) instead of a second IN list of thread ids.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

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

Json = dict[str, Any]


def _names(enum: Any) -> dict[int, str]:
    return {int(m): m.name.lower() for m in enum}


CONVO_TYPE = _names(ConversationType)
STATUS = _names(Status)
STATE = _names(State)
SOURCE = _names(SourceType)
VIA = _names(Via)
THREAD_TYPE = _names(ThreadType)
THREAD_STATE = _names(ThreadState)
ACTION = {int(k): v for k, v in ACTION_NAMES.items()}
MONTHS = ["", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
EMPTY_LIST = orjson.Fragment(b"[]")


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite: "YYYY-MM-DD HH:MM:SS[.ffffff]", UTC
        return f"{value[:10]}T{value[11:19]}Z"
    assert isinstance(value, datetime)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _friendly(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return f"{MONTHS[int(value[5:7])]} {int(value[8:10])}, {value[11:16]}"
    assert isinstance(value, datetime)
    return value.strftime("%b %-d, %H:%M")


def _json(value: Any) -> Any:
    """A stored JSON value to embed as is (SQLite gives text, psycopg decoded values)."""
    if isinstance(value, str):
        return EMPTY_LIST if value == "[]" else orjson.Fragment(value)
    return value if value is not None else EMPTY_LIST


def _ids(ids: Sequence[int]) -> str:
    return ",".join(str(int(i)) for i in ids)


CONVO_COLS = (
    "id, number, threads_count, type, folder_id, status, state, subject, preview, mailbox_id,"
    " user_id, customer_id, customer_email, cc, bcc, source_type, source_via,"
    " created_by_user_id, created_by_customer_id, closed_by_user_id, closed_at,"
    " user_updated_at, last_reply_at, last_reply_from, created_at, updated_at"
)
THREAD_COLS = (
    "id, conversation_id, type, status, state, action_type, body, source_type, source_via,"
    ' customer_id, created_by_user_id, created_by_customer_id, user_id, "to", cc, bcc, meta,'
    " created_at, opened_at"
)


class People:
    def __init__(self, conn: Any, user_ids: set[int], customer_ids: set[int]) -> None:
        self.users: dict[int, Json] = {}
        self.customers: dict[int, tuple[Any, ...]] = {}
        self.emails: dict[int, str] = {}
        if user_ids:
            for r in conn.exec_driver_sql(
                "SELECT id, first_name, last_name, photo_url, email FROM users"
                f" WHERE id IN ({_ids(sorted(user_ids))})"
            ):
                self.users[r[0]] = {
                    "id": r[0],
                    "type": "user",
                    "firstName": r[1],
                    "lastName": r[2],
                    "photoUrl": r[3],
                    "email": r[4],
                }
        if customer_ids:
            listed = _ids(sorted(customer_ids))
            for r in conn.exec_driver_sql(
                f"SELECT id, first_name, last_name, photo_url FROM customers WHERE id IN ({listed})"
            ):
                self.customers[r[0]] = tuple(r)
            for cid, email in conn.exec_driver_sql(
                "SELECT customer_id, email FROM customer_emails"
                f" WHERE customer_id IN ({listed}) ORDER BY id"
            ):
                self.emails.setdefault(cid, email)

    def user(self, user_id: int | None) -> Json | None:
        return self.users.get(user_id) if user_id else None  # type: ignore[arg-type]

    def customer(self, customer_id: int | None, email: str | None = None) -> Json | None:
        if not customer_id:
            return None
        r = self.customers.get(customer_id)
        if r is None:
            return None
        return {
            "id": r[0],
            "type": "customer",
            "firstName": r[1],
            "lastName": r[2],
            "photoUrl": r[3],
            "email": email or self.emails.get(customer_id),
        }


def conversations_json(
    conn: Any, ids: Sequence[int], *, with_threads: bool, lock: bool = False
) -> list[Json]:
    """Same shape and order as conversation_views.conversations_json (no tags)."""
    if not ids:
        return []
    listed = _ids(ids)
    suffix = " FOR UPDATE" if lock and conn.dialect.name == "postgresql" else ""
    rows = {
        r[0]: r
        for r in conn.exec_driver_sql(
            f"SELECT {CONVO_COLS} FROM conversations WHERE id IN ({listed}){suffix}"
        )
    }
    threads: dict[int, list[Any]] = defaultdict(list)
    files: dict[int, list[Json]] = defaultdict(list)
    user_ids: set[int] = set()
    customer_ids: set[int] = set()
    for r in rows.values():
        user_ids.update(x for x in (r[10], r[17], r[19]) if x)
        customer_ids.update(x for x in (r[11], r[18]) if x)
    if with_threads and rows:
        for t in conn.exec_driver_sql(
            f"SELECT {THREAD_COLS} FROM threads WHERE conversation_id IN ({listed})"
            f" AND state = {int(ThreadState.PUBLISHED)} ORDER BY created_at DESC, id DESC"
        ):
            threads[t[1]].append(t)
            user_ids.update(x for x in (t[10], t[12]) if x)
            customer_ids.update(x for x in (t[9], t[11]) if x)
        for a in conn.exec_driver_sql(
            "SELECT id, thread_id, file_name, mime_type, size FROM attachments"
            f" WHERE conversation_id IN ({listed}) ORDER BY id"
        ):
            files[a[1]].append(
                {
                    "id": a[0],
                    "fileName": a[2],
                    "fileUrl": f"/api/attachments/{a[0]}/data",
                    "mimeType": a[3],
                    "size": a[4],
                }
            )
    people = People(conn, user_ids, customer_ids)
    result = []
    for convo_id in ids:
        r = rows.get(convo_id)
        if r is None:
            continue
        item = _conversation(r, people)
        if with_threads:
            item["_embedded"] = {
                "threads": [
                    _thread(t, people, files.get(t[0], [])) for t in threads.get(convo_id, [])
                ]
            }
        else:
            item["_embedded"] = {}
        result.append(item)
    return result


def _conversation(r: Any, people: People) -> Json:
    (
        cid,
        number,
        threads_count,
        type_,
        folder_id,
        status,
        state,
        subject,
        preview,
        mailbox_id,
        user_id,
        customer_id,
        customer_email,
        cc,
        bcc,
        source_type,
        source_via,
        created_by_user_id,
        created_by_customer_id,
        closed_by_user_id,
        closed_at,
        user_updated_at,
        last_reply_at,
        last_reply_from,
        created_at,
        updated_at,
    ) = r
    closed = status == Status.CLOSED
    return {
        "id": cid,
        "number": number,
        "threadsCount": threads_count,
        "type": CONVO_TYPE.get(type_, "email"),
        "folderId": folder_id,
        "status": STATUS.get(status, "active"),
        "state": STATE.get(state, "published"),
        "subject": subject,
        "preview": preview,
        "mailboxId": mailbox_id,
        "assignee": people.user(user_id),
        "createdBy": people.customer(created_by_customer_id)
        if source_via == Via.CUSTOMER
        else people.user(created_by_user_id),
        "createdAt": _iso(created_at),
        "updatedAt": _iso(updated_at),
        "closedBy": closed_by_user_id if closed else None,
        "closedByUser": people.user(closed_by_user_id) if closed else None,
        "closedAt": _iso(closed_at),
        "userUpdatedAt": _iso(user_updated_at),
        "customerWaitingSince": {
            "time": _iso(last_reply_at),
            "friendly": _friendly(last_reply_at),
            "latestReplyFrom": VIA.get(last_reply_from) if last_reply_from is not None else None,
        },
        "source": {
            "type": SOURCE.get(source_type, "email"),
            "via": VIA.get(source_via, "customer"),
        },
        "cc": _json(cc),
        "bcc": _json(bcc),
        "customer": people.customer(customer_id, customer_email),
    }


def _thread(t: Any, people: People, files: list[Json]) -> Json:
    (
        tid,
        _cid,
        type_,
        status,
        state,
        action_type,
        body,
        source_type,
        source_via,
        customer_id,
        created_by_user_id,
        created_by_customer_id,
        user_id,
        to,
        cc,
        bcc,
        meta,
        created_at,
        opened_at,
    ) = t
    if isinstance(meta, str):
        meta = {} if meta == "{}" else orjson.loads(meta)
    meta = meta or {}
    action_name = ACTION.get(action_type) if action_type else None
    return {
        "id": tid,
        "type": THREAD_TYPE.get(type_, "customer"),
        "status": STATUS.get(status, "nochange"),
        "state": THREAD_STATE.get(state, "published"),
        "action": {
            "type": action_name,
            "text": meta.get("text", "") if action_name else "",
            "associatedEntities": meta.get("associated", []),
        },
        "body": body,
        "source": {
            "type": SOURCE.get(source_type, "email"),
            "via": VIA.get(source_via, "customer"),
        },
        "customer": people.customer(customer_id),
        "createdBy": people.customer(created_by_customer_id)
        if source_via == Via.CUSTOMER
        else people.user(created_by_user_id),
        "assignedTo": people.user(user_id),
        "to": _json(to),
        "cc": _json(cc),
        "bcc": _json(bcc),
        "createdAt": _iso(created_at),
        "openedAt": _iso(opened_at),
        "_embedded": {"attachments": files},
    }


def check_same(conn: Any, ids: Sequence[int], *, with_threads: bool) -> int:
    """Assert the prototype's JSON bytes equal Tidings' for these ids; returns how many."""
    from _common import tidings_views

    reference = tidings_views().conversations_json

    ours = conversations_json(conn, ids, with_threads=with_threads)
    theirs = reference(conn, ids, with_threads=with_threads)
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    for a, b in zip(ours, theirs, strict=True):
        da, db = orjson.dumps(a), orjson.dumps(b)
        assert da == db, f"conversation {b['id']} differs:\n{da[:600]!r}\n{db[:600]!r}"
    return len(ours)
