"""Read-side queries for the list endpoints: filters, sorting and pagination.

The conversation and customer lists are the busiest reads in Tidings, so their
statements are written as text (``tidings.db.raw``): a filter becomes a ``WHERE`` of
fixed fragments with ``?`` parameters, never an interpolated value.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from tidings.db import raw
from tidings.db.raw import Statement
from tidings.db.schema import (
    conversation_tag,
    mailbox_user,
    mailboxes,
    tags,
    users,
)
from tidings.desk.counts import counts


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        # Past the last row any page is empty; the offset must fit the database's 64 bits.
        return min((self.number - 1) * self.size, 2**63 - 1)


@dataclass
class ConversationFilter:
    mailbox_ids: list[int] | None = None
    folder_id: int | None = None
    statuses: list[int] | None = None
    state: int | None = None
    type: int | None = None
    assigned_to: int | None = None
    unassigned: bool = False
    customer_email: str | None = None
    customer_phone: str | None = None
    customer_id: int | None = None
    number: int | None = None
    subject: str | None = None
    tag: str | None = None
    created_by_user_id: int | None = None
    created_by_customer_id: int | None = None
    created_since: datetime | None = None
    updated_since: datetime | None = None
    updated_before: datetime | None = None


# API sort field -> column; the values are the only column names a request can choose.
CONVERSATION_SORTS = {
    "createdAt": "created_at",
    "mailboxId": "mailbox_id",
    "number": "number",
    "subject": "subject",
    "updatedAt": "updated_at",
    "waitingSince": "last_reply_at",
}


class Where:
    """``AND``-ed SQL fragments and their parameters, in order."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.parts: list[str] = []
        self.params: list[Any] = []

    def add(self, fragment: str, *params: Any) -> None:
        self.parts.append(fragment)
        self.params.extend(raw.bind(p, self.dialect) for p in params)

    def any_of(self, column: str, values: list[int]) -> None:
        self.add(f"{column} IN ({', '.join('?' * len(values))})", *values)

    @property
    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.parts) if self.parts else ""


def _grouped(w: Where, f: ConversationFilter, unassigned: str) -> None:
    """The filters the list totals group by, over columns named alike in ``conversations``
    and ``conversation_totals``; only "unassigned" is written differently."""
    if f.mailbox_ids:
        w.any_of("mailbox_id", f.mailbox_ids)
    if f.folder_id is not None:
        w.add("folder_id = ?", f.folder_id)
    if f.statuses:
        w.any_of("status", f.statuses)
    if f.state is not None:
        w.add("state = ?", f.state)
    if f.unassigned:
        w.add(unassigned)
    elif f.assigned_to is not None:
        w.add("user_id = ?", f.assigned_to)


def conversation_where(f: ConversationFilter, dialect: str) -> Where:
    w = Where(dialect)
    _grouped(w, f, unassigned="user_id IS NULL")
    if f.type is not None:
        w.add("type = ?", f.type)
    if f.customer_email:
        w.add("customer_email = ?", f.customer_email.lower())
    if f.customer_phone:
        w.add(
            "customer_id IN (SELECT id FROM customers WHERE CAST(phones AS TEXT) LIKE ?)",
            f"%{f.customer_phone}%",
        )
    if f.customer_id is not None:
        w.add("customer_id = ?", f.customer_id)
    if f.number is not None:
        w.add("number = ?", f.number)
    if f.subject:
        # SQLite's LIKE ignores ASCII case already; PostgreSQL needs ILIKE.
        like = "ILIKE" if dialect == "postgresql" else "LIKE"
        w.add(f"subject {like} ?", f"%{f.subject}%")
    if f.tag:
        w.add(
            "id IN (SELECT ct.conversation_id FROM conversation_tag ct"
            " JOIN tags t ON t.id = ct.tag_id WHERE t.name = ?)",
            f.tag,
        )
    if f.created_by_user_id is not None:
        w.add("created_by_user_id = ?", f.created_by_user_id)
    if f.created_by_customer_id is not None:
        w.add("created_by_customer_id = ?", f.created_by_customer_id)
    if f.created_since is not None:
        w.add("created_at >= ?", f.created_since)
    if f.updated_since is not None:
        w.add("updated_at >= ?", f.updated_since)
    if f.updated_before is not None:
        w.add("updated_at < ?", f.updated_before)
    return w


# The filters the stored totals answer (ADR 0018); any other filter counts rows.
TOTALED_FILTERS = frozenset(
    {"mailbox_ids", "folder_id", "statuses", "state", "assigned_to", "unassigned"}
)


def totals_where(f: ConversationFilter, dialect: str) -> Where | None:
    """The filter over ``conversation_totals``, or None when it filters on anything the
    totals do not group by."""
    if any(
        getattr(f, x.name) not in (None, False) for x in fields(f) if x.name not in TOTALED_FILTERS
    ):
        return None
    w = Where(dialect)
    _grouped(w, f, unassigned="user_id = 0")
    return w


def list_conversation_ids(
    conn: Connection, f: ConversationFilter, sort: str, descending: bool, page: Page
) -> tuple[list[int], int]:
    dialect = conn.dialect.name
    w = conversation_where(f, dialect)
    total = totals_where(f, dialect)
    count = (
        Statement(
            f"SELECT coalesce(sum(n), 0) FROM conversation_totals{total.sql}", tuple(total.params)
        )
        if total is not None
        else None
    )
    return _page_of_ids(conn, "conversations", w, CONVERSATION_SORTS[sort], descending, page, count)


