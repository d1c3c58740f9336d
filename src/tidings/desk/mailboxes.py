"""Mailboxes: create (a Tidings extension) with their folders."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tidings.db.rows import insert_row
from tidings.db.schema import mailboxes, users
from tidings.desk import validate as v
from tidings.desk.folders import create_mailbox_folders, grant_access
from tidings.errors import InvalidInput
from tidings.events.outbox import Tx


def create_mailbox(tx: Tx, body: dict[str, Any]) -> int:
    name = v.required_text(body, "name", max_len=128)
    email = v.required_text(body, "email", max_len=191).strip().lower()
    if "@" not in email:
        raise v.wrong("email", "an email address")
    if tx.conn.execute(select(mailboxes.c.id).where(mailboxes.c.email == email)).first():
        raise InvalidInput.field("email", "A mailbox with this email already exists")
    user_ids = body.get("userIds")
    if user_ids is None:
        user_ids = list(
            tx.conn.execute(select(users.c.id).where(users.c.deleted.is_(False))).scalars()
        )
    if not isinstance(user_ids, list) or not all(
        isinstance(u, int) and not isinstance(u, bool) for u in user_ids
    ):
        raise v.wrong("userIds", "a list of user ids")
    known = set(tx.conn.execute(select(users.c.id).where(users.c.id.in_(user_ids))).scalars())
    if missing := set(user_ids) - known:
        raise InvalidInput.field("userIds", f"Unknown user ids: {sorted(missing)}")
    mailbox_id = insert_row(
        tx.conn,
        mailboxes,
        dict(name=name, email=email, last_number=0, created_at=tx.now, updated_at=tx.now),
    )
    create_mailbox_folders(tx.conn, mailbox_id)
    grant_access(tx.conn, mailbox_id, sorted(set(user_ids)))
    return mailbox_id
