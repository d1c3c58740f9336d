"""Conversations: create and change. Every change records its events in ``tx``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, select, update

from tidings.db.rows import insert_row
from tidings.db.schema import (
    conversation_folder,
    conversations,
    customer_emails,
    folders,
    mailboxes,
    users,
)
from tidings.desk import customers, lifecycle
from tidings.desk import validate as v
from tidings.desk.announce import announce
from tidings.desk.enums import (
    CONVERSATION_STATUSES,
    Action,
    ConversationType,
    SourceType,
    State,
    Status,
    ThreadState,
    ThreadType,
    Via,
)
from tidings.desk.folders import FolderMap
from tidings.desk.threads import (
    NewThread,
    closing,
    decode_attachment,
    insert_thread,
    insert_threads,
    line_items,
    preview_of,
    record_reply,
    user_name,
)
from tidings.desk.views import Json
from tidings.errors import InvalidInput, NotFound
from tidings.events.outbox import Tx

THREAD_TYPES = (ThreadType.CUSTOMER, ThreadType.MESSAGE, ThreadType.NOTE)

# The statements every creation runs, built once: SQLAlchemy then reuses their compiled
# form instead of building and keying a new statement on every call.
_USER = select(users.c.id, users.c.deleted).where(users.c.id == bindparam("id"))
_MAILBOX = select(mailboxes.c.id).where(mailboxes.c.id == bindparam("id"))
_NEXT_NUMBER = (
    update(mailboxes)
    .where(mailboxes.c.id == bindparam("mailbox"))
    .values(last_number=mailboxes.c.last_number + 1)
    .returning(mailboxes.c.last_number)
)
_FIRST_EMAIL = (
    select(customer_emails.c.email)
    .where(customer_emails.c.customer_id == bindparam("id"))
    .order_by(customer_emails.c.id)
    .limit(1)
)


def lock(conn: Connection, convo_id: int) -> Row[Any]:
    """The conversation row, locked for this transaction on PostgreSQL."""
    query = select(conversations).where(conversations.c.id == convo_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound()
    return row


def require_user(conn: Connection, user_id: int | None, path: str, source: str = "JSON") -> int:
    if user_id is None:
        raise v.required(path, source)
    row = conn.execute(_USER, {"id": user_id}).first()
    if row is None or row.deleted:
        raise InvalidInput.field(path, f"User {user_id} not found", source)
    return user_id


def require_mailbox(conn: Connection, mailbox_id: int, path: str = "mailboxId") -> int:
    if conn.execute(_MAILBOX, {"id": mailbox_id}).first() is None:
        raise InvalidInput.field(path, f"Mailbox {mailbox_id} not found")
    return mailbox_id


def parse_thread(tx: Tx, item: Any, where: str, default_customer: int | None) -> NewThread:
    """One thread object, at ``where`` in the body (``threads[0]``; ``""``: the body)."""
    if not isinstance(item, dict):
        raise v.wrong(where, "an object")
    kind = v.enum_value(item, "type", ThreadType, THREAD_TYPES, path=v.at(where, "type"))
    if kind is None:
        raise v.required(v.at(where, "type"))
    body = v.required_text(item, "text", path=v.at(where, "text"))
    new = NewThread(type=ThreadType(kind), body=body)
    if kind == ThreadType.CUSTOMER:
        new.customer_id = (
            customers.find_or_create(tx, item["customer"], v.at(where, "customer"))
            if item.get("customer") is not None
            else default_customer
        )
        if new.customer_id is None:
            raise v.required(v.at(where, "customer"))
    else:
        user = v.at(where, "user")
        new.user_id = require_user(tx.conn, v.integer(item, "user", path=user), user)
    status = v.enum_value(item, "status", Status, CONVERSATION_STATUSES, path=v.at(where, "status"))
    new.status = Status(status) if status else None
    state = v.enum_value(
        item,
        "state",
        ThreadState,
        (ThreadState.DRAFT, ThreadState.PUBLISHED),
        path=v.at(where, "state"),
    )
    new.state = ThreadState(state) if state else ThreadState.PUBLISHED
    new.imported = v.boolean(item, "imported", path=v.at(where, "imported"))
    if new.imported and item.get("createdAt"):
        new.created_at = v.date(item["createdAt"], v.at(where, "createdAt"))
    new.to = v.string_list(item, "to", path=v.at(where, "to"))
    new.cc = v.string_list(item, "cc", path=v.at(where, "cc"))
    new.bcc = v.string_list(item, "bcc", path=v.at(where, "bcc"))
    files = v.object_list(
        item, "attachments", "attachment objects", path=v.at(where, "attachments")
    )
    new.attachments = [
        decode_attachment(f, v.at(where, f"attachments[{i}]")) for i, f in enumerate(files)
    ]
    return new


def create_conversation(tx: Tx, body: dict[str, Any]) -> Json:
    """POST /api/conversations: one ``convo.created`` carrying every thread. Returns the
    new conversation as the API shows it: the event's snapshot, rendered once."""
    kind = v.enum_value(body, "type", ConversationType)
    if kind is None:
        raise v.required("type")
    mailbox_id = require_mailbox(tx.conn, v.required_int(body, "mailboxId"))
    subject = v.required_text(body, "subject", max_len=998)
    if body.get("customer") is None:
        raise v.required("customer")
    items = v.object_list(body, "threads", "thread objects")
    if not items:
        raise v.required("threads")
    status = v.enum_value(body, "status", Status, CONVERSATION_STATUSES) or Status.ACTIVE
    state = v.enum_value(body, "state", State) or State.PUBLISHED
    assignee = v.integer(body, "assignTo")
    if assignee is not None:
        require_user(tx.conn, assignee, "assignTo")
    imported = v.boolean(body, "imported")
    customer_id = customers.find_or_create(tx, body["customer"])
    # Threads arrive newest first and are stored oldest first, as FreeScout does.
    new_threads = [
        parse_thread(tx, item, f"threads[{i}]", customer_id) for i, item in enumerate(items)
    ][::-1]
    first = new_threads[0]
    via = Via.CUSTOMER if first.type == ThreadType.CUSTOMER else Via.USER
    created_at = (
        v.date(body["createdAt"], "createdAt") if imported and body.get("createdAt") else tx.now
    )
    number = _next_number(tx.conn, mailbox_id)
    folder_id = FolderMap(tx.conn, {mailbox_id}).for_conversation(
        mailbox_id, state, status, assignee
    )
    email = _customer_email(tx.conn, customer_id)
    convo_id = insert_row(
        tx.conn,
        conversations,
        dict(
            number=number,
            mailbox_id=mailbox_id,
            folder_id=folder_id,
            type=kind,
            status=status,
            state=state,
            subject=subject,
            preview=preview_of(new_threads[-1].body),
            user_id=assignee,
            customer_id=customer_id,
            customer_email=email,
            cc=v.string_list(body, "cc"),
            bcc=v.string_list(body, "bcc"),
            source_type=SourceType.API,
            source_via=via,
            created_by_user_id=first.user_id if via == Via.USER else None,
            created_by_customer_id=customer_id if via == Via.CUSTOMER else None,
            threads_count=len(new_threads),
            imported=imported,
            created_at=created_at,
            updated_at=tx.now,
            **_initial_reply(new_threads, tx.now),
            **closing(status, assignee or first.user_id, tx.now),
        ),
    )
    if imported and status == Status.CLOSED and body.get("closedAt"):
        closed_at = v.date(body["closedAt"], "closedAt")
        tx.conn.execute(
            update(conversations).where(conversations.c.id == convo_id).values(closed_at=closed_at)
        )
    insert_threads(tx, convo_id, new_threads)
    return announce(tx, [("convo.created", convo_id)])[convo_id]