def conversation_versions(
    conn: Connection, mailbox_id: int | None, updated_since: datetime | None
) -> Iterator[list[Sequence[Any]]]:
    """``(id, updatedAt, state)`` of every conversation (every state) of ``mailbox_id``,
    updated at or after ``updated_since``, ascending by id, a batch at a time: what the
    digest hashes. ``updatedAt`` is already the API's ``2026-12-06T07:30:02Z`` (cut from the
    stored text as ``conversation_views.iso`` cuts it), ``state`` the integer."""
    f = ConversationFilter(
        mailbox_ids=None if mailbox_id is None else [mailbox_id], updated_since=updated_since
    )
    w = conversation_where(f, conn.dialect.name)
    if conn.dialect.name == "postgresql":
        updated = 'to_char(updated_at, \'YYYY-MM-DD"T"HH24:MI:SS"Z"\')'
    else:
        updated = "substr(updated_at, 1, 10) || 'T' || substr(updated_at, 12, 8) || 'Z'"
    sql = f"SELECT id, {updated}, state FROM conversations{w.sql} ORDER BY id"
    return raw.row_batches(conn, Statement(sql, tuple(w.params)))


def _page_of_ids(
    conn: Connection,
    table: str,
    w: Where,
    column: str,
    descending: bool,
    page: Page,
    total: Statement | None = None,
) -> tuple[list[int], int]:
    """A page of ids and the total: from ``total`` (a sum over stored totals) when given,
    else a ``COUNT(*)``, remembered until the event log moves (ADR 0006)."""
    direction = "DESC" if descending else "ASC"
    params = tuple(w.params)
    found = raw.rows(
        conn,
        Statement(
            f"SELECT id FROM {table}{w.sql} ORDER BY {column} {direction}, id {direction}"
            f" LIMIT {int(page.size)} OFFSET {int(page.offset)}",
            params,
        ),
    )
    ids = [r[0] for r in found]
    # A short first page is its own count; skip the COUNT(*) scan then.
    if page.number == 1 and len(ids) < page.size:
        return ids, len(ids)
    if total is not None:
        return ids, int(raw.scalar(conn, total))
    return ids, counts.count(conn, Statement(f"SELECT count(*) FROM {table}{w.sql}", params))


@dataclass
class CustomerFilter:
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    email: str | None = None
    updated_since: datetime | None = None


CUSTOMER_SORTS = {
    "createdAt": "id",
    "firstName": "first_name",
    "lastName": "last_name",
    "updatedAt": "updated_at",
}


def list_customer_ids(
    conn: Connection, f: CustomerFilter, sort: str, descending: bool, page: Page
) -> tuple[list[int], int]:
    w = Where(conn.dialect.name)
    if f.first_name is not None:
        w.add("first_name = ?", f.first_name)
    if f.last_name is not None:
        w.add("last_name = ?", f.last_name)
    if f.phone:
        digits = "".join(ch for ch in f.phone if ch.isdigit()) or f.phone
        # FreeScout matches the numeric form: strip the punctuation of the stored numbers too.
        stored = "CAST(phones AS TEXT)"
        for mark in " -().+/":
            stored = f"replace({stored}, '{mark}', '')"
        w.add(f"{stored} LIKE ?", f"%{digits}%")
    if f.email:
        w.add("id IN (SELECT customer_id FROM customer_emails WHERE email = ?)", f.email.lower())
    if f.updated_since is not None:
        w.add("updated_at >= ?", f.updated_since)
    return _page_of_ids(conn, "customers", w, CUSTOMER_SORTS[sort], descending, page)


def list_users(conn: Connection, email: str | None, page: Page) -> tuple[list[Any], int]:
    where: list[Any] = [users.c.deleted.is_(False)]
    if email:
        where.append(users.c.email == email.lower())
    rows = conn.execute(
        select(users).where(*where).order_by(users.c.id.desc()).limit(page.size).offset(page.offset)
    ).all()
    total = conn.execute(select(func.count()).select_from(users).where(*where)).scalar_one()
    return list(rows), int(total)


def get_user(conn: Connection, user_id: int) -> Any:
    return conn.execute(
        select(users).where(users.c.id == user_id, users.c.deleted.is_(False))
    ).first()


def list_mailboxes(conn: Connection, user_id: int | None, page: Page) -> tuple[list[Any], int]:
    query = select(mailboxes)
    if user_id is not None:
        user = get_user(conn, user_id)
        if user is None:
            return [], 0
        if user.role != 2:
            query = query.where(
                mailboxes.c.id.in_(
                    select(mailbox_user.c.mailbox_id).where(mailbox_user.c.user_id == user_id)
                )
            )
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(query.order_by(mailboxes.c.id).limit(page.size).offset(page.offset)).all()
    return list(rows), int(total)


def list_tags(
    conn: Connection, conversation_id: int | None, page: Page
) -> tuple[list[dict[str, Any]], int]:
    counter = (
        select(func.count())
        .select_from(conversation_tag)
        .where(conversation_tag.c.tag_id == tags.c.id)
        .scalar_subquery()
    )
    query = select(tags.c.id, tags.c.name, tags.c.color, counter.label("counter"))
    if conversation_id is not None:
        query = query.where(
            tags.c.id.in_(
                select(conversation_tag.c.tag_id).where(
                    conversation_tag.c.conversation_id == conversation_id
                )
            )
        )
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(query.order_by(tags.c.name).limit(page.size).offset(page.offset)).all()
    return [
        {"id": r.id, "name": r.name, "counter": r.counter, "color": r.color} for r in rows
    ], int(total)
