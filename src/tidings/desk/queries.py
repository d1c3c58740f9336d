"""Read-side queries for the list endpoints: filters, sorting and pagination."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, func, select

from tidings.db.schema import (
    conversation_tag,
    conversations,
    customer_emails,
    customers,
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
        return (self.number - 1) * self.size


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


CONVERSATION_SORTS = {
    "createdAt": conversations.c.created_at,
    "mailboxId": conversations.c.mailbox_id,
    "number": conversations.c.number,
    "subject": conversations.c.subject,
    "updatedAt": conversations.c.updated_at,
    "waitingSince": conversations.c.last_reply_at,
}


def conversation_where(f: ConversationFilter, dialect: str) -> list[Any]:
    c = conversations.c
    where: list[Any] = []
    if f.mailbox_ids:
        where.append(c.mailbox_id.in_(f.mailbox_ids))
    if f.folder_id is not None:
        where.append(c.folder_id == f.folder_id)
    if f.statuses:
        where.append(c.status.in_(f.statuses))
    if f.state is not None:
        where.append(c.state == f.state)
    if f.type is not None:
        where.append(c.type == f.type)
    if f.unassigned:
        where.append(c.user_id.is_(None))
    elif f.assigned_to is not None:
        where.append(c.user_id == f.assigned_to)
    if f.customer_email:
        where.append(c.customer_email == f.customer_email.lower())
    if f.customer_phone:
        phones = func.cast(customers.c.phones, customers.c.notes.type)
        where.append(
            c.customer_id.in_(select(customers.c.id).where(phones.like(f"%{f.customer_phone}%")))
        )
    if f.customer_id is not None:
        where.append(c.customer_id == f.customer_id)
    if f.number is not None:
        where.append(c.number == f.number)
    if f.subject:
        pattern = f"%{f.subject}%"
        where.append(
            c.subject.ilike(pattern) if dialect == "postgresql" else c.subject.like(pattern)
        )
    if f.tag:
        tagged = select(conversation_tag.c.conversation_id).join(
            tags, tags.c.id == conversation_tag.c.tag_id
        )
        where.append(c.id.in_(tagged.where(tags.c.name == f.tag)))
    if f.created_by_user_id is not None:
        where.append(c.created_by_user_id == f.created_by_user_id)
    if f.created_by_customer_id is not None:
        where.append(c.created_by_customer_id == f.created_by_customer_id)
    if f.created_since is not None:
        where.append(c.created_at >= f.created_since)
    if f.updated_since is not None:
        where.append(c.updated_at >= f.updated_since)
    if f.updated_before is not None:
        where.append(c.updated_at < f.updated_before)
    return where


def list_conversation_ids(
    conn: Connection, f: ConversationFilter, sort: str, descending: bool, page: Page
) -> tuple[list[int], int]:
    where = conversation_where(f, conn.dialect.name)
    column = CONVERSATION_SORTS[sort]
    order = (
        (column.desc(), conversations.c.id.desc())
        if descending
        else (column.asc(), conversations.c.id.asc())
    )
    ids = list(
        conn.execute(
            select(conversations.c.id)
            .where(and_(True, *where))
            .order_by(*order)
            .limit(page.size)
            .offset(page.offset)
        ).scalars()
    )
    return ids, _count(
        conn, select(func.count()).select_from(conversations).where(and_(True, *where)), ids, page
    )


def _count(conn: Connection, query: Select[Any], ids: list[int], page: Page) -> int:
    # A short first page is its own count; skip the COUNT(*) scan then.
    if page.number == 1 and len(ids) < page.size:
        return len(ids)
    return counts.count(conn, query)


def matching_conversation_ids(conn: Connection, f: ConversationFilter) -> list[int]:
    where = conversation_where(f, conn.dialect.name)
    return list(
        conn.execute(
            select(conversations.c.id).where(and_(True, *where)).order_by(conversations.c.id)
        ).scalars()
    )


@dataclass
class CustomerFilter:
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    email: str | None = None
    updated_since: datetime | None = None


CUSTOMER_SORTS = {
    "createdAt": customers.c.id,
    "firstName": customers.c.first_name,
    "lastName": customers.c.last_name,
    "updatedAt": customers.c.updated_at,
}


def list_customer_ids(
    conn: Connection, f: CustomerFilter, sort: str, descending: bool, page: Page
) -> tuple[list[int], int]:
    c = customers.c
    where: list[Any] = []
    if f.first_name is not None:
        where.append(c.first_name == f.first_name)
    if f.last_name is not None:
        where.append(c.last_name == f.last_name)
    if f.phone:
        digits = "".join(ch for ch in f.phone if ch.isdigit()) or f.phone
        # FreeScout matches the numeric form: strip the punctuation of the stored numbers too.
        stored: Any = func.cast(c.phones, c.notes.type)
        for mark in " -().+/":
            stored = func.replace(stored, mark, "")
        where.append(stored.like(f"%{digits}%"))
    if f.email:
        where.append(
            c.id.in_(
                select(customer_emails.c.customer_id).where(
                    customer_emails.c.email == f.email.lower()
                )
            )
        )
    if f.updated_since is not None:
        where.append(c.updated_at >= f.updated_since)
    column = CUSTOMER_SORTS[sort]
    order = (column.desc(), c.id.desc()) if descending else (column.asc(), c.id.asc())
    ids = list(
        conn.execute(
            select(c.id)
            .where(and_(True, *where))
            .order_by(*order)
            .limit(page.size)
            .offset(page.offset)
        ).scalars()
    )
    return ids, _count(
        conn, select(func.count()).select_from(customers).where(and_(True, *where)), ids, page
    )


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