def _initial_reply(new_threads: list[NewThread], now: Any) -> dict[str, Any]:
    for new in reversed(new_threads):
        if new.type in (ThreadType.CUSTOMER, ThreadType.MESSAGE):
            via = Via.CUSTOMER if new.type == ThreadType.CUSTOMER else Via.USER
            return {"last_reply_at": new.created_at or now, "last_reply_from": via}
    return {}


def _next_number(conn: Connection, mailbox_id: int) -> int:
    return int(conn.execute(_NEXT_NUMBER, {"mailbox": mailbox_id}).scalar_one())


def _customer_email(conn: Connection, customer_id: int) -> str | None:
    return conn.execute(_FIRST_EMAIL, {"id": customer_id}).scalar()


def add_thread(tx: Tx, convo_id: int, body: dict[str, Any]) -> int:
    """POST /api/conversations/{id}/threads."""
    convo = lock(tx.conn, convo_id)
    new = parse_thread(tx, body, "", convo.customer_id)
    thread_id = insert_thread(tx, convo_id, new)
    if new.state == ThreadState.DRAFT:
        # A draft is not part of the conversation yet (threads embed published ones
        # only): nothing about the conversation changed, so nothing is announced.
        return thread_id
    announce(tx, [(t, convo_id) for t in record_reply(tx, convo, new)])
    return thread_id


# --- changes to one conversation -------------------------------------------------


def change_status(tx: Tx, convo: Row[Any], status: int, by_user: int) -> list[str]:
    if status == convo.status:
        return []
    folder = FolderMap(tx.conn, {convo.mailbox_id}).for_conversation(
        convo.mailbox_id, convo.state, status, convo.user_id
    )
    tx.conn.execute(
        update(conversations)
        .where(conversations.c.id == convo.id)
        .values(
            status=status,
            folder_id=folder,
            updated_at=tx.now,
            user_updated_at=tx.now,
            **closing(status, by_user, tx.now),
        )
    )
    text = f"{user_name(tx.conn, by_user)} changed the status to {Status(status).name.capitalize()}"
    line_items(tx, [(convo.id, Action.STATUS_CHANGED, text, [])], by_user)
    return ["convo.status"]


