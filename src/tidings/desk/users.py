"""Users (agents): create, delete with reassignment. Reassignments are announced."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from sqlalchemy import func, select, update

from tidings.db.rows import insert_row
from tidings.db.schema import conversations, mailbox_user, users
from tidings.desk import validate as v
from tidings.desk.announce import announce
from tidings.desk.conversations import assign, require_user
from tidings.desk.enums import Role
from tidings.desk.lifecycle import lock_rows
from tidings.errors import InvalidInput, NotFound
from tidings.events.outbox import Tx


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def create_user(tx: Tx, body: dict[str, Any], role: Role = Role.USER) -> int:
    first = v.required_text(body, "firstName", max_len=40)
    last = v.required_text(body, "lastName", max_len=40)
    email = v.required_text(body, "email", max_len=191).strip().lower()
    if "@" not in email:
        raise v.wrong("email", "an email address")
    if tx.conn.execute(select(users.c.id).where(users.c.email == email)).first():
        raise InvalidInput.field("email", "A user with this email already exists")
    password = v.text(body, "password")
    return insert_row(
        tx.conn,
        users,
        dict(
            first_name=first,
            last_name=last,
            email=email,
            password_hash=hash_password(password) if password else None,
            role=role,
            alternate_emails=v.text(body, "alternateEmails"),
            job_title=v.text(body, "jobTitle", max_len=100),
            phone=v.text(body, "phone", max_len=60),
            timezone=v.text(body, "timezone", max_len=64) or "UTC",
            photo_url=v.text(body, "photoUrl", max_len=255),
            language="en",
            deleted=False,
            created_at=tx.now,
            updated_at=tx.now,
        ),
    )


def delete_user(tx: Tx, user_id: int, by_user: int, assign_to: dict[int, int]) -> None:
    """Delete a user; their conversations go to ``assign_to[mailbox]`` or become unassigned.
    ``by_user`` and ``assign_to`` come from the query string (``byUserId``, ``assignTo[]``)."""
    row = tx.conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound()
    if row.deleted:
        raise InvalidInput.field("id", "User is already deleted", "path")
    require_user(tx.conn, by_user, "byUserId", "query")
    if row.role == Role.ADMIN:
        admins = tx.conn.execute(
            select(func.count())
            .select_from(users)
            .where(users.c.role == Role.ADMIN, users.c.deleted.is_(False))
        ).scalar_one()
        if admins <= 1:
            raise InvalidInput.field("id", "The last administrator can not be deleted", "path")
    for mailbox_id, target in assign_to.items():
        require_user(tx.conn, target, f"assignTo[{mailbox_id}]", "query")
    ids = list(
        tx.conn.execute(
            select(conversations.c.id).where(conversations.c.user_id == user_id)
        ).scalars()
    )
    changes = []
    for convo in lock_rows(tx.conn, ids):
        for type_ in assign(tx, convo, assign_to.get(convo.mailbox_id), by_user):
            changes.append((type_, convo.id))
    tx.conn.execute(mailbox_user.delete().where(mailbox_user.c.user_id == user_id))
    tx.conn.execute(
        update(users).where(users.c.id == user_id).values(deleted=True, updated_at=tx.now)
    )
    announce(tx, changes)
