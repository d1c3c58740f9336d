"""Customers: create, update, find-or-create; each change announces itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Text, bindparam, delete, func, insert, select, update

from tidings.db.rows import insert_row
from tidings.db.schema import customer_emails, customers
from tidings.desk import validate as v
from tidings.desk.enums import PHONE_TYPES, PHOTO_TYPES, EmailType
from tidings.desk.views import full_customer
from tidings.errors import InvalidInput, NotFound
from tidings.events.outbox import Tx

_ADDRESS_KEYS = ("city", "state", "zip", "country", "address")


def _profile(body: dict[str, Any], where: str = "") -> dict[str, Any]:
    """The plain columns a create or update may set, validated; ``where``: the body's
    path (``customer`` when the customer is created inside a conversation)."""
    values: dict[str, Any] = {}
    for key, column, limit in (
        ("firstName", "first_name", 40),
        ("lastName", "last_name", 40),
        ("jobTitle", "job_title", 60),
        ("company", "company", 60),
        ("photoUrl", "photo_url", 255),
        ("notes", "notes", None),
    ):
        if key in body:
            values[column] = v.text(body, key, max_len=limit, path=v.at(where, key))
    if "photoType" in body and body["photoType"] is not None:
        if body["photoType"] not in PHOTO_TYPES:
            raise v.wrong(v.at(where, "photoType"), f"one of: {', '.join(PHOTO_TYPES)}")
        values["photo_type"] = PHOTO_TYPES.index(body["photoType"])
    if "address" in body:
        path = v.at(where, "address")
        address = v.obj(body, "address", path=path) or {}
        values["address"] = {k: v.text(address, k, path=f"{path}.{k}") for k in _ADDRESS_KEYS}
    if "phones" in body or "phone" in body:
        values["phones"] = _typed_list(body, "phones", PHONE_TYPES, where)
        if phone := v.text(body, "phone", path=v.at(where, "phone")):
            values["phones"].append({"value": phone, "type": "work"})
    if "socialProfiles" in body:
        values["social_profiles"] = _typed_list(body, "socialProfiles", None, where)
    if "websites" in body:
        websites = _typed_list(body, "websites", None, where)
        values["websites"] = [{"value": w["value"]} for w in websites]
    return values


def _typed_list(
    body: dict[str, Any], key: str, types: tuple[str, ...] | None, where: str
) -> list[dict[str, Any]]:
    path = v.at(where, key)
    result = []
    for i, item in enumerate(v.object_list(body, key, "objects with a `value`", path=path)):
        if not isinstance(item, dict):
            raise v.wrong(f"{path}[{i}]", "an object")
        value = v.text(item, "value", path=f"{path}[{i}].value")
        if value is None:
            raise v.required(f"{path}[{i}].value")
        kind = item.get("type", "other")
        if types is not None and kind not in types:
            raise v.wrong(f"{path}[{i}].type", f"one of: {', '.join(types)}")
        result.append({"value": value, "type": kind})
    return result


def _email(value: str, path: str) -> str:
    if "@" not in value or len(value.strip()) > 191:
        raise v.wrong(path, "an email address")
    return value.strip().lower()


def _emails_for_create(
    body: dict[str, Any], where: str = "", key: str = "emails"
) -> list[tuple[str, int]]:
    """``email`` and ``emails`` (address strings or ``{value, type}`` objects) of the
    object at ``where``; ``key`` names the list (``emails_add`` on an update)."""
    found: list[tuple[str, int]] = []
    if single := v.text(body, "email", path=v.at(where, "email")):
        found.append((_email(single, v.at(where, "email")), EmailType.WORK))
    path = v.at(where, key)
    for i, item in enumerate(v.object_list(body, key, "email addresses", path=path)):
        at = f"{path}[{i}]"
        if isinstance(item, dict):
            value = v.text(item, "value", path=f"{at}.value")
            if value is None:
                raise v.required(f"{at}.value")
            kind = v.enum_value(item, "type", EmailType, path=f"{at}.type")
            found.append((_email(value, f"{at}.value"), kind or EmailType.WORK))
        elif isinstance(item, str):
            found.append((_email(item, at), EmailType.WORK))
        else:
            raise v.wrong(at, "an email address or an object with a `value`")
    unique: dict[str, int] = {}  # one row per address: the first type given wins
    for email, kind in found:
        unique.setdefault(email, kind)
    return list(unique.items())


# Built once, the emails bound at execution: compiled once, not once per call.
_OWNERS = select(customer_emails.c.email, customer_emails.c.customer_id).where(
    customer_emails.c.email.in_(bindparam("emails", expanding=True))
)


def _taken(conn: Connection, emails: list[str]) -> dict[str, int]:
    if not emails:
        return {}
    rows = conn.execute(_OWNERS, {"emails": emails})
    return {r.email: r.customer_id for r in rows}


def create_customer(tx: Tx, body: dict[str, Any], where: str = "") -> int:
    """A new customer from the object at ``where`` in the body (``""``: the body)."""
    emails = _emails_for_create(body, where)
    first_name = v.text(body, "firstName", max_len=40, path=v.at(where, "firstName"))
    if not first_name and not emails:
        path = v.at(where, "firstName")
        raise InvalidInput.field(path, f"`{path}` or `{v.at(where, 'email')}` is required")
    taken = _taken(tx.conn, [e for e, _ in emails])
    if emails and all(e in taken for e, _ in emails):
        path = v.at(where, "emails")
        raise InvalidInput.field(path, "Customers with such email(s) already exist")
    profile = _profile(body, where)
    values = {"phones": [], "social_profiles": [], "websites": [], "address": {}, **profile}
    customer_id = insert_row(
        tx.conn, customers, {**values, "created_at": tx.now, "updated_at": tx.now}
    )
    fresh = [(e, t) for e, t in emails if e not in taken]
    if fresh:
        tx.conn.execute(
            insert(customer_emails),
            [{"customer_id": customer_id, "email": e, "type": t} for e, t in fresh],
        )
    _announce(tx, "customer.created", customer_id)
    return customer_id


def update_customer(tx: Tx, customer_id: int, body: dict[str, Any]) -> None:
    if tx.conn.execute(select(customers.c.id).where(customers.c.id == customer_id)).first() is None:
        raise NotFound()
    values = _profile(body)
    if "emails" in body:
        replacement = [e for e, _ in _emails_for_create({"emails": body["emails"]})]
        _check_free(tx.conn, replacement, customer_id, "emails")
        tx.conn.execute(delete(customer_emails).where(customer_emails.c.customer_id == customer_id))
        _add_emails(tx.conn, customer_id, replacement)
    if "emails_add" in body or "emailsAdd" in body:
        key = "emails_add" if "emails_add" in body else "emailsAdd"
        extra = [e for e, _ in _emails_for_create({key: body[key]}, key=key)]
        _check_free(tx.conn, extra, customer_id, key)
        mine = set(_taken(tx.conn, extra))
        _add_emails(tx.conn, customer_id, [e for e in extra if e not in mine])
    tx.conn.execute(
        update(customers).where(customers.c.id == customer_id).values(**values, updated_at=tx.now)
    )
    _announce(tx, "customer.updated", customer_id)


def _check_free(conn: Connection, emails: list[str], customer_id: int, path: str) -> None:
    for email, owner in _taken(conn, emails).items():
        if owner != customer_id:
            raise InvalidInput.field(path, f"Email {email} belongs to another customer")


def _add_emails(conn: Connection, customer_id: int, emails: list[str]) -> None:
    if emails:
        conn.execute(
            insert(customer_emails),
            [{"customer_id": customer_id, "email": e, "type": EmailType.WORK} for e in emails],
        )


def _announce(tx: Tx, type_: str, customer_id: int) -> None:
    payload = full_customer(tx.conn, customer_id)
    assert payload is not None
    tx.emit(type_, payload, entity_type="customer", entity_id=customer_id)


def find_or_create(tx: Tx, body: Any, path: str = "customer") -> int:
    """FreeScout's look-up order: id, then email, then phone; otherwise create."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]  # FreeScout's "fix for Zapier": a customer sent as an array
    if not isinstance(body, dict):
        raise v.wrong(path, "an object")
    customer_id = v.integer(body, "id", path=f"{path}.id")
    if customer_id is not None:
        if (
            tx.conn.execute(select(customers.c.id).where(customers.c.id == customer_id)).first()
            is None
        ):
            raise InvalidInput.field(f"{path}.id", f"Customer {customer_id} not found")
        return customer_id
    email = v.text(body, "email", path=f"{path}.email")
    if email:
        owner = _taken(tx.conn, [email.strip().lower()])
        if owner:
            return next(iter(owner.values()))
    phone = v.text(body, "phone", path=f"{path}.phone")
    if phone:
        found = tx.conn.execute(
            select(customers.c.id)
            .where(func.cast(customers.c.phones, Text()).like(f"%{phone}%"))
            .limit(1)
        ).first()
        if found:
            return int(found.id)
    if not email and not phone:
        raise InvalidInput.field(path, f"`{path}` needs an `id`, `email` or `phone`")
    return create_customer(tx, {**body, "email": email} if email else body, path)


def exists(conn: Connection, customer_id: int) -> bool:
    return (
        conn.execute(select(customers.c.id).where(customers.c.id == customer_id)).first()
        is not None
    )