def assign(tx: Tx, convo: Row[Any], user_id: int | None, by_user: int) -> list[str]:
    if user_id == convo.user_id:
        return []
    folder = FolderMap(tx.conn, {convo.mailbox_id}).for_conversation(
        convo.mailbox_id, convo.state, convo.status, user_id
    )
    tx.conn.execute(
        update(conversations)
        .where(conversations.c.id == convo.id)
        .values(user_id=user_id, folder_id=folder, updated_at=tx.now, user_updated_at=tx.now)
    )
    who = user_name(tx.conn, user_id) if user_id else "anyone"
    line_items(
        tx,
        [(convo.id, Action.USER_CHANGED, f"{user_name(tx.conn, by_user)} assigned to {who}", [])],
        by_user,
    )
    return ["convo.assigned" if user_id else "convo.unassigned"]


def move(tx: Tx, convo: Row[Any], mailbox_id: int, by_user: int) -> list[str]:
    if mailbox_id == convo.mailbox_id:
        return []
    require_mailbox(tx.conn, mailbox_id)
    folder = FolderMap(tx.conn, {mailbox_id}).for_conversation(
        mailbox_id, convo.state, convo.status, convo.user_id
    )
    old_folders = select(folders.c.id).where(folders.c.mailbox_id == convo.mailbox_id)
    tx.conn.execute(
        delete(conversation_folder).where(
            conversation_folder.c.conversation_id == convo.id,
            conversation_folder.c.folder_id.in_(old_folders),
        )
    )
    tx.conn.execute(
        update(conversations)
        .where(conversations.c.id == convo.id)
        .values(mailbox_id=mailbox_id, folder_id=folder, updated_at=tx.now, user_updated_at=tx.now)
    )
    old = tx.conn.execute(
        select(mailboxes.c.name).where(mailboxes.c.id == convo.mailbox_id)
    ).scalar()
    text = f"{user_name(tx.conn, by_user)} moved the conversation from mailbox {old}"
    line_items(
        tx,
        [
            (
                convo.id,
                Action.MOVED_FROM_MAILBOX,
                text,
                [{"type": "mailbox", "id": convo.mailbox_id}],
            )
        ],
        by_user,
    )
    return ["convo.moved"]


def change_customer(tx: Tx, convo: Row[Any], customer_id: int, by_user: int | None) -> list[str]:
    if customer_id == convo.customer_id:
        return []
    if not customers.exists(tx.conn, customer_id):
        raise InvalidInput.field("customerId", f"Customer {customer_id} not found")
    tx.conn.execute(
        update(conversations)
        .where(conversations.c.id == convo.id)
        .values(
            customer_id=customer_id,
            customer_email=_customer_email(tx.conn, customer_id),
            updated_at=tx.now,
        )
    )
    text = f"{user_name(tx.conn, by_user)} changed the customer"
    line_items(
        tx,
        [(convo.id, Action.CUSTOMER_CHANGED, text, [{"type": "customer", "id": customer_id}])],
        by_user,
    )
    return ["convo.updated"]


def change_subject(tx: Tx, convo: Row[Any], subject: str) -> list[str]:
    if subject == convo.subject:
        return []
    tx.conn.execute(
        update(conversations)
        .where(conversations.c.id == convo.id)
        .values(subject=subject, updated_at=tx.now)
    )
    return ["convo.updated"]


def update_conversation(tx: Tx, convo_id: int, body: dict[str, Any]) -> None:
    """PUT /api/conversations/{id}: fields applied in the order given, events in that order."""
    lock(tx.conn, convo_id)
    by_user = v.integer(body, "byUser")
    needs_user = {"status", "assignTo", "mailboxId", "state"} & set(body)
    if needs_user and by_user is None:
        raise InvalidInput.field("byUser", "byUser parameter is required.")
    if by_user is not None:
        require_user(tx.conn, by_user, "byUser")
    changes: list[str] = []
    for key in body:
        convo = lock(tx.conn, convo_id)
        if key == "status":
            status = v.enum_value(body, "status", Status, CONVERSATION_STATUSES)
            if status is None:
                raise InvalidInput.field(
                    "status", "`status` must be one of: active, pending, closed, spam"
                )
            changes += change_status(tx, convo, status, by_user or 0)
        elif key == "assignTo":
            target = v.integer(body, "assignTo")
            if target:
                require_user(tx.conn, target, "assignTo")
            changes += assign(tx, convo, target or None, by_user or 0)
        elif key == "mailboxId":
            changes += move(tx, convo, v.required_int(body, "mailboxId"), by_user or 0)
        elif key == "customerId":
            changes += change_customer(tx, convo, v.required_int(body, "customerId"), by_user)
        elif key == "subject":
            changes += change_subject(tx, convo, v.required_text(body, "subject", max_len=998))
        elif key == "state":
            state = v.enum_value(body, "state", State, (State.PUBLISHED, State.DELETED))
            if state == State.DELETED:
                changes += [t for t, _ in lifecycle.soft_delete_rows(tx, [convo], by_user)]
            elif state == State.PUBLISHED:
                changes += [t for t, _ in lifecycle.restore_rows(tx, [convo], by_user)]
            else:
                raise InvalidInput.field("state", "`state` must be one of: published, deleted")
    announce(tx, [(t, convo_id) for t in changes])
