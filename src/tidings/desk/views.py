"""FreeScout's object shapes (reference 1.5) for users, customers and mailboxes.

Conversations, the hot path, have their own module: ``conversation_views``. The same
functions build API responses and event payloads, inside the transaction of the change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select

from tidings.clock import isoformat
from tidings.db.schema import (
    customer_emails,
    customers,
    mailboxes,
)
from tidings.desk.enums import (
    PHOTO_TYPES,
    EmailType,
    name_of,
)

Json = dict[str, Any]

# SQLite allows 32,766 bound parameters; stay far below for every IN list.
IN_LIMIT = 900


def chunked(ids: Sequence[int], size: int = IN_LIMIT) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


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


# Built once, the id lists bound at execution: SQLAlchemy compiles each once, instead of
# building and keying a new statement per call (a customer is rendered for every
# ``customer.*`` event, one per conversation created for a new customer).
_CUSTOMERS = select(customers).where(customers.c.id.in_(bindparam("ids", expanding=True)))
_EMAILS = (
    select(customer_emails)
    .where(customer_emails.c.customer_id.in_(bindparam("ids", expanding=True)))
    .order_by(customer_emails.c.id)
)


def full_customer(conn: Connection, customer_id: int) -> Json | None:
    found = customers_json(conn, [customer_id])
    return found[0] if found else None


def customers_json(conn: Connection, ids: Sequence[int]) -> list[Json]:
    rows: dict[int, Row[Any]] = {}
    emails: dict[int, list[Json]] = defaultdict(list)
    for part in chunked(sorted(set(ids))):
        rows.update((row.id, row) for row in conn.execute(_CUSTOMERS, {"ids": list(part)}))
        for e in conn.execute(_EMAILS, {"ids": list(part)}):
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
